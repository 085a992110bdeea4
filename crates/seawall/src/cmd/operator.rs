//! `seawall operator ...`: initialising the vault's seal, and unsealing a server that started
//! sealed.
//!
//! `init` works offline on the data directory: it creates the initial root token and, with
//! `--key-shares`/`--key-threshold`, splits the root key into Shamir key shares (see
//! `seawall_server::unseal`). `unseal` and `seal-status` talk to a running server's Vault API
//! (`sys/unseal`, `sys/seal-status`) over HTTPS, as Vault's own CLI does.

use super::load_config;
use crate::cli::{GlobalArgs, OperatorCommand, OperatorServerArgs};
use anyhow::Context;
use seawall_audit::{AuditEntry, Outcome};
use seawall_core::seal::{root_key_path, RootKey};
use seawall_core::SystemClock;
use seawall_server::unseal::{destroy_key_file, encode_share, SealFile};
use seawall_server::{Bootstrap, State};
use seawall_vault::barrier::Barrier;
use seawall_vault::shamir;
use seawall_vault::token::TokenStore;
use serde_json::Value;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use zeroize::Zeroizing;

pub fn run(global: &GlobalArgs, cmd: OperatorCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OperatorCommand::Init {
            key_shares,
            key_threshold,
        } => init(global, key_shares, key_threshold),
        OperatorCommand::Unseal { key, reset, server } => unseal(global, key, reset, &server),
        OperatorCommand::SealStatus { server } => seal_status(global, &server),
    }
}

