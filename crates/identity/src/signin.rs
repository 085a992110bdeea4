//! The sign-in steps: password, second factor, TOTP enrollment, step-up, refresh, sign-out.
//!
//! The password step ends in an opaque *pending* proof (stored only as a keyed hash, valid for
//! five minutes, bound to the user and to what it allows: a second factor, or only enrolling
//! one). MFA is mandatory: a user without a factor gets an enroll-only proof and no token
//! until a TOTP factor is confirmed. Failures of either step count against the user name and
//! the source address (see `throttle`); unknown names go through the same work and answers.

use crate::password::{self, MAX_PASSWORD_BYTES};
use crate::revocation::RevocationKind;
use crate::service::{random_token, IdentityService};
use crate::throttle;
use crate::totp::{self, TotpCheck, TotpSecret};
use seawall_audit::{AuditEntry, Outcome};
use seawall_core::auth::{
    AuthError, ClientInfo, FactorKind, FactorRequest, PasswordRequest, PendingRequest,
    RefreshRequest, SecretString, SessionRequest, SignInBackend, SignInStep, StepUpRequest,
    TotpEnrollment,
};
use seawall_core::event::{EventKind, Severity};
use seawall_core::ids::FactorId;
use seawall_store::identity::{FactorRow, PendingRow, RefreshRotation, SessionRow, UserRow};

/// How long the proof of a password step is good for.
const PENDING_TTL_SECS: i64 = 300;
/// Wrong codes one proof may carry before it is dropped.
const PENDING_MAX_FAILURES: u32 = 5;
const PURPOSE_FACTOR: &str = "second_factor";
const PURPOSE_ENROLL: &str = "enroll";
const FACTOR_TOTP: &str = "totp";
/// `amr` after a TOTP code (RFC 8176: password, one-time password, multiple factors).
const AMR_TOTP: &[&str] = &["pwd", "otp", "mfa"];
/// `amr` after a recovery code; `recovery_code` is a Seawall value, so a policy can tell.
const AMR_RECOVERY: &[&str] = &["pwd", "recovery_code", "mfa"];
/// Characters in a recovery code (base32, 5 bits each: 60 bits).
const RECOVERY_CODE_CHARS: usize = 12;

impl IdentityService {
    /// First step: user name and password.
    pub fn sign_in_password(
        &self,
        req: &PasswordRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        if req.password.expose().len() > MAX_PASSWORD_BYTES {
            return Err(AuthError::Malformed(
                "the password is longer than 1024 bytes".into(),
            ));
        }
        // A name that breaks the rules cannot exist; it is treated as an unknown name.
        let name = password::normalize_name(&req.username).ok();
        let typed: String = req
            .username
            .trim()
            .to_ascii_lowercase()
            .chars()
            .take(64)
            .collect();
        let key = name.clone().unwrap_or(typed);
        let subjects = [
            throttle::user_subject(&key),
            throttle::ip_subject(client.ip),
        ];
        let user = match &name {
            Some(n) => self.inner.store.user_by_name(n).map_err(to_auth)?,
            None => None,
        };
        let actor = self.audit_name(&key, user.is_some());
        self.check_throttle(&subjects, "signin.password", &actor, client)?;

        // Argon2 runs whether or not the user exists, so both take the same time.
        let phc = user
            .as_ref()
            .map_or(self.inner.dummy_hash.as_str(), |u| u.password_hash.as_str());
        let matches = password::verify(&self.inner.argon, &req.password, phc);
        let user = match user {
            Some(u) if matches && !u.disabled => u,
            other => {
                let reason = match other {
                    None => "unknown_user",
                    Some(u) if u.disabled => "disabled",
                    Some(_) => "bad_password",
                };
                self.record_failure(&subjects, client).map_err(to_auth)?;
                self.audit_signin("signin.password", Outcome::Failure, &actor, client, reason);
                return Err(AuthError::BadCredentials);
            }
        };

        let (step, next) = self.begin_second_step(&user).map_err(to_auth)?;
        self.audit_signin("signin.password", Outcome::Success, &actor, client, next);
        Ok(step)
    }

