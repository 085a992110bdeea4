//! The configuration model: one TOML file, every key optional, overridable from the
//! environment.
//!
//! With no file at all, every key takes the default that `seawall up` needs on a laptop. An
//! environment variable `SEAWALL_<SECTION>__<KEY>` (double underscore between levels, e.g.
//! `SEAWALL_GATEWAY__LISTEN=0.0.0.0:8000` or `SEAWALL_TOKENS__ACCESS_TTL_SECS=120`) overrides
//! the file. Unknown keys are errors, so a typo never silently falls back to a default.
//! `config/seawall.example.toml` in the repository documents every key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The hard ceiling on an access token's lifetime, whatever the configuration says.
pub const MAX_ACCESS_TTL_SECS: u64 = 3600;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file `{path}`{location}: {message}")]
    Parse {
        path: PathBuf,
        location: String,
        message: String,
    },
    #[error("environment variable `{var}`: {message}")]
    Env { var: String, message: String },
    #[error("config{origin} `{key}`: {message}")]
    Invalid {
        /// ` file `<path>``, or empty when the configuration did not come from a file.
        origin: String,
        key: String,
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where state lives: the SQLite store, the root key, generated certificates.
    pub data_dir: Option<PathBuf>,
    pub server: ServerConfig,
    pub gateway: GatewayConfig,
    pub tls: TlsConfig,
    pub tokens: TokenConfig,
    pub session: SessionConfig,
    pub mfa: MfaConfig,
    pub throttle: ThrottleConfig,
    pub policy: PolicyConfig,
    pub geo: GeoConfig,
    pub device: DeviceConfig,
    pub risk: RiskConfig,
    pub log: LogConfig,
    /// Routes from the gateway to upstreams, tried most specific first.
    #[serde(rename = "route")]
    pub routes: Vec<RouteConfig>,
}

/// The control plane.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the control-plane API (HTTPS).
    pub listen: SocketAddr,
    /// The URL clients use to reach the control plane; it is the token issuer (`iss`).
    pub public_url: Option<String>,
    /// Address of the admin listener serving Prometheus `/metrics` (plain HTTP).
    pub admin_listen: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: None,
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
        }
    }
}

/// The identity-aware proxy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address the proxy listens on (HTTPS, or plain HTTP when `tls = false`).
    pub listen: SocketAddr,
    /// Serve TLS on `listen` (rustls). Turn off only behind a TLS-terminating load balancer.
    pub tls: bool,
    /// The URL browsers use to reach the gateway; sign-in redirects go back only to it.
    pub public_url: Option<String>,
    /// For `seawall proxy`: the control plane to fetch keys, revocations and policies from.
    pub server_url: Option<String>,
    /// For `seawall proxy`: trust this PEM CA bundle (or certificate) for `server_url`.
    pub server_ca: Option<PathBuf>,
    /// Peers allowed to set `X-Forwarded-For`; from anyone else the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Header carrying the signed identity assertion to upstreams.
    pub assertion_header: String,
    /// Lifetime of an identity assertion, in seconds (at most 300).
    pub assertion_ttl_secs: u64,
    /// How often `seawall proxy` polls the control plane for revocations and keys.
    pub sync_interval_ms: u64,
    /// Largest request header block accepted, in bytes.
    pub max_header_bytes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            tls: true,
            public_url: None,
            server_url: None,
            server_ca: None,
            trusted_proxies: Vec::new(),
            assertion_header: "X-Seawall-Assertion".into(),
            assertion_ttl_secs: 120,
            sync_interval_ms: 500,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// The TLS certificate for the server and gateway listeners.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain. Empty: a self-signed certificate is generated in the data dir.
    pub cert: Option<PathBuf>,
    /// PEM private key for `cert`.
    pub key: Option<PathBuf>,
}

/// Access and refresh tokens and signing keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// Access-token lifetime in seconds; at most 3600.
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime in seconds (each use rotates it).
    pub refresh_ttl_secs: u64,
    /// How often the signing key rotates, in seconds.
    pub key_rotation_secs: u64,
    /// `EdDSA` (Ed25519) or `ES256` (P-256).
    pub algorithm: String,
    /// The `aud` of access tokens.
    pub audience: String,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_ttl_secs: 300,
            refresh_ttl_secs: 8 * 3600,
            key_rotation_secs: 24 * 3600,
            algorithm: "EdDSA".into(),
            audience: "seawall".into(),
        }
    }
}

