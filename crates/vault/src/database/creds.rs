//! Dynamic credentials: `creds/<role>` creates a PostgreSQL role bound to a lease; the lease
//! manager calls back here to renew (`VALID UNTIL`) and to revoke (end sessions, hand over or
//! drop what the role owns in every database, drop it — idempotent).

use super::pool::{self, describe};
use super::template::{self, Values};
use super::util::{self, ident, pg_timestamp, ttl_field};
use super::DatabaseBackend;
use crate::error::VaultError;
use crate::lease::Lease;
use crate::request::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a lease of this engine remembers (its `internal` data).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Internal {
    pub connection: String,
    pub username: String,
    pub role: String,
}

/// PostgreSQL's limit on identifiers, in bytes.
const NAME_LIMIT: usize = 63;

/// `<prefix><role>_<8 random>_<expiry unix seconds>`, within 63 bytes, lower-case.
pub(crate) fn make_username(prefix: &str, role: &str, expire: i64) -> String {
    let tail = format!("_{}_{expire}", util::random_lower(8));
    let room = NAME_LIMIT.saturating_sub(prefix.len() + tail.len());
    let role: String = role
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    format!("{prefix}{role}{tail}")
}

fn upstream(conn: &str, what: &str, e: &tokio_postgres::Error, secrets: &[&str]) -> VaultError {
    VaultError::Upstream(format!(
        "database connection `{conn}`: {what}: {}",
        describe(e, secrets)
    ))
}

impl DatabaseBackend {
    /// `creds/<role>`: a new role and password, with a lease.
    pub(super) async fn issue(
        &self,
        req: &Request,
        role_name: &str,
    ) -> Result<Response, VaultError> {
        let role = self
            .role(role_name)?
            .ok_or_else(|| VaultError::invalid(format!("unknown role `{role_name}`")))?;
        let conn = self.connection(&role.db_name)?;
        if !conn.allows(role_name) {
            return Err(VaultError::invalid(format!(
                "role `{role_name}` is not in allowed_roles of connection `{}`",
                role.db_name
            )));
        }
        let asked =
            match ttl_field(&req.data, "ttl")? {
                Some(t) => Some(t),
                None => match req.query.get("ttl") {
                    Some(s) => Some(util::parse_duration(s).ok_or_else(|| {
                        VaultError::invalid(format!("ttl `{s}` is not a duration"))
                    })?),
                    None => None,
                },
            };
        let ttl = role.ttl_for(asked)?;
        let now = self.clock.now();
        let path = format!("{}creds/{role_name}", self.mount.path);
        let mut lease = Lease::new(&self.mount.path, &path, now, ttl, role.max());
        let username = make_username(&conn.username_prefix, role_name, lease.expire_time);
        let password = util::new_password();
        lease.token = req.token.as_ref().map(|t| t.id.clone());
        lease.internal = serde_json::to_value(Internal {
            connection: role.db_name.clone(),
            username: username.clone(),
            role: role_name.to_owned(),
        })
        .map_err(|e| VaultError::Internal(e.to_string()))?;
        let expire = lease.expire_time;
        let id = lease.id.clone();
        // Durable before the role exists: a crash from here on leaves a lease to revoke.
        self.leases.create_pending(lease)?;
        if let Err(e) = self.create_user(&role, &username, &password, expire).await {
            self.leases.abandon(&id);
            self.audit(
                "vault.database.creds",
                false,
                &username,
                Some(("error", e.to_string())),
            );
            return Err(e);
        }
        let info = match self.leases.activate(&id) {
            Ok(info) => info,
            Err(e) => {
                self.leases.abandon(&id);
                return Err(e);
            }
        };
        self.audit("vault.database.creds", true, &username, Some(("lease", id)));
        let (host, port, database) = conn.endpoint();
        Ok(Response::data(json!({
            "username": username,
            "password": password,
            "host": host,
            "port": port,
            "database": database,
        }))
        .with_lease(info))
    }

    async fn create_user(
        &self,
        role: &super::roles::Role,
        username: &str,
        password: &str,
        expire: i64,
    ) -> Result<(), VaultError> {
        let (_, mut client) = self.root_client(&role.db_name).await?;
        let expiration = pg_timestamp(expire);
        let values = Values {
            name: username,
            password,
            expiration: &expiration,
        };
        let db = &role.db_name;
        let stmts = role
            .creation_statements
            .iter()
            .map(|s| template::render(s, &values))
            .collect::<Result<Vec<_>, _>>()?;
        let result = pool::in_transaction(&mut client, &stmts)
            .await
            .map_err(|e| upstream(db, "creation_statements failed", &e, &[password]));
        if result.is_err() && !role.rollback_statements.is_empty() {
            for s in &role.rollback_statements {
                let sql = template::render(s, &values)?;
                if let Err(e) = client.batch_execute(&sql).await {
                    tracing::warn!(connection = %db, role = %username, error = %describe(&e, &[password]), "rollback statement failed; the lease revocation cleans up");
                }
            }
        }
        result
    }