    /// Second step: a TOTP or recovery code for a pending sign-in.
    pub fn sign_in_factor(
        &self,
        req: &FactorRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        let (hash, pending, user) = self.load_pending(&req.pending)?;
        if pending.purpose != PURPOSE_FACTOR {
            return Err(AuthError::EnrollmentRequired);
        }
        let subjects = [
            throttle::user_subject(&user.username),
            throttle::ip_subject(client.ip),
        ];
        self.check_throttle(&subjects, "signin.factor", &user.username, client)?;
        let amr = match self.check_factor(&user, req.kind, &req.code) {
            Ok(amr) => amr,
            Err(e) => {
                return Err(self.factor_failed(
                    e,
                    &subjects,
                    Some(&hash),
                    &user,
                    client,
                    "signin.factor",
                    req.kind,
                ))
            }
        };
        if !self.inner.store.pending_take(&hash).map_err(to_auth)? {
            return Err(AuthError::PendingExpired);
        }
        self.inner
            .store
            .throttle_clear(&subjects[0])
            .map_err(to_auth)?;
        let tokens = self
            .start_session(&user, amr, pending.auth_time, client, None)
            .map_err(to_auth)?;
        self.audit(
            AuditEntry::new("signin.factor", Outcome::Success)
                .actor(user.username.as_str())
                .source_ip(client.ip)
                .detail("factor", factor_name(req.kind)),
        );
        self.publish(
            Severity::Info,
            EventKind::SignIn {
                user: user.username.clone(),
                outcome: "success".into(),
            },
            Some(client.ip.to_string()),
        );
        Ok(SignInStep::Done(Box::new(tokens)))
    }

    /// Starts TOTP enrollment for an enroll-only sign-in: a new secret, its URI and QR code.
    /// Starting again replaces the unconfirmed secret.
    pub fn start_totp_enrollment(
        &self,
        req: &PendingRequest,
        client: &ClientInfo,
    ) -> Result<TotpEnrollment, AuthError> {
        let (hash, pending, user) = self.load_pending(&req.pending)?;
        if pending.purpose != PURPOSE_ENROLL {
            return Err(AuthError::Malformed(
                "a second factor is already enrolled; sign in with it".into(),
            ));
        }
        let store = &self.inner.store;
        store
            .factors_delete_unconfirmed(&user.id)
            .map_err(to_auth)?;
        let secret = TotpSecret::generate();
        let id = FactorId::random();
        let row = FactorRow {
            id: id.clone(),
            user_id: user.id.clone(),
            kind: FACTOR_TOTP.into(),
            sealed_secret: self.inner.sealer.seal(secret.expose(), &totp_aad(&id)),
            metadata: serde_json::json!({
                "algorithm": "SHA1", "digits": totp::DIGITS, "period": totp::PERIOD
            })
            .to_string(),
            confirmed: false,
            last_used_step: -1,
            last_used_at: None,
            created_at: self.now(),
        };
        store.factor_insert(&row).map_err(to_auth)?;
        store.pending_set_factor(&hash, &id).map_err(to_auth)?;
        let b32 = secret.to_base32();
        let uri = totp::otpauth_uri(&self.inner.mfa.totp_issuer, &user.username, b32.expose());
        self.audit(
            AuditEntry::new("factor.enroll.start", Outcome::Success)
                .actor(user.username.as_str())
                .subject(id.as_str())
                .source_ip(client.ip)
                .detail("factor", "totp"),
        );
        Ok(TotpEnrollment {
            qr_svg: totp::qr_svg(&uri),
            uri: SecretString::new(uri),
            secret: SecretString::new(b32.expose().clone()),
        })
    }

