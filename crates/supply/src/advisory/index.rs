//! The advisory index: a SQLite file holding each OSV record once, by id, with lookup tables
//! from `(ecosystem, normalised package name)` and from aliases to advisory ids.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::osv::OsvRecord;
use crate::model::Ecosystem;

/// Where `seawall advisories import` and `seawall scan` keep the index unless told otherwise.
pub const DEFAULT_DB_PATH: &str = ".seawall/advisories.db";

/// Bumped when the tables change; an index of another version is refused, not misread.
const SCHEMA_VERSION: i64 = 1;

/// The index could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// SQLite failed.
    #[error("advisory index `{path}`: {source}")]
    Sqlite {
        /// The index file.
        path: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored record no longer parses (the file was changed by something else).
    #[error("advisory index `{path}` holds an unreadable record `{id}`")]
    Corrupt {
        /// The index file.
        path: String,
        /// The record id.
        id: String,
    },
    /// The file was written by another version of Seawall.
    #[error("advisory index `{path}` has schema version {found}, expected {SCHEMA_VERSION}")]
    SchemaVersion {
        /// The index file.
        path: String,
        /// The version found.
        found: i64,
    },
    /// The directory for the index could not be created.
    #[error("cannot create the directory for `{path}`: {source}")]
    Directory {
        /// The index file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A stored advisory's change stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    pub modified: String,
}

/// The advisory index.
pub struct AdvisoryIndex {
    conn: Connection,
    path: String,
}

impl std::fmt::Debug for AdvisoryIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryIndex")
            .field("path", &self.path)
            .finish()
    }
}

