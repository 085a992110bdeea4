//! What a request to the vault is, and what it answers, independent of HTTP.
//!
//! The HTTP layer turns `/v1/<path>` into a [`Request`] (method to [`Operation`], body to
//! `data`, `X-Vault-Token` to the caller's [`TokenEntry`]), finds the mount, checks the ACL and
//! hands the request to the mount's engine, whose [`Response`] it writes back in Vault's shape.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// What a request does, as Vault names it; each maps to one ACL capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Read,
    List,
    Create,
    Update,
    Patch,
    Delete,
}

impl Operation {
    /// The lower-case name, which is also the ACL capability it needs.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::List => "list",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
        }
    }
}

/// The caller behind a token, as stored by the token store.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenEntry {
    /// HMAC of the token string: the storage key. The token itself is never stored.
    pub id: String,
    /// A public handle for the token (lookup and revoke without knowing the token).
    pub accessor: String,
    /// HMAC id of the parent token; `None` for an orphan.
    pub parent: Option<String>,
    /// Policy names, sorted, without duplicates; `root` grants everything.
    pub policies: Vec<String>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    pub display_name: String,
    /// The path that created it: `auth/token/create`, `auth/approle/login`, ...
    pub path: String,
    /// Remaining uses; 0 is unlimited.
    pub num_uses: u32,
    /// Unix seconds.
    pub creation_time: i64,
    /// Unix seconds; 0 never expires (root tokens only).
    pub expire_time: i64,
    /// The TTL given at creation, in seconds (renewals move `expire_time`, not this).
    pub ttl: i64,
    /// Hard limit on the token's life in seconds from creation; 0 is none beyond the system max.
    pub explicit_max_ttl: i64,
    /// Periodic tokens renew to this many seconds each time, without a max; 0 is not periodic.
    #[serde(default)]
    pub period: i64,
    pub renewable: bool,
    #[serde(default)]
    pub bound_cidrs: Vec<String>,
}

impl std::fmt::Debug for TokenEntry {
    // The id is an HMAC, not the token; still keep it short in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("display_name", &self.display_name)
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
}

impl TokenEntry {
    /// Whether the token carries the `root` policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }
}

/// One request, after HTTP decoding.
#[derive(Clone)]
pub struct Request {
    pub operation: Operation,
    /// The full path below `/v1/`, without a leading or trailing slash: `secret/data/app`.
    pub path: String,
    /// The mount's path with its trailing slash: `secret/`.
    pub mount: String,
    /// The path below the mount: `data/app` (may be empty).
    pub rel: String,
    /// The JSON body (an empty map when there is none).
    pub data: Map<String, Value>,
    /// Query parameters (`version=2`, `list=true`).
    pub query: BTreeMap<String, String>,
    /// The caller, when the path needs a token.
    pub token: Option<Arc<TokenEntry>>,
    /// The token string itself, only for the token engine's `*-self` paths.
    pub client_token: Option<seawall_core::Secret<String>>,
    pub client_addr: Option<IpAddr>,
    pub request_id: String,
}

impl std::fmt::Debug for Request {
    // The body may hold secret values: only its field names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("fields", &self.data.keys().collect::<Vec<_>>())
            .field("token", &self.token)
            .field("client_addr", &self.client_addr)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// A request for tests and internal callers.
    pub fn new(operation: Operation, mount: &str, rel: &str) -> Self {
        let mount = if mount.ends_with('/') {
            mount.to_owned()
        } else {
            format!("{mount}/")
        };
        Self {
            operation,
            path: format!("{mount}{rel}").trim_end_matches('/').to_owned(),
            mount,
            rel: rel.to_owned(),
            data: Map::new(),
            query: BTreeMap::new(),
            token: None,
            client_token: None,
            client_addr: None,
            request_id: String::new(),
        }
    }

    /// Sets the body.
    pub fn with_data(mut self, data: Value) -> Self {
        if let Value::Object(m) = data {
            self.data = m;
        }
        self
    }

    /// Sets the caller.
    pub fn with_token(mut self, token: Arc<TokenEntry>) -> Self {
        self.token = Some(token);
        self
    }

    /// A body field as a string, or a clear error naming the field.
    pub fn str_field(&self, name: &str) -> Result<Option<&str>, crate::VaultError> {
        match self.data.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(crate::VaultError::invalid(format!(
                "field `{name}` must be a string"
            ))),
        }
    }

    /// A body field or query parameter (Vault accepts both for GETs) as a string.
    pub fn param(&self, name: &str) -> Option<String> {
        match self.data.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => self.query.get(name).cloned(),
        }
    }
}

/// A lease attached to a response (`lease_id`, `lease_duration`, `renewable`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub lease_id: String,
    /// Seconds from now.
    pub lease_duration: i64,
    pub renewable: bool,
}

/// The `auth` block of a login or token-create response.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthInfo {
    pub client_token: String,
    pub accessor: String,
    pub policies: Vec<String>,
    pub token_policies: Vec<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub lease_duration: i64,
    pub renewable: bool,
    pub entity_id: String,
    pub token_type: String,
    pub orphan: bool,
    pub num_uses: u32,
    pub mfa_requirement: Option<Value>,
}

impl std::fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthInfo")
            .field("client_token", &"<redacted>")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

/// What an engine answers.
#[derive(Clone, Default)]
pub struct Response {
    /// 200 with a body, or 204 when there is nothing to say.
    pub status: u16,
    pub data: Option<Value>,
    pub lease: Option<LeaseInfo>,
    pub auth: Option<AuthInfo>,
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Response {
    // `data` may hold secret values: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("lease", &self.lease)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// 200 with `data`.
    pub fn data(data: Value) -> Self {
        Self {
            status: 200,
            data: Some(data),
            ..Self::default()
        }
    }

    /// 204, no body.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            ..Self::default()
        }
    }

    /// A `LIST` answer: `{"keys": [...]}`; 404 when there is nothing, as Vault does.
    pub fn list(keys: Vec<String>) -> Result<Self, crate::VaultError> {
        if keys.is_empty() {
            return Err(crate::VaultError::NotFound(String::new()));
        }
        Ok(Self::data(serde_json::json!({ "keys": keys })))
    }

    /// Attaches a lease.
    pub fn with_lease(mut self, lease: LeaseInfo) -> Self {
        self.lease = Some(lease);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_secret_value() {
        let mut r = Request::new(Operation::Update, "secret", "data/x")
            .with_data(serde_json::json!({"data": {"password": "hunter2"}}));
        r.client_token = Some(seawall_core::Secret::new("hvs.supersecret".into()));
        let text = format!("{r:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("supersecret"),
            "{text}"
        );
        let resp = Response::data(serde_json::json!({"password": "hunter2"}));
        assert!(!format!("{resp:?}").contains("hunter2"));
    }
}