    /// Confirms enrollment with a first code: the factor becomes usable, recovery codes are
    /// issued (returned once, in the tokens) and the sign-in completes.
    pub fn confirm_totp_enrollment(
        &self,
        req: &FactorRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        let (hash, pending, user) = self.load_pending(&req.pending)?;
        let (PURPOSE_ENROLL, Some(factor_id), FactorKind::Totp) =
            (pending.purpose.as_str(), &pending.factor_id, req.kind)
        else {
            return Err(AuthError::Malformed(
                "no TOTP enrollment was started for this sign-in".into(),
            ));
        };
        let subjects = [
            throttle::user_subject(&user.username),
            throttle::ip_subject(client.ip),
        ];
        self.check_throttle(&subjects, "factor.enroll", &user.username, client)?;
        let store = &self.inner.store;
        let factor = store
            .factor(factor_id)
            .map_err(to_auth)?
            .filter(|f| f.user_id == user.id && !f.confirmed)
            .ok_or(AuthError::PendingExpired)?;
        let seed = self.open_seed(&factor).map_err(to_auth)?;
        let TotpCheck::Accepted { step } = totp::check(&seed, req.code.expose(), self.now(), -1)
        else {
            return Err(self.factor_failed(
                AuthError::BadCode,
                &subjects,
                Some(&hash),
                &user,
                client,
                "factor.enroll",
                req.kind,
            ));
        };
        if !store.pending_take(&hash).map_err(to_auth)? {
            return Err(AuthError::PendingExpired);
        }
        store
            .factor_confirm(&factor.id, step, self.now())
            .map_err(to_auth)?;
        store.throttle_clear(&subjects[0]).map_err(to_auth)?;
        self.audit(
            AuditEntry::new("factor.enroll", Outcome::Success)
                .actor(user.username.as_str())
                .subject(factor.id.as_str())
                .source_ip(client.ip)
                .detail("factor", "totp"),
        );
        let codes = self
            .issue_recovery_codes(&user, &user.username, Some(client))
            .map_err(to_auth)?;
        let tokens = self
            .start_session(&user, AMR_TOTP, pending.auth_time, client, Some(codes))
            .map_err(to_auth)?;
        Ok(SignInStep::Done(Box::new(tokens)))
    }

    /// Re-verifies a second factor for a live session; returns fresh tokens with a new
    /// `mfa_time`. The session's unused refresh token is replaced.
    pub fn step_up_session(
        &self,
        req: &StepUpRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        let now = self.now();
        let principal = self
            .inner
            .verifier
            .verify_session(req.session_token.expose(), now)?;
        let sid = principal.session_id.ok_or(AuthError::InvalidToken)?;
        let store = &self.inner.store;
        let mut session = store
            .session(&sid)
            .map_err(to_auth)?
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
            .ok_or(AuthError::Revoked)?;
        let user = store
            .user_by_id(&session.user_id)
            .map_err(to_auth)?
            .filter(|u| !u.disabled)
            .ok_or(AuthError::Revoked)?;
        let subjects = [
            throttle::user_subject(&user.username),
            throttle::ip_subject(client.ip),
        ];
        self.check_throttle(&subjects, "session.step_up", &user.username, client)?;
        if let Err(e) = self.check_factor(&user, req.kind, &req.code) {
            return Err(self.factor_failed(
                e,
                &subjects,
                None,
                &user,
                client,
                "session.step_up",
                req.kind,
            ));
        }
        store.session_set_mfa_time(&sid, now).map_err(to_auth)?;
        store
            .refresh_delete_unused(&session.family_id)
            .map_err(to_auth)?;
        store.throttle_clear(&subjects[0]).map_err(to_auth)?;
        session.mfa_time = now;
        let refresh = self.new_refresh_token(&session, now).map_err(to_auth)?;
        self.audit(
            AuditEntry::new("session.step_up", Outcome::Success)
                .actor(user.username.as_str())
                .subject(sid.as_str())
                .source_ip(client.ip)
                .detail("factor", factor_name(req.kind)),
        );
        let tokens = self
            .mint(&user, &session, refresh, None, client, "step_up")
            .map_err(to_auth)?;
        Ok(SignInStep::Done(Box::new(tokens)))
    }

    /// Ends the session a session token belongs to. Ending an expired or already ended
    /// session succeeds without doing anything.
    pub fn sign_out(&self, req: &SessionRequest, client: &ClientInfo) -> Result<(), AuthError> {
        let principal = match self
            .inner
            .verifier
            .verify_session(req.session_token.expose(), self.now())
        {
            Ok(p) => p,
            Err(AuthError::Expired | AuthError::Revoked) => return Ok(()),
            Err(e) => return Err(e),
        };
        let sid = principal.session_id.ok_or(AuthError::InvalidToken)?;
        self.end_session(&sid, &principal.username, Some(client), "sign_out")
            .map_err(to_auth)?;
        Ok(())
    }

