//! `seawall exec`: runs a command with credentials bound to its life.
//!
//! `--db [MOUNT/]ROLE` reads `MOUNT/creds/ROLE` (a new database role and its lease), shortens the
//! lease to `--ttl` at once and renews it every third of that while the command runs, hands the
//! credential over (environment variables, or a 0600 JSON file with `--db-file`), and revokes
//! the lease the moment the command ends, however it ends. If `seawall exec` itself is killed
//! with SIGKILL, the short TTL makes the server revoke the credential soon after. `--secret`
//! adds fields of KV version 2 secrets as environment variables.
//!
//! The command stays in the terminal's foreground process group, so keys like Ctrl-C reach it
//! directly; signals sent to `seawall exec` by other processes (SIGINT, SIGTERM, SIGHUP,
//! SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH) are forwarded to it. The parent's vault token is not
//! passed on. The exit code is the command's, or 128 + the signal that killed it.

use super::exec_child::{self, Outcome};
use super::vault_client::{encode_path, encode_segment, parse_duration, ApiError, VaultClient};
use crate::cli::{ExecArgs, GlobalArgs};
use seawall_core::auth::SecretString;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The lease TTL while the command runs, unless `--ttl` says otherwise.
const DEFAULT_TTL: u64 = 60;
/// Shorter TTLs leave too little time to renew between two renewals.
const MIN_TTL: u64 = 3;
/// Environment variables the database credential sets (without `--db-file`).
const DB_VARS: [&str; 6] = [
    "PGUSER",
    "PGPASSWORD",
    "DATABASE_URL",
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
];
/// The variable naming the credential file with `--db-file`.
const DB_FILE_VAR: &str = "SEAWALL_DB_FILE";

/// `--db`: which engine mount and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSpec {
    pub mount: String,
    pub role: String,
}

/// `--secret MOUNT/PATH#FIELD=ENV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub mount: String,
    pub path: String,
    pub field: String,
    pub env: String,
}

/// The validated command line.
#[derive(Debug)]
struct Plan {
    db: Option<DbSpec>,
    ttl: u64,
    db_file: Option<PathBuf>,
    secrets: Vec<SecretSpec>,
    command: Vec<OsString>,
}

/// One database credential as `creds/ROLE` returns it.
struct DbCredential {
    username: String,
    password: SecretString,
    host: Option<String>,
    port: Option<String>,
    database: Option<String>,
}

impl std::fmt::Debug for DbCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCredential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A lease as the server acknowledged it.
#[derive(Debug, Clone)]
pub struct Lease {
    pub id: String,
    pub duration: u64,
    pub renewable: bool,
}

pub fn run(global: &GlobalArgs, args: ExecArgs) -> anyhow::Result<ExitCode> {
    let plan = plan(&args)?;
    // Caught from the start: a Ctrl-C or SIGTERM while credentials are being fetched must not
    // leave a lease behind; it stops the command from starting instead.
    let signals = exec_child::catch_forwarded_signals()?;
    let client = Arc::new(VaultClient::connect(global, &args.vault)?);
    let mut env = read_secrets(&client, &plan.secrets)?;
    let Some(db) = &plan.db else {
        let outcome = exec_child::run(&plan.command, child_env(&env), signals)?;
        return Ok(outcome.exit_code());
    };
    let (mut lease, cred) = issue(&client, db)?;
    // From here on the lease is revoked on every path out.
    let outcome = with_lease(&client, &plan, &mut lease, &cred, &mut env, signals);
    revoke(&client, &lease);
    Ok(outcome?.exit_code())
}

/// Everything between issuing the credential and revoking it.
fn with_lease(
    client: &Arc<VaultClient>,
    plan: &Plan,
    lease: &mut Lease,
    cred: &DbCredential,
    env: &mut Vec<(String, SecretString)>,
    signals: exec_child::Signals,
) -> anyhow::Result<Outcome> {
    shorten(client, lease, plan.ttl);
    let _file = match &plan.db_file {
        Some(path) => {
            let file = DbFile::create(path, cred, &lease.id)?;
            let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            env.push((
                DB_FILE_VAR.to_string(),
                SecretString::new(abs.to_string_lossy()),
            ));
            Some(file)
        }
        None => {
            env.extend(db_env(cred));
            None
        }
    };
    let renewer = lease
        .renewable
        .then(|| super::exec_renew::Renewer::spawn(client.clone(), lease.clone(), plan.ttl));
    let outcome = exec_child::run(&plan.command, child_env(env), signals);
    if let Some(r) = renewer {
        r.stop();
    }
    outcome
}

