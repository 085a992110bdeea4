//! The reconciler: roles in `pg_roles` that Seawall made for dynamic credentials but that
//! belong to no lease (after a restore from backup, a lost revocation, a crash in the wrong
//! place) are dropped the way a revocation drops them. Only a name of the exact generated
//! shape — `<prefix><role>_<8 random>_<expiry>`, with `<role>` one of this mount's roles as
//! `creds` writes it — is a candidate; a superuser, the connection's root user or owner, and a
//! static role's user or twin are never dropped. A role whose lease is still `Pending` is being
//! created and is never touched. Runs after startup, every 10 minutes, and on
//! `POST reconcile/<connection>`, which reports `{"dropped": [...], "kept": N}`.

use super::pool::describe;
use super::static_roles::StaticRole;
use super::DatabaseBackend;
use crate::error::VaultError;
use crate::request::Response;
use serde_json::json;
use std::collections::HashSet;

/// What one reconciliation did.
pub(crate) struct Report {
    pub dropped: Vec<String>,
    pub kept: usize,
    pub failed: Vec<String>,
}

impl DatabaseBackend {
    pub(super) async fn reconcile(&self, name: &str) -> Result<Report, VaultError> {
        let (conn, client) = self.root_client(name).await?;
        // Roles first, leases second: a lease is written before its role is created, so every
        // role seen here that has a lease has it in the snapshot below.
        let rows = client
            .query(
                "SELECT rolname::text, rolsuper FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
                &[&conn.username_prefix],
            )
            .await
            .map_err(|e| {
                VaultError::Upstream(format!(
                    "database connection `{name}`: listing roles: {}",
                    describe(&e, &[])
                ))
            })?;
        drop(client);
        let role_names = self.names("role")?;
        let roles: Vec<String> = rows
            .iter()
            .filter(|r| !r.get::<_, bool>(1))
            .map(|r| r.get::<_, String>(0))
            .filter(|n| is_generated(&conn.username_prefix, &role_names, n))
            .collect();
        // Every lease the vault holds counts, not only this connection's: two connections (or
        // two database mounts) may point at the same cluster with the same name prefix, and a
        // live credential of one is not an orphan of the other.
        let mut known: HashSet<String> = self
            .leases
            .list("")
            .iter()
            .filter_map(|id| self.leases.lookup(id))
            .filter_map(|l| {
                l.internal
                    .get("username")
                    .and_then(|u| u.as_str())
                    .map(str::to_owned)
            })
            .collect();
        known.insert(conn.root_user());
        known.insert(conn.owner());
        for s in self.names("static")? {
            if let Some(r) = self.load::<StaticRole>("static", &s)? {
                known.insert(r.username);
                known.insert(r.twin);
            }
        }
        let mut report = Report {
            dropped: Vec::new(),
            kept: 0,
            failed: Vec::new(),
        };
        for role in roles {
            if known.contains(&role) {
                report.kept += 1;
                continue;
            }
            match self.drop_user(name, &role, &[]).await {
                Ok(()) => report.dropped.push(role),
                Err(e) => {
                    tracing::warn!(connection = %name, role = %role, error = %e, "reconciler could not drop an orphaned role");
                    report.failed.push(role);
                }
            }
        }
        self.audit(
            "vault.database.reconcile",
            report.failed.is_empty(),
            name,
            Some(("dropped", report.dropped.join(","))),
        );
        Ok(report)
    }

    pub(super) async fn reconcile_request(&self, name: &str) -> Result<Response, VaultError> {
        let r = self.reconcile(name).await?;
        let mut data = json!({"dropped": r.dropped, "kept": r.kept});
        if !r.failed.is_empty() {
            data["failed"] = json!(r.failed);
        }
        Ok(Response::data(data))
    }

    /// The periodic run over every connection.
    pub(super) async fn reconcile_all(&self) {
        let names = match self.names("config") {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "reconciler cannot list connections");
                return;
            }
        };
        for name in names {
            match self.reconcile(&name).await {
                Ok(r) if !r.dropped.is_empty() || !r.failed.is_empty() => {
                    tracing::info!(connection = %name, dropped = r.dropped.len(), failed = r.failed.len(), kept = r.kept, "reconciled database roles");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(connection = %name, error = %e, "reconciler skipped a connection")
                }
            }
        }
    }
}

/// Whether `name` has the exact shape `creds` gives a dynamic credential's role:
/// `<prefix><role>_<8 lower-case letters or digits>_<expiry unix seconds>`, where `<role>` is
/// one of `roles` lower-cased with other characters as `_`, cut to fit 63 bytes.
pub(crate) fn is_generated(prefix: &str, roles: &[String], name: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    let Some((rest, expiry)) = rest.rsplit_once('_') else {
        return false;
    };
    let Some((role_part, random)) = rest.rsplit_once('_') else {
        return false;
    };
    let digits = !expiry.is_empty()
        && expiry.len() <= 12
        && !expiry.starts_with('0')
        && expiry.bytes().all(|b| b.is_ascii_digit());
    let random_ok = random.len() == 8
        && random
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !digits || !random_ok || role_part.is_empty() {
        return false;
    }
    let room = 63usize.saturating_sub(prefix.len() + random.len() + expiry.len() + 2);
    roles.iter().any(|r| {
        let written: String = r
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
        written == role_part
    })
}

#[cfg(test)]
mod tests {
    use super::is_generated;
    use crate::database::creds::make_username;

    #[test]
    fn only_the_generated_shape_counts() {
        let roles = vec!["Read-Only".to_owned(), "x".repeat(200)];
        for role in &roles {
            let n = make_username("app", role, 1_900_000_000);
            assert!(is_generated("app", &roles, &n), "{n}");
        }
        for n in [
            "appowner",
            "appowner_b",
            "appread_only",
            "appread_only_abcdefgh",
            "appread_only_abcdefg_1900000000",
            "appread_only_ABCDEFGH_1900000000",
            "appread_only_abcdefgh_19x0",
            "appread_only_abcdefgh_0190",
            "appother_abcdefgh_1900000000",
            "xappread_only_abcdefgh_1900000000",
        ] {
            assert!(!is_generated("app", &roles, n), "{n}");
        }
    }
}