/// Browser and CLI sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// Longest a session lives, in seconds, however active.
    pub ttl_secs: u64,
    /// Name of the session cookie.
    pub cookie_name: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 8 * 3600,
            cookie_name: "seawall_session".into(),
        }
    }
}

/// Second factors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaConfig {
    /// The issuer shown in authenticator apps.
    pub totp_issuer: String,
    /// How many one-time recovery codes a user gets.
    pub recovery_codes: usize,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            totp_issuer: "Seawall".into(),
            recovery_codes: 10,
        }
    }
}

/// Sign-in throttling: exponential backoff per user and per source address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failures allowed before backoff starts.
    pub free_failures: u32,
    /// First backoff, in milliseconds; doubles with every further failure.
    pub base_delay_ms: u64,
    /// Longest backoff (a lockout), in seconds.
    pub max_delay_secs: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            free_failures: 3,
            base_delay_ms: 1000,
            max_delay_secs: 900,
        }
    }
}

/// Cedar policies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Directory of `*.cedar` files (relative paths are relative to the data dir).
    pub dir: Option<PathBuf>,
    /// IANA time zone for the `hour` and `weekday` context attributes.
    pub timezone: String,
    /// How often the policy directory is re-read, in milliseconds.
    pub reload_interval_ms: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            dir: None,
            timezone: "UTC".into(),
            reload_interval_ms: 1000,
        }
    }
}

/// Where a source address is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeoConfig {
    /// A MaxMind-format (`.mmdb`) country or city database.
    pub mmdb: Option<PathBuf>,
    /// CIDR to ISO country code, used when no `mmdb` is configured.
    pub cidr: BTreeMap<String, String>,
}

/// Device identity and posture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// PEM CA that issues device certificates; enables optional mTLS on the gateway.
    pub ca_cert: Option<PathBuf>,
    /// Ed25519 public keys (base64url, 32 bytes) of trusted posture agents.
    pub posture_agent_keys: Vec<String>,
    /// Header carrying a signed posture assertion.
    pub posture_header: String,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            ca_cert: None,
            posture_agent_keys: Vec::new(),
            posture_header: "X-Seawall-Device-Posture".into(),
        }
    }
}

/// Behavioural risk scoring.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Fastest plausible travel between two sign-ins, in km/h (an airliner is ~900).
    pub max_travel_kmh: f64,
    /// A request rate this many times the user's baseline counts as unusual.
    pub rate_factor: f64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            max_travel_kmh: 1000.0,
            rate_factor: 10.0,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: String,
    /// A `tracing` filter such as `info` or `seawall_gateway=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "human".into(),
            level: "info".into(),
        }
    }
}

/// One route: requests whose host and path match go to `upstream`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's name; Cedar sees it as `Route::"<name>"`.
    pub name: String,
    /// Host to match (without port); `*` or absent matches any.
    #[serde(default)]
    pub host: Option<String>,
    /// Path prefix to match, on a segment boundary.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// `http://` or `https://` URL of the upstream.
    pub upstream: String,
    /// For an `https` upstream: a PEM CA to trust instead of the system roots.
    #[serde(default)]
    pub upstream_ca: Option<PathBuf>,
    /// Strip `path_prefix` before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
}

fn default_prefix() -> String {
    "/".into()
}

