//! Shamir secret sharing over GF(2^8), for splitting the root key into unseal key shares.
//!
//! Every byte of the secret is the constant term of its own random polynomial of degree
//! `k - 1` over GF(2^8) (the AES field, reduction polynomial x^8 + x^4 + x^3 + x + 1); a share
//! is the value of every polynomial at one non-zero point `x`. Any `k` shares give the secret
//! back by Lagrange interpolation at `x = 0`; fewer give no information about it.
//!
//! A share is laid out as the evaluated bytes followed by its `x` coordinate as the last byte,
//! so it is one byte longer than the secret. Coefficients and the `x` coordinates come from the
//! operating system's random generator. Field multiplication uses no lookup tables and no
//! branches on secret data.

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::RngCore;
use zeroize::Zeroizing;

/// The most shares a secret can be split into: one per non-zero field element.
pub const MAX_SHARES: usize = 255;

/// Why splitting or combining failed. Messages never include share or secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    #[error("the secret to split is empty")]
    EmptySecret,
    #[error("key shares must be between 1 and 255, got {0}")]
    BadShareCount(usize),
    #[error("key threshold {threshold} is larger than the number of key shares {shares}")]
    ThresholdAboveShares { shares: usize, threshold: usize },
    #[error("key threshold must be at least 2 when there is more than one key share, got {0}")]
    ThresholdTooLow(usize),
    #[error("no key shares given")]
    NoShares,
    #[error("key share {index} is too short ({len} bytes); a share holds at least 2")]
    ShareTooShort { index: usize, len: usize },
    #[error("key share {index} is {len} bytes long but key share 1 is {expected}; shares of one secret all have the same length")]
    LengthMismatch {
        index: usize,
        len: usize,
        expected: usize,
    },
    #[error("key share {index} has x coordinate 0, which no share can have")]
    ZeroX { index: usize },
    #[error(
        "key shares {first} and {second} have the same x coordinate; each share must be different"
    )]
    DuplicateX { first: usize, second: usize },
}

/// Checks a share count and threshold as an operator typed them, and narrows them to `u8`.
///
/// `n` must be 1..=255 and `k` at most `n`; `k` must be at least 2 unless `n` is 1 (a
/// single share is the secret itself, which is allowed but not secret sharing).
pub fn parameters(n: usize, k: usize) -> Result<(u8, u8), ShamirError> {
    if n == 0 || n > MAX_SHARES {
        return Err(ShamirError::BadShareCount(n));
    }
    if k > n {
        return Err(ShamirError::ThresholdAboveShares {
            shares: n,
            threshold: k,
        });
    }
    if k < 2 && !(n == 1 && k == 1) {
        return Err(ShamirError::ThresholdTooLow(k));
    }
    // Both are at most 255 here.
    Ok((n as u8, k as u8))
}

/// Splits `secret` into `n` shares of which any `k` reconstruct it.
pub fn split(secret: &[u8], n: u8, k: u8) -> Result<Vec<Vec<u8>>, ShamirError> {
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }
    let (n, k) = parameters(usize::from(n), usize::from(k))?;
    // Distinct, non-zero, unpredictable x coordinates.
    let mut xs: Vec<u8> = (1..=255).collect();
    xs.shuffle(&mut OsRng);
    xs.truncate(usize::from(n));

    let mut shares: Vec<Vec<u8>> = xs
        .iter()
        .map(|&x| {
            let mut s = vec![0u8; secret.len() + 1];
            s[secret.len()] = x;
            s
        })
        .collect();
    // coefficients[0] is the secret byte; the others are random.
    let mut coefficients = Zeroizing::new(vec![0u8; usize::from(k)]);
    for (i, &byte) in secret.iter().enumerate() {
        coefficients[0] = byte;
        OsRng.fill_bytes(&mut coefficients[1..]);
        for share in shares.iter_mut() {
            let x = share[secret.len()];
            share[i] = evaluate(&coefficients, x);
        }
    }
    Ok(shares)
}

