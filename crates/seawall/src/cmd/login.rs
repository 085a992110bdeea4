//! `seawall login` and `seawall token`: signing in from a terminal, and fresh access tokens
//! for scripts.
//!
//! The sign-in's refresh token is kept in a credentials file of mode 0600
//! (`$SEAWALL_HOME/credentials.json`, else `~/.config/seawall/credentials.json`). `seawall token`
//! prints the saved access token while it has more than 30 s left, else rotates the refresh
//! token for a new one. The file is locked while it is read and rewritten: two scripts calling
//! `seawall token` at once must not both present the same refresh token, which the server
//! would take for theft and answer by revoking the whole sign-in.

use super::user::read_password;
use crate::cli::{LoginArgs, TokenArgs};
use anyhow::Context;
use fs2::FileExt;
use seawall_core::auth::{
    FactorKind, FactorRequest, PasswordRequest, PendingRequest, RefreshRequest, SecretString,
    SignInStep, Tokens, TotpEnrollment,
};
use seawall_core::{Clock, SystemClock};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// What is saved between runs.
#[derive(Serialize, Deserialize)]
struct Credentials {
    server: String,
    ca: Option<PathBuf>,
    access_token: SecretString,
    refresh_token: SecretString,
    /// Unix seconds when the access token expires.
    expires_at: i64,
}

pub fn login(args: LoginArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    // A password never crosses the network in clear text.
    anyhow::ensure!(
        args.server.starts_with("https://"),
        "server `{}` is not an https:// url; sign-in needs TLS",
        args.server
    );
    let ca = args.ca.clone().or_else(|| {
        let local = data_dir.join("tls/cert.pem");
        local.exists().then_some(local)
    });
    // Saved with the credentials, so it must not depend on today's working directory.
    let ca = match ca {
        Some(p) => Some(
            std::fs::canonicalize(&p).with_context(|| format!("cannot read `{}`", p.display()))?,
        ),
        None => None,
    };
    let client = Client::new(&args.server, ca.as_deref())?;
    let user = match args.user {
        Some(u) => u,
        None => prompt("user: ")?,
    };
    let password = read_password_once(args.password_stdin)?;
    let step: SignInStep = client.post(
        "/api/v1/auth/password",
        &PasswordRequest {
            username: user,
            password,
        },
    )?;
    let tokens = match step {
        SignInStep::Done(t) => *t,
        SignInStep::SecondFactor { pending, factors } => {
            second_factor(&client, pending, &factors, args.code)?
        }
        SignInStep::Enroll { pending } => enroll(&client, pending, args.code)?,
    };
    if let Some(codes) = &tokens.recovery_codes {
        eprintln!("\nRecovery codes (each works once; store them somewhere safe):");
        for c in codes {
            eprintln!("  {}", c.expose());
        }
    }
    save(&Credentials {
        server: args.server,
        ca,
        expires_at: SystemClock.now() + i64::try_from(tokens.expires_in).unwrap_or(0),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    })?;
    eprintln!("signed in; `seawall token` prints an access token");
    Ok(ExitCode::SUCCESS)
}

pub fn token(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let creds = fresh_credentials()?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "access_token": creds.access_token.expose(),
                "expires_at": creds.expires_at,
            })
        );
    } else {
        println!("{}", creds.access_token.expose());
    }
    Ok(ExitCode::SUCCESS)
}

/// The saved sign-in with an access token good for at least 30 s, refreshing it (under the
/// file lock) when needed.
fn fresh_credentials() -> anyhow::Result<Credentials> {
    let path = credentials_path()?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot open `{}`; run `seawall login` first",
                path.display()
            )
        })?;
    file.lock_exclusive()
        .with_context(|| format!("cannot lock `{}`", path.display()))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let mut creds: Credentials = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("`{}` is not a credentials file: {e}", path.display()))?;
    if creds.expires_at - SystemClock.now() < 30 {
        let client = Client::new(&creds.server, creds.ca.as_deref())?;
        let step: SignInStep = client.post(
            "/api/v1/auth/refresh",
            &RefreshRequest {
                refresh_token: creds.refresh_token.clone(),
            },
        )?;
        let SignInStep::Done(t) = step else {
            anyhow::bail!("the server did not return tokens; run `seawall login` again");
        };
        creds.expires_at = SystemClock.now() + i64::try_from(t.expires_in).unwrap_or(0);
        creds.access_token = t.access_token;
        creds.refresh_token = t.refresh_token;
        let body = serde_json::to_vec_pretty(&creds)?;
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(&body)?;
        file.sync_all()?;
    }
    Ok(creds)
}