    /// Exchanges a refresh token for new tokens, rotating it. A token that was already used
    /// revokes its whole family and session: someone else has a copy.
    pub fn refresh(
        &self,
        req: &RefreshRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        let now = self.now();
        let store = &self.inner.store;
        let hash = self.token_hash("refresh", req.refresh_token.expose());
        let found = store.refresh(&hash).map_err(to_auth)?;
        let session = match &found {
            Some(row) => store.session_by_family(&row.family_id).map_err(to_auth)?,
            None => None,
        };
        let (Some(row), Some(session)) = (found, session) else {
            self.audit_refresh_failure(None, client, "unknown_token");
            return Err(AuthError::InvalidToken);
        };
        let user = store.user_by_id(&session.user_id).map_err(to_auth)?;
        let name = user
            .as_ref()
            .map_or("", |u| u.username.as_str())
            .to_string();
        if row.used_at.is_some() {
            return Err(self.refresh_reused(&session, &name, client));
        }
        if session.revoked_at.is_some() {
            self.audit_refresh_failure(Some(&name), client, "session_revoked");
            return Err(AuthError::Revoked);
        }
        if row.expires_at < now || session.expires_at <= now {
            self.audit_refresh_failure(Some(&name), client, "expired");
            return Err(AuthError::Expired);
        }
        let Some(user) = user.filter(|u| !u.disabled) else {
            self.audit_refresh_failure(Some(&name), client, "user_disabled");
            return Err(AuthError::Revoked);
        };
        let (token, next) = self.refresh_row(&session, now);
        match store.refresh_rotate(&hash, now, &next).map_err(to_auth)? {
            RefreshRotation::Rotated => {}
            RefreshRotation::AlreadyUsed => {
                return Err(self.refresh_reused(&session, &name, client))
            }
            RefreshRotation::Unknown => {
                self.audit_refresh_failure(Some(&name), client, "unknown_token");
                return Err(AuthError::InvalidToken);
            }
        }
        self.audit(
            AuditEntry::new("token.refresh", Outcome::Success)
                .actor(name.as_str())
                .subject(session.id.as_str())
                .source_ip(client.ip),
        );
        let tokens = self
            .mint(&user, &session, token, None, client, "refresh")
            .map_err(to_auth)?;
        Ok(SignInStep::Done(Box::new(tokens)))
    }

    /// Ends a session: marks it revoked in the store (so its refresh tokens stop working) and
    /// publishes a revocation of its `sid` (so its tokens stop working on every gateway).
    pub(crate) fn end_session(
        &self,
        sid: &seawall_core::ids::SessionId,
        actor: &str,
        client: Option<&ClientInfo>,
        reason: &str,
    ) -> Result<bool, crate::IdentityError> {
        let now = self.now();
        let store = &self.inner.store;
        let Some(session) = store.session(sid)? else {
            return Ok(false);
        };
        let first = store.session_revoke(sid, now)?;
        if first {
            let until = session
                .expires_at
                .saturating_add(crate::verifier::LEEWAY_SECS);
            self.revoke(RevocationKind::Session, sid.as_str(), until)?;
        }
        let mut entry = AuditEntry::new("session.end", Outcome::Success)
            .actor(actor)
            .subject(sid.as_str())
            .detail("reason", reason)
            .detail("family", session.family_id.as_str());
        if let Some(c) = client {
            entry = entry.source_ip(c.ip);
        }
        self.audit(entry);
        Ok(first)
    }

    fn refresh_reused(&self, session: &SessionRow, name: &str, client: &ClientInfo) -> AuthError {
        if let Err(e) = self.end_session(&session.id, "system", Some(client), "refresh_reuse") {
            tracing::warn!(error = %e, session.id = %session.id, "revoking a reused refresh family failed");
        }
        tracing::warn!(session.id = %session.id, user.name = name, "refresh token reused; family revoked");
        self.audit(
            AuditEntry::new("token.refresh.reuse", Outcome::Deny)
                .actor(name)
                .subject(session.id.as_str())
                .source_ip(client.ip)
                .detail("family", session.family_id.as_str()),
        );
        self.publish(
            Severity::High,
            EventKind::RefreshTokenReuse {
                user: name.to_string(),
                family: session.family_id.to_string(),
            },
            Some(client.ip.to_string()),
        );
        AuthError::RefreshReuse
    }

