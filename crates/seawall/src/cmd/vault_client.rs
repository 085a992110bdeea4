//! A small blocking client of the vault's Vault-compatible HTTP API (`/v1/...`), shared by
//! `seawall exec` and `seawall leases`.
//!
//! Connection settings follow Vault's own CLI: `--addr`/`VAULT_ADDR`, a token from `--token`,
//! `--token-file` or `VAULT_TOKEN` (in that order), `--ca-cert`/`VAULT_CACERT`, defaulting to the
//! data directory's `tls/ca.pem`. The token goes out only in the `X-Vault-Token` header: it is
//! never printed, never part of an error, and shows as `[redacted]` in `Debug`.
//!
//! Errors are one line naming the method and path: the server's `{"errors": [...]}` messages,
//! or why it could not be reached.

use crate::cli::{GlobalArgs, VaultArgs};
use anyhow::Context;
use seawall_core::auth::SecretString;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// How long one request may take unless the caller says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// A refusal or a failure of one API request, in one line.
#[derive(Debug)]
pub enum ApiError {
    /// The server answered with an error status and Vault's `errors` list.
    Status {
        method: String,
        path: String,
        status: u16,
        errors: Vec<String>,
    },
    /// The server could not be reached, or answered something that is not Vault's JSON.
    Transport {
        method: String,
        path: String,
        message: String,
    },
}