/// Rebuilds the secret from shares. With fewer shares than the threshold used to split, the
/// answer is a wrong secret, not an error: callers detect it with a check value.
pub fn combine(shares: &[Vec<u8>]) -> Result<Vec<u8>, ShamirError> {
    let first = shares.first().ok_or(ShamirError::NoShares)?;
    let len = first.len();
    for (i, s) in shares.iter().enumerate() {
        let index = i + 1;
        if s.len() < 2 {
            return Err(ShamirError::ShareTooShort {
                index,
                len: s.len(),
            });
        }
        if s.len() != len {
            return Err(ShamirError::LengthMismatch {
                index,
                len: s.len(),
                expected: len,
            });
        }
        let x = s[len - 1];
        if x == 0 {
            return Err(ShamirError::ZeroX { index });
        }
        if let Some(j) = shares[..i].iter().position(|p| p[len - 1] == x) {
            return Err(ShamirError::DuplicateX {
                first: j + 1,
                second: index,
            });
        }
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    // The Lagrange basis polynomials evaluated at 0: l_i(0) = prod_{j != i} x_j / (x_j - x_i),
    // where subtraction in GF(2^8) is XOR.
    let basis: Vec<u8> = (0..xs.len())
        .map(|i| {
            let (mut num, mut den) = (1u8, 1u8);
            for (j, &xj) in xs.iter().enumerate() {
                if j != i {
                    num = mul(num, xj);
                    den = mul(den, xj ^ xs[i]);
                }
            }
            mul(num, inverse(den))
        })
        .collect();
    let mut secret = vec![0u8; len - 1];
    for (b, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (share, &l) in shares.iter().zip(&basis) {
            acc ^= mul(share[b], l);
        }
        *out = acc;
    }
    Ok(secret)
}

/// The polynomial with these coefficients (lowest degree first) at `x`, by Horner's rule.
fn evaluate(coefficients: &[u8], x: u8) -> u8 {
    coefficients
        .iter()
        .rev()
        .fold(0u8, |acc, &c| mul(acc, x) ^ c)
}

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, in constant time: eight rounds
/// of shift-and-add where every choice is a mask, not a branch.
fn mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut product) = (a, b, 0u8);
    for _ in 0..8 {
        product ^= a & (b & 1).wrapping_neg();
        let carry = (a >> 7).wrapping_neg();
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    product
}