    fn audit_refresh_failure(&self, name: Option<&str>, client: &ClientInfo, reason: &str) {
        let mut entry = AuditEntry::new("token.refresh", Outcome::Failure)
            .source_ip(client.ip)
            .detail("reason", reason);
        if let Some(n) = name {
            entry = entry.actor(n);
        }
        self.audit(entry);
    }

    /// After a right password: an enroll-only proof for a user without a factor, else a
    /// second-factor proof listing the kinds the user can use.
    fn begin_second_step(
        &self,
        user: &UserRow,
    ) -> Result<(SignInStep, &'static str), crate::IdentityError> {
        let store = &self.inner.store;
        let has_totp = store
            .factors_of(&user.id)?
            .iter()
            .any(|f| f.confirmed && f.kind == FACTOR_TOTP);
        let purpose = if has_totp {
            PURPOSE_FACTOR
        } else {
            PURPOSE_ENROLL
        };
        let now = self.now();
        let token = random_token();
        store.pending_insert(&PendingRow {
            token_hash: self.token_hash("pending", token.expose()),
            user_id: user.id.clone(),
            purpose: purpose.into(),
            factor_id: None,
            failures: 0,
            auth_time: now,
            expires_at: now + PENDING_TTL_SECS,
        })?;
        if !has_totp {
            return Ok((SignInStep::Enroll { pending: token }, "enroll"));
        }
        let mut factors = vec![FactorKind::Totp];
        if store.recovery_codes_left(&user.id)? > 0 {
            factors.push(FactorKind::RecoveryCode);
        }
        Ok((
            SignInStep::SecondFactor {
                pending: token,
                factors,
            },
            "second_factor",
        ))
    }

    /// Finds a live pending proof and its (enabled) user.
    fn load_pending(
        &self,
        token: &SecretString,
    ) -> Result<(String, PendingRow, UserRow), AuthError> {
        let hash = self.token_hash("pending", token.expose());
        let store = &self.inner.store;
        let pending = store
            .pending(&hash)
            .map_err(to_auth)?
            .filter(|p| p.expires_at > self.now())
            .ok_or(AuthError::PendingExpired)?;
        let user = store
            .user_by_id(&pending.user_id)
            .map_err(to_auth)?
            .filter(|u| !u.disabled)
            .ok_or(AuthError::PendingExpired)?;
        Ok((hash, pending, user))
    }