impl ApiError {
    /// Whether trying again may help: the server was unreachable or failed (5xx), as opposed
    /// to refusing the request (4xx).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status >= 500 || *status == 429,
            ApiError::Transport { .. } => true,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Transport { .. } => None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Status {
                method,
                path,
                status,
                errors,
            } => {
                let what = if errors.is_empty() {
                    "no error message".to_string()
                } else {
                    errors.join("; ")
                };
                let what = what.replace(['\n', '\r'], " ");
                write!(f, "vault refused {method} /v1/{path} ({status}): {what}")
            }
            ApiError::Transport {
                method,
                path,
                message,
            } => write!(f, "{method} /v1/{path} failed: {message}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// A connection to the vault API with a token.
pub struct VaultClient {
    base: String,
    token: SecretString,
    agent: ureq::Agent,
}

impl std::fmt::Debug for VaultClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl VaultClient {
    /// Builds the client from the command line and environment.
    pub fn connect(global: &GlobalArgs, args: &VaultArgs) -> anyhow::Result<Self> {
        let base = check_addr(&args.addr)?;
        let token = match (&args.token, &args.token_file) {
            (Some(t), _) => t.clone(),
            (None, Some(file)) => read_token_file(file)?,
            (None, None) => match std::env::var("VAULT_TOKEN") {
                Ok(t) if !t.trim().is_empty() => SecretString::new(t.trim()),
                _ => anyhow::bail!("no vault token: set VAULT_TOKEN or pass --token-file FILE"),
            },
        };
        check_token(&token)?;
        let ca = match &args.ca_cert {
            Some(p) => Some(p.clone()),
            None => {
                let local = super::load_config(global)?.data_dir().join("tls/ca.pem");
                local.exists().then_some(local)
            }
        };
        let agent = super::login::tls_agent(ca.as_deref())?;
        Ok(Self { base, token, agent })
    }

    /// Sends one request to `/v1/<path>` (`path` may carry a `?query`). Returns the JSON body,
    /// or `None` for an empty answer (204).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Option<Value>, ApiError> {
        let path = path.trim_start_matches('/');
        let url = format!("{}/v1/{path}", self.base);
        let transport = |message: String| ApiError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            message,
        };
        let req = self
            .agent
            .request(method, &url)
            .timeout(timeout.unwrap_or(DEFAULT_TIMEOUT))
            .set("X-Vault-Token", self.token.expose())
            .set("X-Vault-Request", "true");
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match result {
            Ok(resp) => {
                let text = resp
                    .into_string()
                    .map_err(|e| transport(format!("cannot read the answer: {e}")))?;
                if text.trim().is_empty() {
                    return Ok(None);
                }
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| transport(format!("the answer is not JSON: {e}")))
            }
            Err(ureq::Error::Status(status, resp)) => {
                let body: Value = resp.into_json().unwrap_or_default();
                let errors = body
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                Err(ApiError::Status {
                    method: method.to_string(),
                    path: path.to_string(),
                    status,
                    errors,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(transport(format!(
                "cannot reach {}: {}",
                self.base,
                t.to_string().replace(['\n', '\r'], " ")
            ))),
        }
    }

    /// GET, expecting an answer.
    pub fn read(&self, path: &str) -> Result<Value, ApiError> {
        self.call("GET", path, None, None)
            .map(|v| v.unwrap_or(Value::Null))
    }

    /// LIST: the `keys` below `path`; none when the server answers 404 (nothing there).
    pub fn list(&self, path: &str) -> Result<Vec<String>, ApiError> {
        match self.call("LIST", path, None, None) {
            Ok(v) => Ok(v
                .as_ref()
                .and_then(|v| v.pointer("/data/keys"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()),
            Err(e) if e.status() == Some(404) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// PUT with a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Result<Option<Value>, ApiError> {
        self.call("PUT", path, Some(body), None)
    }
}

/// The base URL, without a trailing slash. A token never travels in clear text to another
/// machine: plain `http://` is accepted for loopback addresses only.
fn check_addr(addr: &str) -> anyhow::Result<String> {
    let base = addr.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        anyhow::ensure!(!rest.is_empty(), "vault address `{addr}` has no host");
        return Ok(base.to_string());
    }
    if let Some(rest) = base.strip_prefix("http://") {
        let host = rest.split('/').next().unwrap_or("");
        let loopback =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        anyhow::ensure!(
            loopback,
            "vault address `{addr}` is plain http to another machine; the token needs https://"
        );
        return Ok(base.to_string());
    }
    anyhow::bail!("vault address `{addr}` is not an https:// URL")
}

/// Header values must be visible ASCII; a token with a newline or a space is a mistake (often
/// a file with two lines), and must not be echoed back in the error.
fn check_token(token: &SecretString) -> anyhow::Result<()> {
    let t = token.expose();
    anyhow::ensure!(!t.is_empty(), "the vault token is empty");
    anyhow::ensure!(
        t.bytes().all(|b| b.is_ascii_graphic()),
        "the vault token holds spaces or control characters; it is not a token"
    );
    Ok(())
}

fn read_token_file(path: &Path) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read token file `{}`", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim();
    anyhow::ensure!(!line.is_empty(), "token file `{}` is empty", path.display());
    Ok(SecretString::new(line))
}

/// Percent-encodes one path segment (a role, connection or secret name) so that it cannot
/// change the path: everything but unreserved characters is escaped.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes a `/`-separated path segment by segment (empty segments are refused by callers).
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// Parses a duration as Vault writes them: `90` or `90s`, `5m`, `2h`, `1d`, or a sum such as
/// `1h30m`. Returns whole seconds; zero is refused.
pub fn parse_duration(text: &str) -> anyhow::Result<u64> {
    let secs = seawall_vault::duration::seconds(text).ok_or_else(|| {
        anyhow::anyhow!(
            "`{text}` is not a duration: use a number with s, m, h or d (`90s`, `5m`, `1h30m`)"
        )
    })?;
    anyhow::ensure!(secs > 0, "duration `{text}` must be more than zero");
    u64::try_from(secs).map_err(|_| anyhow::anyhow!("duration `{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_vault_writes_them() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("5m").unwrap(), 300);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        for bad in ["", "s", "5x", "1.5h", "-5s", "5m3", "0s", "0", "h5"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn addresses_need_tls_off_loopback() {
        assert_eq!(
            check_addr("https://vault.example:8200/").unwrap(),
            "https://vault.example:8200"
        );
        assert!(check_addr("http://127.0.0.1:8200").is_ok());
        assert!(check_addr("http://[::1]:8200").is_ok());
        assert!(check_addr("http://vault.example:8200").is_err());
        assert!(check_addr("vault.example:8200").is_err());
        assert!(check_addr("https://").is_err());
    }

    #[test]
    fn tokens_with_spaces_are_refused_without_echo() {
        let e = check_token(&SecretString::new("hvs.abc\nsecond"))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hvs.abc"), "{e}");
        assert!(check_token(&SecretString::new("hvs.abc")).is_ok());
    }

    #[test]
    fn token_file_reads_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "hvs.first\nother\n").unwrap();
        assert_eq!(read_token_file(&p).unwrap().expose(), "hvs.first");
        std::fs::write(&p, "\n").unwrap();
        assert!(read_token_file(&p).is_err());
    }

    #[test]
    fn segments_cannot_change_the_path() {
        assert_eq!(encode_segment("read-only_1.x"), "read-only_1.x");
        assert_eq!(encode_segment("../a b?c#"), "..%2Fa%20b%3Fc%23");
        assert_eq!(encode_path("app/db config"), "app/db%20config");
    }

    #[test]
    fn errors_are_one_line_and_name_the_path() {
        let e = ApiError::Status {
            method: "PUT".into(),
            path: "sys/leases/revoke".into(),
            status: 403,
            errors: vec!["permission\ndenied".into()],
        };
        assert_eq!(
            e.to_string(),
            "vault refused PUT /v1/sys/leases/revoke (403): permission denied"
        );
        assert!(!e.is_transient());
    }
}
