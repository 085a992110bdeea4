//! Time-based one-time passwords (RFC 6238) and their enrollment URI and QR code.
//!
//! The parameters are the ones every authenticator app supports: HMAC-SHA1, 6 digits, 30-second
//! steps, a 160-bit secret given as base32 without padding. A code is accepted for the current
//! step and one step either side (RFC 6238 section 5.2 allows this for clock drift), and only
//! for a step later than the last one accepted for that factor, so a code can never be used
//! twice, even inside its window.

use hmac::{Hmac, Mac};
use qrcode::render::{svg, unicode};
use qrcode::QrCode;
use rand::RngCore;
use seawall_core::Secret;
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Seconds in one time step (RFC 6238 `X`).
pub const PERIOD: i64 = 30;
/// Secret length in bytes (160 bits, the HMAC-SHA1 output size RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;
/// Steps accepted either side of the current one.
pub const SKEW_STEPS: i64 = 1;

/// A TOTP shared secret. `Debug` never shows it.
#[derive(Clone, Debug)]
pub struct TotpSecret(Secret<Vec<u8>>);

impl TotpSecret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(Secret::new(bytes))
    }

    /// Wraps secret bytes read back from the store.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Secret::new(bytes))
    }

    /// The raw secret, for sealing.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// The secret as authenticator apps take it: RFC 4648 base32, upper case, no padding.
    pub fn to_base32(&self) -> Secret<String> {
        Secret::new(data_encoding::BASE32_NOPAD.encode(self.expose()))
    }
}

/// HOTP (RFC 4226 section 5.3): HMAC-SHA1 over the big-endian counter, dynamic truncation,
/// reduced to `digits` decimal digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The time step (RFC 6238 `T`) that `unix_secs` falls in.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(PERIOD)
}

/// The code for `step`, zero-padded to [`DIGITS`].
pub fn code_at_step(key: &[u8], step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(key, counter, DIGITS),
        width = DIGITS as usize
    )
}

/// What checking a code against a factor found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// The code is right for this step, later than the last one used.
    Accepted { step: i64 },
    /// The code is right, but for a step already used (or earlier).
    Reused,
    /// The code is wrong, malformed or outside the window.
    Rejected,
}

/// Checks `code` at time `now` for a factor whose last accepted step is `last_used_step`.
pub fn check(key: &[u8], code: &str, now: i64, last_used_step: i64) -> TotpCheck {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return TotpCheck::Rejected;
    }
    let current = step_of(now);
    let mut newest_match = None;
    // Every step of the window is computed and compared in constant time, so the time taken
    // says nothing about which step matched.
    for step in (current - SKEW_STEPS)..=(current + SKEW_STEPS) {
        let expected = code_at_step(key, step);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            newest_match = Some(step);
        }
    }
    match newest_match {
        Some(step) if step > last_used_step => TotpCheck::Accepted { step },
        Some(_) => TotpCheck::Reused,
        None => TotpCheck::Rejected,
    }
}

/// The `otpauth://totp/` URI (Key Uri Format) for an authenticator app.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits={DIGITS}\
         &period={PERIOD}",
        percent_encode(issuer),
        percent_encode(account),
        percent_encode(issuer),
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URI as a QR code in SVG markup, for the web sign-in page.
pub fn qr_svg(uri: &str) -> String {
    match QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        // Only data longer than a QR code can hold fails; an otpauth URI is far shorter.
        Err(_) => String::new(),
    }
}

/// The URI as a QR code drawn with Unicode half blocks, for the terminal (`seawall login`).
pub fn qr_terminal(uri: &str) -> String {
    match QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<unicode::Dense1x2>()
            .dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows: seed "12345678901234567890", 8 digits.
    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let key = b"12345678901234567890";
        let vectors = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time, expected) in vectors {
            let counter = u64::try_from(step_of(time)).unwrap();
            assert_eq!(hotp(key, counter, 8), expected, "time {time}");
        }
    }

    #[test]
    fn six_digit_code_is_the_low_digits_and_zero_padded() {
        let key = b"12345678901234567890";
        assert_eq!(code_at_step(key, step_of(1111111109)), "081804");
    }

    #[test]
    fn one_step_of_skew_is_accepted_either_way_and_two_are_not() {
        let key = b"12345678901234567890";
        let now = 1_700_000_000;
        let step = step_of(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at_step(key, step + offset);
            let got = check(key, &code, now, -1);
            assert_eq!(
                matches!(got, TotpCheck::Accepted { .. }),
                accepted,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn code_of_a_used_or_earlier_step_is_reused() {
        let key = b"12345678901234567890";
        let now = 1_700_000_000;
        let step = step_of(now);
        let code = code_at_step(key, step);
        assert_eq!(check(key, &code, now, step), TotpCheck::Reused);
        let earlier = code_at_step(key, step - 1);
        assert_eq!(check(key, &earlier, now, step), TotpCheck::Reused);
        assert_eq!(
            check(key, &code, now, step - 1),
            TotpCheck::Accepted { step }
        );
    }

    #[test]
    fn malformed_codes_are_rejected() {
        let key = b"12345678901234567890";
        for code in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "      "] {
            assert_eq!(
                check(key, code, 1_700_000_000, -1),
                TotpCheck::Rejected,
                "{code}"
            );
        }
    }

    #[test]
    fn uri_has_every_parameter_and_encodes_the_label() {
        let uri = otpauth_uri("Sea wall", "alice@example.com", "ABCD");
        assert_eq!(
            uri,
            "otpauth://totp/Sea%20wall:alice%40example.com?secret=ABCD&issuer=Sea%20wall\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn secret_is_base32_without_padding_and_hidden_from_debug() {
        let s = TotpSecret::generate();
        let b32 = s.to_base32();
        assert_eq!(b32.expose().len(), 32);
        assert!(!b32.expose().contains('='));
        assert_eq!(
            data_encoding::BASE32_NOPAD
                .decode(b32.expose().as_bytes())
                .unwrap(),
            s.expose()
        );
        assert!(!format!("{s:?}").contains(b32.expose().as_str()));
    }

    #[test]
    fn qr_codes_render() {
        let uri = otpauth_uri("Seawall", "alice", "JBSWY3DPEHPK3PXP");
        assert!(qr_svg(&uri).starts_with("<?xml"));
        let text = qr_terminal(&uri);
        assert!(text.lines().count() > 10);
    }
}