fn init(
    global: &GlobalArgs,
    key_shares: Option<u32>,
    key_threshold: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let split = match (key_shares, key_threshold) {
        (Some(n), Some(t)) => Some(shamir::parameters(n as usize, t as usize)?),
        (None, None) => None,
        _ => anyhow::bail!("--key-shares and --key-threshold are given together or not at all"),
    };
    let config = load_config(global)?;
    let data_dir = config.data_dir();
    if SealFile::load(&data_dir)?.is_some() {
        anyhow::bail!(
            "data directory `{}` is already initialised (`{}` exists); nothing was changed",
            data_dir.display(),
            SealFile::path(&data_dir).display()
        );
    }
    let state = Bootstrap::open(config, Arc::new(SystemClock))?;
    let token = Zeroizing::new(root_token(&state)?);
    let mut entry = AuditEntry::new("vault.init", Outcome::Success).actor("cli");
    if let Some((n, t)) = split {
        entry = entry
            .detail("key_shares", u64::from(n))
            .detail("key_threshold", u64::from(t));
    }
    state.audit.record(entry);
    state.audit.flush()?;
    drop(state);

    let Some((n, t)) = split else {
        SealFile::File.create(&data_dir)?;
        let text = format!(
            "Initial Root Token: {}\n\nThe root key stays in `{}`. The root token above is \
             shown only now and never expires: keep it somewhere safe, use it to set up \
             policies and other tokens, then revoke it.\n",
            token.as_str(),
            root_key_path(&data_dir).display()
        );
        print_stdout(&text).context("cannot print the initial root token")?;
        return Ok(ExitCode::SUCCESS);
    };

    let key_path = root_key_path(&data_dir);
    let root = RootKey::load(&key_path)?;
    let shares = shamir::split(root.expose_bytes(), n, t)?;
    SealFile::shamir(&root, n, t).create(&data_dir)?;
    let mut text = Zeroizing::new(String::new());
    for (i, share) in shares.iter().enumerate() {
        let share = Zeroizing::new(share.clone());
        text.push_str(&format!("Unseal Key {}: {}\n", i + 1, encode_share(&share)));
    }
    drop(Zeroizing::new(shares));
    text.push_str(&format!(
        "\nInitial Root Token: {}\n\n\
         The root key was split into {n} key shares; any {t} of them rebuild it. Seawall keeps \
         no copy: `{}` is deleted now and these shares are printed only this once.\n\
         Give each share to a different person and store them apart. Every start of the \
         server is sealed until {t} shares are submitted with `seawall operator unseal`.\n\
         With fewer than {t} shares the vault and everything sealed in this data directory \
         can never be opened again.\n",
        token.as_str(),
        key_path.display()
    ));
    if let Err(e) = print_stdout(&text) {
        // The shares were not seen: keep the key file, undo the seal description.
        let _ = std::fs::remove_file(SealFile::path(&data_dir));
        anyhow::bail!(
            "cannot print the key shares ({e}); the root key stays in `{}`",
            key_path.display()
        );
    }
    destroy_key_file(&key_path).with_context(|| {
        format!(
            "the key shares were printed but `{}` could not be deleted; delete it yourself",
            key_path.display()
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the initial root token in the vault's token store.
fn root_token(state: &State) -> anyhow::Result<String> {
    let barrier = Barrier::new(state.store.clone(), state.sealer.clone());
    let tokens = TokenStore::open(barrier, state.clock.clone())
        .map_err(|e| anyhow::anyhow!("vault token store: {e}"))?;
    tokens.set_audit(state.audit.clone());
    tokens
        .create_root()
        .map_err(|e| anyhow::anyhow!("cannot create the root token: {e}"))
}

fn print_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

fn unseal(
    global: &GlobalArgs,
    key: Option<String>,
    reset: bool,
    server: &OperatorServerArgs,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(global, server)?;
    let body = if reset {
        serde_json::json!({ "reset": true })
    } else {
        let key = Zeroizing::new(match key {
            Some(k) if k == "-" => read_stdin_key()?,
            Some(k) => k,
            None => rpassword::prompt_password("Unseal Key (will be hidden): ").context(
                "cannot prompt for the key share on a terminal; give KEY, or `-` to read it from standard input",
            )?,
        });
        anyhow::ensure!(!key.trim().is_empty(), "no key share given");
        serde_json::json!({ "key": key.trim() })
    };
    let status = client.call("PUT", "sys/unseal", Some(&body))?;
    print_status(&status)?;
    Ok(ExitCode::SUCCESS)
}

fn read_stdin_key() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the key share from standard input")?;
    Ok(line)
}

fn seal_status(global: &GlobalArgs, server: &OperatorServerArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(global, server)?;
    let status = client.call("GET", "sys/seal-status", None)?;
    print_status(&status)?;
    Ok(match status.get("sealed").and_then(Value::as_bool) {
        Some(false) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Prints a `sys/seal-status` answer as a table, as Vault's CLI does.
fn print_status(s: &Value) -> anyhow::Result<()> {
    let field = |k: &str| match s.get(k) {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let sealed = s.get("sealed").and_then(Value::as_bool);
    let mut rows = vec![
        ("Seal Type", field("type")),
        ("Initialized", field("initialized")),
        ("Sealed", field("sealed")),
        ("Total Shares", field("n")),
        ("Threshold", field("t")),
    ];
    if sealed != Some(false) {
        rows.push((
            "Unseal Progress",
            format!("{}/{}", field("progress"), field("t")),
        ));
        rows.push(("Unseal Nonce", field("nonce")));
    }
    rows.push(("Version", field("version")));
    rows.push(("Storage Type", field("storage_type")));
    let mut text = format!("{:<18} {}\n{:<18} {}\n", "Key", "Value", "---", "-----");
    for (k, v) in rows {
        text.push_str(&format!("{k:<18} {v}\n"));
    }
    print_stdout(&text).context("cannot print the seal status")
}

/// A client of the unauthenticated `sys/` endpoints of the vault API.
struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(global: &GlobalArgs, server: &OperatorServerArgs) -> anyhow::Result<Self> {
        let base = server.addr.trim_end_matches('/').to_string();
        anyhow::ensure!(
            base.starts_with("https://"),
            "vault address `{base}` is not an https:// url; key shares never cross the network in clear text"
        );
        let ca: Option<PathBuf> = match &server.ca_cert {
            Some(p) => Some(p.clone()),
            None => {
                let local = load_config(global)?.data_dir().join("tls/ca.pem");
                local.exists().then_some(local)
            }
        };
        let agent = super::login::tls_agent(ca.as_deref())?;
        Ok(Self { base, agent })
    }

    /// One request to `/v1/<path>`: the JSON answer, or the server's `errors` in one line.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}/v1/{path}", self.base);
        let req = self
            .agent
            .request(method, &url)
            .set("X-Vault-Request", "true");
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match result {
            Ok(resp) => resp
                .into_json()
                .with_context(|| format!("`{url}` answered with unexpected JSON")),
            Err(ureq::Error::Status(code, resp)) => {
                let body: Value = resp.into_json().unwrap_or_default();
                let errors: Vec<String> = body
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let msg = match errors.is_empty() {
                    true => "no error message".to_string(),
                    false => errors.join("; ").replace(['\n', '\r'], " "),
                };
                let refusal = format!("vault refused {method} /v1/{path} ({code}): {msg}");
                if (400..500).contains(&code) {
                    Err(super::Denied(refusal).into())
                } else {
                    Err(anyhow::anyhow!(refusal))
                }
            }
            Err(ureq::Error::Transport(t)) => Err(anyhow::anyhow!(
                "cannot reach `{}`: {}: {}",
                self.base,
                t.kind(),
                t.message()
                    .unwrap_or("no detail")
                    .replace(['\n', '\r'], " ")
            )),
        }
    }
}