/// Checks the command line; every error names the argument and what is wrong.
fn plan(args: &ExecArgs) -> anyhow::Result<Plan> {
    anyhow::ensure!(
        !args.command.is_empty(),
        "no command to run: seawall exec --db ROLE -- COMMAND ARGS..."
    );
    anyhow::ensure!(
        args.db.is_some() || !args.secrets.is_empty(),
        "nothing to hand to the command: give --db ROLE or --secret MOUNT/PATH#FIELD=ENV"
    );
    let db = args.db.as_deref().map(parse_db).transpose()?;
    let ttl = match &args.ttl {
        Some(t) => parse_duration(t).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?,
        None => DEFAULT_TTL,
    };
    anyhow::ensure!(
        ttl >= MIN_TTL,
        "--ttl `{}` is too short: at least {MIN_TTL}s, so the lease can be renewed in time",
        args.ttl.as_deref().unwrap_or_default()
    );
    let secrets = args
        .secrets
        .iter()
        .map(|s| parse_secret(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (i, s) in secrets.iter().enumerate() {
        anyhow::ensure!(
            !secrets[..i].iter().any(|o| o.env == s.env),
            "--secret: `{}` is set twice",
            s.env
        );
        anyhow::ensure!(
            db.is_none() || !(DB_VARS.contains(&s.env.as_str()) || s.env == DB_FILE_VAR),
            "--secret: `{}` is set by --db already",
            s.env
        );
    }
    Ok(Plan {
        db,
        ttl,
        db_file: args.db_file.clone(),
        secrets,
        command: args.command.clone(),
    })
}

/// A name Vault accepts as a role, mount or path segment, and that cannot change the path.
fn check_segment(what: &str, spec: &str, segment: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !segment.is_empty() && segment != "." && segment != "..",
        "{what} `{spec}` has an empty, `.` or `..` path segment"
    );
    anyhow::ensure!(
        segment
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"?#%\\".contains(c)),
        "{what} `{spec}`: `{segment}` holds a space, control character or one of ?#%\\"
    );
    Ok(())
}

/// `[MOUNT/]ROLE`: the role is the last segment, the mount everything before (`database`).
pub fn parse_db(spec: &str) -> anyhow::Result<DbSpec> {
    let (mount, role) = match spec.rsplit_once('/') {
        Some((m, r)) => (m, r),
        None => ("database", spec),
    };
    anyhow::ensure!(!role.is_empty(), "--db `{spec}` names no role");
    for seg in mount.split('/').chain([role]) {
        check_segment("--db", spec, seg)?;
    }
    Ok(DbSpec {
        mount: mount.to_string(),
        role: role.to_string(),
    })
}

