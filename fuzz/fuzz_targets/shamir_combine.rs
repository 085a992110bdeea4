//! Fuzz Shamir recombination with arbitrary shares: never a panic, the answer is one byte
//! shorter than the shares, and shares from `split` of the same input always rebuild it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_vault::shamir::{combine, split};

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    // Arbitrary shares: `rest` cut into 1..=8 pieces (the last may be shorter).
    let count = usize::from(head % 8) + 1;
    let size = rest.len().div_ceil(count).max(1);
    let shares: Vec<Vec<u8>> = rest.chunks(size).map(<[u8]>::to_vec).collect();
    if let Ok(secret) = combine(&shares) {
        assert_eq!(secret.len() + 1, shares[0].len());
    }
    // A real split of the input: any `k` shares (the last `k`) give it back.
    if rest.is_empty() || rest.len() > 64 {
        return;
    }
    let n = head % 16 + 2;
    let k = (head >> 4) % n + 1;
    if let Ok(parts) = split(rest, n, k.max(2)) {
        let from = parts.len() - usize::from(k.max(2));
        assert_eq!(combine(&parts[from..]).unwrap(), rest);
    }
});
