//! Local verification of Seawall tokens, for the gateway and any in-process caller.
//!
//! A [`Verifier`] holds the published keys and the revocation set and nothing else, so it works
//! the same in `seawall up` (fed directly by the identity service) and in `seawall proxy` (fed
//! from the control plane's JWKS and revocation endpoints). It never reaches the store.
//!
//! The gateway verifies on every request, and a signature check costs tens of microseconds, so
//! a token whose signature and claims were verified once is remembered (keyed by its exact
//! text) until it expires or the keys change; later requests only check expiry and revocation.

use crate::jws::{self, Jwks, VerifyingKey};
use crate::revocation::{RevocationDelta, RevocationSet};
use seawall_core::auth::{AuthError, Principal};
use seawall_core::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 30;
/// `typ` of access tokens (RFC 9068 section 2.1).
pub(crate) const ACCESS_TYP: &str = "at+jwt";
/// `typ` of session tokens.
pub(crate) const SESSION_TYP: &str = "seawall-session+jwt";
/// `aud` of session tokens: never the access audience, so a generic JWT library checking the
/// access audience refuses a session token too.
pub(crate) const SESSION_AUDIENCE: &str = "seawall-session";
/// `client_id` of access tokens (RFC 9068 section 2.2).
pub(crate) const CLIENT_ID: &str = "seawall";
/// Verified tokens remembered at most.
const CACHE_CAPACITY: usize = 16 * 1024;

/// Which kind of token a caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A bearer access token (RFC 9068).
    Access,
    /// The gateway's session cookie.
    Session,
}

/// The claims of access and session tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub preferred_username: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    pub auth_time: i64,
    /// When a second factor was last used (private claim).
    pub mfa_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// `aud`: one string or an array (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(v) => v.iter().any(|a| a == aud),
        }
    }
}

/// A JWK in a JWKS that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("jwk `{kid}` is unusable: {reason}")]
pub struct JwksError {
    pub kid: String,
    pub reason: String,
}

struct Cached {
    kind: TokenKind,
    principal: Principal,
}

/// Verifies access and session tokens against the published keys and the revocations.
pub struct Verifier {
    issuer: String,
    audience: String,
    keys: RwLock<Arc<HashMap<String, VerifyingKey>>>,
    revocations: RwLock<RevocationSet>,
    cache: RwLock<HashMap<Box<str>, Arc<Cached>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &read(&self.keys).len())
            .field("revocation_version", &self.revocation_version())
            .finish()
    }
}

impl Verifier {
    /// A verifier for tokens from `issuer` with access audience `audience`. It accepts nothing
    /// until [`Verifier::set_jwks`] gives it keys.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            keys: RwLock::new(Arc::new(HashMap::new())),
            revocations: RwLock::new(RevocationSet::default()),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Replaces the trusted keys. A set with any unusable key is refused whole and the
    /// previous keys stay.
    pub fn set_jwks(&self, jwks: &Jwks) -> Result<(), JwksError> {
        let mut keys = HashMap::with_capacity(jwks.keys.len());
        for jwk in &jwks.keys {
            let key = VerifyingKey::from_jwk(jwk).map_err(|reason| JwksError {
                kid: jwk.kid.clone(),
                reason,
            })?;
            keys.insert(jwk.kid.clone(), key);
        }
        let changed = {
            let current = read(&self.keys);
            current.len() != keys.len() || keys.keys().any(|k| !current.contains_key(k))
        };
        if changed {
            *write(&self.keys) = Arc::new(keys);
            // A token verified with a key that is gone must be checked again (and fail).
            write(&self.cache).clear();
        }
        Ok(())
    }

    /// Applies newer revocations.
    pub fn apply(&self, delta: &RevocationDelta) {
        write(&self.revocations).apply(delta);
    }

    /// Replaces the revocation set whole (after a restart, or when a delta was missed).
    pub fn set_revocations(&self, set: RevocationSet) {
        *write(&self.revocations) = set;
    }

    /// The revocation version this verifier reflects: ask for revocations after it.
    pub fn revocation_version(&self) -> i64 {
        read(&self.revocations).version
    }