/// The multiplicative inverse, as a^254 (a^255 = 1 for every non-zero a); 0 maps to 0.
fn inverse(a: u8) -> u8 {
    // 254 = 0b1111_1110: square-and-multiply with a fixed sequence of operations.
    let mut result = 1u8;
    let mut power = a;
    for bit in 0..8 {
        let factor = mul(result, power);
        let take = ((254u8 >> bit) & 1).wrapping_neg();
        result = (factor & take) | (result & !take);
        power = mul(power, power);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// Multiplication the slow, obvious way: polynomial product, then reduction.
    fn mul_reference(a: u8, b: u8) -> u8 {
        let mut wide: u16 = 0;
        for i in 0..8 {
            if b & (1 << i) != 0 {
                wide ^= u16::from(a) << i;
            }
        }
        for bit in (8..16).rev() {
            if wide & (1 << bit) != 0 {
                wide ^= 0x11b << (bit - 8);
            }
        }
        wide as u8
    }

    #[test]
    fn field_multiplication_matches_the_reference_and_inverses_invert() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), mul_reference(a, b), "{a} * {b}");
            }
        }
        assert_eq!(inverse(0), 0);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1, "{a} * inverse({a})");
        }
        // A known value of the AES field: 0x53 * 0xca = 1 (FIPS-197 section 4.2).
        assert_eq!(mul(0x53, 0xca), 1);
    }

    fn random_subset(shares: &[Vec<u8>], count: usize) -> Vec<Vec<u8>> {
        let mut picked = shares.to_vec();
        picked.shuffle(&mut rand::thread_rng());
        picked.truncate(count);
        picked
    }

    #[test]
    fn any_threshold_of_shares_rebuilds_the_secret() {
        let mut rng = rand::thread_rng();
        for _ in 0..300 {
            let len = rng.gen_range(1..=64);
            let secret: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let n = rng.gen_range(2..=20u8);
            let k = rng.gen_range(2..=n);
            let shares = split(&secret, n, k).unwrap();
            assert_eq!(shares.len(), usize::from(n));
            assert!(shares.iter().all(|s| s.len() == len + 1));
            for count in usize::from(k)..=usize::from(n) {
                let subset = random_subset(&shares, count);
                assert_eq!(
                    combine(&subset).unwrap(),
                    secret,
                    "n={n} k={k} used {count}"
                );
            }
        }
    }

    #[test]
    fn fewer_than_threshold_shares_give_another_secret() {
        let mut rng = rand::thread_rng();
        for _ in 0..300 {
            // 32 bytes, like the root key: a chance match is 2^-256.
            let secret: Vec<u8> = (0..32).map(|_| rng.gen()).collect();
            let n = rng.gen_range(2..=20u8);
            let k = rng.gen_range(2..=n);
            let shares = split(&secret, n, k).unwrap();
            for count in 1..usize::from(k) {
                let subset = random_subset(&shares, count);
                assert_ne!(
                    combine(&subset).unwrap(),
                    secret,
                    "n={n} k={k} used {count}"
                );
            }
        }
    }

    #[test]
    fn every_byte_value_and_the_largest_split_round_trip() {
        let secret: Vec<u8> = (0..=255u8).collect();
        let shares = split(&secret, 255, 255).unwrap();
        let xs: std::collections::BTreeSet<u8> = shares.iter().map(|s| s[256]).collect();
        assert_eq!(xs.len(), 255);
        assert!(!xs.contains(&0));
        assert_eq!(combine(&shares).unwrap(), secret);
        assert_ne!(combine(&shares[..254]).unwrap(), secret);
    }

    #[test]
    fn one_of_one_is_the_secret_itself() {
        let shares = split(b"k", 1, 1).unwrap();
        assert_eq!(shares.len(), 1);
        assert_eq!(combine(&shares).unwrap(), b"k");
    }

    #[test]
    fn bad_parameters_are_refused_with_clear_errors() {
        assert_eq!(split(b"", 3, 2), Err(ShamirError::EmptySecret));
        assert_eq!(split(b"s", 0, 0), Err(ShamirError::BadShareCount(0)));
        assert_eq!(
            split(b"s", 3, 4),
            Err(ShamirError::ThresholdAboveShares {
                shares: 3,
                threshold: 4
            })
        );
        assert_eq!(split(b"s", 3, 1), Err(ShamirError::ThresholdTooLow(1)));
        assert_eq!(split(b"s", 2, 0), Err(ShamirError::ThresholdTooLow(0)));
        assert_eq!(parameters(256, 3), Err(ShamirError::BadShareCount(256)));
        assert_eq!(parameters(5, 3), Ok((5, 3)));
        let msg = parameters(3, 5).unwrap_err().to_string();
        assert!(
            msg.contains("threshold 5") && msg.contains("shares 3"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_shares_are_refused() {
        let shares = split(b"secret", 5, 3).unwrap();
        assert_eq!(combine(&[]), Err(ShamirError::NoShares));

        let short = vec![shares[0].clone(), vec![7]];
        assert_eq!(
            combine(&short),
            Err(ShamirError::ShareTooShort { index: 2, len: 1 })
        );

        let mut longer = shares[1].clone();
        longer.insert(0, 1);
        assert_eq!(
            combine(&[shares[0].clone(), longer]),
            Err(ShamirError::LengthMismatch {
                index: 2,
                len: 8,
                expected: 7
            })
        );

        let mut zero = shares[2].clone();
        *zero.last_mut().unwrap() = 0;
        assert_eq!(
            combine(&[shares[0].clone(), zero]),
            Err(ShamirError::ZeroX { index: 2 })
        );

        let mut same_x = shares[1].clone();
        *same_x.last_mut().unwrap() = *shares[0].last().unwrap();
        assert_eq!(
            combine(&[shares[0].clone(), shares[2].clone(), same_x]),
            Err(ShamirError::DuplicateX {
                first: 1,
                second: 3
            })
        );
        // The same share twice is a duplicate too, not a second share.
        assert_eq!(
            combine(&[shares[0].clone(), shares[0].clone(), shares[1].clone()]),
            Err(ShamirError::DuplicateX {
                first: 1,
                second: 2
            })
        );
    }

    #[test]
    fn a_changed_share_changes_the_result() {
        let secret = [9u8; 32];
        let shares = split(&secret, 5, 3).unwrap();
        let mut picked = shares[..3].to_vec();
        picked[1][0] ^= 1;
        assert_ne!(combine(&picked).unwrap(), secret);
    }

    #[test]
    fn errors_do_not_carry_share_bytes() {
        let e = ShamirError::LengthMismatch {
            index: 2,
            len: 8,
            expected: 7,
        };
        assert_eq!(
            e.to_string(),
            "key share 2 is 8 bytes long but key share 1 is 7; shares of one secret all have the same length"
        );
    }
}
