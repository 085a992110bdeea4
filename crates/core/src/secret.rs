//! A wrapper that keeps secret values out of logs.
//!
//! [`Secret`] hides its contents from `Debug` and `Display`, and zeroizes them when dropped.
//! The only way to the value is [`Secret::expose`], which makes every use visible in review.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret value: a password, a TOTP seed, a key, a token.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value itself. Callers must not log or store it in plain text.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<String> for Secret<String> {
    fn from(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_value() {
        let s = Secret::new(String::from("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
