//! Root clients: a small pool per configured connection, reconnecting when a client breaks,
//! plus one-off clients for other databases of the same server (revocation needs them).

use super::config::Connection;
use super::util::scrub;
use crate::error::VaultError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long opening a connection may take in all (the driver's own timeout covers each
/// address; this also covers authentication).
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// Turns a driver error into one line, without any of `secrets`.
pub(crate) fn describe(e: &tokio_postgres::Error, secrets: &[&str]) -> String {
    let msg = match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                m.push_str(&format!(" ({})", d.replace('\n', "; ")));
            }
            m
        }
        None => {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                m.push_str(&format!(": {s}"));
                src = s.source();
            }
            m
        }
    };
    scrub(&msg, secrets)
}

/// Whether the server refused the password.
pub(crate) fn is_auth_failure(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD)
        || e.code() == Some(&tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
}

/// Whether an error is worth an immediate retry: concurrent `GRANT`s or `DROP OWNED`s on the
/// same catalog row ("tuple concurrently updated"), a serialization failure or a deadlock.
pub(crate) fn transient(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    match e.as_db_error() {
        Some(db) => {
            db.code() == &SqlState::T_R_SERIALIZATION_FAILURE
                || db.code() == &SqlState::T_R_DEADLOCK_DETECTED
                || db.message() == "tuple concurrently updated"
        }
        None => false,
    }
}

/// Runs `stmts` in one transaction, retrying it a few times (with a short random pause) when
/// it failed for a [`transient`] reason.
pub(crate) async fn in_transaction(
    client: &mut Client,
    stmts: &[String],
) -> Result<(), tokio_postgres::Error> {
    let mut attempt: u64 = 0;
    loop {
        let result = async {
            let tx = client.transaction().await?;
            for s in stmts {
                tx.batch_execute(s).await?;
            }
            tx.commit().await
        }
        .await;
        match result {
            Err(e) if transient(&e) && attempt < 6 => {
                attempt += 1;
                let pause = rand::Rng::gen_range(&mut rand::rngs::OsRng, 5..25) * attempt;
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}

/// Why connecting failed; `auth` tells a refused password from an unreachable server.
pub(crate) struct ConnectError {
    pub auth: bool,
    pub error: VaultError,
}

/// Opens one client to `cfg`.
pub(crate) async fn connect(
    name: &str,
    cfg: &tokio_postgres::Config,
    tls: Option<&Arc<rustls::ClientConfig>>,
    password: &str,
) -> Result<Client, ConnectError> {
    let fail = |auth: bool, msg: String| ConnectError {
        auth,
        error: VaultError::Upstream(format!("database connection `{name}`: {msg}")),
    };
    let label = name.to_owned();
    let closed = move |e: tokio_postgres::Error| {
        tracing::debug!(connection = %label, error = %describe(&e, &[]), "database connection closed");
    };
    let result = match tls {
        None => tokio::time::timeout(CONNECT_LIMIT, cfg.connect(NoTls))
            .await
            .map(|r| {
                r.map(|(client, conn)| {
                    tokio::spawn(async move { conn.await.map_err(closed) });
                    client
                })
            }),
        Some(tls) => {
            let tls = MakeRustlsConnect::new((**tls).clone());
            tokio::time::timeout(CONNECT_LIMIT, cfg.connect(tls))
                .await
                .map(|r| {
                    r.map(|(client, conn)| {
                        tokio::spawn(async move { conn.await.map_err(closed) });
                        client
                    })
                })
        }
    };
    match result {
        Err(_) => Err(fail(false, "connecting timed out".into())),
        Ok(Err(e)) => Err(fail(is_auth_failure(&e), describe(&e, &[password]))),
        Ok(Ok(client)) => Ok(client),
    }
}

/// A pool of root clients for one connection.
pub(crate) struct Pool {
    name: String,
    cfg: tokio_postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
    fingerprint: [u8; 32],
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
}

/// A client on loan from a [`Pool`]; goes back when dropped unless it broke.
pub(crate) struct Pooled {
    client: Option<Client>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for Pooled {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("client present until drop")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("client present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if !c.is_closed() {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.push(c);
                }
            }
        }
    }
}

impl Pool {
    /// A client: an idle one that still works, or a new one.
    pub async fn get(self: &Arc<Self>, password: &str) -> Result<Pooled, ConnectError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ConnectError {
                auth: false,
                error: VaultError::Internal("connection pool closed".into()),
            })?;
        let reused = {
            let mut idle = self.idle.lock().map_err(|_| ConnectError {
                auth: false,
                error: VaultError::Internal("connection pool lock poisoned".into()),
            })?;
            idle.retain(|c| !c.is_closed());
            idle.pop()
        };
        let client = match reused {
            Some(c) => c,
            None => connect(&self.name, &self.cfg, self.tls.as_ref(), password).await?,
        };
        Ok(Pooled {
            client: Some(client),
            pool: self.clone(),
            _permit: permit,
        })
    }
}

/// The pools of every connection of a mount.
#[derive(Default)]
pub(crate) struct Pools {
    map: Mutex<HashMap<String, Arc<Pool>>>,
}

fn fingerprint(conn: &Connection, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    let ca = conn.tls_ca.as_deref().unwrap_or_default();
    for part in [conn.connection_url.as_str(), &conn.username, password, ca] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(conn.statement_timeout.to_be_bytes());
    h.update(conn.max_open_connections.to_be_bytes());
    h.finalize().into()
}

impl Pools {
    /// The pool of `name` for these settings and password (a changed setting or password
    /// replaces the pool; its clients close as they are returned).
    pub fn pool(
        &self,
        name: &str,
        conn: &Connection,
        password: &str,
    ) -> Result<Arc<Pool>, VaultError> {
        let fp = fingerprint(conn, password);
        let mut map = self
            .map
            .lock()
            .map_err(|_| VaultError::Internal("connection pools lock poisoned".into()))?;
        if let Some(p) = map.get(name) {
            if p.fingerprint == fp {
                return Ok(p.clone());
            }
        }
        let pool = Arc::new(Pool {
            name: name.to_owned(),
            cfg: conn.pg_config(password, None)?,
            tls: conn.tls()?,
            fingerprint: fp,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(conn.max_open_connections as usize)),
        });
        map.insert(name.to_owned(), pool.clone());
        Ok(pool)
    }

    /// Drops the pool of `name` (after `reset`, a deleted connection or a new root password).
    pub fn reset(&self, name: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(name);
        }
    }
}
