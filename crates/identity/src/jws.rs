//! Compact JWS (RFC 7515) with EdDSA (RFC 8037) and ES256 (RFC 7518 section 3.4), and the
//! JWK (RFC 7517) form of their public keys.
//!
//! Only what Seawall's tokens need is implemented. Verification takes the algorithm from the
//! key, never from the token: the header's `alg` must equal the algorithm the JWK was published
//! with, so `none`, HMAC with a public key as secret, or any other substitution fails.

use rand::RngCore;
use seawall_core::auth::AuthError;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Longest token accepted for parsing, in bytes; ours are well under 2 KiB.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;

/// A JWS signature algorithm Seawall signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl Algorithm {
    /// The JWS `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
        }
    }

    /// Parses a JWS `alg` value; only the two supported ones.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(Algorithm::EdDSA),
            "ES256" => Some(Algorithm::ES256),
            _ => None,
        }
    }
}

/// A public key as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP` (Ed25519) or `EC` (P-256).
    pub kty: String,
    /// `Ed25519` or `P-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The public key (Ed25519) or its x coordinate (P-256), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The y coordinate (P-256), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// A JWK Set: `/.well-known/jwks.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// A private signing key. Its `Debug` shows only the algorithm.
pub(crate) enum SigningKey {
    Ed25519(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, [redacted])", self.algorithm().as_str())
    }
}

impl SigningKey {
    /// A fresh random key.
    pub(crate) fn generate(alg: Algorithm) -> Self {
        match alg {
            Algorithm::EdDSA => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(seed.as_mut());
                SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            Algorithm::ES256 => {
                SigningKey::Es256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
            }
        }
    }

    /// Rebuilds a key from [`SigningKey::private_bytes`].
    pub(crate) fn from_private_bytes(alg: Algorithm, bytes: &[u8]) -> Option<Self> {
        match alg {
            Algorithm::EdDSA => {
                let seed: &[u8; 32] = bytes.try_into().ok()?;
                Some(SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                    seed,
                )))
            }
            Algorithm::ES256 => p256::ecdsa::SigningKey::from_slice(bytes)
                .ok()
                .map(SigningKey::Es256),
        }
    }

    /// The 32 private bytes (Ed25519 seed or P-256 scalar), for sealing.
    pub(crate) fn private_bytes(&self) -> Zeroizing<Vec<u8>> {
        match self {
            SigningKey::Ed25519(k) => Zeroizing::new(k.to_bytes().to_vec()),
            SigningKey::Es256(k) => Zeroizing::new(k.to_bytes().to_vec()),
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Ed25519(_) => Algorithm::EdDSA,
            SigningKey::Es256(_) => Algorithm::ES256,
        }
    }

    /// The public half as a JWK with `kid`, `alg` and `use: sig`.
    pub(crate) fn public_jwk(&self, kid: &str) -> Jwk {
        let (kty, crv, x, y) = match self {
            SigningKey::Ed25519(k) => (
                "OKP",
                "Ed25519",
                B64.encode(k.verifying_key().as_bytes()),
                None,
            ),
            SigningKey::Es256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                let x = point.x().map(|c| B64.encode(c)).unwrap_or_default();
                let y = point.y().map(|c| B64.encode(c));
                ("EC", "P-256", x, y)
            }
        };
        Jwk {
            kty: kty.into(),
            crv: Some(crv.into()),
            x: Some(x),
            y,
            kid: kid.into(),
            alg: Some(self.algorithm().as_str().into()),
            use_: Some("sig".into()),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        match self {
            SigningKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            // JWS carries ECDSA signatures as the fixed-size R || S (RFC 7518 section 3.4).
            SigningKey::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_bytes().to_vec()
            }
        }
    }
}

/// A public key ready to verify, pinned to one algorithm.
#[derive(Debug, Clone)]
pub(crate) enum VerifyingKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    Es256(p256::ecdsa::VerifyingKey),
}

impl VerifyingKey {
    /// Parses a JWK. The algorithm follows from `kty` and `crv`; an `alg`, when present, must
    /// agree with them, and `use`, when present, must be `sig`.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Self, String> {
        let coord = |v: &Option<String>, name: &str| -> Result<[u8; 32], String> {
            let text = v.as_deref().ok_or(format!("`{name}` is missing"))?;
            let raw = B64
                .decode(text.as_bytes())
                .map_err(|_| format!("`{name}` is not base64url"))?;
            raw.try_into()
                .map_err(|_| format!("`{name}` is not 32 bytes"))
        };
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err("`use` is not `sig`".into());
        }
        let (key, alg) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                let x = coord(&jwk.x, "x")?;
                let k = ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| "`x` is not an Ed25519 point".to_string())?;
                (VerifyingKey::Ed25519(k), Algorithm::EdDSA)
            }
            ("EC", Some("P-256")) => {
                let x = coord(&jwk.x, "x")?;
                let y = coord(&jwk.y, "y")?;
                let point =
                    p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
                let k = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .map_err(|_| "`x`,`y` is not a P-256 point".to_string())?;
                (VerifyingKey::Es256(k), Algorithm::ES256)
            }
            (kty, crv) => {
                return Err(format!(
                    "key type `{kty}` with curve `{}` is not supported",
                    crv.unwrap_or("")
                ))
            }
        };
        if let Some(a) = jwk.alg.as_deref() {
            if a != alg.as_str() {
                return Err(format!("`alg` `{a}` does not match the key type"));
            }
        }
        Ok(key)
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            VerifyingKey::Ed25519(_) => Algorithm::EdDSA,
            VerifyingKey::Es256(_) => Algorithm::ES256,
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            VerifyingKey::Ed25519(k) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                // Strict verification refuses small-order keys and non-canonical signatures.
                k.verify_strict(message, &sig).is_ok()
            }
            VerifyingKey::Es256(k) => {
                use p256::ecdsa::signature::Verifier;
                let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else {
                    return false;
                };
                k.verify(message, &sig).is_ok()
            }
        }
    }
}

