//! The admin surface: users, groups, sessions, lockouts and revocations.
//!
//! The server exposes these methods over the admin API and the CLI; each takes the
//! [`AdminContext`] of who asked, and audits the change. Changes that take rights away
//! (disabling a user, removing a group member, resetting factors or a password) also revoke
//! the user's current tokens, since a token carries its groups until it expires; the user
//! refreshes or signs in again and gets tokens that reflect the change. Token times are whole
//! seconds, so a token minted in the same second as such a revocation is refused too (fail
//! closed); it works again from the next second.

use crate::error::IdentityError;
use crate::password;
use crate::revocation::RevocationKind;
use crate::service::IdentityService;
use crate::throttle;
use seawall_audit::{AuditEntry, Outcome};
use seawall_core::auth::SecretString;
use seawall_core::ids::{FactorId, GroupId, SessionId, TokenFamilyId, UserId};
use seawall_store::identity::{GroupRow, UserRow};
use seawall_store::StoreError;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Who is making an admin change, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminContext {
    /// The admin's user name, or `cli` / `system`.
    pub actor: String,
    pub source_ip: Option<IpAddr>,
}

impl AdminContext {
    /// A context for a local command-line change.
    pub fn cli() -> Self {
        Self {
            actor: "cli".into(),
            source_ip: None,
        }
    }
}

/// A user as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub disabled: bool,
    pub groups: Vec<String>,
    pub factors: Vec<FactorInfo>,
    pub recovery_codes_left: usize,
    pub created_at: i64,
}

/// An enrolled (or half-enrolled) second factor, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactorInfo {
    pub id: FactorId,
    pub kind: String,
    pub confirmed: bool,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

/// A group and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub members: Vec<String>,
    pub created_at: i64,
}

