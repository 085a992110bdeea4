//! The reconciler: roles in `pg_roles` that carry the connection's prefix but belong to no
//! lease (after a restore from backup, a lost revocation, a crash in the wrong place) are
//! dropped the way a revocation drops them. A role whose lease is still `Pending` is being
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
                "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
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
        let roles: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
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
