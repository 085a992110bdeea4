//! Shared set-up of the PostgreSQL tests: a test's own root user, engine and helpers.
use seawall_audit::AuditLog;
use seawall_core::clock::{SharedClock, SystemClock};
use seawall_core::event::{EventSink, SecurityEvent};
use seawall_core::seal::{DataKey, Sealer};
use seawall_store::sqlite::SqliteStore;
use seawall_store::Store;
use seawall_vault::backend::{Backend, MountEntry};
use seawall_vault::barrier::Barrier;
use seawall_vault::database::DatabaseBackend;
use seawall_vault::lease::LeaseManager;
use seawall_vault::request::{Operation, Request, Response};
use seawall_vault::VaultError;
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use tokio_postgres::{Client, NoTls};

pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Default)]
pub struct Events(pub Mutex<Vec<SecurityEvent>>);

impl EventSink for Events {
    fn publish(&self, event: SecurityEvent) {
        self.0.lock().unwrap().push(event);
    }
}

pub struct Env {
    pub url: String,
    pub admin: Client,
    pub backend: Arc<DatabaseBackend>,
    pub leases: Arc<LeaseManager>,
    pub barrier: Barrier,
    pub mount: MountEntry,
    pub events: Arc<Events>,
    /// A superuser made for this test, used as the engine's root user.
    pub root: String,
    pub root_password: String,
    /// This test's role-name prefix.
    pub prefix: String,
    pub tag: String,
}

pub fn tag() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| (b'a' + rng.gen_range(0..26u8)) as char)
        .collect()
}

pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A URL for `user`/`password` on database `db` of the test cluster.
pub fn url_for(base: &str, user: &str, password: &str, db: Option<&str>) -> String {
    let cfg = tokio_postgres::Config::from_str(base).unwrap();
    let host = match &cfg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("the test URL must name a TCP host, not {other:?}"),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let db = db
        .map(str::to_owned)
        .unwrap_or_else(|| cfg.get_dbname().unwrap_or("postgres").to_owned());
    format!("postgresql://{user}:{password}@{host}:{port}/{db}?sslmode=disable")
}

pub async fn setup() -> Option<(tokio::sync::MutexGuard<'static, ()>, Env)> {
    let Ok(url) = std::env::var("SEAWALL_TEST_PG_URL") else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("SEAWALL_TEST_PG_URL is not set under CI=true: start a cluster with scripts/pg-test.sh start");
        }
        eprintln!("skipped: SEAWALL_TEST_PG_URL is not set (export SEAWALL_TEST_PG_URL=\"$(scripts/pg-test.sh start)\")");
        return None;
    };
    let guard = SERIAL.lock().await;
    let admin = connect(&url).await.expect("connect to SEAWALL_TEST_PG_URL");
    let tag = tag();
    let root = format!("swroot_{tag}");
    let root_password = format!("rootpw{tag}{}", tag.to_uppercase());
    admin
        .batch_execute(&format!(
            "CREATE ROLE {root} LOGIN SUPERUSER PASSWORD '{root_password}'"
        ))
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let sealer = Arc::new(Sealer::new(DataKey::generate()));
    let clock: SharedClock = Arc::new(SystemClock);
    let barrier = Barrier::new(store.clone(), sealer.clone());
    let audit = AuditLog::open(store, &sealer, clock.clone()).unwrap();
    let events = Arc::new(Events::default());
    let leases = LeaseManager::open(
        barrier.clone(),
        clock.clone(),
        events.clone(),
        audit.clone(),
    )
    .unwrap();
    let mount = MountEntry {
        path: "database/".into(),
        kind: "database".into(),
        uuid: format!("uuid-{tag}"),
        accessor: format!("database_{tag}"),
        description: String::new(),
        options: Default::default(),
    };
    let backend = DatabaseBackend::new(
        &mount,
        barrier.clone(),
        leases.clone(),
        clock,
        events.clone(),
        audit,
    );
    let env = Env {
        url,
        admin,
        backend,
        leases,
        barrier,
        mount,
        events,
        root,
        root_password,
        prefix: format!("sw{tag}_"),
        tag,
    };
    Some((guard, env))
}

