//! The embedded SQLite store: one database file in the data directory, in WAL mode.
//!
//! One connection behind a mutex serialises writers, which SQLite would do anyway; statements
//! are short. Schema changes are numbered migrations applied in order at open, each inside its
//! own transaction, and recorded in `schema_migrations`.

mod audit;
mod identity;
mod meta;
mod migrations;
mod supply;
mod vault;

use crate::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// The SQLite implementation of every storage trait.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Read-only connections for the hottest reads (the vault's), so they do not queue behind
    /// a write transaction or a WAL checkpoint on `conn`: in WAL mode readers and the writer
    /// do not block each other. Empty for an in-memory database, which a second connection
    /// could not see.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
}

/// How many read-only connections a file database gets.
const READERS: usize = 2;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Unavailable(format!("`{}`: {e}", path.display())))?;
        // Owner-only, like the directory: SQLite gives its `-wal` and `-shm` files the same mode.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| {
                    StoreError::Unavailable(format!(
                        "`{}`: cannot make it private: {e}",
                        path.display()
                    ))
                },
            )?;
        }
        let mut store = Self::init(conn)?;
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| StoreError::Unavailable(format!("`{}`: {e}", path.display())))?;
            reader
                .busy_timeout(std::time::Duration::from_secs(5))
                .map_err(query)?;
            store.readers.push(Mutex::new(reader));
        }
        Ok(store)
    }

    /// An in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn =
            Connection::open_in_memory().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Self::init(conn)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(query)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(query)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(query)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(query)?;
        migrations::apply(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            next_reader: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// A connection for reads that need no transaction: one of the read-only connections in
    /// turn (the first free one), else the main connection.
    pub(crate) fn reader(&self) -> MutexGuard<'_, Connection> {
        if self.readers.is_empty() {
            return self.conn();
        }
        let start = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(guard) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return guard;
            }
        }
        self.readers[start % self.readers.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The connection, for this module's implementations.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back an
        // unfinished transaction on the next statement, so a poisoned lock is safe to take.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Maps a SQLite error to a store error; unique-constraint violations become conflicts.
pub(crate) fn query(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return StoreError::Conflict(msg.clone().unwrap_or_else(|| "row".into()));
        }
    }
    StoreError::Query(e.to_string())
}
