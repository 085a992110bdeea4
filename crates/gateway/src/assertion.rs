//! The signed identity assertion sent to upstreams.
//!
//! Like the assertion headers of other identity-aware proxies, it is a JWT (RFC 7519) signed
//! by the gateway with Ed25519 (`alg: EdDSA`, RFC 8037), so an upstream can check that a
//! request came through the gateway and for whom, with any JWT library and the gateway's JWKS
//! at `/.seawall/assertion-jwks.json`. The audience is the route name, so an assertion sent to
//! one upstream cannot be replayed to another.
//!
//! Signing costs tens of microseconds, so assertions are cached per (token, route) and reused
//! until a quarter of their lifetime is left.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use seawall_core::auth::Principal;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Most entries kept in the assertion cache before expired ones are swept.
const CACHE_SWEEP_AT: usize = 50_000;

/// Why the signing key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read assertion key `{path}`: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("assertion key `{path}` is not a PKCS#8 Ed25519 private key in PEM")]
    Format { path: std::path::PathBuf },
}

/// The gateway's assertion signing key.
pub struct AssertionKey {
    key: SigningKey,
    kid: String,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl AssertionKey {
    /// A fresh random key, for a gateway that publishes its JWKS itself.
    pub fn generate() -> Self {
        Self::from_signing_key(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// A key from 32 secret bytes (tests and benchmarks use fixed bytes).
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self::from_signing_key(SigningKey::from_bytes(secret))
    }

    /// Loads a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`).
    pub fn load_pem(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let key = SigningKey::from_pkcs8_pem(&text).map_err(|_| KeyError::Format {
            path: path.to_owned(),
        })?;
        Ok(Self::from_signing_key(key))
    }

    fn from_signing_key(key: SigningKey) -> Self {
        let digest = Sha256::digest(key.verifying_key().as_bytes());
        let kid = B64.encode(digest.get(..12).unwrap_or(&digest[..]));
        Self { key, kid }
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWKS document (RFC 7517, OKP key per RFC 8037).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": B64.encode(self.key.verifying_key().as_bytes()),
                "kid": self.kid,
                "use": "sig",
                "alg": "EdDSA",
            }]
        })
    }
}

/// The claims of one assertion.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub preferred_username: String,
    pub groups: Vec<String>,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// A signed assertion kept for reuse.
struct Cached {
    jwt: Arc<str>,
    exp: i64,
    groups: Vec<String>,
}

/// Signs assertions and caches them.
pub struct AssertionSigner {
    key: AssertionKey,
    header_b64: String,
    issuer: String,
    ttl: i64,
    cache: Mutex<HashMap<(String, String), Cached>>,
}