impl Env {
    pub async fn call(
        &self,
        op: Operation,
        rel: &str,
        data: Value,
    ) -> Result<Response, VaultError> {
        self.backend
            .handle(&Request::new(op, &self.mount.path, rel).with_data(data))
            .await
    }

    pub async fn write(&self, rel: &str, data: Value) -> Result<Response, VaultError> {
        self.call(Operation::Update, rel, data).await
    }

    pub async fn read(&self, rel: &str) -> Result<Response, VaultError> {
        self.call(Operation::Read, rel, json!({})).await
    }

    /// Connection `pg` as this test's root user, allowing every role.
    pub async fn configure(&self) {
        let url = url_for(&self.url, "{{username}}", "{{password}}", None);
        self.write(
            "config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": url,
                "username": self.root,
                "password": self.root_password,
                "allowed_roles": "*",
                "username_prefix": self.prefix,
            }),
        )
        .await
        .expect("configure connection");
    }

    pub async fn role(&self, name: &str, extra: Value) {
        let mut data = json!({
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                "GRANT CREATE ON SCHEMA public TO \"{{name}}\""
            ],
            "default_ttl": "1h",
            "max_ttl": "2h",
        });
        for (k, v) in extra.as_object().unwrap() {
            data[k] = v.clone();
        }
        self.write(&format!("roles/{name}"), data)
            .await
            .expect("write role");
    }

    pub async fn creds(&self, role: &str) -> (String, String, String) {
        let r = self.read(&format!("creds/{role}")).await.expect("creds");
        let d = r.data.unwrap();
        (
            d["username"].as_str().unwrap().to_owned(),
            d["password"].as_str().unwrap().to_owned(),
            r.lease.unwrap().lease_id,
        )
    }

    pub async fn login(&self, user: &str, password: &str) -> Result<Client, tokio_postgres::Error> {
        connect(&url_for(&self.url, user, password, None)).await
    }

    pub async fn role_exists(&self, user: &str) -> bool {
        self.admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&user])
            .await
            .unwrap()
            .is_some()
    }

    /// Every stored key and value of this mount.
    pub fn snapshot(&self) -> Vec<(String, Value)> {
        let prefix = format!("db/{}/", self.mount.uuid);
        self.barrier
            .keys(&prefix)
            .unwrap()
            .into_iter()
            .map(|k| {
                let v = self.barrier.get::<Value>(&k).unwrap().unwrap();
                (k, v)
            })
            .collect()
    }

    /// Drops what the test made (the engine's leases are revoked first).
    pub async fn cleanup(self) {
        let _ = self.leases.revoke_prefix("database/").await;
        let admin = connect(&self.url).await.unwrap();
        let rows = admin
            .query(
                "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1) OR rolname LIKE $2",
                &[&self.prefix, &format!("%{}%", self.tag)],
            )
            .await
            .unwrap();
        for r in rows {
            let name: String = r.get(0);
            if name == self.root {
                continue;
            }
            let _ = admin
                .batch_execute(&format!(
                    "REASSIGN OWNED BY \"{name}\" TO postgres; DROP OWNED BY \"{name}\"; DROP ROLE IF EXISTS \"{name}\""
                ))
                .await;
        }
        if let Err(e) = admin
            .batch_execute(&format!(
                "REASSIGN OWNED BY {r} TO postgres; DROP OWNED BY {r}; DROP ROLE IF EXISTS {r}",
                r = self.root
            ))
            .await
        {
            eprintln!("cleanup: {e:?}");
        }
    }
}

pub fn pg_script() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test.sh");
    let ours = std::process::Command::new(&p).arg("url").output().ok()?;
    let url = String::from_utf8_lossy(&ours.stdout).trim().to_owned();
    (ours.status.success() && Some(url) == std::env::var("SEAWALL_TEST_PG_URL").ok()).then_some(p)
}

pub async fn valid_until(c: &Client, user: &str) -> i64 {
    c.query_one(
        "SELECT extract(epoch FROM rolvaliduntil)::bigint FROM pg_roles WHERE rolname = $1",
        &[&user],
    )
    .await
    .unwrap()
    .get(0)
}

pub fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