    /// The lease manager's revocation: drops the lease's database role.
    pub(super) async fn revoke_lease(&self, lease: &Lease) -> Result<(), VaultError> {
        let Ok(internal) = serde_json::from_value::<Internal>(lease.internal.clone()) else {
            tracing::warn!(lease = %lease.id, "lease has no database role recorded; nothing to revoke");
            return Ok(());
        };
        let custom = self
            .role(&internal.role)?
            .map(|r| r.revocation_statements)
            .unwrap_or_default();
        let r = self
            .drop_user(&internal.connection, &internal.username, &custom)
            .await;
        self.audit(
            "vault.database.revoke",
            r.is_ok(),
            &internal.username,
            r.as_ref().err().map(|e| ("error", e.to_string())),
        );
        r
    }

    /// Removes `username` for good: no more logins, its sessions ended, the role's own
    /// revocation statements (if any; when they drop the role themselves, as Vault-style
    /// statements do, that is the end), then in every database where it owns objects or holds
    /// privileges `REASSIGN OWNED` to the connection's owner and `DROP OWNED`, then
    /// `DROP ROLE IF EXISTS`. Running it again on a dropped role does nothing, and a role that
    /// vanishes half-way (a concurrent revocation) counts as revoked.
    ///
    /// What the connection's user needs (it need not be a superuser): `CREATEROLE` (on
    /// PostgreSQL 15 that lets it `GRANT` any non-superuser role to itself, which `REASSIGN` and
    /// `DROP OWNED` require; on 16 and later it must hold `ADMIN OPTION` on the roles, which
    /// it gets by creating them), `CONNECT` on every database where credentials may own
    /// objects or hold privileges, and membership of `revoke_owner` when that is set.
    pub(super) async fn drop_user(
        &self,
        conn_name: &str,
        username: &str,
        custom: &[String],
    ) -> Result<(), VaultError> {
        let (conn, mut client) = self.root_client(conn_name).await?;
        let up = |what: &str, e: &tokio_postgres::Error| upstream(conn_name, what, e, &[]);
        if !role_exists(&client, username)
            .await
            .map_err(|e| up("looking up the role", &e))?
        {
            return Ok(());
        }
        let q = ident(username);
        let r = pool::in_transaction(&mut client, &[format!("ALTER ROLE {q} NOLOGIN")]).await;
        gone_or(
            conn_name,
            &client,
            username,
            r,
            "disabling the role's login",
        )
        .await?;
        // A non-superuser admin acts for the role through membership (dropped with the role).
        let member: Option<bool> = client
            .query_opt(
                "SELECT pg_has_role(current_user, oid, 'USAGE') FROM pg_roles WHERE rolname = $1",
                &[&username],
            )
            .await
            .map_err(|e| up("checking the admin's membership of the role", &e))?
            .map(|r| r.get(0));
        let Some(member) = member else {
            return Ok(()); // dropped meanwhile by a concurrent revocation
        };
        if !member {
            let r =
                pool::in_transaction(&mut client, &[format!("GRANT {q} TO CURRENT_USER")]).await;
            gone_or(
                conn_name,
                &client,
                username,
                r,
                "granting the role to the connection's user (it needs CREATEROLE)",
            )
            .await?;
        }
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_backend_pid()",
                &[&username],
            )
            .await
            .map_err(|e| up("ending the role's sessions", &e))?;
        let none = Values {
            name: username,
            password: "",
            expiration: "",
        };
        for s in custom {
            let sql = template::render(s, &none)?;
            if let Err(e) = client.batch_execute(&sql).await {
                if e.as_db_error().is_none() {
                    return Err(up("revocation_statements", &e));
                }
                tracing::warn!(connection = %conn_name, role = %username, error = %describe(&e, &[]), "a revocation statement failed; dropping the role anyway");
            }
        }
        if !custom.is_empty()
            && !role_exists(&client, username)
                .await
                .map_err(|e| up("looking up the role", &e))?
        {
            tracing::info!(connection = %conn_name, role = %username, "database role dropped by its revocation statements");
            return Ok(());
        }
        let here: String = client
            .query_one("SELECT current_database()::text", &[])
            .await
            .map_err(|e| up("reading the database name", &e))?
            .get(0);
        let rows = client
            .query(
                "SELECT DISTINCT d.datname::text FROM pg_shdepend s \
                 JOIN pg_database d ON d.oid = s.dbid \
                 WHERE s.refclassid = 'pg_authid'::regclass \
                   AND s.refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)",
                &[&username],
            )
            .await
            .map_err(|e| up("finding the role's databases", &e))?;
        let owner = match &conn.revoke_owner {
            Some(o) => ident(o),
            None => "CURRENT_USER".to_owned(),
        };
        let cleanup = format!("REASSIGN OWNED BY {q} TO {owner}; DROP OWNED BY {q}");
        // Here first (also revokes privileges on shared objects), then every other database.
        let r = pool::in_transaction(&mut client, std::slice::from_ref(&cleanup)).await;
        gone_or(
            conn_name,
            &client,
            username,
            r,
            &format!("REASSIGN/DROP OWNED in `{here}`"),
        )
        .await?;
        for row in rows {
            let db: String = row.get(0);
            if db == here {
                continue;
            }
            let cfg = conn.pg_config(&conn.password, Some(&db))?;
            let mut other = pool::connect(conn_name, &cfg, conn.tls()?.as_ref(), &conn.password)
                .await
                .map_err(|e| e.error)?;
            let r = pool::in_transaction(&mut other, std::slice::from_ref(&cleanup)).await;
            gone_or(
                conn_name,
                &client,
                username,
                r,
                &format!("REASSIGN/DROP OWNED in `{db}`"),
            )
            .await?;
        }
        let r = pool::in_transaction(&mut client, &[format!("DROP ROLE IF EXISTS {q}")]).await;
        gone_or(conn_name, &client, username, r, "dropping the role").await?;
        tracing::info!(connection = %conn_name, role = %username, "database role dropped");
        Ok(())
    }
}

