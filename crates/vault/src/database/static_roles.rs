//! Static roles: an existing database user whose password Seawall rotates on a schedule without
//! downtime. Two login roles are used in turn — the configured user and a twin (`<user>_b`,
//! created `IN ROLE <user>` if missing) — so after a rotation the previous credential stays
//! valid for `overlap` seconds (default half the period) before its password is invalidated.
//! A new password is stored before `ALTER ROLE` runs; a failed rotation is retried with backoff,
//! raises an event and shows in the role's `last_error`: it never silently stops.
//!
//! A twin Seawall creates carries the comment `seawall static-role twin of <user>`; an existing
//! role is accepted as twin only with that mark and no attribute (superuser, createrole,
//! replication, bypassrls) its user lacks. The connection's root user and owner, and a login
//! another static role already uses, cannot be a static role's user or twin. Deleting a static
//! role disables its twin (no login, no password, sessions ended) and drops it when it owns
//! nothing any more; the user's own password is left as it is, as in Vault.

use super::template::{self, Values};
use super::util::{self, ident, rfc3339, ttl_field};
use super::DatabaseBackend;
use crate::error::VaultError;
use crate::request::{Request, Response};
use seawall_core::event::Severity;
use serde::{Deserialize, Serialize};
use serde_json::json;

const DEFAULT_ROTATION: &str = "ALTER ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'";
/// The shortest rotation period accepted (Vault's minimum).
const MIN_PERIOD: i64 = 5;

/// A stored static role.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StaticRole {
    pub db_name: String,
    /// The configured user (login 0).
    pub username: String,
    /// Its twin (login 1).
    pub twin: String,
    pub rotation_period: i64,
    pub overlap: i64,
    pub rotation_statements: Vec<String>,
    /// Which login is current: 0 (`username`) or 1 (`twin`).
    pub current: u8,
    /// The known password of each login.
    pub passwords: [Option<String>; 2],
    /// Unix seconds of the last successful rotation (0: never).
    pub last_vault_rotation: i64,
    /// The previous login and when its password is invalidated.
    pub retire: Option<(u8, i64)>,
    /// A password written before `ALTER ROLE` ran on that login; reused on retry.
    pub pending: Option<(u8, String)>,
    pub last_error: Option<String>,
    pub failed_attempts: u32,
    /// Unix seconds before which a failed step is not retried.
    pub next_attempt: i64,
}

impl std::fmt::Debug for StaticRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticRole")
            .field("db_name", &self.db_name)
            .field("username", &self.username)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl StaticRole {
    fn login(&self, i: u8) -> &str {
        if i == 0 {
            &self.username
        } else {
            &self.twin
        }
    }

    fn ttl(&self, now: i64) -> i64 {
        (self.last_vault_rotation + self.rotation_period - now).max(0)
    }

    fn view(&self, now: i64) -> serde_json::Value {
        json!({
            "db_name": self.db_name,
            "username": self.username,
            "twin_username": self.twin,
            "current_username": self.login(self.current),
            "rotation_period": self.rotation_period,
            "overlap": self.overlap,
            "rotation_statements": self.rotation_statements,
            "credential_type": "password",
            "last_vault_rotation": (self.last_vault_rotation > 0).then(|| rfc3339(self.last_vault_rotation)),
            "ttl": self.ttl(now),
            "last_error": self.last_error,
            "failed_attempts": self.failed_attempts,
            "next_attempt": (self.failed_attempts > 0).then(|| rfc3339(self.next_attempt)),
        })
    }
}

/// Seconds to wait after `n` failures in a row: 5 s doubling to 5 minutes.
fn backoff(n: u32) -> i64 {
    (5i64 << n.saturating_sub(1).min(6)).min(300)
}

impl DatabaseBackend {
    fn static_role(&self, name: &str) -> Result<StaticRole, VaultError> {
        self.load("static", name)?
            .ok_or_else(|| VaultError::NotFound(format!("unknown static role `{name}`")))
    }

    pub(super) fn read_static(&self, name: &str) -> Result<Response, VaultError> {
        Ok(Response::data(
            self.static_role(name)?.view(self.clock.now()),
        ))
    }