impl std::fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionSigner")
            .field("kid", &self.key.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl AssertionSigner {
    /// A signer for issuer `issuer` (the gateway URL) with assertions living `ttl_secs`.
    pub fn new(key: AssertionKey, issuer: &str, ttl_secs: u64) -> Self {
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": key.kid});
        Self {
            header_b64: B64.encode(header.to_string()),
            key,
            issuer: issuer.trim_end_matches('/').to_string(),
            ttl: i64::try_from(ttl_secs.clamp(1, 300)).unwrap_or(120),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The JWKS that verifies these assertions.
    pub fn jwks(&self) -> serde_json::Value {
        self.key.jwks()
    }

    /// An assertion for `principal` on `route`, carrying `groups`; from the cache when one
    /// signed for the same token, route and groups has most of its life left.
    pub fn assertion(
        &self,
        principal: &Principal,
        route: &str,
        groups: &[String],
        now: i64,
    ) -> Arc<str> {
        let key = (principal.token_id.clone(), route.to_string());
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(&key) {
                if c.groups == groups && now < c.exp - self.ttl / 4 {
                    return c.jwt.clone();
                }
            }
        }
        // Never outlive the credential the assertion was made from.
        let exp = (now + self.ttl).min(principal.expires_at.max(now + 1));
        let jwt: Arc<str> = self.sign(principal, route, groups, now, exp).into();
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_SWEEP_AT {
                cache.retain(|_, c| c.exp > now);
                if cache.len() >= CACHE_SWEEP_AT {
                    cache.clear();
                }
            }
            let cached = Cached {
                jwt: jwt.clone(),
                exp,
                groups: groups.to_vec(),
            };
            cache.insert(key, cached);
        }
        jwt
    }

    /// Signs a fresh assertion (no cache).
    pub fn sign(
        &self,
        principal: &Principal,
        route: &str,
        groups: &[String],
        now: i64,
        exp: i64,
    ) -> String {
        let claims = AssertionClaims {
            iss: self.issuer.clone(),
            sub: principal.user_id.to_string(),
            preferred_username: principal.username.clone(),
            groups: groups.to_vec(),
            aud: route.to_string(),
            iat: now,
            exp,
            jti: random_id(),
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let mut jwt = String::with_capacity(256);
        jwt.push_str(&self.header_b64);
        jwt.push('.');
        B64.encode_string(payload, &mut jwt);
        let sig = self.key.key.sign(jwt.as_bytes());
        jwt.push('.');
        B64.encode_string(sig.to_bytes(), &mut jwt);
        jwt
    }
}

/// 128 random bits, base64url.
pub(crate) fn random_id() -> String {
    B64.encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    use seawall_core::ids::UserId;

    fn principal() -> Principal {
        Principal {
            user_id: UserId::from_stored("usr_1"),
            username: "alice".into(),
            groups: vec!["eng".into()],
            amr: vec!["pwd".into(), "otp".into()],
            auth_time: 1000,
            mfa_time: 1000,
            session_id: None,
            token_id: "tok1".into(),
            issued_at: 1000,
            expires_at: 1300,
        }
    }

    fn verify(jwks: &serde_json::Value, jwt: &str) -> AssertionClaims {
        let x = jwks["keys"][0]["x"].as_str().unwrap();
        let pk: [u8; 32] = B64.decode(x).unwrap().try_into().unwrap();
        let vk = VerifyingKey::from_bytes(&pk).unwrap();
        let (signed, sig) = jwt.rsplit_once('.').unwrap();
        let sig = Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
        vk.verify(signed.as_bytes(), &sig).unwrap();
        let payload = signed.split('.').nth(1).unwrap();
        serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn assertion_verifies_with_the_published_jwks() {
        let s = AssertionSigner::new(AssertionKey::generate(), "https://gw.example/", 120);
        let jwt = s.assertion(&principal(), "demo", &["eng".into()], 1100);
        let c = verify(&s.jwks(), &jwt);
        assert_eq!(c.iss, "https://gw.example");
        assert_eq!(c.aud, "demo");
        assert_eq!(c.sub, "usr_1");
        assert_eq!(c.groups, vec!["eng".to_string()]);
        assert_eq!(c.exp, 1220);
    }

    #[test]
    fn assertion_never_outlives_the_token() {
        let s = AssertionSigner::new(AssertionKey::generate(), "https://gw", 300);
        let c = verify(&s.jwks(), &s.assertion(&principal(), "r", &[], 1200));
        assert_eq!(c.exp, 1300);
    }

    #[test]
    fn cache_reuses_until_near_expiry_per_route_and_groups() {
        let s = AssertionSigner::new(AssertionKey::generate(), "https://gw", 120);
        let p = principal();
        let a = s.assertion(&p, "r", &[], 1000);
        assert_eq!(a, s.assertion(&p, "r", &[], 1050));
        assert_ne!(a, s.assertion(&p, "other", &[], 1050));
        assert_ne!(a, s.assertion(&p, "r", &[], 1100));
        let b = s.assertion(&p, "r", &[], 1101);
        assert_ne!(b, s.assertion(&p, "r", &["eng".into()], 1101));
    }

    #[test]
    fn kid_matches_jwks() {
        let k = AssertionKey::from_bytes(&[7; 32]);
        assert_eq!(k.jwks()["keys"][0]["kid"], k.kid());
    }
}