impl Config {
    /// Reads the file (when given) and applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("SEAWALL_") && k.contains("__"))
            .collect();
        Self::load_with_env(path, &env)
    }

    /// Like [`Config::load`], with the environment passed in (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let (text, file) = match path {
            Some(p) => {
                let t = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                (t, p.to_owned())
            }
            None => (String::new(), PathBuf::from("<defaults>")),
        };
        let mut doc: toml::Table =
            toml::from_str(&text).map_err(|e| parse_error(&file, &text, &e))?;
        for (var, value) in env {
            apply_env(&mut doc, var, value)?;
        }
        let config: Config = Config::deserialize(toml::Value::Table(doc.clone())).map_err(|e| {
            // Re-run on the file text alone to get a location when the error is in the file.
            let from_file: Result<Config, _> = toml::from_str(&text);
            match from_file {
                Err(fe) => parse_error(&file, &text, &fe),
                Ok(_) => ConfigError::Env {
                    var: env
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    message: first_line(&e.to_string()),
                },
            }
        })?;
        config.validate().map_err(|e| match e {
            ConfigError::Invalid { key, message, .. } if path.is_some() => ConfigError::Invalid {
                origin: format!(" file `{}`", file.display()),
                key,
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Checks the relations between keys that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: String::new(),
            key: key.into(),
            message,
        };
        if self.tokens.access_ttl_secs == 0 || self.tokens.access_ttl_secs > MAX_ACCESS_TTL_SECS {
            return Err(invalid(
                "tokens.access_ttl_secs",
                format!(
                    "`{}` is out of range; it must be between 1 and {MAX_ACCESS_TTL_SECS}",
                    self.tokens.access_ttl_secs
                ),
            ));
        }
        if !matches!(self.tokens.algorithm.as_str(), "EdDSA" | "ES256") {
            return Err(invalid(
                "tokens.algorithm",
                format!(
                    "`{}` is not supported; use `EdDSA` or `ES256`",
                    self.tokens.algorithm
                ),
            ));
        }
        if self.tokens.key_rotation_secs < 2 * self.tokens.access_ttl_secs {
            return Err(invalid(
                "tokens.key_rotation_secs",
                "must be at least twice `tokens.access_ttl_secs`".into(),
            ));
        }
        if self.gateway.assertion_ttl_secs == 0 || self.gateway.assertion_ttl_secs > 300 {
            return Err(invalid(
                "gateway.assertion_ttl_secs",
                format!(
                    "`{}` is out of range 1..=300",
                    self.gateway.assertion_ttl_secs
                ),
            ));
        }
        for (key, value) in [
            ("session.cookie_name", &self.session.cookie_name),
            ("gateway.assertion_header", &self.gateway.assertion_header),
            ("device.posture_header", &self.device.posture_header),
        ] {
            if !is_token(value) {
                return Err(invalid(
                    key,
                    format!("`{value}` is not a valid name (letters, digits and !#$%&'*+-.^_`|~)"),
                ));
            }
        }
        if !matches!(self.log.format.as_str(), "human" | "json") {
            return Err(invalid(
                "log.format",
                format!("`{}` is not `human` or `json`", self.log.format),
            ));
        }
        for (cidr, country) in &self.geo.cidr {
            if cidr.parse::<ipnet::IpNet>().is_err() {
                return Err(invalid(
                    "geo.cidr",
                    format!("`{cidr}` is not a CIDR network"),
                ));
            }
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    "geo.cidr",
                    format!("`{country}` is not a two-letter country code"),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for r in &self.routes {
            if !names.insert(r.name.as_str()) {
                return Err(invalid("route.name", format!("`{}` is used twice", r.name)));
            }
            if !(r.upstream.starts_with("http://") || r.upstream.starts_with("https://")) {
                return Err(invalid(
                    "route.upstream",
                    format!("`{}` must start with http:// or https://", r.upstream),
                ));
            }
            if !r.path_prefix.starts_with('/') {
                return Err(invalid(
                    "route.path_prefix",
                    format!("`{}` must start with `/`", r.path_prefix),
                ));
            }
        }
        Ok(())
    }

    /// The data directory, `./.seawall` unless configured.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".seawall"))
    }

    /// The policy directory, resolved against the data dir.
    pub fn policy_dir(&self) -> PathBuf {
        match &self.policy.dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => d.clone(),
            None => self.data_dir().join("policies"),
        }
    }

    /// The token issuer: the control plane's public URL.
    pub fn issuer(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("https://{}", self.server.listen))
            .trim_end_matches('/')
            .to_string()
    }

    /// The gateway's public URL.
    pub fn gateway_url(&self) -> String {
        let scheme = if self.gateway.tls { "https" } else { "http" };
        self.gateway
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.gateway.listen))
            .trim_end_matches('/')
            .to_string()
    }
}