impl AdvisoryIndex {
    /// Opens (creating if needed, with its parent directory) the index at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, IndexError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| IndexError::Directory {
                path: shown.clone(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| sqlite(&shown, source))?;
        Self::init(conn, shown)
    }

    /// Opens a fresh index in memory (tests, one-shot scans).
    pub fn open_in_memory() -> Result<Self, IndexError> {
        let conn = Connection::open_in_memory().map_err(|source| sqlite(":memory:", source))?;
        Self::init(conn, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<Self, IndexError> {
        let found: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|source| sqlite(&path, source))?;
        if found != 0 && found != SCHEMA_VERSION {
            return Err(IndexError::SchemaVersion { path, found });
        }
        // An index that is already set up is opened without writing to it, so that scans
        // stay read-only and pay no sync.
        if found == SCHEMA_VERSION {
            return Ok(Self { conn, path });
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS advisory (
                 id TEXT PRIMARY KEY,
                 modified TEXT NOT NULL,
                 withdrawn INTEGER NOT NULL,
                 record TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS affected (
                 advisory_id TEXT NOT NULL,
                 ecosystem TEXT NOT NULL,
                 name TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS affected_by_package ON affected (ecosystem, name);
             CREATE INDEX IF NOT EXISTS affected_by_advisory ON affected (advisory_id);
             CREATE TABLE IF NOT EXISTS alias (
                 alias TEXT NOT NULL,
                 advisory_id TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS alias_by_alias ON alias (alias);
             CREATE INDEX IF NOT EXISTS alias_by_advisory ON alias (advisory_id);",
        )
        .map_err(|source| sqlite(&path, source))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|source| sqlite(&path, source))?;
        Ok(Self { conn, path })
    }

    /// The number of stored advisories, withdrawn ones included.
    pub fn len(&self) -> Result<usize, IndexError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM advisory", [], |r| r.get(0))
            .map_err(|source| sqlite(&self.path, source))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Whether the index holds no advisory.
    pub fn is_empty(&self) -> Result<bool, IndexError> {
        Ok(self.len()? == 0)
    }

    /// The stored record with this id.
    pub fn record(&self, id: &str) -> Result<Option<OsvRecord>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT record FROM advisory WHERE id = ?1")
            .map_err(|source| sqlite(&self.path, source))?;
        let text: Option<String> = stmt
            .query_row([id], |r| r.get(0))
            .optional()
            .map_err(|source| sqlite(&self.path, source))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|_| IndexError::Corrupt {
                path: self.path.clone(),
                id: id.to_owned(),
            })
        })
        .transpose()
    }

    /// Ids of the advisories, not withdrawn, that name this package.
    pub fn advisory_ids_for(
        &self,
        ecosystem: Ecosystem,
        normalized_name: &str,
    ) -> Result<Vec<String>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT advisory_id FROM affected WHERE ecosystem = ?1 AND name = ?2",
            )
            .map_err(|source| sqlite(&self.path, source))?;
        let rows = stmt
            .query_map(params![ecosystem.osv_name(), normalized_name], |r| r.get(0))
            .map_err(|source| sqlite(&self.path, source))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(|source| sqlite(&self.path, source))
    }

    /// Every `(ecosystem, normalised name, advisory id)` row of advisories not withdrawn, for
    /// matching many packages at once.
    pub fn package_table(&self) -> Result<Vec<(Ecosystem, String, String)>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ecosystem, name, advisory_id FROM affected")
            .map_err(|source| sqlite(&self.path, source))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|source| sqlite(&self.path, source))?;
        let mut out = Vec::new();
        for row in rows {
            let (ecosystem, name, id) = row.map_err(|source| sqlite(&self.path, source))?;
            if let Some(ecosystem) = super::osv::parse_ecosystem(&ecosystem) {
                out.push((ecosystem, name, id));
            }
        }
        Ok(out)
    }

    /// Ids of the advisories that list `alias` among their aliases, or have it as id.
    pub fn ids_for_alias(&self, alias: &str) -> Result<Vec<String>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT advisory_id FROM alias WHERE alias = ?1
                 UNION SELECT id FROM advisory WHERE id = ?1",
            )
            .map_err(|source| sqlite(&self.path, source))?;
        let rows = stmt
            .query_map([alias], |r| r.get(0))
            .map_err(|source| sqlite(&self.path, source))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(|source| sqlite(&self.path, source))
    }

    pub(super) fn stamp(&self, id: &str) -> Result<Option<Stamp>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT modified FROM advisory WHERE id = ?1")
            .map_err(|source| sqlite(&self.path, source))?;
        stmt.query_row([id], |r| {
            Ok(Stamp {
                modified: r.get(0)?,
            })
        })
        .optional()
        .map_err(|source| sqlite(&self.path, source))
    }

    /// Replaces the stored record and its lookup rows.
    pub(super) fn put(&self, record: &OsvRecord) -> Result<(), IndexError> {
        let map = |source| sqlite(&self.path, source);
        let text = serde_json::to_string(record).map_err(|_| IndexError::Corrupt {
            path: self.path.clone(),
            id: record.id.clone(),
        })?;
        let withdrawn = record.is_withdrawn();
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO advisory (id, modified, withdrawn, record)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![record.id, record.modified, withdrawn, text]))
            .map_err(map)?;
        for table in [
            "DELETE FROM affected WHERE advisory_id = ?1",
            "DELETE FROM alias WHERE advisory_id = ?1",
        ] {
            self.conn
                .prepare_cached(table)
                .and_then(|mut s| s.execute([&record.id]))
                .map_err(map)?;
        }
        // A withdrawn record keeps no package rows: nothing can match it.
        if !withdrawn {
            let mut seen = std::collections::BTreeSet::new();
            for (ecosystem, name, _) in record.packages() {
                if seen.insert((ecosystem, name.clone())) {
                    self.conn
                        .prepare_cached(
                            "INSERT INTO affected (advisory_id, ecosystem, name)
                             VALUES (?1, ?2, ?3)",
                        )
                        .and_then(|mut s| s.execute(params![record.id, ecosystem.osv_name(), name]))
                        .map_err(map)?;
                }
            }
        }
        for alias in &record.aliases {
            self.conn
                .prepare_cached("INSERT INTO alias (alias, advisory_id) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![alias, record.id]))
                .map_err(map)?;
        }
        Ok(())
    }

    /// Runs `f` inside one read transaction: one consistent view of the index, and one lock
    /// instead of one per statement. Nested use runs `f` in the outer transaction.
    pub fn read<T>(&self, f: impl FnOnce(&Self) -> Result<T, IndexError>) -> Result<T, IndexError> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(|source| sqlite(&self.path, source))?;
        let result = f(self);
        // A read transaction has nothing to keep; ending it cannot lose data.
        let ended = self
            .conn
            .execute_batch("COMMIT")
            .map_err(|source| sqlite(&self.path, source));
        let value = result?;
        ended?;
        Ok(value)
    }

    pub(super) fn begin(&self) -> Result<(), IndexError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|source| sqlite(&self.path, source))
    }

    pub(super) fn commit(&self) -> Result<(), IndexError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|source| sqlite(&self.path, source))
    }

    /// The index file, as given.
    pub fn path(&self) -> &str {
        &self.path
    }
}

fn sqlite(path: &str, source: rusqlite::Error) -> IndexError {
    IndexError::Sqlite {
        path: path.to_owned(),
        source,
    }
}
