//! Numbered schema migrations for SQLite.
//!
//! Append new migrations at the end; never edit one that has shipped. A database whose
//! recorded version is higher than the last one here was written by a newer binary and is
//! refused rather than guessed at.

use super::query;
use crate::StoreError;
use rusqlite::Connection;

/// (version, name, SQL), in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "meta and audit",
        include_str!("migrations/0001_meta_audit.sql"),
    ),
    (2, "identity", include_str!("migrations/0002_identity.sql")),
    (3, "supply", include_str!("migrations/0003_supply.sql")),
    (4, "vault", include_str!("migrations/0004_vault.sql")),
];

pub(super) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at INTEGER NOT NULL DEFAULT (strftime('%s','now'))
         )",
    )
    .map_err(query)?;
    let current: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(query)?;
    let supported = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > supported {
        return Err(StoreError::TooNew {
            found: current,
            supported,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction().map_err(query)?;
        tx.execute_batch(sql).map_err(query)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
            rusqlite::params![version, name],
        )
        .map_err(query)?;
        tx.commit().map_err(query)?;
    }
    Ok(())
}