/// An RFC 9110 `token`: what header field names and cookie names are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_error(file: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let location = match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or("");
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(":{line}:{col}")
        }
        None => String::new(),
    };
    ConfigError::Parse {
        path: file.to_owned(),
        location,
        message: first_line(e.message()),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// Applies `SEAWALL_A__B=value` as `a.b = value`. The value is read as a TOML value when it
/// parses as one (numbers, booleans, arrays), else as a string.
fn apply_env(doc: &mut toml::Table, var: &str, raw: &str) -> Result<(), ConfigError> {
    let Some(path) = var.strip_prefix("SEAWALL_") else {
        return Ok(());
    };
    let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
    if keys.iter().any(String::is_empty) {
        return Err(ConfigError::Env {
            var: var.into(),
            message: "empty key segment".into(),
        });
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let Some((last, parents)) = keys.split_last() else {
        return Ok(());
    };
    let mut table = doc;
    for k in parents {
        let entry = table
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| ConfigError::Env {
            var: var.into(),
            message: format!("`{k}` is not a section"),
        })?;
    }
    table.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn no_file_gives_working_defaults() {
        let c = Config::load_with_env(None, &[]).unwrap();
        assert_eq!(c.tokens.access_ttl_secs, 300);
        assert_eq!(c.data_dir(), PathBuf::from(".seawall"));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let f = write("[tokens]\naccess_ttl = 5\n");
        let err = Config::load_with_env(Some(f.path()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2:1"), "{err}");
        assert!(err.contains("access_ttl"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn environment_overrides_file() {
        let f = write("[gateway]\nlisten = \"127.0.0.1:1\"\n");
        let env = vec![
            (
                "SEAWALL_GATEWAY__LISTEN".to_string(),
                "127.0.0.1:2".to_string(),
            ),
            (
                "SEAWALL_TOKENS__ACCESS_TTL_SECS".to_string(),
                "60".to_string(),
            ),
        ];
        let c = Config::load_with_env(Some(f.path()), &env).unwrap();
        assert_eq!(c.gateway.listen.port(), 2);
        assert_eq!(c.tokens.access_ttl_secs, 60);
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let env = vec![(
            "SEAWALL_TOKENS__ACCESS_TTL_SECS".to_string(),
            "soon".to_string(),
        )];
        let err = Config::load_with_env(None, &env).unwrap_err().to_string();
        assert!(err.contains("SEAWALL_TOKENS__ACCESS_TTL_SECS"), "{err}");
    }

    #[test]
    fn access_ttl_above_an_hour_is_refused() {
        let f = write("[tokens]\naccess_ttl_secs = 7200\nkey_rotation_secs = 99999\n");
        let err = Config::load_with_env(Some(f.path()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokens.access_ttl_secs"), "{err}");
    }

    #[test]
    fn documented_example_file_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/seawall.example.toml");
        let c = Config::load_with_env(Some(&path), &[]).unwrap();
        let d = Config::default();
        assert_eq!(c.tokens.access_ttl_secs, d.tokens.access_ttl_secs);
        assert_eq!(c.gateway.listen, d.gateway.listen);
        assert_eq!(c.throttle.max_delay_secs, d.throttle.max_delay_secs);
    }

    #[test]
    fn cookie_and_header_names_must_be_tokens() {
        let f = write("[session]\ncookie_name = \"bad name;\"\n");
        let err = Config::load_with_env(Some(f.path()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("session.cookie_name"), "{err}");
        let f = write("[gateway]\nassertion_header = \"Bad Header\"\n");
        assert!(Config::load_with_env(Some(f.path()), &[]).is_err());
    }

    #[test]
    fn routes_parse_and_duplicates_are_refused() {
        let f = write(
            "[[route]]\nname = \"a\"\nupstream = \"http://127.0.0.1:1\"\n\
             [[route]]\nname = \"a\"\nupstream = \"http://127.0.0.1:2\"\n",
        );
        let err = Config::load_with_env(Some(f.path()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("used twice"), "{err}");
    }
}