    /// Checks a code for `user`; on success returns the `amr` it earns.
    fn check_factor(
        &self,
        user: &UserRow,
        kind: FactorKind,
        code: &SecretString,
    ) -> Result<&'static [&'static str], AuthError> {
        let now = self.now();
        let store = &self.inner.store;
        match kind {
            FactorKind::Totp => {
                let mut reused = false;
                let factors = store.factors_of(&user.id).map_err(to_auth)?;
                for f in factors
                    .iter()
                    .filter(|f| f.confirmed && f.kind == FACTOR_TOTP)
                {
                    let seed = self.open_seed(f).map_err(to_auth)?;
                    match totp::check(&seed, code.expose(), now, f.last_used_step) {
                        TotpCheck::Accepted { step } => {
                            // The store moves the step forward only once, so two racing
                            // requests with one code cannot both pass.
                            if store
                                .factor_advance_step(&f.id, step, now)
                                .map_err(to_auth)?
                            {
                                return Ok(AMR_TOTP);
                            }
                            reused = true;
                        }
                        TotpCheck::Reused => reused = true,
                        TotpCheck::Rejected => {}
                    }
                }
                Err(if reused {
                    AuthError::CodeReused
                } else {
                    AuthError::BadCode
                })
            }
            FactorKind::RecoveryCode => {
                let normalized = normalize_recovery_code(code.expose());
                let hash = self.token_hash("recovery", &normalized);
                if store
                    .recovery_code_use(&user.id, &hash, now)
                    .map_err(to_auth)?
                {
                    Ok(AMR_RECOVERY)
                } else {
                    Err(AuthError::BadCode)
                }
            }
        }
    }

    /// Counts a wrong code against the user and address (and the proof, when there is one),
    /// audits it and returns the error to answer with.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per failing step, all needed"
    )]
    fn factor_failed(
        &self,
        error: AuthError,
        subjects: &[String; 2],
        pending_hash: Option<&str>,
        user: &UserRow,
        client: &ClientInfo,
        action: &str,
        kind: FactorKind,
    ) -> AuthError {
        if !matches!(error, AuthError::BadCode | AuthError::CodeReused) {
            return error;
        }
        if let Err(e) = self.record_failure(subjects, client) {
            return to_auth(e);
        }
        if let Some(hash) = pending_hash {
            let store = &self.inner.store;
            match store.pending_record_failure(hash) {
                Ok(n) if n >= PENDING_MAX_FAILURES => {
                    let _ = store.pending_take(hash);
                }
                Ok(_) => {}
                Err(e) => return to_auth(e),
            }
        }
        let reason = if error == AuthError::CodeReused {
            "code_reused"
        } else {
            "bad_code"
        };
        self.audit(
            AuditEntry::new(action, Outcome::Failure)
                .actor(user.username.as_str())
                .source_ip(client.ip)
                .detail("factor", factor_name(kind))
                .detail("reason", reason),
        );
        self.publish(
            Severity::Low,
            EventKind::SignIn {
                user: user.username.clone(),
                outcome: reason.into(),
            },
            Some(client.ip.to_string()),
        );
        error
    }

    /// Refuses the attempt when any subject is blocked; audits the refusal.
    fn check_throttle(
        &self,
        subjects: &[String; 2],
        action: &str,
        actor: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now_ms = self.inner.clock.now_millis();
        let mut wait = None;
        for s in subjects {
            if let Some(row) = self.inner.store.throttle(s).map_err(to_auth)? {
                if let Some(secs) = throttle::retry_after(&row, now_ms) {
                    wait = Some(wait.unwrap_or(0).max(secs));
                }
            }
        }
        let Some(retry_after) = wait else {
            return Ok(());
        };
        self.audit(
            AuditEntry::new(action, Outcome::Deny)
                .actor(actor)
                .source_ip(client.ip)
                .detail("reason", "throttled")
                .detail("retry_after", retry_after),
        );
        Err(AuthError::Throttled { retry_after })
    }

    /// Counts one failure against each subject; a subject reaching the maximum backoff is
    /// locked out, which is audited and published.
    fn record_failure(
        &self,
        subjects: &[String; 2],
        client: &ClientInfo,
    ) -> Result<(), crate::IdentityError> {
        let now_ms = self.inner.clock.now_millis();
        for subject in subjects {
            let row = self.inner.store.throttle_update(subject, &mut |prev| {
                throttle::after_failure(prev, subject, now_ms, &self.inner.throttle)
            })?;
            // Attempts are refused while a subject is blocked, so every failure that reaches
            // the maximum backoff starts a new lockout.
            if row.locked_out {
                let until = row.blocked_until_ms.div_euclid(1000);
                tracing::info!(throttle.subject = %subject, until, "sign-in lockout");
                self.audit(
                    AuditEntry::new("signin.lockout", Outcome::Deny)
                        .actor("system")
                        .subject(subject.as_str())
                        .source_ip(client.ip)
                        .detail("failures", row.failures)
                        .detail("until", until),
                );
                self.publish(
                    Severity::Medium,
                    EventKind::Lockout {
                        subject: subject.clone(),
                        until,
                    },
                    Some(client.ip.to_string()),
                );
            }
        }
        Ok(())
    }

    fn audit_signin(
        &self,
        action: &str,
        outcome: Outcome,
        actor: &str,
        client: &ClientInfo,
        detail: &str,
    ) {
        let key = if outcome == Outcome::Success {
            "next"
        } else {
            "reason"
        };
        self.audit(
            AuditEntry::new(action, outcome)
                .actor(actor)
                .source_ip(client.ip)
                .detail(key, detail),
        );
        if outcome != Outcome::Success {
            self.publish(
                Severity::Low,
                EventKind::SignIn {
                    user: actor.to_string(),
                    outcome: detail.to_string(),
                },
                Some(client.ip.to_string()),
            );
        }
    }

    fn open_seed(
        &self,
        f: &FactorRow,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, crate::IdentityError> {
        Ok(self.inner.sealer.open(&f.sealed_secret, &totp_aad(&f.id))?)
    }

    /// Replaces a user's recovery codes with fresh ones and returns them (the only time they
    /// exist in clear).
    pub(crate) fn issue_recovery_codes(
        &self,
        user: &UserRow,
        actor: &str,
        client: Option<&ClientInfo>,
    ) -> Result<Vec<SecretString>, crate::IdentityError> {
        let n = self.inner.mfa.recovery_codes;
        let codes: Vec<SecretString> = (0..n).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| self.token_hash("recovery", &normalize_recovery_code(c.expose())))
            .collect();
        self.inner
            .store
            .recovery_codes_replace(&user.id, &hashes, self.now())?;
        let mut entry = AuditEntry::new("factor.recovery_codes.issue", Outcome::Success)
            .actor(actor)
            .subject(user.username.as_str())
            .detail("count", n);
        if let Some(c) = client {
            entry = entry.source_ip(c.ip);
        }
        self.audit(entry);
        Ok(codes)
    }
}

