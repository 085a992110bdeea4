//! Sessions and the tokens minted for them.
//!
//! A completed sign-in opens a session. The session owns one family of refresh tokens (each
//! use rotates the token; presenting a used one revokes the family and the session) and is
//! the `sid` of every access and session token minted for it. No token outlives its session.

use crate::error::IdentityError;
use crate::service::{random_token, IdentityService};
use crate::verifier::{Audience, Claims, ACCESS_TYP, CLIENT_ID, SESSION_AUDIENCE, SESSION_TYP};
use rand::RngCore;
use seawall_audit::{AuditEntry, Outcome};
use seawall_core::auth::{ClientInfo, SecretString, Tokens};
use seawall_core::ids::{SessionId, TokenFamilyId};
use seawall_store::identity::{RefreshRow, SessionRow, UserRow};

impl IdentityService {
    /// Opens a session for `user` and mints its first tokens.
    pub(crate) fn start_session(
        &self,
        user: &UserRow,
        amr: &[&str],
        auth_time: i64,
        client: &ClientInfo,
        recovery_codes: Option<Vec<SecretString>>,
    ) -> Result<Tokens, IdentityError> {
        let now = self.now();
        let ttl = i64::try_from(self.inner.session.ttl_secs).unwrap_or(i64::MAX / 2);
        let session = SessionRow {
            id: SessionId::random(),
            user_id: user.id.clone(),
            family_id: TokenFamilyId::random(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            auth_time,
            mfa_time: now,
            created_at: now,
            expires_at: now.saturating_add(ttl),
            revoked_at: None,
        };
        self.inner.store.session_insert(&session)?;
        let refresh = self.new_refresh_token(&session, now)?;
        let tokens = self.mint(user, &session, refresh, recovery_codes, client, "signin")?;
        Ok(tokens)
    }

    /// Stores a new refresh token in the session's family and returns it.
    pub(crate) fn new_refresh_token(
        &self,
        session: &SessionRow,
        now: i64,
    ) -> Result<SecretString, IdentityError> {
        let (token, row) = self.refresh_row(session, now);
        self.inner.store.refresh_insert(&row)?;
        Ok(token)
    }

    /// A new refresh token for the session, and its row (not yet stored).
    pub(crate) fn refresh_row(&self, session: &SessionRow, now: i64) -> (SecretString, RefreshRow) {
        let ttl = i64::try_from(self.inner.tokens.refresh_ttl_secs).unwrap_or(i64::MAX / 2);
        let token = random_token();
        let row = RefreshRow {
            token_hash: self.token_hash("refresh", token.expose()),
            family_id: session.family_id.clone(),
            issued_at: now,
            expires_at: now.saturating_add(ttl).min(session.expires_at),
            used_at: None,
        };
        (token, row)
    }

    /// Mints an access token and a session token for `session`, and audits the issue.
    pub(crate) fn mint(
        &self,
        user: &UserRow,
        session: &SessionRow,
        refresh_token: SecretString,
        recovery_codes: Option<Vec<SecretString>>,
        client: &ClientInfo,
        reason: &str,
    ) -> Result<Tokens, IdentityError> {
        let now = self.now();
        let groups = self.inner.store.user_groups(&user.id)?;
        let access_ttl = i64::try_from(self.inner.tokens.access_ttl_secs).unwrap_or(300);
        let access_exp = now.saturating_add(access_ttl).min(session.expires_at);
        let claims = |aud: &str, exp: i64, client_id: Option<&str>| Claims {
            iss: self.inner.issuer.clone(),
            sub: user.id.to_string(),
            aud: Audience::One(aud.to_string()),
            exp,
            iat: now,
            jti: new_jti(),
            client_id: client_id.map(str::to_string),
            preferred_username: user.username.clone(),
            groups: groups.clone(),
            amr: session.amr.clone(),
            auth_time: session.auth_time,
            mfa_time: session.mfa_time,
            sid: Some(session.id.to_string()),
        };
        let access = claims(&self.inner.tokens.audience, access_exp, Some(CLIENT_ID));
        let cookie = claims(SESSION_AUDIENCE, session.expires_at, None);
        let access_token = self.sign(ACCESS_TYP, &access)?;
        let session_token = self.sign(SESSION_TYP, &cookie)?;
        self.audit(
            AuditEntry::new("token.issue", Outcome::Success)
                .actor(user.username.as_str())
                .subject(session.id.as_str())
                .source_ip(client.ip)
                .detail("reason", reason)
                .detail("jti", access.jti.as_str())
                .detail("session_jti", cookie.jti.as_str())
                .detail("exp", access_exp),
        );
        Ok(Tokens {
            session_token: SecretString::new(session_token),
            access_token: SecretString::new(access_token),
            refresh_token,
            expires_in: u64::try_from(access_exp - now).unwrap_or(0),
            session_expires_in: u64::try_from(session.expires_at - now).unwrap_or(0),
            recovery_codes,
        })
    }
}

/// A fresh token id: 128 random bits.
fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("jti_{}", data_encoding::HEXLOWER.encode(&bytes))
}
