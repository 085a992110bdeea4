//! Password hashing (Argon2id) and the rules for names and passwords.
//!
//! Hashes are PHC strings with the OWASP-recommended Argon2id parameters (19 MiB of memory,
//! 2 passes, 1 lane), so parameters can be raised later without breaking stored hashes.

use crate::error::IdentityError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use seawall_core::auth::SecretString;

/// Longest user or group name, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 64;
/// Shortest password accepted when an admin sets one (NIST SP 800-63B section 5.1.1.2).
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes; bounds the hashing work one request can ask for.
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2id with OWASP's parameters.
pub(crate) fn argon2() -> Argon2<'static> {
    // The constants are within Argon2's limits, so `Params::new` cannot fail; the default
    // parameters of the crate are the same OWASP values and serve as the fallback.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string.
pub(crate) fn hash(argon: &Argon2<'_>, password: &SecretString) -> Result<String, IdentityError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IdentityError::Corrupt(format!("password hashing failed: {e}")))
}

/// Whether `password` matches the PHC string `phc`. A malformed stored hash never matches.
pub(crate) fn verify(argon: &Argon2<'_>, password: &SecretString, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// Normalises and checks a user or group name: lower case ASCII letters, digits, and `.`, `_`,
/// `-`, `@` after the first character; at most 64 bytes.
pub(crate) fn normalize_name(raw: &str) -> Result<String, IdentityError> {
    let name = raw.trim().to_ascii_lowercase();
    let invalid = |reason| IdentityError::InvalidName {
        name: raw.chars().take(80).collect(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("it is longer than 64 bytes"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("it must start with a letter or a digit"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(invalid(
            "only letters, digits, `.`, `_`, `-` and `@` are allowed",
        ));
    }
    Ok(name)
}

/// Checks a new password against the policy.
pub(crate) fn check_policy(password: &SecretString) -> Result<(), IdentityError> {
    let p = password.expose();
    if p.chars().count() < MIN_PASSWORD_CHARS {
        return Err(IdentityError::WeakPassword(
            "it must be at least 8 characters long",
        ));
    }
    if p.len() > MAX_PASSWORD_BYTES {
        return Err(IdentityError::WeakPassword(
            "it must be at most 1024 bytes long",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_phc_and_verifies_only_the_right_password() {
        let a = argon2();
        let h = hash(&a, &SecretString::new("correct horse")).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&a, &SecretString::new("correct horse"), &h));
        assert!(!verify(&a, &SecretString::new("correct horsE"), &h));
        assert!(!verify(&a, &SecretString::new("x"), "not a phc string"));
    }

    #[test]
    fn names_are_lowercased_and_bad_ones_named_in_one_line() {
        assert_eq!(
            normalize_name(" Alice@Example.com ").unwrap(),
            "alice@example.com"
        );
        for bad in ["", "-x", "a b", "ä", "x/y", &"a".repeat(65)] {
            let err = normalize_name(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{}`", bad.chars().take(80).collect::<String>())));
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn short_and_huge_passwords_are_refused_without_showing_them() {
        let err = check_policy(&SecretString::new("short"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("short"), "{err}");
        assert!(check_policy(&SecretString::new("x".repeat(2000))).is_err());
        assert!(check_policy(&SecretString::new("long enough")).is_ok());
    }
}