/// A failed revocation step is fine when the role is gone meanwhile (another revocation
/// finished first); otherwise it is an upstream error naming the step.
async fn gone_or(
    conn_name: &str,
    client: &tokio_postgres::Client,
    username: &str,
    result: Result<(), tokio_postgres::Error>,
    what: &str,
) -> Result<(), VaultError> {
    let Err(e) = result else {
        return Ok(());
    };
    if e.as_db_error().is_some() && matches!(role_exists(client, username).await, Ok(false)) {
        return Ok(());
    }
    Err(upstream(conn_name, what, &e, &[]))
}

impl DatabaseBackend {
    /// The lease manager's renewal: moves `VALID UNTIL` (or runs the role's renew statements).
    pub(super) async fn renew_lease(
        &self,
        lease: &Lease,
        new_expire: i64,
    ) -> Result<(), VaultError> {
        let internal: Internal = serde_json::from_value(lease.internal.clone())
            .map_err(|_| VaultError::invalid(format!("lease `{}` is not renewable", lease.id)))?;
        let stmts = self
            .role(&internal.role)?
            .map(|r| r.renew_statements)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                vec!["ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}'".to_owned()]
            });
        let (_, mut client) = self.root_client(&internal.connection).await?;
        let expiration = pg_timestamp(new_expire);
        let values = Values {
            name: &internal.username,
            password: "",
            expiration: &expiration,
        };
        let stmts = stmts
            .iter()
            .map(|s| template::render(s, &values))
            .collect::<Result<Vec<_>, _>>()?;
        let revoked = || VaultError::invalid(format!("lease `{}` was revoked", lease.id));
        let up =
            |what: &str, e: &tokio_postgres::Error| upstream(&internal.connection, what, e, &[]);
        if !role_exists(&client, &internal.username)
            .await
            .map_err(|e| up("looking up the role", &e))?
        {
            return Err(revoked());
        }
        match pool::in_transaction(&mut client, &stmts).await {
            Ok(()) => Ok(()),
            // A revocation dropped the role while this ran.
            Err(e)
                if e.as_db_error().is_some()
                    && matches!(role_exists(&client, &internal.username).await, Ok(false)) =>
            {
                Err(revoked())
            }
            Err(e) => Err(up("renew_statements failed", &e)),
        }
    }
}

/// Whether the role `username` exists on the server.
async fn role_exists(
    client: &tokio_postgres::Client,
    username: &str,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username])
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_readable_unique_and_short_enough() {
        let a = make_username("seawall_", "Read-Only", 1_900_000_000);
        let b = make_username("seawall_", "Read-Only", 1_900_000_000);
        assert!(
            a.starts_with("seawall_read_only_") && a.ends_with("_1900000000"),
            "{a}"
        );
        assert_ne!(a, b);
        let long = make_username("seawall_", &"x".repeat(200), 1_900_000_000);
        assert_eq!(long.len(), 63);
        assert!(long.ends_with("_1900000000"));
    }
}
