//! [`IdentityRepo`] on SQLite.

use super::{query, SqliteStore};
use crate::identity::{
    FactorRow, GroupRow, IdentityRepo, PendingRow, RefreshRotation, RefreshRow, RevocationRow,
    SessionRow, SigningKeyRow, ThrottleRow, UserRow,
};
use crate::StoreError;
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use seawall_core::ids::{FactorId, GroupId, KeyId, SessionId, TokenFamilyId, UserId};

const USER_COLS: &str = "id, username, password_hash, disabled, created_at, updated_at";
const FACTOR_COLS: &str = "id, user_id, kind, sealed_secret, metadata, confirmed, \
                           last_used_step, last_used_at, created_at";
const PENDING_COLS: &str =
    "token_hash, user_id, purpose, factor_id, failures, auth_time, expires_at";
const SESSION_COLS: &str =
    "id, user_id, family_id, amr, auth_time, mfa_time, created_at, expires_at, revoked_at";
const KEY_COLS: &str =
    "kid, alg, sealed_private, public_jwk, created_at, retired_at, publish_until";

fn user_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: UserId::from_stored(r.get::<_, String>(0)?),
        username: r.get(1)?,
        password_hash: r.get(2)?,
        disabled: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

fn group_row(r: &Row<'_>) -> rusqlite::Result<GroupRow> {
    Ok(GroupRow {
        id: GroupId::from_stored(r.get::<_, String>(0)?),
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

fn factor_row(r: &Row<'_>) -> rusqlite::Result<FactorRow> {
    Ok(FactorRow {
        id: FactorId::from_stored(r.get::<_, String>(0)?),
        user_id: UserId::from_stored(r.get::<_, String>(1)?),
        kind: r.get(2)?,
        sealed_secret: r.get(3)?,
        metadata: r.get(4)?,
        confirmed: r.get(5)?,
        last_used_step: r.get(6)?,
        last_used_at: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn pending_row(r: &Row<'_>) -> rusqlite::Result<PendingRow> {
    Ok(PendingRow {
        token_hash: r.get(0)?,
        user_id: UserId::from_stored(r.get::<_, String>(1)?),
        purpose: r.get(2)?,
        factor_id: r.get::<_, Option<String>>(3)?.map(FactorId::from_stored),
        failures: r.get(4)?,
        auth_time: r.get(5)?,
        expires_at: r.get(6)?,
    })
}

fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionRow> {
    let amr: String = r.get(3)?;
    Ok(SessionRow {
        id: SessionId::from_stored(r.get::<_, String>(0)?),
        user_id: UserId::from_stored(r.get::<_, String>(1)?),
        family_id: TokenFamilyId::from_stored(r.get::<_, String>(2)?),
        amr: amr
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        auth_time: r.get(4)?,
        mfa_time: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        revoked_at: r.get(8)?,
    })
}

fn refresh_row(r: &Row<'_>) -> rusqlite::Result<RefreshRow> {
    Ok(RefreshRow {
        token_hash: r.get(0)?,
        family_id: TokenFamilyId::from_stored(r.get::<_, String>(1)?),
        issued_at: r.get(2)?,
        expires_at: r.get(3)?,
        used_at: r.get(4)?,
    })
}

fn throttle_row(r: &Row<'_>) -> rusqlite::Result<ThrottleRow> {
    Ok(ThrottleRow {
        subject: r.get(0)?,
        failures: r.get(1)?,
        last_failure_ms: r.get(2)?,
        blocked_until_ms: r.get(3)?,
        locked_out: r.get(4)?,
    })
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<SigningKeyRow> {
    Ok(SigningKeyRow {
        kid: KeyId::from_stored(r.get::<_, String>(0)?),
        alg: r.get(1)?,
        sealed_private: r.get(2)?,
        public_jwk: r.get(3)?,
        created_at: r.get(4)?,
        retired_at: r.get(5)?,
        publish_until: r.get(6)?,
    })
}

fn revocation_row(r: &Row<'_>) -> rusqlite::Result<RevocationRow> {
    Ok(RevocationRow {
        version: r.get(0)?,
        kind: r.get(1)?,
        subject: r.get(2)?,
        revoked_at: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

/// Turns "no row changed" into [`StoreError::NotFound`] naming `what`.
fn changed(n: usize, what: &str) -> Result<(), StoreError> {
    if n == 0 {
        return Err(StoreError::NotFound(what.to_string()));
    }
    Ok(())
}

impl SqliteStore {
    fn query_all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql).map_err(query)?;
        let rows = stmt.query_map(params, map).map_err(query)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(query)
    }

    fn query_one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql).map_err(query)?;
        stmt.query_row(params, map).optional().map_err(query)
    }

    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql).map_err(query)?;
        stmt.execute(params).map_err(query)
    }
}

impl IdentityRepo for SqliteStore {
    fn user_insert(&self, u: &UserRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO users (id, username, password_hash, disabled, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                u.id.as_str(),
                u.username,
                u.password_hash,
                u.disabled,
                u.created_at,
                u.updated_at
            ],
        )
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict(u.username.clone()),
            other => other,
        })?;
        Ok(())
    }

    fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE username = ?1");
        self.query_one(&sql, [username], user_row)
    }

    fn user_by_id(&self, id: &UserId) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = ?1");
        self.query_one(&sql, [id.as_str()], user_row)
    }

    fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users ORDER BY username");
        self.query_all(&sql, [], user_row)
    }

    fn user_set_disabled(&self, id: &UserId, disabled: bool, now: i64) -> Result<(), StoreError> {
        let n = self.exec(
            "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.as_str(), disabled, now],
        )?;
        changed(n, id.as_str())
    }

    fn user_set_password(&self, id: &UserId, hash: &str, now: i64) -> Result<(), StoreError> {
        let n = self.exec(
            "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.as_str(), hash, now],
        )?;
        changed(n, id.as_str())
    }

    fn group_insert(&self, g: &GroupRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO groups (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![g.id.as_str(), g.name, g.created_at],
        )
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict(g.name.clone()),
            other => other,
        })?;
        Ok(())
    }

    fn group_by_name(&self, name: &str) -> Result<Option<GroupRow>, StoreError> {
        self.query_one(
            "SELECT id, name, created_at FROM groups WHERE name = ?1",
            [name],
            group_row,
        )
    }

    fn group_delete(&self, id: &GroupId) -> Result<Vec<UserId>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query)?;
        let members = {
            let mut stmt = tx
                .prepare("SELECT user_id FROM group_members WHERE group_id = ?1")
                .map_err(query)?;
            let rows = stmt
                .query_map([id.as_str()], |r| {
                    r.get::<_, String>(0).map(UserId::from_stored)
                })
                .map_err(query)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(query)?
        };
        tx.execute(
            "DELETE FROM group_members WHERE group_id = ?1",
            [id.as_str()],
        )
        .map_err(query)?;
        let n = tx
            .execute("DELETE FROM groups WHERE id = ?1", [id.as_str()])
            .map_err(query)?;
        changed(n, id.as_str())?;
        tx.commit().map_err(query)?;
        Ok(members)
    }

    fn groups(&self) -> Result<Vec<GroupRow>, StoreError> {
        self.query_all(
            "SELECT id, name, created_at FROM groups ORDER BY name",
            [],
            group_row,
        )
    }

    fn group_add_member(&self, group: &GroupId, user: &UserId) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2) \
             ON CONFLICT (group_id, user_id) DO NOTHING",
            params![group.as_str(), user.as_str()],
        )?;
        Ok(())
    }

    fn group_remove_member(&self, group: &GroupId, user: &UserId) -> Result<bool, StoreError> {
        let n = self.exec(
            "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2",
            params![group.as_str(), user.as_str()],
        )?;
        Ok(n > 0)
    }

    fn group_members(&self, group: &GroupId) -> Result<Vec<String>, StoreError> {
        self.query_all(
            "SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = ?1 ORDER BY u.username",
            [group.as_str()],
            |r| r.get(0),
        )
    }

    fn user_groups(&self, user: &UserId) -> Result<Vec<String>, StoreError> {
        self.query_all(
            "SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.user_id = ?1 ORDER BY g.name",
            [user.as_str()],
            |r| r.get(0),
        )
    }

    fn factor_insert(&self, f: &FactorRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO factors ({FACTOR_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        );
        self.exec(
            &sql,
            params![
                f.id.as_str(),
                f.user_id.as_str(),
                f.kind,
                f.sealed_secret,
                f.metadata,
                f.confirmed,
                f.last_used_step,
                f.last_used_at,
                f.created_at
            ],
        )?;
        Ok(())
    }

    fn factor(&self, id: &FactorId) -> Result<Option<FactorRow>, StoreError> {
        let sql = format!("SELECT {FACTOR_COLS} FROM factors WHERE id = ?1");
        self.query_one(&sql, [id.as_str()], factor_row)
    }

    fn factors_of(&self, user: &UserId) -> Result<Vec<FactorRow>, StoreError> {
        let sql =
            format!("SELECT {FACTOR_COLS} FROM factors WHERE user_id = ?1 ORDER BY created_at, id");
        self.query_all(&sql, [user.as_str()], factor_row)
    }

    fn factor_confirm(&self, id: &FactorId, step: i64, now: i64) -> Result<(), StoreError> {
        let n = self.exec(
            "UPDATE factors SET confirmed = 1, last_used_step = ?2, last_used_at = ?3 \
             WHERE id = ?1",
            params![id.as_str(), step, now],
        )?;
        changed(n, id.as_str())
    }

    fn factor_advance_step(&self, id: &FactorId, step: i64, now: i64) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE factors SET last_used_step = ?2, last_used_at = ?3 \
             WHERE id = ?1 AND last_used_step < ?2",
            params![id.as_str(), step, now],
        )?;
        Ok(n > 0)
    }

    fn factors_delete_unconfirmed(&self, user: &UserId) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM factors WHERE user_id = ?1 AND confirmed = 0",
            [user.as_str()],
        )?;
        Ok(())
    }

    fn factors_delete_all(&self, user: &UserId) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query)?;
        tx.execute("DELETE FROM factors WHERE user_id = ?1", [user.as_str()])
            .map_err(query)?;
        tx.execute(
            "DELETE FROM recovery_codes WHERE user_id = ?1",
            [user.as_str()],
        )
        .map_err(query)?;
        tx.commit().map_err(query)
    }

    fn recovery_codes_replace(
        &self,
        user: &UserId,
        hashes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query)?;
        tx.execute(
            "DELETE FROM recovery_codes WHERE user_id = ?1",
            [user.as_str()],
        )
        .map_err(query)?;
        for h in hashes {
            tx.execute(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)",
                params![user.as_str(), h, now],
            )
            .map_err(query)?;
        }
        tx.commit().map_err(query)
    }

    fn recovery_code_use(&self, user: &UserId, hash: &str, now: i64) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE recovery_codes SET used_at = ?3 \
             WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
            params![user.as_str(), hash, now],
        )?;
        Ok(n > 0)
    }

    fn recovery_codes_left(&self, user: &UserId) -> Result<usize, StoreError> {
        let n: i64 = self
            .query_one(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
                [user.as_str()],
                |r| r.get(0),
            )?
            .unwrap_or(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn pending_insert(&self, p: &PendingRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO pending_signins ({PENDING_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        );
        self.exec(
            &sql,
            params![
                p.token_hash,
                p.user_id.as_str(),
                p.purpose,
                p.factor_id.as_ref().map(FactorId::as_str),
                p.failures,
                p.auth_time,
                p.expires_at
            ],
        )?;
        Ok(())
    }

    fn pending(&self, token_hash: &str) -> Result<Option<PendingRow>, StoreError> {
        let sql = format!("SELECT {PENDING_COLS} FROM pending_signins WHERE token_hash = ?1");
        self.query_one(&sql, [token_hash], pending_row)
    }

    fn pending_set_factor(&self, token_hash: &str, factor: &FactorId) -> Result<(), StoreError> {
        let n = self.exec(
            "UPDATE pending_signins SET factor_id = ?2 WHERE token_hash = ?1",
            params![token_hash, factor.as_str()],
        )?;
        changed(n, "pending sign-in")
    }

    fn pending_record_failure(&self, token_hash: &str) -> Result<u32, StoreError> {
        self.exec(
            "UPDATE pending_signins SET failures = failures + 1 WHERE token_hash = ?1",
            [token_hash],
        )?;
        Ok(self
            .query_one(
                "SELECT failures FROM pending_signins WHERE token_hash = ?1",
                [token_hash],
                |r| r.get(0),
            )?
            .unwrap_or(u32::MAX))
    }

    fn pending_take(&self, token_hash: &str) -> Result<bool, StoreError> {
        let n = self.exec(
            "DELETE FROM pending_signins WHERE token_hash = ?1",
            [token_hash],
        )?;
        Ok(n > 0)
    }

    fn session_insert(&self, s: &SessionRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO sessions ({SESSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        );
        self.exec(
            &sql,
            params![
                s.id.as_str(),
                s.user_id.as_str(),
                s.family_id.as_str(),
                s.amr.join(" "),
                s.auth_time,
                s.mfa_time,
                s.created_at,
                s.expires_at,
                s.revoked_at
            ],
        )?;
        Ok(())
    }

    fn session(&self, id: &SessionId) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ?1");
        self.query_one(&sql, [id.as_str()], session_row)
    }

    fn session_by_family(&self, family: &TokenFamilyId) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE family_id = ?1");
        self.query_one(&sql, [family.as_str()], session_row)
    }

    fn session_set_mfa_time(&self, id: &SessionId, mfa_time: i64) -> Result<(), StoreError> {
        let n = self.exec(
            "UPDATE sessions SET mfa_time = ?2 WHERE id = ?1",
            params![id.as_str(), mfa_time],
        )?;
        changed(n, id.as_str())
    }

    fn session_revoke(&self, id: &SessionId, now: i64) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id.as_str(), now],
        )?;
        Ok(n > 0)
    }

    fn sessions_live(&self, user: &UserId, now: i64) -> Result<Vec<SessionRow>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions \
             WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 ORDER BY created_at"
        );
        self.query_all(&sql, params![user.as_str(), now], session_row)
    }

    fn refresh_insert(&self, t: &RefreshRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at, used_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                t.token_hash,
                t.family_id.as_str(),
                t.issued_at,
                t.expires_at,
                t.used_at
            ],
        )?;
        Ok(())
    }

    fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRow>, StoreError> {
        self.query_one(
            "SELECT token_hash, family_id, issued_at, expires_at, used_at FROM refresh_tokens \
             WHERE token_hash = ?1",
            [token_hash],
            refresh_row,
        )
    }

    fn refresh_rotate(
        &self,
        old_hash: &str,
        now: i64,
        new: &RefreshRow,
    ) -> Result<RefreshRotation, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(query)?;
        let used: Option<Option<i64>> = tx
            .query_row(
                "SELECT used_at FROM refresh_tokens WHERE token_hash = ?1",
                [old_hash],
                |r| r.get(0),
            )
            .optional()
            .map_err(query)?;
        match used {
            None => return Ok(RefreshRotation::Unknown),
            Some(Some(_)) => return Ok(RefreshRotation::AlreadyUsed),
            Some(None) => {}
        }
        tx.execute(
            "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
            params![old_hash, now],
        )
        .map_err(query)?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at, used_at) \
             VALUES (?1, ?2, ?3, ?4, NULL)",
            params![
                new.token_hash,
                new.family_id.as_str(),
                new.issued_at,
                new.expires_at
            ],
        )
        .map_err(query)?;
        tx.commit().map_err(query)?;
        Ok(RefreshRotation::Rotated)
    }

    fn refresh_delete_unused(&self, family: &TokenFamilyId) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM refresh_tokens WHERE family_id = ?1 AND used_at IS NULL",
            [family.as_str()],
        )?;
        Ok(())
    }

    fn throttle(&self, subject: &str) -> Result<Option<ThrottleRow>, StoreError> {
        self.query_one(
            "SELECT subject, failures, last_failure_ms, blocked_until_ms, locked_out \
             FROM signin_throttle WHERE subject = ?1",
            [subject],
            throttle_row,
        )
    }

    fn throttle_update(
        &self,
        subject: &str,
        update: &mut dyn FnMut(Option<&ThrottleRow>) -> ThrottleRow,
    ) -> Result<ThrottleRow, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(query)?;
        let current = tx
            .query_row(
                "SELECT subject, failures, last_failure_ms, blocked_until_ms, locked_out \
                 FROM signin_throttle WHERE subject = ?1",
                [subject],
                throttle_row,
            )
            .optional()
            .map_err(query)?;
        let next = update(current.as_ref());
        tx.execute(
            "INSERT INTO signin_throttle \
             (subject, failures, last_failure_ms, blocked_until_ms, locked_out) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures, \
             last_failure_ms = excluded.last_failure_ms, \
             blocked_until_ms = excluded.blocked_until_ms, locked_out = excluded.locked_out",
            params![
                subject,
                next.failures,
                next.last_failure_ms,
                next.blocked_until_ms,
                next.locked_out
            ],
        )
        .map_err(query)?;
        tx.commit().map_err(query)?;
        Ok(next)
    }

    fn throttle_clear(&self, subject: &str) -> Result<bool, StoreError> {
        let n = self.exec("DELETE FROM signin_throttle WHERE subject = ?1", [subject])?;
        Ok(n > 0)
    }

    fn throttles_blocked(&self, now_ms: i64) -> Result<Vec<ThrottleRow>, StoreError> {
        self.query_all(
            "SELECT subject, failures, last_failure_ms, blocked_until_ms, locked_out \
             FROM signin_throttle WHERE blocked_until_ms > ?1 ORDER BY subject",
            [now_ms],
            throttle_row,
        )
    }

    fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        let sql = format!("SELECT {KEY_COLS} FROM signing_keys ORDER BY created_at, kid");
        self.query_all(&sql, [], key_row)
    }

    fn signing_key_rotate(
        &self,
        new: &SigningKeyRow,
        retire: Option<(&KeyId, i64)>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(query)?;
        let active: Option<String> = tx
            .query_row(
                "SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC \
                 LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(query)?;
        if active.as_deref() != retire.map(|(k, _)| k.as_str()) {
            return Ok(false);
        }
        if let Some((kid, publish_until)) = retire {
            tx.execute(
                "UPDATE signing_keys SET retired_at = ?2, publish_until = ?3 WHERE kid = ?1",
                params![kid.as_str(), new.created_at, publish_until],
            )
            .map_err(query)?;
        }
        let sql =
            format!("INSERT INTO signing_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        tx.execute(
            &sql,
            params![
                new.kid.as_str(),
                new.alg,
                new.sealed_private,
                new.public_jwk,
                new.created_at,
                new.retired_at,
                new.publish_until
            ],
        )
        .map_err(query)?;
        tx.commit().map_err(query)?;
        Ok(true)
    }

    fn signing_keys_delete_expired(&self, now: i64) -> Result<usize, StoreError> {
        self.exec(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND publish_until < ?1",
            [now],
        )
    }

    fn revocation_add(
        &self,
        kind: &str,
        subject: &str,
        revoked_at: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(query)?;
        let next: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM revocations",
                [],
                |r| r.get(0),
            )
            .map_err(query)?;
        tx.execute(
            "INSERT INTO revocations (version, kind, subject, revoked_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![next, kind, subject, revoked_at, expires_at],
        )
        .map_err(query)?;
        tx.commit().map_err(query)?;
        Ok(next)
    }

    fn revocations_since(&self, version: i64) -> Result<Vec<RevocationRow>, StoreError> {
        self.query_all(
            "SELECT version, kind, subject, revoked_at, expires_at FROM revocations \
             WHERE version > ?1 ORDER BY version",
            [version],
            revocation_row,
        )
    }

    fn revocation_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM revocations",
                [],
                |r| r.get(0),
            )?
            .unwrap_or(0))
    }

    fn identity_prune(&self, now: i64, idle_before_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(query)?;
        tx.execute("DELETE FROM pending_signins WHERE expires_at < ?1", [now])
            .map_err(query)?;
        tx.execute("DELETE FROM refresh_tokens WHERE expires_at < ?1", [now])
            .map_err(query)?;
        tx.execute("DELETE FROM sessions WHERE expires_at < ?1", [now])
            .map_err(query)?;
        // The newest revocation stays, so the version never goes back after a prune.
        tx.execute(
            "DELETE FROM revocations WHERE expires_at < ?1 \
             AND version < (SELECT MAX(version) FROM revocations)",
            [now],
        )
        .map_err(query)?;
        tx.execute(
            "DELETE FROM signin_throttle WHERE blocked_until_ms < ?1 AND last_failure_ms < ?1",
            [idle_before_ms],
        )
        .map_err(query)?;
        tx.commit().map_err(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64) so the property test needs no dependency.
    struct Xorshift(u64);

    impl Xorshift {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn store() -> SqliteStore {
        SqliteStore::open_in_memory().unwrap()
    }

    fn user(s: &SqliteStore, name: &str) -> UserRow {
        let u = UserRow {
            id: UserId::random(),
            username: name.into(),
            password_hash: "$argon2id$x".into(),
            disabled: false,
            created_at: 1,
            updated_at: 1,
        };
        s.user_insert(&u).unwrap();
        u
    }

    fn session(s: &SqliteStore, u: &UserRow) -> SessionRow {
        let row = SessionRow {
            id: SessionId::random(),
            user_id: u.id.clone(),
            family_id: TokenFamilyId::random(),
            amr: vec!["pwd".into(), "otp".into()],
            auth_time: 10,
            mfa_time: 10,
            created_at: 10,
            expires_at: 1000,
            revoked_at: None,
        };
        s.session_insert(&row).unwrap();
        row
    }

    #[test]
    fn duplicate_user_name_is_a_conflict_naming_it() {
        let s = store();
        user(&s, "alice");
        let err = s
            .user_insert(&UserRow {
                id: UserId::random(),
                ..s.user_by_name("alice").unwrap().unwrap()
            })
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(n) if n == "alice"),
            "{err}"
        );
    }

    #[test]
    fn group_membership_round_trips_and_delete_returns_members() {
        let s = store();
        let a = user(&s, "alice");
        let b = user(&s, "bob");
        let g = GroupRow {
            id: GroupId::random(),
            name: "ops".into(),
            created_at: 1,
        };
        s.group_insert(&g).unwrap();
        s.group_add_member(&g.id, &a.id).unwrap();
        s.group_add_member(&g.id, &a.id).unwrap();
        s.group_add_member(&g.id, &b.id).unwrap();
        assert_eq!(s.group_members(&g.id).unwrap(), vec!["alice", "bob"]);
        assert_eq!(s.user_groups(&a.id).unwrap(), vec!["ops"]);
        assert!(s.group_remove_member(&g.id, &b.id).unwrap());
        assert!(!s.group_remove_member(&g.id, &b.id).unwrap());
        assert_eq!(s.group_delete(&g.id).unwrap(), vec![a.id.clone()]);
        assert!(s.user_groups(&a.id).unwrap().is_empty());
    }

    #[test]
    fn totp_step_only_moves_forward() {
        let s = store();
        let u = user(&s, "alice");
        let f = FactorRow {
            id: FactorId::random(),
            user_id: u.id.clone(),
            kind: "totp".into(),
            sealed_secret: vec![1, 2, 3],
            metadata: "{}".into(),
            confirmed: false,
            last_used_step: -1,
            last_used_at: None,
            created_at: 1,
        };
        s.factor_insert(&f).unwrap();
        s.factor_confirm(&f.id, 100, 5).unwrap();
        assert!(!s.factor_advance_step(&f.id, 100, 6).unwrap());
        assert!(!s.factor_advance_step(&f.id, 99, 6).unwrap());
        assert!(s.factor_advance_step(&f.id, 101, 6).unwrap());
        assert_eq!(s.factor(&f.id).unwrap().unwrap().last_used_step, 101);
        assert!(!format!("{f:?}").contains("[1, 2, 3]"));
    }

    #[test]
    fn recovery_code_is_used_once() {
        let s = store();
        let u = user(&s, "alice");
        s.recovery_codes_replace(&u.id, &["h1".into(), "h2".into()], 1)
            .unwrap();
        assert!(s.recovery_code_use(&u.id, "h1", 2).unwrap());
        assert!(!s.recovery_code_use(&u.id, "h1", 3).unwrap());
        assert!(!s.recovery_code_use(&u.id, "nope", 3).unwrap());
        assert_eq!(s.recovery_codes_left(&u.id).unwrap(), 1);
    }

    #[test]
    fn refresh_rotation_detects_reuse() {
        let s = store();
        let u = user(&s, "alice");
        let sess = session(&s, &u);
        let first = RefreshRow {
            token_hash: "r1".into(),
            family_id: sess.family_id.clone(),
            issued_at: 10,
            expires_at: 100,
            used_at: None,
        };
        s.refresh_insert(&first).unwrap();
        let second = RefreshRow {
            token_hash: "r2".into(),
            ..first.clone()
        };
        assert_eq!(
            s.refresh_rotate("r1", 11, &second).unwrap(),
            RefreshRotation::Rotated
        );
        let third = RefreshRow {
            token_hash: "r3".into(),
            ..first.clone()
        };
        assert_eq!(
            s.refresh_rotate("r1", 12, &third).unwrap(),
            RefreshRotation::AlreadyUsed
        );
        assert_eq!(
            s.refresh_rotate("zz", 12, &third).unwrap(),
            RefreshRotation::Unknown
        );
        assert!(s.refresh("r3").unwrap().is_none());
        assert_eq!(
            s.session_by_family(&sess.family_id).unwrap().unwrap().id,
            sess.id
        );
    }

    #[test]
    fn signing_key_rotation_is_compare_and_swap() {
        let s = store();
        let key = |kid: &KeyId, at| SigningKeyRow {
            kid: kid.clone(),
            alg: "EdDSA".into(),
            sealed_private: vec![9],
            public_jwk: "{}".into(),
            created_at: at,
            retired_at: None,
            publish_until: None,
        };
        let k1 = KeyId::random();
        let k2 = KeyId::random();
        assert!(s.signing_key_rotate(&key(&k1, 1), None).unwrap());
        assert!(!s.signing_key_rotate(&key(&k2, 2), None).unwrap());
        assert!(s.signing_key_rotate(&key(&k2, 2), Some((&k1, 50))).unwrap());
        assert!(!s
            .signing_key_rotate(&key(&KeyId::random(), 3), Some((&k1, 60)))
            .unwrap());
        let keys = s.signing_keys().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].retired_at, Some(2));
        assert_eq!(keys[0].publish_until, Some(50));
        assert_eq!(s.signing_keys_delete_expired(50).unwrap(), 0);
        assert_eq!(s.signing_keys_delete_expired(51).unwrap(), 1);
        assert_eq!(s.signing_keys().unwrap()[0].kid, k2);
    }

    #[test]
    fn revocation_versions_grow_and_survive_pruning() {
        let s = store();
        let v1 = s.revocation_add("jti", "a", 1, 5).unwrap();
        let v2 = s.revocation_add("jti", "b", 1, 5).unwrap();
        assert!(v2 > v1);
        s.identity_prune(100, 0).unwrap();
        assert_eq!(s.revocation_version().unwrap(), v2);
        let v3 = s.revocation_add("user", "u", 100, 200).unwrap();
        assert!(v3 > v2);
        let since: Vec<_> = s
            .revocations_since(v1)
            .unwrap()
            .into_iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(since, vec![v2, v3]);
    }

    /// Property: whatever sequence of failures and clears is applied, the stored row equals a
    /// model kept beside it, and only blocked subjects are listed.
    #[test]
    fn throttle_rows_follow_a_model_under_random_operations() {
        let s = store();
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let mut model: std::collections::BTreeMap<String, ThrottleRow> = Default::default();
        for step in 0..300i64 {
            let subject = format!("user:{}", rng.below(4));
            if rng.below(5) == 0 {
                assert_eq!(
                    s.throttle_clear(&subject).unwrap(),
                    model.remove(&subject).is_some()
                );
                continue;
            }
            let until = step * 10 + rng.below(50) as i64;
            let got = s
                .throttle_update(&subject, &mut |prev| ThrottleRow {
                    subject: subject.clone(),
                    failures: prev.map_or(0, |p| p.failures) + 1,
                    last_failure_ms: step * 10,
                    blocked_until_ms: until,
                    locked_out: until % 2 == 0,
                })
                .unwrap();
            let expected_failures = model.get(&subject).map_or(0, |p| p.failures) + 1;
            assert_eq!(got.failures, expected_failures);
            model.insert(subject.clone(), got);
            let now = step * 10;
            let listed: Vec<_> = s.throttles_blocked(now).unwrap();
            let want: Vec<_> = model
                .values()
                .filter(|r| r.blocked_until_ms > now)
                .cloned()
                .collect();
            assert_eq!(listed, want);
        }
    }

    #[test]
    fn pending_sign_in_is_taken_once() {
        let s = store();
        let u = user(&s, "alice");
        s.pending_insert(&PendingRow {
            token_hash: "p".into(),
            user_id: u.id.clone(),
            purpose: "enroll".into(),
            factor_id: None,
            failures: 0,
            auth_time: 1,
            expires_at: 300,
        })
        .unwrap();
        assert_eq!(s.pending_record_failure("p").unwrap(), 1);
        assert!(s.pending_take("p").unwrap());
        assert!(!s.pending_take("p").unwrap());
        assert!(s.pending("p").unwrap().is_none());
    }

    #[test]
    fn revoking_a_session_twice_reports_it_was_already_revoked() {
        let s = store();
        let u = user(&s, "alice");
        let sess = session(&s, &u);
        assert_eq!(s.sessions_live(&u.id, 20).unwrap().len(), 1);
        assert!(s.session_revoke(&sess.id, 20).unwrap());
        assert!(!s.session_revoke(&sess.id, 21).unwrap());
        assert!(s.sessions_live(&u.id, 20).unwrap().is_empty());
        assert_eq!(
            s.session(&sess.id).unwrap().unwrap().amr,
            vec!["pwd", "otp"]
        );
    }
}
