//! The identity service: shared state, construction, revocation and housekeeping.
//!
//! The sign-in steps live in `signin`, tokens and sessions in `tokens`, signing keys in `keys`
//! and the admin surface in `admin`; they are all methods of [`IdentityService`].
//!
//! Every method is blocking (store calls, and Argon2 costs tens of milliseconds): async
//! callers run them on a blocking thread. The [`SignInBackend`](seawall_core::auth::SignInBackend)
//! implementation does that itself.

use crate::error::IdentityError;
use crate::jws::Algorithm;
use crate::keys::KeyRing;
use crate::password;
use crate::revocation::{Revocation, RevocationDelta, RevocationKind, RevocationSet};
use crate::verifier::{Verifier, LEEWAY_SECS, SESSION_AUDIENCE};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use rand::RngCore;
use seawall_audit::{AuditEntry, AuditLog};
use seawall_core::auth::SecretString;
use seawall_core::clock::SharedClock;
use seawall_core::config::{Config, MfaConfig, SessionConfig, ThrottleConfig, TokenConfig};
use seawall_core::event::{EventKind, EventSink, SecurityEvent, Severity};
use seawall_core::seal::Sealer;
use seawall_core::Secret;
use seawall_store::Store;
use sha2::Sha256;
use std::sync::{Arc, RwLock};

/// The meta key under which the sealed key for hashing opaque tokens is kept.
const HASH_KEY_META: &str = "identity.token_hash_key";

/// The identity provider. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct IdentityService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityService")
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub sealer: Arc<Sealer>,
    pub audit: AuditLog,
    pub events: Arc<dyn EventSink>,
    pub clock: SharedClock,
    pub issuer: String,
    pub tokens: TokenConfig,
    pub session: SessionConfig,
    pub mfa: MfaConfig,
    pub throttle: ThrottleConfig,
    pub algorithm: Algorithm,
    /// Keys the HMAC that turns opaque tokens and recovery codes into stored hashes.
    hash_key: Secret<Vec<u8>>,
    pub argon: Argon2<'static>,
    /// A hash of a random password: verified against when the user name is unknown, so an
    /// unknown name costs the same time as a known one.
    pub dummy_hash: String,
    pub keys: RwLock<KeyRing>,
    pub verifier: Arc<Verifier>,
}

