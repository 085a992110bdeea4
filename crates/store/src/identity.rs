//! Storage of identities and everything a sign-in leaves behind.
//!
//! The rules (how passwords are hashed, when a code counts as reused, what a lockout is) live
//! in the `identity` crate; this trait only keeps rows. Secret material reaches it already
//! sealed or hashed: no method here ever sees a password, a TOTP seed or a token in clear.
//! Operations that must not race across replicas (rotating a refresh token, advancing a TOTP
//! step, recording a throttled failure, rotating a signing key) are single atomic methods.

use crate::StoreError;
use seawall_core::ids::{FactorId, GroupId, KeyId, SessionId, TokenFamilyId, UserId};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: UserId,
    /// Lower-case, unique.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A group of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: GroupId,
    pub name: String,
    pub created_at: i64,
}

/// A second factor. `sealed_secret` is sealed by the identity crate with an associated data
/// naming the row; `metadata` is JSON the factor kind defines.
#[derive(Clone, PartialEq, Eq)]
pub struct FactorRow {
    pub id: FactorId,
    pub user_id: UserId,
    /// `totp` today; `webauthn` later.
    pub kind: String,
    pub sealed_secret: Vec<u8>,
    pub metadata: String,
    /// Whether enrollment was completed with a first valid code.
    pub confirmed: bool,
    /// The last TOTP time step accepted (-1 when none); a code from this step or an earlier
    /// one is refused.
    pub last_used_step: i64,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

impl std::fmt::Debug for FactorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactorRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("sealed_secret", &"[sealed]")
            .field("confirmed", &self.confirmed)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// A proof that the password step succeeded, waiting for the second step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    /// Keyed hash of the opaque token handed to the client.
    pub token_hash: String,
    pub user_id: UserId,
    /// `second_factor` or `enroll`.
    pub purpose: String,
    /// The factor being enrolled, once enrollment started.
    pub factor_id: Option<FactorId>,
    /// Wrong codes presented with this proof so far.
    pub failures: u32,
    /// When the password was verified.
    pub auth_time: i64,
    pub expires_at: i64,
}

