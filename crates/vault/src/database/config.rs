//! Connection configuration (`config/<name>`): what is stored, how a write is checked, what a
//! read shows (never the password), and the `tokio_postgres` settings derived from it.
//!
//! TLS: `sslmode=require` connects with TLS (rustls) and, stricter than libpq's `require`,
//! verifies the server's certificate and name: against the PEM certificates of the Seawall
//! field `tls_ca` when set, else the system's roots. `sslmode=disable` and `sslmode=prefer`
//! (the default) connect in plain text, as libpq's `prefer` does without client TLS: use them
//! only over loopback or a trusted network.
//!
//! The connection's user need not be a superuser. It needs `CREATEROLE` (to create, alter and
//! drop credentials' roles, and to make itself a member of one while revoking it so that
//! `REASSIGN OWNED`/`DROP OWNED` are allowed), `CONNECT` on every database where credentials
//! may own objects or hold privileges, membership of `revoke_owner` when that is set, and
//! whatever the roles' `creation_statements` grant (with `GRANT OPTION`).

use super::util::{bool_field, string_list, ttl_field};
use crate::error::VaultError;
use crate::request::Request;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::config::SslMode;

/// The only plugin this engine speaks.
pub(crate) const PLUGIN: &str = "postgresql-database-plugin";
/// Default prefix of the role names the engine creates.
pub(crate) const DEFAULT_PREFIX: &str = "seawall_";
const USER_MARK: &str = "seawall-placeholder-user";
const PASSWORD_MARK: &str = "seawall-placeholder-password";