/// `MOUNT/PATH#FIELD=ENV`: the mount is the first segment (`secret/app/db#password=PW`).
pub fn parse_secret(spec: &str) -> anyhow::Result<SecretSpec> {
    let usage = "expected MOUNT/PATH#FIELD=ENV, e.g. secret/app/db#password=DB_PASSWORD";
    let (left, env) = spec
        .rsplit_once('=')
        .ok_or_else(|| anyhow::anyhow!("--secret `{spec}` has no `=ENV`: {usage}"))?;
    let (location, field) = left
        .split_once('#')
        .ok_or_else(|| anyhow::anyhow!("--secret `{spec}` has no `#FIELD`: {usage}"))?;
    let (mount, path) = location
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--secret `{spec}` has no MOUNT/PATH: {usage}"))?;
    anyhow::ensure!(!field.is_empty(), "--secret `{spec}` names no field");
    anyhow::ensure!(
        valid_env_name(env),
        "--secret `{spec}`: `{env}` is not an environment variable name (letters, digits, _)"
    );
    let path = path.trim_end_matches('/');
    for seg in std::iter::once(mount).chain(path.split('/')) {
        check_segment("--secret", spec, seg)?;
    }
    Ok(SecretSpec {
        mount: mount.to_string(),
        path: path.to_string(),
        field: field.to_string(),
        env: env.to_string(),
    })
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads every `--secret` field (KV version 2), before any credential is issued.
fn read_secrets(
    client: &VaultClient,
    specs: &[SecretSpec],
) -> anyhow::Result<Vec<(String, SecretString)>> {
    let mut out = Vec::new();
    for s in specs {
        let path = format!("{}/data/{}", encode_segment(&s.mount), encode_path(&s.path));
        let body = client.read(&path)?;
        let name = format!("{}/{}", s.mount, s.path);
        let data = body.pointer("/data/data").unwrap_or(&Value::Null);
        anyhow::ensure!(
            data.is_object(),
            "secret `{name}` has no current version (deleted or destroyed)"
        );
        let value = data
            .get(&s.field)
            .ok_or_else(|| anyhow::anyhow!("secret `{name}` has no field `{}`", s.field))?;
        let text = match value {
            Value::String(v) => v.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        out.push((s.env.clone(), SecretString::new(text)));
    }
    Ok(out)
}

/// `creds/ROLE`: a new database role with its lease.
fn issue(client: &VaultClient, db: &DbSpec) -> anyhow::Result<(Lease, DbCredential)> {
    let path = format!(
        "{}/creds/{}",
        encode_path(&db.mount),
        encode_segment(&db.role)
    );
    let body = client.read(&path)?;
    let lease = Lease {
        id: body["lease_id"].as_str().unwrap_or_default().to_string(),
        duration: body["lease_duration"].as_u64().unwrap_or(0),
        renewable: body["renewable"].as_bool().unwrap_or(false),
    };
    let data = &body["data"];
    let text = |k: &str| match &data[k] {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let (Some(username), Some(password)) = (text("username"), text("password")) else {
        if !lease.id.is_empty() {
            revoke(client, &lease);
        }
        anyhow::bail!("GET /v1/{path} returned no username and password");
    };
    if lease.id.is_empty() {
        anyhow::bail!("GET /v1/{path} returned a credential without a lease; refusing to use it");
    }
    let cred = DbCredential {
        username,
        password: SecretString::new(password),
        host: text("host"),
        port: text("port"),
        database: text("database"),
    };
    Ok((lease, cred))
}

/// Renews the lease at once with `ttl`, so that it ends soon if nobody renews it. Failure is
/// not fatal (the credential still works until its longer TTL), but is reported.
fn shorten(client: &VaultClient, lease: &mut Lease, ttl: u64) {
    if !lease.renewable {
        eprintln!(
            "seawall exec: warning: lease {} is not renewable; it lasts its full {}s",
            lease.id, lease.duration
        );
        return;
    }
    let mut last = None;
    for delay_ms in [0, 200, 500] {
        std::thread::sleep(Duration::from_millis(delay_ms));
        match renew(client, &lease.id, ttl, Duration::from_secs(5)) {
            Ok(d) => {
                lease.duration = d;
                if d > ttl + 1 {
                    eprintln!(
                        "seawall exec: warning: the server kept lease {} at {d}s instead of {ttl}s",
                        lease.id
                    );
                }
                return;
            }
            Err(e) if e.is_transient() => last = Some(e),
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    if let Some(e) = last {
        eprintln!(
            "seawall exec: warning: cannot shorten lease {} to {ttl}s ({e}); it lasts {}s",
            lease.id, lease.duration
        );
    }
}

/// `sys/leases/renew`: the new lease duration in seconds.
pub fn renew(
    client: &VaultClient,
    lease_id: &str,
    increment: u64,
    timeout: Duration,
) -> Result<u64, ApiError> {
    let body = json!({"lease_id": lease_id, "increment": increment});
    let answer = client.call("PUT", "sys/leases/renew", Some(&body), Some(timeout))?;
    Ok(answer
        .as_ref()
        .and_then(|a| a["lease_duration"].as_u64())
        .unwrap_or(0))
}

/// `sys/leases/revoke`, retried for a few seconds while the server is unreachable or failing.
/// A lease the server no longer knows is already gone.
fn revoke(client: &VaultClient, lease: &Lease) {
    let body = json!({"lease_id": lease.id});
    let mut last = None;
    for delay_ms in [0, 250, 500, 1000, 2000] {
        std::thread::sleep(Duration::from_millis(delay_ms));
        match client.call(
            "PUT",
            "sys/leases/revoke",
            Some(&body),
            Some(Duration::from_secs(5)),
        ) {
            Ok(_) => return,
            Err(e) if e.status() == Some(404) => return,
            Err(e) if e.is_transient() => last = Some(e),
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    if let Some(e) = last {
        eprintln!(
            "seawall exec: could not revoke lease {} ({e}); the server revokes it when its TTL ends",
            lease.id
        );
    }
}

/// The variables for the credential: PGUSER, PGPASSWORD, DATABASE_URL, and PGHOST, PGPORT,
/// PGDATABASE when the server named them.
fn db_env(cred: &DbCredential) -> Vec<(String, SecretString)> {
    let mut v = vec![
        ("PGUSER".to_string(), SecretString::new(&cred.username)),
        ("PGPASSWORD".to_string(), cred.password.clone()),
        ("DATABASE_URL".to_string(), database_url(cred)),
    ];
    for (k, val) in [
        ("PGHOST", &cred.host),
        ("PGPORT", &cred.port),
        ("PGDATABASE", &cred.database),
    ] {
        if let Some(val) = val {
            v.push((k.to_string(), SecretString::new(val)));
        }
    }
    v
}

/// `postgresql://USER:PASSWORD@HOST:PORT/DATABASE`, each part percent-encoded; parts the server
/// did not name are left to libpq's defaults.
fn database_url(cred: &DbCredential) -> SecretString {
    let mut url = format!(
        "postgresql://{}:{}@",
        encode_segment(&cred.username),
        encode_segment(cred.password.expose())
    );
    if let Some(h) = &cred.host {
        if h.contains(':') {
            url.push_str(&format!("[{h}]"));
        } else {
            url.push_str(&encode_segment(h));
        }
    }
    if let Some(p) = &cred.port {
        url.push_str(&format!(":{}", encode_segment(p)));
    }
    if let Some(d) = &cred.database {
        url.push_str(&format!("/{}", encode_segment(d)));
    }
    SecretString::new(url)
}

/// The command's environment: ours without the vault token, plus the credentials.
fn child_env(set: &[(String, SecretString)]) -> Vec<(OsString, OsString)> {
    build_env(std::env::vars_os(), set)
}

fn build_env(
    parent: impl Iterator<Item = (OsString, OsString)>,
    set: &[(String, SecretString)],
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = parent
        .filter(|(k, _)| k != "VAULT_TOKEN" && !set.iter().any(|(s, _)| k == s.as_str()))
        .collect();
    env.extend(
        set.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v.expose()))),
    );
    env
}

/// The `--db-file` credential file: created exclusively with mode 0600, removed on drop.
struct DbFile {
    path: PathBuf,
}

impl DbFile {
    fn create(path: &Path, cred: &DbCredential, lease_id: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                    "--db-file `{}` already exists; it must be a new file",
                    path.display()
                ),
                _ => anyhow::anyhow!("--db-file `{}` cannot be created: {e}", path.display()),
            })?;
        let file = DbFile {
            path: path.to_path_buf(),
        };
        let body = json!({
            "username": cred.username,
            "password": cred.password.expose(),
            "database_url": database_url(cred).expose(),
            "lease_id": lease_id,
        });
        f.write_all(body.to_string().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| anyhow::anyhow!("cannot write --db-file `{}`: {e}", path.display()))?;
        Ok(file)
    }
}

impl Drop for DbFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("seawall exec: cannot remove `{}`: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn exec_args(args: &[&str]) -> anyhow::Result<ExecArgs> {
        let cli = Cli::try_parse_from(std::iter::once("seawall").chain(args.iter().copied()))?;
        match cli.command {
            Command::Exec(a) => Ok(a),
            _ => unreachable!(),
        }
    }

    #[test]
    fn db_specs_default_to_the_database_mount() {
        assert_eq!(
            parse_db("readonly").unwrap(),
            DbSpec {
                mount: "database".into(),
                role: "readonly".into()
            }
        );
        assert_eq!(
            parse_db("db/prod/ro").unwrap(),
            DbSpec {
                mount: "db/prod".into(),
                role: "ro".into()
            }
        );
        for bad in ["", "db/", "/ro", "../ro", "db//ro", "r o", "ro?x=1", "ro#x"] {
            let e = parse_db(bad).unwrap_err().to_string();
            assert!(e.starts_with("--db"), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn secret_specs_name_mount_path_field_and_variable() {
        assert_eq!(
            parse_secret("secret/app/db#password=DB_PW").unwrap(),
            SecretSpec {
                mount: "secret".into(),
                path: "app/db".into(),
                field: "password".into(),
                env: "DB_PW".into()
            }
        );
        for (bad, why) in [
            ("secret/app#pw", "no `=ENV`"),
            ("secret/app=PW", "no `#FIELD`"),
            ("secret#pw=PW", "no MOUNT/PATH"),
            ("secret/app#=PW", "no field"),
            ("secret/app#pw=1PW", "not an environment variable"),
            ("secret/app#pw=P-W", "not an environment variable"),
            ("secret/../x#pw=PW", "`..`"),
            ("secret/#pw=PW", "empty"),
        ] {
            let e = parse_secret(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_command_line_is_checked_before_anything_is_fetched() {
        let p =
            plan(&exec_args(&["exec", "--db", "ro", "--", "psql", "-c", "x"]).unwrap()).unwrap();
        assert_eq!(p.ttl, DEFAULT_TTL);
        assert_eq!(p.command, vec!["psql", "-c", "x"]);
        let p = plan(&exec_args(&["exec", "--db", "ro", "--ttl", "5s", "--", "true"]).unwrap())
            .unwrap();
        assert_eq!(p.ttl, 5);
        let err = |args: &[&str]| plan(&exec_args(args).unwrap()).unwrap_err().to_string();
        assert!(err(&["exec", "--db", "ro"]).contains("no command"));
        assert!(err(&["exec", "--", "true"]).contains("nothing to hand"));
        assert!(err(&["exec", "--db", "ro", "--ttl", "2s", "--", "true"]).contains("too short"));
        assert!(err(&["exec", "--db", "ro", "--ttl", "soon", "--", "true"]).contains("--ttl"));
        assert!(
            err(&["exec", "--secret", "s/a#x=A", "--secret", "s/b#y=A", "--", "true"])
                .contains("set twice")
        );
        assert!(err(&[
            "exec",
            "--db",
            "ro",
            "--secret",
            "s/a#x=PGUSER",
            "--",
            "true"
        ])
        .contains("set by --db"));
        // --ttl and --db-file only mean something with --db.
        assert!(exec_args(&["exec", "--ttl", "5s", "--secret", "s/a#x=A", "--", "true"]).is_err());
        assert!(exec_args(&[
            "exec",
            "--db-file",
            "f",
            "--secret",
            "s/a#x=A",
            "--",
            "true"
        ])
        .is_err());
    }

    fn cred() -> DbCredential {
        DbCredential {
            username: "v-ro-abc".into(),
            password: SecretString::new("p@ss/w:rd"),
            host: Some("127.0.0.1".into()),
            port: Some("55432".into()),
            database: Some("app db".into()),
        }
    }

    #[test]
    fn the_child_environment_has_the_credential_and_not_the_token() {
        let parent = vec![
            ("PATH".into(), "/bin".into()),
            ("VAULT_TOKEN".into(), "hvs.parent".into()),
            ("VAULT_ADDR".into(), "https://127.0.0.1:8443".into()),
            ("PGPASSWORD".into(), "stale".into()),
        ];
        let env = build_env(parent.into_iter(), &db_env(&cred()));
        let get = |k: &str| {
            env.iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert!(get("VAULT_TOKEN").is_empty());
        assert!(!env.iter().any(|(_, v)| v == "hvs.parent"));
        assert_eq!(get("PATH"), ["/bin"]);
        assert_eq!(get("PGPASSWORD"), ["p@ss/w:rd"]);
        assert_eq!(get("PGUSER"), ["v-ro-abc"]);
        assert_eq!(get("PGHOST"), ["127.0.0.1"]);
        assert_eq!(get("PGPORT"), ["55432"]);
        assert_eq!(
            get("DATABASE_URL"),
            ["postgresql://v-ro-abc:p%40ss%2Fw%3Ard@127.0.0.1:55432/app%20db"]
        );
    }

    #[test]
    fn database_url_leaves_unnamed_parts_to_libpq() {
        let c = DbCredential {
            host: None,
            port: None,
            database: None,
            ..cred()
        };
        assert_eq!(
            database_url(&c).expose(),
            "postgresql://v-ro-abc:p%40ss%2Fw%3Ard@"
        );
        let c = DbCredential {
            host: Some("::1".into()),
            ..cred()
        };
        assert!(database_url(&c).expose().contains("@[::1]:55432/"));
    }

    #[test]
    fn the_credential_file_is_private_exclusive_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let f = DbFile::create(&path, &cred(), "database/creds/ro/abc").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(body["username"], "v-ro-abc");
        assert_eq!(body["password"], "p@ss/w:rd");
        assert_eq!(body["lease_id"], "database/creds/ro/abc");
        assert!(body["database_url"]
            .as_str()
            .unwrap()
            .starts_with("postgresql://"));
        // A second one at the same path is refused: never write into someone else's file.
        let e = DbFile::create(&path, &cred(), "x")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("already exists"), "{e}");
        drop(f);
        assert!(!path.exists());
        // A symlink planted at the path is not followed.
        let target = dir.path().join("target");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(DbFile::create(&path, &cred(), "x").is_err());
        assert!(!target.exists());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let text = format!("{:?}", cred());
        assert!(!text.contains("p@ss"), "{text}");
    }
}