/// Sends `body` to the signed-in control plane with the saved access token.
pub fn authorized_request(
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> anyhow::Result<serde_json::Value> {
    let creds = fresh_credentials()?;
    let client = Client::new(&creds.server, creds.ca.as_deref())?;
    let url = format!("{}{path}", client.base);
    let req = client.agent.request(method, &url).set(
        "Authorization",
        &format!("Bearer {}", creds.access_token.expose()),
    );
    let result = match body {
        Some(b) => req.set("Content-Type", "application/json").send_bytes(b),
        None => req.call(),
    };
    match result {
        Ok(resp) => resp
            .into_json()
            .with_context(|| format!("`{url}` answered with unexpected JSON")),
        Err(ureq::Error::Status(code, resp)) => {
            let body: serde_json::Value = resp.into_json().unwrap_or_default();
            let msg = body
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("refused");
            anyhow::bail!("`{url}` refused the request ({code}): {msg}")
        }
        Err(e) => Err(anyhow::anyhow!("cannot reach `{url}`: {e}")),
    }
}

fn second_factor(
    client: &Client,
    pending: SecretString,
    factors: &[FactorKind],
    code: Option<String>,
) -> anyhow::Result<Tokens> {
    let code = match code {
        Some(c) => c,
        None if factors.contains(&FactorKind::RecoveryCode) => {
            prompt("authenticator code (or a recovery code): ")?
        }
        None => prompt("authenticator code: ")?,
    };
    // A recovery code is longer than six digits and contains letters.
    let kind = if code.trim().len() == 6 && code.trim().bytes().all(|b| b.is_ascii_digit()) {
        FactorKind::Totp
    } else {
        FactorKind::RecoveryCode
    };
    done(client.post(
        "/api/v1/auth/factor",
        &FactorRequest {
            pending,
            kind,
            code: SecretString::new(code.trim()),
        },
    )?)
}

fn enroll(client: &Client, pending: SecretString, code: Option<String>) -> anyhow::Result<Tokens> {
    let e: TotpEnrollment = client.post(
        "/api/v1/auth/enroll/totp",
        &PendingRequest {
            pending: pending.clone(),
        },
    )?;
    eprintln!("No second factor yet: scan this with an authenticator app.\n");
    eprintln!("{}", seawall_identity::qr_terminal(e.uri.expose()));
    eprintln!("or enter the secret by hand: {}\n", e.secret.expose());
    let code = match code {
        Some(c) => c,
        None => prompt("code shown by the app: ")?,
    };
    done(client.post(
        "/api/v1/auth/enroll/totp/confirm",
        &FactorRequest {
            pending,
            kind: FactorKind::Totp,
            code: SecretString::new(code.trim()),
        },
    )?)
}

fn done(step: SignInStep) -> anyhow::Result<Tokens> {
    match step {
        SignInStep::Done(t) => Ok(*t),
        _ => anyhow::bail!("the server asked for another sign-in step than expected"),
    }
}

fn prompt(text: &str) -> anyhow::Result<String> {
    eprint!("{text}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim().to_string();
    anyhow::ensure!(
        !line.is_empty(),
        "no input given for `{}`",
        text.trim_end_matches(": ")
    );
    Ok(line)
}

fn read_password_once(from_stdin: bool) -> anyhow::Result<SecretString> {
    if from_stdin {
        return read_password(true, "");
    }
    let pw = rpassword::prompt_password("password: ").context("cannot read the password")?;
    Ok(SecretString::new(pw))
}

fn credentials_path() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("SEAWALL_HOME") {
        return Ok(PathBuf::from(home).join("credentials.json"));
    }
    let home = std::env::var_os("HOME").context("neither SEAWALL_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config/seawall/credentials.json"))
}

fn save(creds: &Credentials) -> anyhow::Result<()> {
    let path = credentials_path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    f.write_all(&serde_json::to_vec_pretty(creds)?)?;
    Ok(())
}

/// A small blocking JSON client of the control plane.
struct Client {
    base: String,
    agent: ureq::Agent,
}

/// A blocking HTTPS agent that trusts the PEM certificates in `ca`, or the web's public roots
/// when there is none. Also used by the Vault API client of `seawall exec` and `seawall leases`.
pub(super) fn tls_agent(ca: Option<&Path>) -> anyhow::Result<ureq::Agent> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem =
                std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()).filter_map(Result::ok) {
                roots
                    .add(cert)
                    .with_context(|| format!("`{}` holds a bad certificate", path.display()))?;
            }
            anyhow::ensure!(
                !roots.is_empty(),
                "`{}` holds no PEM certificate",
                path.display()
            );
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(ureq::AgentBuilder::new()
        .tls_config(Arc::new(tls))
        .timeout(std::time::Duration::from_secs(30))
        .build())
}

impl Client {
    fn new(server: &str, ca: Option<&Path>) -> anyhow::Result<Self> {
        let agent = tls_agent(ca)?;
        Ok(Self {
            base: server.trim_end_matches('/').to_string(),
            agent,
        })
    }

    fn post<T: Serialize, R: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: &T,
    ) -> anyhow::Result<R> {
        let url = format!("{}{path}", self.base);
        match self.agent.post(&url).send_json(body) {
            Ok(resp) => resp
                .into_json()
                .with_context(|| format!("`{url}` answered with unexpected JSON")),
            Err(ureq::Error::Status(code, resp)) => {
                let body: serde_json::Value = resp.into_json().unwrap_or_default();
                let msg = body
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("request refused");
                Err(super::Denied(format!("sign-in refused ({code}): {msg}")).into())
            }
            Err(e) => Err(anyhow::anyhow!("cannot reach `{url}`: {e}")),
        }
    }
}