/// A sign-in session; its refresh tokens form one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub family_id: TokenFamilyId,
    /// Authentication methods, as RFC 8176 values.
    pub amr: Vec<String>,
    pub auth_time: i64,
    pub mfa_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// One refresh token (stored as a keyed hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    pub token_hash: String,
    pub family_id: TokenFamilyId,
    pub issued_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Failed sign-in attempts for one subject (`user:<name>` or `ip:<address>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRow {
    pub subject: String,
    pub failures: u32,
    pub last_failure_ms: i64,
    /// No attempt is accepted before this time (milliseconds since the epoch).
    pub blocked_until_ms: i64,
    /// Whether the backoff reached its maximum (a lockout).
    pub locked_out: bool,
}

/// A token signing key; the private half sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub kid: KeyId,
    /// JWS `alg`: `EdDSA` or `ES256`.
    pub alg: String,
    pub sealed_private: Vec<u8>,
    /// The public JWK, JSON.
    pub public_jwk: String,
    pub created_at: i64,
    /// When it stopped signing (`None` while it is the active key).
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS: every token it signed has expired by then.
    pub publish_until: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("sealed_private", &"[sealed]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish_non_exhaustive()
    }
}

/// One revocation, numbered by a version that only grows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRow {
    pub version: i64,
    /// `session`, `jti` or `user`.
    pub kind: String,
    /// The session id, token id or user id.
    pub subject: String,
    pub revoked_at: i64,
    /// After this time no token it could affect is still valid; the row may be pruned.
    pub expires_at: i64,
}

/// What rotating a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// The token was live; it is now used and the new one stored.
    Rotated,
    /// The token was already used: reuse.
    AlreadyUsed,
    /// No such token.
    Unknown,
}

/// Storage for the `identity` crate.
pub trait IdentityRepo {
    /// Inserts a user; [`StoreError::Conflict`] when the name is taken.
    fn user_insert(&self, user: &UserRow) -> Result<(), StoreError>;
    fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError>;
    fn user_by_id(&self, id: &UserId) -> Result<Option<UserRow>, StoreError>;
    /// Every user, by name.
    fn users(&self) -> Result<Vec<UserRow>, StoreError>;
    fn user_set_disabled(&self, id: &UserId, disabled: bool, now: i64) -> Result<(), StoreError>;
    fn user_set_password(&self, id: &UserId, hash: &str, now: i64) -> Result<(), StoreError>;

    /// Inserts a group; [`StoreError::Conflict`] when the name is taken.
    fn group_insert(&self, group: &GroupRow) -> Result<(), StoreError>;
    fn group_by_name(&self, name: &str) -> Result<Option<GroupRow>, StoreError>;
    /// Deletes a group and its memberships; returns the former members.
    fn group_delete(&self, id: &GroupId) -> Result<Vec<UserId>, StoreError>;
    /// Every group, by name.
    fn groups(&self) -> Result<Vec<GroupRow>, StoreError>;
    /// Adds a member; adding one twice is not an error.
    fn group_add_member(&self, group: &GroupId, user: &UserId) -> Result<(), StoreError>;
    /// Removes a member; returns whether they were one.
    fn group_remove_member(&self, group: &GroupId, user: &UserId) -> Result<bool, StoreError>;
    /// The user names of a group's members, sorted.
    fn group_members(&self, group: &GroupId) -> Result<Vec<String>, StoreError>;
    /// The names of the groups a user belongs to, sorted.
    fn user_groups(&self, user: &UserId) -> Result<Vec<String>, StoreError>;

    fn factor_insert(&self, factor: &FactorRow) -> Result<(), StoreError>;
    fn factor(&self, id: &FactorId) -> Result<Option<FactorRow>, StoreError>;
    /// A user's factors, confirmed or not, oldest first.
    fn factors_of(&self, user: &UserId) -> Result<Vec<FactorRow>, StoreError>;
    /// Marks a factor confirmed, recording the step of the code that confirmed it.
    fn factor_confirm(&self, id: &FactorId, step: i64, now: i64) -> Result<(), StoreError>;
    /// Records `step` as used when it is later than the last used step; returns false (and
    /// changes nothing) when it is not. Atomic, so one code is accepted once.
    fn factor_advance_step(&self, id: &FactorId, step: i64, now: i64) -> Result<bool, StoreError>;
    /// Deletes a user's unconfirmed factors (abandoned enrollments).
    fn factors_delete_unconfirmed(&self, user: &UserId) -> Result<(), StoreError>;
    /// Deletes every factor and recovery code of a user.
    fn factors_delete_all(&self, user: &UserId) -> Result<(), StoreError>;

    /// Replaces a user's recovery codes with these hashes.
    fn recovery_codes_replace(
        &self,
        user: &UserId,
        hashes: &[String],
        now: i64,
    ) -> Result<(), StoreError>;
    /// Marks an unused code used; returns false when there is no such unused code.
    fn recovery_code_use(&self, user: &UserId, hash: &str, now: i64) -> Result<bool, StoreError>;
    /// How many unused recovery codes a user has.
    fn recovery_codes_left(&self, user: &UserId) -> Result<usize, StoreError>;

    fn pending_insert(&self, pending: &PendingRow) -> Result<(), StoreError>;
    fn pending(&self, token_hash: &str) -> Result<Option<PendingRow>, StoreError>;
    fn pending_set_factor(&self, token_hash: &str, factor: &FactorId) -> Result<(), StoreError>;
    /// Counts one more wrong code; returns the new count.
    fn pending_record_failure(&self, token_hash: &str) -> Result<u32, StoreError>;
    /// Deletes the proof; returns whether it was there (so two racing steps cannot both
    /// complete one sign-in).
    fn pending_take(&self, token_hash: &str) -> Result<bool, StoreError>;

    fn session_insert(&self, session: &SessionRow) -> Result<(), StoreError>;
    fn session(&self, id: &SessionId) -> Result<Option<SessionRow>, StoreError>;
    fn session_by_family(&self, family: &TokenFamilyId) -> Result<Option<SessionRow>, StoreError>;
    fn session_set_mfa_time(&self, id: &SessionId, mfa_time: i64) -> Result<(), StoreError>;
    /// Marks a session revoked; returns false when it already was (or does not exist).
    fn session_revoke(&self, id: &SessionId, now: i64) -> Result<bool, StoreError>;
    /// A user's sessions that are neither revoked nor expired.
    fn sessions_live(&self, user: &UserId, now: i64) -> Result<Vec<SessionRow>, StoreError>;

    fn refresh_insert(&self, token: &RefreshRow) -> Result<(), StoreError>;
    fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRow>, StoreError>;
    /// Atomically marks `old_hash` used and stores `new`, unless `old_hash` was already used.
    fn refresh_rotate(
        &self,
        old_hash: &str,
        now: i64,
        new: &RefreshRow,
    ) -> Result<RefreshRotation, StoreError>;
    /// Deletes a family's unused tokens (superseded by a step-up).
    fn refresh_delete_unused(&self, family: &TokenFamilyId) -> Result<(), StoreError>;

    fn throttle(&self, subject: &str) -> Result<Option<ThrottleRow>, StoreError>;
    /// Atomically reads a subject's row, lets `update` compute the next one, and stores it.
    fn throttle_update(
        &self,
        subject: &str,
        update: &mut dyn FnMut(Option<&ThrottleRow>) -> ThrottleRow,
    ) -> Result<ThrottleRow, StoreError>;
    /// Forgets a subject's failures; returns whether there were any.
    fn throttle_clear(&self, subject: &str) -> Result<bool, StoreError>;
    /// Subjects blocked at `now_ms`.
    fn throttles_blocked(&self, now_ms: i64) -> Result<Vec<ThrottleRow>, StoreError>;

    /// Every signing key, oldest first.
    fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError>;
    /// Makes `new` the active key. When `retire` names the current active key, it is retired
    /// at `new.created_at`, published until `publish_until`. Returns false (and changes
    /// nothing) when the active key is no longer the one named, so racing replicas rotate once.
    fn signing_key_rotate(
        &self,
        new: &SigningKeyRow,
        retire: Option<(&KeyId, i64)>,
    ) -> Result<bool, StoreError>;
    /// Deletes retired keys published until before `now`; returns how many.
    fn signing_keys_delete_expired(&self, now: i64) -> Result<usize, StoreError>;

    /// Appends a revocation; returns its version.
    fn revocation_add(
        &self,
        kind: &str,
        subject: &str,
        revoked_at: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError>;
    /// Revocations with a version above `version`, in order.
    fn revocations_since(&self, version: i64) -> Result<Vec<RevocationRow>, StoreError>;
    /// The highest version recorded (0 when none).
    fn revocation_version(&self) -> Result<i64, StoreError>;

    /// Deletes expired pending sign-ins, refresh tokens, sessions, revocations and idle
    /// throttle rows (those not blocked since before `idle_before_ms`).
    fn identity_prune(&self, now: i64, idle_before_ms: i64) -> Result<(), StoreError>;
}