/// A configured root connection. Stored sealed by the barrier.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Connection {
    pub plugin_name: String,
    /// With `{{username}}`/`{{password}}` placeholders; never a literal password.
    pub connection_url: String,
    pub username: String,
    pub password: String,
    /// A new root password written by `rotate-root` before `ALTER ROLE` runs; tried when the
    /// stored one is refused, so a crash in the middle never loses the root credential.
    #[serde(default)]
    pub pending_password: Option<String>,
    pub allowed_roles: Vec<String>,
    pub root_rotation_statements: Vec<String>,
    pub verify_connection: bool,
    /// Seawall: prefix of dynamic role names; the reconciler looks only at these.
    pub username_prefix: String,
    /// Seawall: who receives the objects of a revoked role (default: the root user).
    #[serde(default)]
    pub revoke_owner: Option<String>,
    pub max_open_connections: u32,
    /// Seconds; every statement on this connection is cancelled after it.
    pub statement_timeout: i64,
    /// Seawall: PEM certificates trusted for `sslmode=require` (default: the system's roots).
    #[serde(default)]
    pub tls_ca: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("connection_url", &self.connection_url)
            .field("username", &self.username)
            .field("allowed_roles", &self.allowed_roles)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Applies a `config/<name>` write to `old` (Vault keeps fields a write leaves out).
    pub fn from_request(old: Option<&Connection>, req: &Request) -> Result<Self, VaultError> {
        let d = &req.data;
        let plugin_name = match (req.str_field("plugin_name")?, old) {
            (Some(p), _) => p.to_owned(),
            (None, Some(o)) => o.plugin_name.clone(),
            (None, None) => {
                return Err(VaultError::invalid(format!(
                    "field `plugin_name` is required (`{PLUGIN}`)"
                )))
            }
        };
        if plugin_name != PLUGIN && plugin_name != "postgresql" {
            return Err(VaultError::invalid(format!(
                "plugin_name `{plugin_name}` is not supported: only `{PLUGIN}`"
            )));
        }
        let connection_url = match (req.str_field("connection_url")?, old) {
            (Some(u), _) => u.to_owned(),
            (None, Some(o)) => o.connection_url.clone(),
            (None, None) => return Err(VaultError::invalid("field `connection_url` is required")),
        };
        let pick = |name: &str, old: Option<String>| -> Result<String, VaultError> {
            Ok(req
                .str_field(name)?
                .map(str::to_owned)
                .or(old)
                .unwrap_or_default())
        };
        let username = pick("username", old.map(|o| o.username.clone()))?;
        let password = pick("password", old.map(|o| o.password.clone()))?;
        let allowed_roles = string_list(d, "allowed_roles", true)?
            .or_else(|| old.map(|o| o.allowed_roles.clone()))
            .unwrap_or_default();
        let root_rotation_statements = string_list(d, "root_rotation_statements", false)?
            .or_else(|| old.map(|o| o.root_rotation_statements.clone()))
            .unwrap_or_default();
        super::template::check("root_rotation_statements", &root_rotation_statements)?;
        let verify_connection = bool_field(d, "verify_connection")?.unwrap_or(true);
        let username_prefix = pick("username_prefix", old.map(|o| o.username_prefix.clone()))?;
        let username_prefix = if username_prefix.is_empty() {
            DEFAULT_PREFIX.to_owned()
        } else {
            username_prefix
        };
        if username_prefix.len() > 24
            || !username_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            || username_prefix.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(VaultError::invalid(format!(
                "username_prefix `{username_prefix}` must be 1-24 lower-case letters, digits or `_`, not starting with a digit"
            )));
        }
        let revoke_owner = match req.str_field("revoke_owner")? {
            Some("") => None,
            Some(o) => Some(o.to_owned()),
            None => old.and_then(|o| o.revoke_owner.clone()),
        };
        let max_open_connections = match d.get("max_open_connections") {
            None | Some(Value::Null) => old.map(|o| o.max_open_connections).unwrap_or(4),
            Some(v) => match v.as_u64() {
                Some(n) if (1..=64).contains(&n) => n as u32,
                _ => {
                    return Err(VaultError::invalid(
                        "field `max_open_connections` must be a number from 1 to 64",
                    ))
                }
            },
        };
        let statement_timeout = ttl_field(d, "statement_timeout")?
            .or(old.map(|o| o.statement_timeout))
            .unwrap_or(30);
        if !(1..=3600).contains(&statement_timeout) {
            return Err(VaultError::invalid(
                "field `statement_timeout` must be between 1s and 1h",
            ));
        }
        let tls_ca = match req.str_field("tls_ca")? {
            Some("") => None,
            Some(pem) => Some(pem.to_owned()),
            None => old.and_then(|o| o.tls_ca.clone()),
        };
        let conn = Connection {
            plugin_name: PLUGIN.to_owned(),
            connection_url,
            username,
            password,
            pending_password: old.and_then(|o| o.pending_password.clone()),
            allowed_roles,
            root_rotation_statements,
            verify_connection,
            username_prefix,
            revoke_owner,
            max_open_connections,
            statement_timeout,
            tls_ca,
        };
        conn.pg_config(&conn.password, None)?;
        conn.tls()?;
        if conn.root_user().is_empty() {
            return Err(VaultError::invalid(
                "no user to connect as: set `username` (and {{username}} in connection_url)",
            ));
        }
        Ok(conn)
    }

    /// What `GET config/<name>` shows: never the password.
    pub fn view(&self) -> Value {
        json!({
            "plugin_name": self.plugin_name,
            "plugin_version": "",
            "connection_details": {
                "connection_url": self.connection_url,
                "username": self.username,
                "max_open_connections": self.max_open_connections,
                "username_prefix": self.username_prefix,
                "revoke_owner": self.revoke_owner,
                "statement_timeout": self.statement_timeout,
                "tls_ca": self.tls_ca,
            },
            "allowed_roles": self.allowed_roles,
            "root_credentials_rotate_statements": self.root_rotation_statements,
            "password_policy": "",
            "verify_connection": self.verify_connection,
        })
    }

    /// Whether `role` may use this connection (Vault: listed, or `*`).
    pub fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|r| r == "*" || r == role)
    }

    /// The user the engine connects as.
    pub fn root_user(&self) -> String {
        if !self.username.is_empty() {
            return self.username.clone();
        }
        self.pg_config(&self.password, None)
            .ok()
            .and_then(|c| c.get_user().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Who receives a revoked role's objects.
    pub fn owner(&self) -> String {
        self.revoke_owner
            .clone()
            .unwrap_or_else(|| self.root_user())
    }

    /// The driver settings, with `password` and optionally another database.
    pub fn pg_config(
        &self,
        password: &str,
        dbname: Option<&str>,
    ) -> Result<tokio_postgres::Config, VaultError> {
        let url = self
            .connection_url
            .replace("{{username}}", USER_MARK)
            .replace("{{password}}", PASSWORD_MARK);
        let mut cfg = tokio_postgres::Config::from_str(&url)
            .map_err(|e| VaultError::invalid(format!("connection_url cannot be parsed: {e}")))?;
        match cfg.get_password() {
            None => {}
            Some(p) if p == PASSWORD_MARK.as_bytes() => {}
            Some(_) => {
                return Err(VaultError::invalid(
                    "connection_url must not contain a password: write {{password}} and set the `password` field",
                ))
            }
        }
        if !self.username.is_empty() || cfg.get_user() == Some(USER_MARK) {
            cfg.user(&self.username);
        }
        cfg.password(password);
        if let Some(db) = dbname {
            cfg.dbname(db);
        }
        if cfg.get_hosts().is_empty() {
            return Err(VaultError::invalid("connection_url names no host"));
        }
        let options = format!(
            "{} -c statement_timeout={}s -c lock_timeout={}s",
            cfg.get_options().unwrap_or_default(),
            self.statement_timeout,
            self.statement_timeout
        );
        cfg.options(options.trim_start());
        cfg.connect_timeout(Duration::from_secs(5));
        cfg.application_name("seawall-vault");
        Ok(cfg)
    }

    /// The TLS settings when the URL says `sslmode=require`; `None` for a plain connection.
    pub fn tls(&self) -> Result<Option<Arc<rustls::ClientConfig>>, VaultError> {
        let cfg = self.pg_config("", None)?;
        if cfg.get_ssl_mode() != SslMode::Require {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        match &self.tls_ca {
            Some(pem) => {
                let mut reader = std::io::BufReader::new(pem.as_bytes());
                let mut n = 0;
                for cert in rustls_pemfile::certs(&mut reader) {
                    let cert = cert.map_err(|e| {
                        VaultError::invalid(format!("tls_ca: not PEM certificates: {e}"))
                    })?;
                    roots.add(cert).map_err(|e| {
                        VaultError::invalid(format!("tls_ca: a certificate is unusable: {e}"))
                    })?;
                    n += 1;
                }
                if n == 0 {
                    return Err(VaultError::invalid(
                        "tls_ca: no PEM certificate (-----BEGIN CERTIFICATE-----) found",
                    ));
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| VaultError::Internal(format!("TLS settings: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(Arc::new(config)))
    }

    /// Where this connection points: every host and port, the database and the root user
    /// (no secret). Credentials issued through it live there.
    pub fn target(&self) -> String {
        let Ok(cfg) = self.pg_config("", None) else {
            return self.connection_url.clone();
        };
        format!(
            "{:?} {:?} {:?} {}",
            cfg.get_hosts(),
            cfg.get_ports(),
            cfg.get_dbname(),
            self.root_user()
        )
    }

    /// Host, port and database for a client's `DATABASE_URL` (no secret).
    pub fn endpoint(&self) -> (String, u16, String) {
        let Ok(cfg) = self.pg_config("", None) else {
            return (String::new(), 5432, String::new());
        };
        let host = match cfg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = cfg.get_ports().first().copied().unwrap_or(5432);
        let db = cfg
            .get_dbname()
            .map(str::to_owned)
            .unwrap_or_else(|| self.root_user());
        (host, port, db)
    }
}

impl super::DatabaseBackend {
    /// Refuses a `config/<name>` write that points the connection elsewhere (host, port,
    /// database or root user) while it has live leases: their roles would be left on the old
    /// server. With `?revoke_leases=true` the leases are revoked first, as `DELETE` does.
    /// A change of password or of any other setting is always allowed.
    pub(super) async fn check_retarget(
        &self,
        req: &Request,
        name: &str,
        old: Option<&Connection>,
        new: &Connection,
    ) -> Result<(), VaultError> {
        let Some(old) = old else {
            return Ok(());
        };
        if old.target() == new.target() {
            return Ok(());
        }
        let live = self.leases_of_connection(name);
        if live.is_empty() {
            return Ok(());
        }
        if !super::revoke_asked(req) {
            return Err(VaultError::invalid(format!(
                "connection `{name}` still has {} live leases on its current host/port/database/user; revoke them first or pass revoke_leases=true to change where it points",
                live.len()
            )));
        }
        for l in &live {
            self.leases.revoke(&l.id).await.map_err(|e| {
                VaultError::Upstream(format!(
                    "connection `{name}` unchanged: revoking lease `{}` failed: {e}",
                    l.id
                ))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Operation;

    fn req(data: Value) -> Request {
        Request::new(Operation::Update, "database/", "config/pg").with_data(data)
    }

    #[test]
    fn a_write_is_checked_and_the_read_hides_the_password() {
        let c = Connection::from_request(
            None,
            &req(json!({
                "plugin_name": PLUGIN,
                "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/app?sslmode=disable",
                "username": "root", "password": "s3cret-pass", "allowed_roles": "ro, rw"
            })),
        )
        .unwrap();
        assert_eq!(c.allowed_roles, vec!["ro", "rw"]);
        assert!(c.allows("rw") && !c.allows("x"));
        assert!(!c.view().to_string().contains("s3cret-pass"));
        assert!(!format!("{c:?}").contains("s3cret-pass"));
        let cfg = c.pg_config("s3cret-pass", Some("other")).unwrap();
        assert_eq!(cfg.get_user(), Some("root"));
        assert_eq!(cfg.get_dbname(), Some("other"));
        assert_eq!(c.endpoint(), ("127.0.0.1".into(), 5432, "app".into()));
        // A later write keeps what it leaves out.
        let c2 = Connection::from_request(Some(&c), &req(json!({"allowed_roles": ["*"]}))).unwrap();
        assert_eq!(c2.password, "s3cret-pass");
        assert!(c2.allows("anything"));
    }

    #[test]
    fn bad_connections_are_refused() {
        let base = |url: &str| json!({"plugin_name": PLUGIN, "connection_url": url, "username": "u", "password": "p"});
        for (data, want) in [
            (
                base("postgresql://u:literal@h/db"),
                "must not contain a password",
            ),
            (
                json!({"plugin_name": PLUGIN, "connection_url": "postgresql://{{username}}@h/db?sslmode=require", "username": "u", "tls_ca": "not a pem"}),
                "tls_ca: no PEM certificate",
            ),
            (base("not a url ="), "cannot be parsed"),
            (
                json!({"connection_url": "postgresql://h/db"}),
                "plugin_name",
            ),
            (
                json!({"plugin_name": "mysql-database-plugin", "connection_url": "x"}),
                "not supported",
            ),
        ] {
            let e = Connection::from_request(None, &req(data)).unwrap_err();
            assert!(e.to_string().contains(want), "{e} lacks {want}");
        }
    }
}