/// The sign-in steps for the gateway's pages and the HTTP API. Each step runs on Tokio's
/// blocking pool, so these must be awaited inside a Tokio runtime.
#[async_trait::async_trait]
impl SignInBackend for IdentityService {
    async fn password(
        &self,
        req: PasswordRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        blocking(self, client, move |s, c| s.sign_in_password(&req, c)).await
    }

    async fn second_factor(
        &self,
        req: FactorRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        blocking(self, client, move |s, c| s.sign_in_factor(&req, c)).await
    }

    async fn enroll_totp(
        &self,
        req: PendingRequest,
        client: &ClientInfo,
    ) -> Result<TotpEnrollment, AuthError> {
        blocking(self, client, move |s, c| s.start_totp_enrollment(&req, c)).await
    }

    async fn confirm_totp(
        &self,
        req: FactorRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        blocking(self, client, move |s, c| s.confirm_totp_enrollment(&req, c)).await
    }

    async fn step_up(
        &self,
        req: StepUpRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        blocking(self, client, move |s, c| s.step_up_session(&req, c)).await
    }

    async fn sign_out(&self, req: SessionRequest, client: &ClientInfo) -> Result<(), AuthError> {
        blocking(self, client, move |s, c| {
            IdentityService::sign_out(s, &req, c)
        })
        .await
    }

    async fn refresh(
        &self,
        req: RefreshRequest,
        client: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        blocking(self, client, move |s, c| {
            IdentityService::refresh(s, &req, c)
        })
        .await
    }
}

/// Runs a blocking step on Tokio's blocking pool (Argon2 and store calls must not stall the
/// async workers).
async fn blocking<T: Send + 'static>(
    service: &IdentityService,
    client: &ClientInfo,
    f: impl FnOnce(&IdentityService, &ClientInfo) -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    let service = service.clone();
    let client = client.clone();
    tokio::task::spawn_blocking(move || f(&service, &client))
        .await
        .unwrap_or(Err(AuthError::Unavailable))
}

fn to_auth(e: impl Into<crate::IdentityError>) -> AuthError {
    AuthError::from(e.into())
}

fn totp_aad(id: &FactorId) -> String {
    format!("totp:{id}")
}

fn factor_name(kind: FactorKind) -> &'static str {
    match kind {
        FactorKind::Totp => "totp",
        FactorKind::RecoveryCode => "recovery_code",
    }
}

/// A recovery code: 12 base32 characters in groups of four, e.g. `k3vq-7m2d-xa9p`.
fn new_recovery_code() -> SecretString {
    use rand::RngCore;
    let mut bytes = zeroize::Zeroizing::new([0u8; 8]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    let text = zeroize::Zeroizing::new(data_encoding::BASE32_NOPAD.encode(bytes.as_ref()));
    let chars: Vec<char> = text
        .chars()
        .take(RECOVERY_CODE_CHARS)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let groups: Vec<String> = chars.chunks(4).map(|g| g.iter().collect()).collect();
    SecretString::new(groups.join("-"))
}

/// A recovery code as typed, reduced to what is hashed: lower case, no separators.
fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