/// The protected header of a Seawall token.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Header {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    /// Critical extensions (RFC 7515 section 4.1.11): we understand none, so any is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<serde_json::Value>,
}

/// Signs `claims` into a compact JWS.
pub(crate) fn encode(
    key: &SigningKey,
    kid: &str,
    typ: &str,
    claims: &impl Serialize,
) -> Result<String, serde_json::Error> {
    let header = Header {
        alg: key.algorithm().as_str().into(),
        typ: Some(typ.into()),
        kid: Some(kid.into()),
        crit: None,
    };
    let mut out = B64.encode(&serde_json::to_vec(&header)?);
    out.push('.');
    out.push_str(&B64.encode(&serde_json::to_vec(claims)?));
    let sig = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&B64.encode(&sig));
    Ok(out)
}

/// A compact JWS split and its header parsed, not yet verified.
pub(crate) struct Unverified<'a> {
    pub header: Header,
    signing_input: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

/// Splits and decodes a compact JWS without trusting anything in it.
pub(crate) fn parse(token: &str) -> Result<Unverified<'_>, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::InvalidToken);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::InvalidToken);
    };
    let header_bytes = B64
        .decode(h.as_bytes())
        .map_err(|_| AuthError::InvalidToken)?;
    let header: Header =
        serde_json::from_slice(&header_bytes).map_err(|_| AuthError::InvalidToken)?;
    let signature = B64
        .decode(s.as_bytes())
        .map_err(|_| AuthError::InvalidToken)?;
    let signing_input = token
        .get(..h.len() + 1 + p.len())
        .ok_or(AuthError::InvalidToken)?;
    Ok(Unverified {
        header,
        signing_input,
        payload: p,
        signature,
    })
}

impl Unverified<'_> {
    /// Checks the signature with `key` and returns the payload bytes. The header's `alg` must
    /// be the key's own algorithm.
    pub(crate) fn verify(&self, key: &VerifyingKey) -> Result<Vec<u8>, AuthError> {
        if self.header.crit.is_some() || self.header.alg != key.algorithm().as_str() {
            return Err(AuthError::InvalidToken);
        }
        if !key.verify(self.signing_input.as_bytes(), &self.signature) {
            return Err(AuthError::InvalidToken);
        }
        B64.decode(self.payload.as_bytes())
            .map_err(|_| AuthError::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(alg: Algorithm) {
        let key = SigningKey::generate(alg);
        let jwk = key.public_jwk("k1");
        let vk = VerifyingKey::from_jwk(&jwk).unwrap();
        let token = encode(&key, "k1", "at+jwt", &serde_json::json!({"a": 1})).unwrap();
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.header.kid.as_deref(), Some("k1"));
        let payload = parsed.verify(&vk).unwrap();
        assert_eq!(payload, br#"{"a":1}"#);
        let again = SigningKey::from_private_bytes(alg, &key.private_bytes()).unwrap();
        assert_eq!(again.public_jwk("k1"), jwk);
    }

    #[test]
    fn eddsa_and_es256_tokens_verify_with_their_published_jwk() {
        round_trip(Algorithm::EdDSA);
        round_trip(Algorithm::ES256);
    }

    #[test]
    fn a_key_of_one_algorithm_refuses_a_header_naming_another() {
        let key = SigningKey::generate(Algorithm::EdDSA);
        let vk = VerifyingKey::from_jwk(&key.public_jwk("k")).unwrap();
        let token = encode(&key, "k", "at+jwt", &serde_json::json!({})).unwrap();
        let (_, rest) = token.split_once('.').unwrap();
        for alg in ["none", "HS256", "ES256", "eddsa"] {
            let h = B64.encode(format!(r#"{{"alg":"{alg}","kid":"k"}}"#).as_bytes());
            let forged = format!("{h}.{rest}");
            assert!(parse(&forged).unwrap().verify(&vk).is_err(), "{alg}");
        }
    }

    #[test]
    fn jwk_with_mismatched_alg_or_use_is_refused() {
        let key = SigningKey::generate(Algorithm::ES256);
        let mut jwk = key.public_jwk("k");
        jwk.alg = Some("EdDSA".into());
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        let mut jwk = key.public_jwk("k");
        jwk.use_ = Some("enc".into());
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        let mut jwk = key.public_jwk("k");
        jwk.kty = "oct".into();
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn malformed_compact_serialisations_are_refused() {
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        for bad in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "!!.e30.AA",
            "e30.e30.!!",
            long.as_str(),
        ] {
            assert!(parse(bad).is_err(), "{bad:.20}");
        }
    }

    #[test]
    fn signing_key_debug_hides_the_key() {
        let key = SigningKey::generate(Algorithm::EdDSA);
        let hex = data_encoding::HEXLOWER.encode(&key.private_bytes());
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&hex));
        assert_eq!(dbg, "SigningKey(EdDSA, [redacted])");
    }
}
