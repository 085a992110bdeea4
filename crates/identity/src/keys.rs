//! Signing keys: rotation, sealing, the JWKS and the OIDC discovery document.
//!
//! One key signs at a time. Every `tokens.key_rotation_secs` (or when `tokens.algorithm`
//! changes) a new key takes over; the old one stays in the JWKS until every token it signed has
//! expired (its retirement time plus the longest token lifetime plus the verifiers' leeway),
//! then it is deleted. Private keys are stored sealed, bound to their key id.

use crate::error::IdentityError;
use crate::jws::{Algorithm, Jwk, Jwks, SigningKey};
use crate::service::IdentityService;
use seawall_audit::{AuditEntry, Outcome};
use seawall_core::ids::KeyId;
use seawall_store::identity::SigningKeyRow;

/// Extra time a retired key stays published, for replicas that have not reloaded yet.
const RELOAD_SLACK_SECS: i64 = 60;

/// The keys in memory: the one that signs, and every one that is published.
#[derive(Debug, Default)]
pub(crate) struct KeyRing {
    pub active: Option<(KeyId, SigningKey)>,
    pub jwks: Jwks,
}

fn aad(kid: &KeyId) -> String {
    format!("signing_key:{kid}")
}

impl IdentityService {
    /// Rotates the signing key when it is older than `tokens.key_rotation_secs` (or there is
    /// none, or the configured algorithm changed), drops retired keys whose tokens have all
    /// expired, and reloads the keys from the store. Returns whether this call rotated.
    pub fn rotate_keys_if_due(&self, now: i64) -> Result<bool, IdentityError> {
        let s = &self.inner;
        let rows = s.store.signing_keys()?;
        let active = rows.iter().rev().find(|r| r.retired_at.is_none());
        let period = i64::try_from(s.tokens.key_rotation_secs).unwrap_or(i64::MAX);
        let due = match active {
            None => true,
            Some(k) => k.created_at.saturating_add(period) <= now || k.alg != s.algorithm.as_str(),
        };
        let mut rotated = false;
        if due {
            let kid = KeyId::random();
            let key = SigningKey::generate(s.algorithm);
            let jwk = key.public_jwk(kid.as_str());
            let row = SigningKeyRow {
                kid: kid.clone(),
                alg: s.algorithm.as_str().into(),
                sealed_private: s.sealer.seal(&key.private_bytes(), &aad(&kid)),
                public_jwk: serde_json::to_string(&jwk)
                    .map_err(|e| IdentityError::Corrupt(e.to_string()))?,
                created_at: now,
                retired_at: None,
                publish_until: None,
            };
            let publish_until = now
                .saturating_add(self.longest_token_life())
                .saturating_add(RELOAD_SLACK_SECS);
            let retire = active.map(|a| (&a.kid, publish_until));
            // False means another replica rotated first; its key is loaded below.
            rotated = s.store.signing_key_rotate(&row, retire)?;
            if rotated {
                tracing::info!(key.id = %kid, key.alg = s.algorithm.as_str(), "signing key rotated");
                let mut entry = AuditEntry::new("keys.rotate", Outcome::Success)
                    .actor("system")
                    .subject(kid.as_str())
                    .detail("alg", s.algorithm.as_str());
                if let Some(old) = active {
                    entry = entry
                        .detail("retired", old.kid.as_str())
                        .detail("published_until", publish_until);
                }
                self.audit(entry);
            }
        }
        s.store.signing_keys_delete_expired(now)?;
        self.reload_keys(now)?;
        Ok(rotated)
    }

    /// Loads the keys from the store into memory and hands the JWKS to the verifier.
    fn reload_keys(&self, now: i64) -> Result<(), IdentityError> {
        let s = &self.inner;
        let rows = s.store.signing_keys()?;
        let mut jwks = Jwks::default();
        let mut active = None;
        for row in &rows {
            if row.publish_until.is_some_and(|t| t < now) {
                continue;
            }
            let jwk: Jwk = serde_json::from_str(&row.public_jwk)
                .map_err(|_| IdentityError::Corrupt(format!("public key of `{}`", row.kid)))?;
            jwks.keys.push(jwk);
            if row.retired_at.is_none() {
                active = Some(row);
            }
        }
        let active = match active {
            Some(row) => Some((row.kid.clone(), open_key(s, row)?)),
            None => None,
        };
        // Newest first, as JWKS consumers commonly try keys in order.
        jwks.keys.reverse();
        s.verifier
            .set_jwks(&jwks)
            .map_err(|e| IdentityError::Corrupt(e.to_string()))?;
        let mut ring = s.keys.write().unwrap_or_else(|p| p.into_inner());
        ring.active = active;
        ring.jwks = jwks;
        Ok(())
    }

    /// The JWKS document for `/.well-known/jwks.json` (RFC 7517).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::to_value(self.jwks_set()).unwrap_or_default()
    }

    /// The published keys, typed, for handing to a [`Verifier`](crate::Verifier).
    pub fn jwks_set(&self) -> Jwks {
        let ring = self.inner.keys.read().unwrap_or_else(|p| p.into_inner());
        ring.jwks.clone()
    }

    /// The OIDC discovery document for `/.well-known/openid-configuration`, with endpoints
    /// under `issuer` (the control plane's public URL).
    pub fn openid_configuration(&self, issuer: &str) -> serde_json::Value {
        let issuer = issuer.trim_end_matches('/');
        let algs = [Algorithm::EdDSA.as_str(), Algorithm::ES256.as_str()];
        serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "authorization_endpoint": format!("{issuer}/api/v1/auth/password"),
            "token_endpoint": format!("{issuer}/api/v1/auth/refresh"),
            "response_types_supported": ["token"],
            "grant_types_supported": ["password", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "jti", "client_id", "preferred_username",
                "groups", "amr", "auth_time", "sid"
            ],
        })
    }

    /// Signs claims with the active key.
    pub(crate) fn sign(
        &self,
        typ: &str,
        claims: &impl serde::Serialize,
    ) -> Result<String, IdentityError> {
        let ring = self.inner.keys.read().unwrap_or_else(|p| p.into_inner());
        let Some((kid, key)) = ring.active.as_ref() else {
            return Err(IdentityError::Corrupt(
                "there is no active signing key".into(),
            ));
        };
        crate::jws::encode(key, kid.as_str(), typ, claims)
            .map_err(|e| IdentityError::Corrupt(e.to_string()))
    }
}

fn open_key(s: &crate::service::Inner, row: &SigningKeyRow) -> Result<SigningKey, IdentityError> {
    let alg = Algorithm::parse(&row.alg).ok_or_else(|| {
        IdentityError::Corrupt(format!("key `{}` has alg `{}`", row.kid, row.alg))
    })?;
    let private = s.sealer.open(&row.sealed_private, &aad(&row.kid))?;
    SigningKey::from_private_bytes(alg, &private)
        .ok_or_else(|| IdentityError::Corrupt(format!("private key of `{}`", row.kid)))
}