    /// Forgets revocations and remembered tokens that expired before `now`.
    pub fn prune(&self, now: i64) {
        write(&self.revocations).prune(now);
        write(&self.cache).retain(|_, c| c.principal.expires_at.saturating_add(LEEWAY_SECS) >= now);
    }

    /// Verifies a bearer access token at `now` (unix seconds).
    pub fn verify_access(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        self.verify(TokenKind::Access, token, now)
    }

    /// Verifies a session token (the gateway cookie) at `now` (unix seconds).
    pub fn verify_session(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        self.verify(TokenKind::Session, token, now)
    }

    /// Verifies a token of `kind` at `now`.
    pub fn verify(&self, kind: TokenKind, token: &str, now: i64) -> Result<Principal, AuthError> {
        let remembered = read(&self.cache).get(token).cloned();
        let principal = match remembered {
            Some(c) if c.kind == kind => c.principal.clone(),
            Some(_) => return Err(AuthError::InvalidToken),
            None => {
                let p = self.verify_signed(kind, token, now)?;
                self.remember(token, kind, &p, now);
                p
            }
        };
        if principal.expires_at.saturating_add(LEEWAY_SECS) < now {
            return Err(AuthError::Expired);
        }
        if read(&self.revocations).is_revoked(&principal) {
            return Err(AuthError::Revoked);
        }
        Ok(principal)
    }

    /// Verifies signature and claims, without the cache or revocations.
    fn verify_signed(
        &self,
        kind: TokenKind,
        token: &str,
        now: i64,
    ) -> Result<Principal, AuthError> {
        let unverified = jws::parse(token)?;
        let kid = unverified
            .header
            .kid
            .as_deref()
            .ok_or(AuthError::InvalidToken)?;
        let key = read(&self.keys)
            .get(kid)
            .cloned()
            .ok_or(AuthError::InvalidToken)?;
        let payload = unverified.verify(&key)?;

        // The header's `typ` keeps access and session tokens apart (RFC 9068 section 4 asks
        // resource servers to check it; RFC 8725 section 3.11 explains why).
        let typ = unverified.header.typ.as_deref().unwrap_or("");
        let typ_ok = match kind {
            TokenKind::Access => typ == ACCESS_TYP || typ == "application/at+jwt",
            TokenKind::Session => typ == SESSION_TYP,
        };
        if !typ_ok {
            return Err(AuthError::InvalidToken);
        }
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|_| AuthError::InvalidToken)?;
        self.check_claims(kind, &claims, now)?;
        Ok(principal_of(claims))
    }

    fn check_claims(&self, kind: TokenKind, c: &Claims, now: i64) -> Result<(), AuthError> {
        let audience = match kind {
            TokenKind::Access => self.audience.as_str(),
            TokenKind::Session => SESSION_AUDIENCE,
        };
        if c.iss != self.issuer || !c.aud.contains(audience) {
            return Err(AuthError::InvalidToken);
        }
        if c.iat > now.saturating_add(LEEWAY_SECS) || c.exp < c.iat {
            return Err(AuthError::InvalidToken);
        }
        if c.exp.saturating_add(LEEWAY_SECS) < now {
            return Err(AuthError::Expired);
        }
        Ok(())
    }

    fn remember(&self, token: &str, kind: TokenKind, p: &Principal, now: i64) {
        let mut cache = write(&self.cache);
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| c.principal.expires_at.saturating_add(LEEWAY_SECS) >= now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            token.into(),
            Arc::new(Cached {
                kind,
                principal: p.clone(),
            }),
        );
    }
}

fn principal_of(c: Claims) -> Principal {
    Principal {
        user_id: UserId::from_stored(c.sub),
        username: c.preferred_username,
        groups: c.groups,
        amr: c.amr,
        auth_time: c.auth_time,
        mfa_time: c.mfa_time,
        session_id: c.sid.map(SessionId::from_stored),
        token_id: c.jti,
        issued_at: c.iat,
        expires_at: c.exp,
    }
}

// A panic while a lock is held cannot leave these maps half-updated (every update is a single
// insert, replace or retain), so a poisoned lock is safe to keep using.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