/// A subject (`user:<name>` or `ip:<address>`) that may not try to sign in for now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    pub subject: String,
    pub failures: u32,
    /// Unix seconds when attempts are accepted again.
    pub until: i64,
    /// Whether the backoff reached its maximum.
    pub locked_out: bool,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: SessionId,
    pub family: TokenFamilyId,
    pub amr: Vec<String>,
    pub auth_time: i64,
    pub mfa_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl IdentityService {
    /// Creates a user with a password. The user must enroll a second factor at first sign-in.
    pub fn create_user(
        &self,
        ctx: &AdminContext,
        username: &str,
        password: &SecretString,
    ) -> Result<User, IdentityError> {
        let name = password::normalize_name(username)?;
        password::check_policy(password)?;
        let now = self.now();
        let row = UserRow {
            id: UserId::random(),
            username: name.clone(),
            password_hash: password::hash(&self.inner.argon, password)?,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        self.inner.store.user_insert(&row).map_err(|e| match e {
            StoreError::Conflict(_) => IdentityError::UserExists(name.clone()),
            other => other.into(),
        })?;
        self.audit_admin(ctx, "user.create", &name);
        self.user(&name)
    }

    /// One user, by name.
    pub fn user(&self, username: &str) -> Result<User, IdentityError> {
        let row = self.user_row(username)?;
        self.user_view(row)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>, IdentityError> {
        let rows = self.inner.store.users()?;
        rows.into_iter().map(|r| self.user_view(r)).collect()
    }

    /// Disables a user: sign-in and refresh stop at once, and every token the user holds is
    /// revoked on every gateway.
    pub fn disable_user(&self, ctx: &AdminContext, username: &str) -> Result<(), IdentityError> {
        let row = self.user_row(username)?;
        self.inner
            .store
            .user_set_disabled(&row.id, true, self.now())?;
        self.cut_off(ctx, &row, "user_disabled")?;
        self.audit_admin(ctx, "user.disable", &row.username);
        Ok(())
    }

    /// Enables a disabled user.
    pub fn enable_user(&self, ctx: &AdminContext, username: &str) -> Result<(), IdentityError> {
        let row = self.user_row(username)?;
        self.inner
            .store
            .user_set_disabled(&row.id, false, self.now())?;
        self.audit_admin(ctx, "user.enable", &row.username);
        Ok(())
    }

    /// Sets a user's password and ends their sessions.
    pub fn set_password(
        &self,
        ctx: &AdminContext,
        username: &str,
        password: &SecretString,
    ) -> Result<(), IdentityError> {
        password::check_policy(password)?;
        let row = self.user_row(username)?;
        let hash = password::hash(&self.inner.argon, password)?;
        self.inner
            .store
            .user_set_password(&row.id, &hash, self.now())?;
        self.cut_off(ctx, &row, "password_set")?;
        self.audit_admin(ctx, "user.password.set", &row.username);
        Ok(())
    }

    /// Removes every second factor and recovery code of a user (a lost device) and ends their
    /// sessions; the next sign-in enrolls a new factor.
    pub fn reset_factors(&self, ctx: &AdminContext, username: &str) -> Result<(), IdentityError> {
        let row = self.user_row(username)?;
        self.inner.store.factors_delete_all(&row.id)?;
        self.cut_off(ctx, &row, "factors_reset")?;
        self.audit_admin(ctx, "user.factors.reset", &row.username);
        Ok(())
    }

    /// Creates a group.
    pub fn create_group(&self, ctx: &AdminContext, name: &str) -> Result<Group, IdentityError> {
        let name = password::normalize_name(name)?;
        let row = GroupRow {
            id: GroupId::random(),
            name: name.clone(),
            created_at: self.now(),
        };
        self.inner.store.group_insert(&row).map_err(|e| match e {
            StoreError::Conflict(_) => IdentityError::GroupExists(name.clone()),
            other => other.into(),
        })?;
        self.audit_admin(ctx, "group.create", &name);
        self.group(&name)
    }

    /// Deletes a group; its former members' tokens are revoked.
    pub fn delete_group(&self, ctx: &AdminContext, name: &str) -> Result<(), IdentityError> {
        let group = self.group_row(name)?;
        let members = self.inner.store.group_delete(&group.id)?;
        for id in &members {
            self.revoke_user_tokens(id)?;
        }
        self.audit_admin(ctx, "group.delete", &group.name);
        Ok(())
    }

    /// Adds a user to a group; tokens minted from now on carry it.
    pub fn add_member(
        &self,
        ctx: &AdminContext,
        group: &str,
        username: &str,
    ) -> Result<(), IdentityError> {
        let g = self.group_row(group)?;
        let u = self.user_row(username)?;
        self.inner.store.group_add_member(&g.id, &u.id)?;
        self.audit(
            self.admin_entry(ctx, "group.member.add", &g.name)
                .detail("user", u.username.as_str()),
        );
        Ok(())
    }

    /// Removes a user from a group and revokes the user's current tokens (they carry the
    /// group until they expire).
    pub fn remove_member(
        &self,
        ctx: &AdminContext,
        group: &str,
        username: &str,
    ) -> Result<(), IdentityError> {
        let g = self.group_row(group)?;
        let u = self.user_row(username)?;
        if self.inner.store.group_remove_member(&g.id, &u.id)? {
            self.revoke_user_tokens(&u.id)?;
        }
        self.audit(
            self.admin_entry(ctx, "group.member.remove", &g.name)
                .detail("user", u.username.as_str()),
        );
        Ok(())
    }

    /// One group, by name.
    pub fn group(&self, name: &str) -> Result<Group, IdentityError> {
        let row = self.group_row(name)?;
        self.group_view(row)
    }

    /// Every group with its members, by name.
    pub fn groups(&self) -> Result<Vec<Group>, IdentityError> {
        let rows = self.inner.store.groups()?;
        rows.into_iter().map(|r| self.group_view(r)).collect()
    }

    /// Subjects currently blocked from signing in.
    pub fn list_lockouts(&self) -> Result<Vec<Lockout>, IdentityError> {
        let now_ms = self.inner.clock.now_millis();
        let rows = self.inner.store.throttles_blocked(now_ms)?;
        Ok(rows
            .into_iter()
            .map(|r| Lockout {
                subject: r.subject,
                failures: r.failures,
                until: (r.blocked_until_ms + 999).div_euclid(1000),
                locked_out: r.locked_out,
            })
            .collect())
    }

    /// Lifts a lockout. `subject` is as listed (`user:<name>` or `ip:<address>`); a bare
    /// user name is taken as `user:<name>`.
    pub fn clear_lockout(&self, ctx: &AdminContext, subject: &str) -> Result<(), IdentityError> {
        let subject = if subject.starts_with("user:") || subject.starts_with("ip:") {
            subject.to_string()
        } else {
            throttle::user_subject(&subject.trim().to_ascii_lowercase())
        };
        if !self.inner.store.throttle_clear(&subject)? {
            return Err(IdentityError::NoSuchLockout(subject));
        }
        self.audit_admin(ctx, "lockout.clear", &subject);
        Ok(())
    }

    /// A user's live sessions.
    pub fn sessions(&self, username: &str) -> Result<Vec<SessionInfo>, IdentityError> {
        let row = self.user_row(username)?;
        let rows = self.inner.store.sessions_live(&row.id, self.now())?;
        Ok(rows
            .into_iter()
            .map(|s| SessionInfo {
                id: s.id,
                family: s.family_id,
                amr: s.amr,
                auth_time: s.auth_time,
                mfa_time: s.mfa_time,
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect())
    }

    /// Ends a session by id (its refresh family and every token with its `sid`).
    pub fn revoke_session(&self, ctx: &AdminContext, sid: &SessionId) -> Result<(), IdentityError> {
        if self.inner.store.session(sid)?.is_none() {
            return Err(IdentityError::NoSuchSession(sid.to_string()));
        }
        self.end_session(sid, &ctx.actor, None, "admin")?;
        Ok(())
    }

    /// Revokes a refresh-token family, which ends its session.
    pub fn revoke_family(
        &self,
        ctx: &AdminContext,
        family: &TokenFamilyId,
    ) -> Result<(), IdentityError> {
        let session = self
            .inner
            .store
            .session_by_family(family)?
            .ok_or_else(|| IdentityError::NoSuchSession(family.to_string()))?;
        self.end_session(&session.id, &ctx.actor, None, "family_revoked")?;
        Ok(())
    }

    /// Revokes one token by its `jti`. `expires_at` is the token's `exp` when known; without
    /// it the revocation is kept for the longest token lifetime.
    pub fn revoke_jti(
        &self,
        ctx: &AdminContext,
        jti: &str,
        expires_at: Option<i64>,
    ) -> Result<i64, IdentityError> {
        let jti = jti.trim();
        if jti.is_empty() || jti.len() > 128 {
            return Err(IdentityError::InvalidName {
                name: jti.chars().take(80).collect(),
                reason: "a token id is 1 to 128 bytes",
            });
        }
        let default = self.now().saturating_add(self.longest_token_life());
        let until = expires_at.map_or(default, |e| e.saturating_add(crate::LEEWAY_SECS));
        let version = self.revoke(RevocationKind::Jti, jti, until)?;
        self.audit(self.admin_entry(ctx, "token.revoke", jti));
        Ok(version)
    }

    /// Revokes every token of a user issued up to now (not their sessions: a refresh yields
    /// tokens that reflect the change).
    fn revoke_user_tokens(&self, user: &UserId) -> Result<(), IdentityError> {
        let until = self.now().saturating_add(self.longest_token_life());
        self.revoke(RevocationKind::User, user.as_str(), until)?;
        Ok(())
    }

    /// Ends every session of a user and revokes all their tokens.
    fn cut_off(
        &self,
        ctx: &AdminContext,
        user: &UserRow,
        reason: &str,
    ) -> Result<(), IdentityError> {
        for s in self.inner.store.sessions_live(&user.id, self.now())? {
            self.end_session(&s.id, &ctx.actor, None, reason)?;
        }
        self.revoke_user_tokens(&user.id)
    }

    fn user_row(&self, username: &str) -> Result<UserRow, IdentityError> {
        let name = password::normalize_name(username)?;
        self.inner
            .store
            .user_by_name(&name)?
            .ok_or(IdentityError::NoSuchUser(name))
    }

    fn group_row(&self, name: &str) -> Result<GroupRow, IdentityError> {
        let name = password::normalize_name(name)?;
        self.inner
            .store
            .group_by_name(&name)?
            .ok_or(IdentityError::NoSuchGroup(name))
    }

    fn user_view(&self, row: UserRow) -> Result<User, IdentityError> {
        let store = &self.inner.store;
        let factors = store
            .factors_of(&row.id)?
            .into_iter()
            .map(|f| FactorInfo {
                id: f.id,
                kind: f.kind,
                confirmed: f.confirmed,
                last_used_at: f.last_used_at,
                created_at: f.created_at,
            })
            .collect();
        Ok(User {
            groups: store.user_groups(&row.id)?,
            recovery_codes_left: store.recovery_codes_left(&row.id)?,
            factors,
            id: row.id,
            username: row.username,
            disabled: row.disabled,
            created_at: row.created_at,
        })
    }

    fn group_view(&self, row: GroupRow) -> Result<Group, IdentityError> {
        Ok(Group {
            members: self.inner.store.group_members(&row.id)?,
            id: row.id,
            name: row.name,
            created_at: row.created_at,
        })
    }

    fn admin_entry(&self, ctx: &AdminContext, action: &str, subject: &str) -> AuditEntry {
        let mut e = AuditEntry::new(action, Outcome::Success)
            .actor(ctx.actor.as_str())
            .subject(subject);
        if let Some(ip) = ctx.source_ip {
            e = e.source_ip(ip);
        }
        e
    }

    fn audit_admin(&self, ctx: &AdminContext, action: &str, subject: &str) {
        tracing::info!(admin.actor = %ctx.actor, admin.action = action, admin.subject = subject, "admin change");
        self.audit(self.admin_entry(ctx, action, subject));
    }
}