    pub(super) fn static_creds(&self, name: &str) -> Result<Response, VaultError> {
        let r = self.static_role(name)?;
        let Some(password) = r.passwords[r.current as usize].clone() else {
            return Err(VaultError::Upstream(format!(
                "static role `{name}` has no credential yet: {}",
                r.last_error
                    .as_deref()
                    .unwrap_or("its first rotation has not run")
            )));
        };
        Ok(Response::data(json!({
            "username": r.login(r.current),
            "password": password,
            "last_vault_rotation": rfc3339(r.last_vault_rotation),
            "rotation_period": r.rotation_period,
            "ttl": r.ttl(self.clock.now()),
        })))
    }

    pub(super) async fn write_static(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Response, VaultError> {
        let guard = self.admin.lock().await;
        let old: Option<StaticRole> = self.load("static", name)?;
        let d = &req.data;
        let field = |f: &str| -> Result<Option<String>, VaultError> {
            Ok(req
                .str_field(f)?
                .filter(|s| !s.is_empty())
                .map(str::to_owned))
        };
        let db_name = field("db_name")?;
        let username = field("username")?;
        if let Some(o) = &old {
            for (f, v, was) in [
                ("db_name", &db_name, &o.db_name),
                ("username", &username, &o.username),
            ] {
                if v.as_ref().is_some_and(|v| v != was) {
                    return Err(VaultError::invalid(format!(
                        "{f} of static role `{name}` cannot be changed (delete and create it again)"
                    )));
                }
            }
        }
        let db_name = db_name
            .or(old.as_ref().map(|o| o.db_name.clone()))
            .ok_or_else(|| VaultError::invalid("field `db_name` is required"))?;
        let username = username
            .or(old.as_ref().map(|o| o.username.clone()))
            .ok_or_else(|| VaultError::invalid("field `username` is required"))?;
        let period = ttl_field(d, "rotation_period")?
            .or(old.as_ref().map(|o| o.rotation_period))
            .ok_or_else(|| VaultError::invalid("field `rotation_period` is required"))?;
        if period < MIN_PERIOD {
            return Err(VaultError::invalid(format!(
                "rotation_period {period}s is below the minimum of {MIN_PERIOD}s"
            )));
        }
        let overlap = match ttl_field(d, "overlap")? {
            Some(o) => o,
            None => match &old {
                Some(o) if o.overlap < period => o.overlap,
                _ => period / 2,
            },
        };
        if overlap < 1 || overlap >= period {
            return Err(VaultError::invalid(format!(
                "overlap {overlap}s must be at least 1s and below rotation_period {period}s"
            )));
        }
        let rotation_statements = util::string_list(d, "rotation_statements", false)?
            .or(old.as_ref().map(|o| o.rotation_statements.clone()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec![DEFAULT_ROTATION.to_owned()]);
        template::check("rotation_statements", &rotation_statements)?;
        if !template::uses_name(&rotation_statements)
            || !rotation_statements.iter().any(|s| s.contains("password"))
        {
            return Err(VaultError::invalid(
                "rotation_statements must use {{name}} and {{password}}",
            ));
        }
        let conn = self
            .connection(&db_name)
            .map_err(|_| VaultError::invalid(format!("db_name: unknown connection `{db_name}`")))?;
        if !conn.allows(name) {
            return Err(VaultError::invalid(format!(
                "static role `{name}` is not in allowed_roles of connection `{db_name}`"
            )));
        }
        if let Some(mut o) = old {
            o.rotation_period = period;
            o.overlap = overlap;
            o.rotation_statements = rotation_statements;
            self.save("static", name, &o)?;
            return Ok(Response::no_content());
        }
        let twin = field("twin_username")?.unwrap_or_else(|| {
            let mut t = username.clone();
            while t.len() > 61 {
                t.pop();
            }
            format!("{t}_b")
        });
        if twin == username {
            return Err(VaultError::invalid(
                "twin_username must differ from username",
            ));
        }
        for (f, login) in [("username", &username), ("twin_username", &twin)] {
            if *login == conn.root_user() || *login == conn.owner() {
                return Err(VaultError::invalid(format!(
                    "{f}: `{login}` is the root user or owner of connection `{db_name}`; rotating it would break the connection"
                )));
            }
            for other in self.names("static")? {
                if let Some(o) = self.load::<StaticRole>("static", &other)? {
                    if o.db_name == db_name && (o.username == *login || o.twin == *login) {
                        return Err(VaultError::invalid(format!(
                            "{f}: `{login}` is already a login of static role `{other}`"
                        )));
                    }
                }
            }
        }
        self.prepare_logins(&db_name, &username, &twin).await?;
        let role = StaticRole {
            db_name,
            username,
            twin,
            rotation_period: period,
            overlap,
            rotation_statements,
            current: 0,
            passwords: [None, None],
            last_vault_rotation: 0,
            retire: None,
            pending: None,
            last_error: None,
            failed_attempts: 0,
            next_attempt: 0,
        };
        self.save("static", name, &role)?;
        // The first rotation moves to the twin: whoever uses the user's old password keeps it
        // for the overlap window.
        if let Err(e) = self.rotate_locked(name).await {
            self.barrier.delete(&self.key("static", name))?;
            drop(guard);
            return Err(e);
        }
        Ok(Response::no_content())
    }

    /// Checks that the user exists and creates its twin (`IN ROLE <user>`, marked as Seawall's)
    /// if missing; an existing twin must carry the mark and no attribute the user lacks.
    async fn prepare_logins(&self, db: &str, user: &str, twin: &str) -> Result<(), VaultError> {
        let (_, client) = self.root_client(db).await?;
        let up = |e: tokio_postgres::Error| {
            VaultError::Upstream(format!(
                "database connection `{db}`: {}",
                super::pool::describe(&e, &[])
            ))
        };
        let Some(main) = role_info(&client, user).await.map_err(up)? else {
            return Err(VaultError::invalid(format!(
                "username: role `{user}` does not exist on connection `{db}`"
            )));
        };
        match role_info(&client, twin).await.map_err(up)? {
            None => {
                // One simple query: both statements commit together or not at all.
                client
                    .batch_execute(&format!(
                        "CREATE ROLE {t} LOGIN IN ROLE {u}; COMMENT ON ROLE {t} IS {m}",
                        t = ident(twin),
                        u = ident(user),
                        m = literal(&twin_mark(user))
                    ))
                    .await
                    .map_err(up)?;
            }
            Some(t) if t.comment.as_deref() != Some(twin_mark(user).as_str()) => {
                return Err(VaultError::invalid(format!(
                    "twin_username: role `{twin}` already exists on connection `{db}` and was not created by Seawall as the twin of `{user}`; drop it or choose another twin_username"
                )));
            }
            Some(t) => {
                if let Some(attr) = t.extra_power_over(&main) {
                    return Err(VaultError::invalid(format!(
                        "twin_username: role `{twin}` has {attr}, which `{user}` does not have"
                    )));
                }
            }
        }
        Ok(())
    }

    pub(super) async fn delete_static(&self, name: &str) -> Result<Response, VaultError> {
        let _g = self.admin.lock().await;
        if let Some(r) = self.load::<StaticRole>("static", name)? {
            self.disable_twin(name, &r).await?;
        }
        self.barrier.delete(&self.key("static", name))?;
        Ok(Response::no_content())
    }

    /// Ends the twin of a static role being deleted: a twin Seawall marked gets no login, no
    /// password and no sessions, then what it owns in the root database goes to the user and
    /// it is dropped if nothing else refers to it. An unmarked twin (made before the mark
    /// existed) only loses the password Seawall set. A connection that no longer exists has
    /// nothing to clean.
    async fn disable_twin(&self, name: &str, r: &StaticRole) -> Result<(), VaultError> {
        match self.connection(&r.db_name) {
            Err(VaultError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let (_, mut client) = self.root_client(&r.db_name).await?;
        let db = &r.db_name;
        let twin = &r.twin;
        let up = |what: &str, e: tokio_postgres::Error| {
            VaultError::Upstream(format!(
                "database connection `{db}`: deleting static role `{name}`: {what} `{twin}`: {}",
                super::pool::describe(&e, &[])
            ))
        };
        let Some(info) = role_info(&client, twin)
            .await
            .map_err(|e| up("looking up", e))?
        else {
            return Ok(());
        };
        let t = ident(twin);
        if info.comment.as_deref() != Some(twin_mark(&r.username).as_str()) {
            client
                .batch_execute(&format!("ALTER ROLE {t} PASSWORD NULL"))
                .await
                .map_err(|e| up("clearing the password of", e))?;
            return Ok(());
        }
        client
            .batch_execute(&format!("ALTER ROLE {t} NOLOGIN PASSWORD NULL"))
            .await
            .map_err(|e| up("disabling", e))?;
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_backend_pid()",
                &[twin],
            )
            .await
            .map_err(|e| up("ending the sessions of", e))?;
        // The twin is disabled from here on; failing to drop it only leaves a role that cannot
        // log in.
        let cleanup = format!(
            "REASSIGN OWNED BY {t} TO {u}; DROP OWNED BY {t}",
            u = ident(&r.username)
        );
        let dropped = async {
            super::pool::in_transaction(&mut client, std::slice::from_ref(&cleanup)).await?;
            let refs = client
                .query_opt(
                    "SELECT 1 FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass \
                     AND refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1) LIMIT 1",
                    &[twin],
                )
                .await?;
            if refs.is_none() {
                client
                    .batch_execute(&format!("DROP ROLE IF EXISTS {t}"))
                    .await?;
            }
            Ok::<bool, tokio_postgres::Error>(refs.is_none())
        }
        .await;
        match dropped {
            Ok(true) => {
                tracing::info!(static_role = %name, twin = %twin, "static role twin dropped")
            }
            Ok(false) => {
                tracing::info!(static_role = %name, twin = %twin, "static role twin still owns objects in another database; left without login")
            }
            Err(e) => {
                tracing::warn!(static_role = %name, twin = %twin, error = %super::pool::describe(&e, &[]), "static role twin left without login; dropping it failed")
            }
        }
        Ok(())
    }

    /// `rotate-role/<name>`: rotates now.
    pub(super) async fn rotate_role(&self, name: &str) -> Result<Response, VaultError> {
        let _g = self.admin.lock().await;
        self.static_role(name)?;
        self.rotate_locked(name).await?;
        Ok(Response::no_content())
    }

    /// One rotation (the caller holds `admin`): a new password for the login not in use, which
    /// becomes current; the previous one retires after the overlap.
    async fn rotate_locked(&self, name: &str) -> Result<(), VaultError> {
        let mut r = self.static_role(name)?;
        let target = 1 - r.current;
        let password = match &r.pending {
            Some((t, p)) if *t == target => p.clone(),
            _ => util::new_password(),
        };
        r.pending = Some((target, password.clone()));
        self.save("static", name, &r)?;
        let result = self.set_password(&r, r.login(target), &password).await;
        let now = self.clock.now();
        match result {
            Ok(()) => {
                let previous = r.current;
                r.passwords[target as usize] = Some(password);
                r.current = target;
                r.pending = None;
                r.last_vault_rotation = now;
                r.retire = Some((previous, now + r.overlap));
                r.last_error = None;
                r.failed_attempts = 0;
                r.next_attempt = 0;
                self.save("static", name, &r)?;
                self.audit("vault.database.static.rotate", true, name, None);
                Ok(())
            }
            Err(e) => {
                self.note_failure(name, &mut r, &e, now)?;
                Err(e)
            }
        }
    }

    fn note_failure(
        &self,
        name: &str,
        r: &mut StaticRole,
        e: &VaultError,
        now: i64,
    ) -> Result<(), VaultError> {
        r.failed_attempts += 1;
        r.last_error = Some(e.to_string());
        r.next_attempt = now + backoff(r.failed_attempts);
        self.save("static", name, r)?;
        self.audit(
            "vault.database.static.rotate",
            false,
            name,
            Some(("error", e.to_string())),
        );
        if r.failed_attempts == 1 || r.failed_attempts.is_multiple_of(10) {
            self.event(
                "vault.database.static_rotation_failed",
                Severity::High,
                json!({"mount": self.mount.path, "role": name, "attempts": r.failed_attempts}),
            );
        }
        tracing::warn!(static_role = %name, attempts = r.failed_attempts, error = %e, "static role rotation failed; retrying with backoff");
        Ok(())
    }

    async fn set_password(
        &self,
        r: &StaticRole,
        login: &str,
        password: &str,
    ) -> Result<(), VaultError> {
        let (_, mut client) = self.root_client(&r.db_name).await?;
        let values = Values {
            name: login,
            password,
            expiration: "",
        };
        let db = &r.db_name;
        let up = |e: tokio_postgres::Error| {
            VaultError::Upstream(format!(
                "database connection `{db}`: rotation_statements failed for `{login}`: {}",
                super::pool::describe(&e, &[password])
            ))
        };
        let stmts = r
            .rotation_statements
            .iter()
            .map(|s| template::render(s, &values))
            .collect::<Result<Vec<_>, _>>()?;
        super::pool::in_transaction(&mut client, &stmts)
            .await
            .map_err(up)
    }

    /// The background step: rotate what is due (or retry what failed), retire credentials
    /// whose overlap has ended.
    pub(super) async fn static_tick(&self) {
        let names = match self.names("static") {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "cannot list static roles");
                return;
            }
        };
        for name in names {
            let _g = self.admin.lock().await;
            let Ok(Some(r)) = self.load::<StaticRole>("static", &name) else {
                continue;
            };
            let now = self.clock.now();
            if r.failed_attempts > 0 && now < r.next_attempt {
                continue;
            }
            if let Some((idx, at)) = r.retire {
                if now >= at {
                    if let Err(e) = self.retire(&name, r.clone(), idx).await {
                        let mut r = r.clone();
                        let _ = self.note_failure(&name, &mut r, &e, now);
                        continue;
                    }
                }
            }
            // A failed rotation left its password pending: retried here after the backoff.
            let due = r.pending.is_some() || now >= r.last_vault_rotation + r.rotation_period;
            if due {
                // Failures are recorded by rotate_locked.
                let _ = self.rotate_locked(&name).await;
            }
        }
    }

    /// Ends the previous credential: its login gets a random password nobody keeps.
    async fn retire(&self, name: &str, r: StaticRole, idx: u8) -> Result<(), VaultError> {
        if idx != r.current {
            self.set_password(&r, r.login(idx), &util::new_password())
                .await?;
        }
        let mut fresh = self.static_role(name)?;
        if fresh.retire == r.retire {
            fresh.retire = None;
            if fresh.current != idx {
                fresh.passwords[idx as usize] = None;
            }
            if fresh.pending.is_none() {
                fresh.last_error = None;
                fresh.failed_attempts = 0;
            }
            self.save("static", name, &fresh)?;
        }
        Ok(())
    }
}

/// The comment that marks a twin Seawall created for `user`.
fn twin_mark(user: &str) -> String {
    format!("seawall static-role twin of {user}")
}

/// A single-quoted SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// What matters about an existing role: its powerful attributes and its comment.
struct RoleInfo {
    attrs: [bool; 4],
    comment: Option<String>,
}

const POWERS: [&str; 4] = ["SUPERUSER", "CREATEROLE", "REPLICATION", "BYPASSRLS"];

impl RoleInfo {
    /// The first powerful attribute this role has and `other` lacks.
    fn extra_power_over(&self, other: &RoleInfo) -> Option<&'static str> {
        (0..POWERS.len())
            .find(|&i| self.attrs[i] && !other.attrs[i])
            .map(|i| POWERS[i])
    }
}

async fn role_info(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<Option<RoleInfo>, tokio_postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT rolsuper, rolcreaterole, rolreplication, rolbypassrls, \
             shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await?
        .map(|r| RoleInfo {
            attrs: [r.get(0), r.get(1), r.get(2), r.get(3)],
            comment: r.get(4),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twin_marks_quote_safely_and_powers_compare() {
        assert_eq!(
            literal(&twin_mark("o'neil")),
            "'seawall static-role twin of o''neil'"
        );
        let plain = RoleInfo {
            attrs: [false; 4],
            comment: None,
        };
        let root = RoleInfo {
            attrs: [true, false, false, false],
            comment: None,
        };
        assert_eq!(root.extra_power_over(&plain), Some("SUPERUSER"));
        assert_eq!(plain.extra_power_over(&root), None);
        assert_eq!(root.extra_power_over(&root), None);
    }

    #[test]
    fn backoff_grows_to_five_minutes() {
        assert_eq!(backoff(1), 5);
        assert_eq!(backoff(2), 10);
        assert_eq!(backoff(4), 40);
        assert_eq!(backoff(30), 300);
    }
}