impl IdentityService {
    /// Starts the service: loads (or creates) its hashing key and signing key, and primes its
    /// own [`Verifier`] with the keys and revocations.
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
        audit: AuditLog,
        events: Arc<dyn EventSink>,
        clock: SharedClock,
        config: &Config,
    ) -> Result<Self, IdentityError> {
        let algorithm =
            Algorithm::parse(&config.tokens.algorithm).ok_or_else(|| IdentityError::Config {
                key: "tokens.algorithm",
                message: format!("`{}` is not `EdDSA` or `ES256`", config.tokens.algorithm),
            })?;
        if config.tokens.audience == SESSION_AUDIENCE {
            return Err(IdentityError::Config {
                key: "tokens.audience",
                message: format!("`{SESSION_AUDIENCE}` is reserved for session tokens"),
            });
        }
        let hash_key = load_hash_key(store.as_ref(), &sealer)?;
        let argon = password::argon2();
        let mut dummy = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut dummy);
        let dummy_hash = password::hash(
            &argon,
            &SecretString::new(data_encoding::HEXLOWER.encode(&dummy)),
        )?;
        let issuer = config.issuer();
        let verifier = Arc::new(Verifier::new(
            issuer.clone(),
            config.tokens.audience.clone(),
        ));
        let service = Self {
            inner: Arc::new(Inner {
                store,
                sealer,
                audit,
                events,
                clock,
                issuer,
                tokens: config.tokens.clone(),
                session: config.session.clone(),
                mfa: config.mfa.clone(),
                throttle: config.throttle.clone(),
                algorithm,
                hash_key,
                argon,
                dummy_hash,
                keys: RwLock::new(KeyRing::default()),
                verifier,
            }),
        };
        let now = service.now();
        service.rotate_keys_if_due(now)?;
        service.sync_verifier()?;
        Ok(service)
    }

    /// The token issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// This process's verifier, kept current with the service's keys and revocations. In
    /// `seawall up` the gateway uses it directly, so a revocation applies at once.
    pub fn verifier(&self) -> Arc<Verifier> {
        self.inner.verifier.clone()
    }

    /// Periodic housekeeping, meant to run about once a second: rotates the signing key when
    /// due, prunes expired sign-in state and revocations, and brings the verifier up to date
    /// with revocations other replicas recorded.
    pub fn maintain(&self) -> Result<(), IdentityError> {
        let now_ms = self.inner.clock.now_millis();
        let now = now_ms.div_euclid(1000);
        self.rotate_keys_if_due(now)?;
        let max_ms = i64::try_from(self.inner.throttle.max_delay_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        self.inner
            .store
            .identity_prune(now, now_ms.saturating_sub(max_ms))?;
        self.sync_verifier()?;
        self.inner.verifier.prune(now);
        Ok(())
    }

    /// Revocations recorded after `version`, for a gateway to apply.
    pub fn revocations_since(&self, version: i64) -> Result<RevocationDelta, IdentityError> {
        let rows = self.inner.store.revocations_since(version)?;
        let mut delta = RevocationDelta {
            from_version: version,
            version,
            entries: Vec::with_capacity(rows.len()),
        };
        for r in rows {
            delta.version = delta.version.max(r.version);
            let Some(kind) = RevocationKind::parse(&r.kind) else {
                return Err(IdentityError::Corrupt(format!(
                    "revocation {} has kind `{}`",
                    r.version, r.kind
                )));
            };
            delta.entries.push(Revocation {
                version: r.version,
                kind,
                subject: r.subject,
                revoked_at: r.revoked_at,
                expires_at: r.expires_at,
            });
        }
        Ok(delta)
    }

    /// Everything currently revoked.
    pub fn revocation_set(&self) -> Result<RevocationSet, IdentityError> {
        let mut set = RevocationSet::default();
        set.apply(&self.revocations_since(0)?);
        set.prune(self.now());
        Ok(set)
    }

    /// Applies revocations recorded since the verifier's version to the verifier.
    pub fn sync_verifier(&self) -> Result<(), IdentityError> {
        let delta = self.revocations_since(self.inner.verifier.revocation_version())?;
        if !delta.entries.is_empty() {
            self.inner.verifier.apply(&delta);
        }
        Ok(())
    }

    /// Records a revocation and applies it to this process's verifier at once.
    pub(crate) fn revoke(
        &self,
        kind: RevocationKind,
        subject: &str,
        expires_at: i64,
    ) -> Result<i64, IdentityError> {
        let now = self.now();
        let version = self
            .inner
            .store
            .revocation_add(kind.as_str(), subject, now, expires_at)?;
        self.sync_verifier()?;
        Ok(version)
    }

    /// The longest any token lives, plus the verifiers' leeway: after this, nothing signed or
    /// revoked now matters any more.
    pub(crate) fn longest_token_life(&self) -> i64 {
        let access = self.inner.tokens.access_ttl_secs;
        let session = self.inner.session.ttl_secs;
        i64::try_from(access.max(session))
            .unwrap_or(i64::MAX / 2)
            .saturating_add(LEEWAY_SECS)
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// The stored form of an opaque token or code: HMAC-SHA256 under a sealed key, hex. The
    /// purpose is mixed in so a value of one kind never matches another.
    pub(crate) fn token_hash(&self, purpose: &str, token: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.inner.hash_key.expose()) else {
            // HMAC accepts keys of any length; this arm is unreachable.
            return String::new();
        };
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(token.as_bytes());
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    }

    pub(crate) fn audit(&self, entry: AuditEntry) {
        self.inner.audit.record(entry);
    }

    /// A user name as it may appear in the audit log: as typed when it belongs to a user,
    /// else keyed-hashed (a mistyped name is sometimes a password).
    pub(crate) fn audit_name(&self, name: &str, known: bool) -> String {
        if known {
            name.to_string()
        } else {
            self.inner.audit.hmac(name)
        }
    }

    pub(crate) fn publish(&self, severity: Severity, kind: EventKind, ip: Option<String>) {
        let mut context = serde_json::Map::new();
        if let Some(ip) = ip {
            context.insert("source.ip".into(), ip.into());
        }
        self.inner.events.publish(SecurityEvent {
            time: self.now(),
            severity,
            kind,
            context,
        });
    }
}

/// A fresh opaque token: 256 random bits, base64url.
pub(crate) fn random_token() -> SecretString {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    SecretString::new(data_encoding::BASE64URL_NOPAD.encode(bytes.as_ref()))
}

fn load_hash_key(store: &dyn Store, sealer: &Sealer) -> Result<Secret<Vec<u8>>, IdentityError> {
    let mut fresh = zeroize::Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(fresh.as_mut());
    // Two replicas starting together agree on whichever key was stored first.
    let sealed = store.meta_init(HASH_KEY_META, &sealer.seal(fresh.as_ref(), HASH_KEY_META))?;
    let key = sealer.open(&sealed, HASH_KEY_META)?;
    Ok(Secret::new(key.to_vec()))
}
