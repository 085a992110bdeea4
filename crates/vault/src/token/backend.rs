//! The token auth method mounted at `auth/token/`, with Vault's paths and bodies: `create`,
//! `create-orphan`, `lookup`, `lookup-self`, `lookup-accessor`, `renew`, `renew-self`,
//! `renew-accessor`, `revoke`, `revoke-self`, `revoke-accessor`, `revoke-orphan`, and LIST
//! `accessors`. `create-orphan`, `no_parent`, `revoke-orphan` and `accessors` need a root
//! caller, or `sudo` on the path when core wires [`TokenBackend::with_sudo_check`].

use super::fields::{bool_field, duration_field, string_list, string_map, uint_field};
use super::{rfc3339, TokenSpec, TokenStore};
use crate::backend::Backend;
use crate::error::VaultError;
use crate::lease::LeaseManager;
use crate::request::{Operation, Request, Response, TokenEntry};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;

/// Decides whether the caller of a request holds `sudo` on its path (core wires the ACL).
pub type SudoCheck = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

/// The `auth/token/` engine.
pub struct TokenBackend {
    tokens: Arc<TokenStore>,
    leases: Arc<LeaseManager>,
    sudo: Option<SudoCheck>,
}

/// The `data` of Vault's token lookup answers. `id` (the token itself) is only given for
/// `lookup-self`.
pub fn lookup_data(e: &TokenEntry, now: i64, id: Option<&str>) -> Value {
    let mut v = json!({
        "accessor": e.accessor,
        "creation_time": e.creation_time,
        "creation_ttl": e.ttl,
        "display_name": e.display_name,
        "entity_id": "",
        "expire_time": (e.expire_time > 0).then(|| rfc3339(e.expire_time)),
        "explicit_max_ttl": e.explicit_max_ttl,
        "issue_time": rfc3339(e.creation_time),
        "meta": (!e.meta.is_empty()).then(|| e.meta.clone()),
        "num_uses": e.num_uses,
        "orphan": e.parent.is_none(),
        "path": e.path,
        "policies": e.policies,
        "renewable": e.renewable,
        "ttl": if e.expire_time == 0 { 0 } else { (e.expire_time - now).max(0) },
        "type": "service",
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(id) = id {
            obj.insert("id".into(), id.into());
        }
        if e.period > 0 {
            obj.insert("period".into(), e.period.into());
        }
        if !e.bound_cidrs.is_empty() {
            obj.insert("bound_cidrs".into(), e.bound_cidrs.clone().into());
        }
    }
    v
}

/// Vault's display names for tokens made here: `token` or `token-<name>`.
fn display_name(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "token".into()
    } else {
        format!("token-{cleaned}")
    }
}

impl TokenBackend {
    /// The engine over `tokens`; revoking a token here revokes its leases in `leases`.
    pub fn new(tokens: Arc<TokenStore>, leases: Arc<LeaseManager>) -> Self {
        tokens.attach_leases(&leases);
        Self {
            tokens,
            leases,
            sudo: None,
        }
    }

    /// Lets callers with `sudo` on the path (not only root) create orphans and use
    /// `revoke-orphan`.
    pub fn with_sudo_check(mut self, check: SudoCheck) -> Self {
        self.sudo = Some(check);
        self
    }

    fn privileged(&self, req: &Request, caller: &TokenEntry) -> bool {
        caller.is_root() || self.sudo.as_ref().is_some_and(|f| f(req))
    }

    fn caller(req: &Request) -> Result<Arc<TokenEntry>, VaultError> {
        req.token.clone().ok_or(VaultError::PermissionDenied)
    }

    fn self_token(req: &Request) -> Result<(String, Arc<TokenEntry>), VaultError> {
        let entry = Self::caller(req)?;
        let token = req
            .client_token
            .as_ref()
            .map(|t| t.expose().clone())
            .ok_or(VaultError::PermissionDenied)?;
        Ok((token, entry))
    }

    /// The token named by the `token` field; unknown or expired tokens are refused.
    fn token_field(&self, req: &Request) -> Result<(String, Arc<TokenEntry>), VaultError> {
        let token = req
            .param("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| VaultError::invalid("missing field `token`"))?;
        let entry = self
            .tokens
            .lookup(&token)?
            .ok_or(VaultError::PermissionDenied)?;
        Ok((token, entry))
    }

    fn accessor_field(&self, req: &Request) -> Result<Arc<TokenEntry>, VaultError> {
        let acc = req
            .param("accessor")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| VaultError::invalid("missing field `accessor`"))?;
        self.tokens
            .lookup_accessor(&acc)?
            .ok_or_else(|| VaultError::invalid(format!("invalid accessor `{acc}`")))
    }

    fn create(&self, req: &Request, orphan: bool) -> Result<Response, VaultError> {
        let parent = Self::caller(req)?;
        let d = &req.data;
        if d.get("id").is_some_and(|v| !v.is_null()) {
            return Err(VaultError::invalid(
                "field `id`: choosing the token string is not supported",
            ));
        }
        if d.get("role_name").is_some_and(|v| !v.is_null() && v != "") {
            return Err(VaultError::invalid(
                "field `role_name`: token roles are not supported",
            ));
        }
        if let Some(t) = req.str_field("type")? {
            if t != "service" && t != "default" {
                return Err(VaultError::invalid(format!(
                    "field `type`: `{t}` tokens are not supported, only `service`"
                )));
            }
        }
        let no_parent = orphan || bool_field(d, "no_parent")?.unwrap_or(false);
        if no_parent && !self.privileged(req, &parent) {
            return Err(VaultError::invalid(
                "root or sudo privileges are required to create an orphan token",
            ));
        }
        let spec = TokenSpec {
            parent: Some(Arc::clone(&parent)),
            policies: string_list(d, "policies")?.unwrap_or_default(),
            ttl: duration_field(d, "ttl")?,
            explicit_max_ttl: duration_field(d, "explicit_max_ttl")?,
            period: duration_field(d, "period")?,
            renewable: bool_field(d, "renewable")?.unwrap_or(true),
            num_uses: uint_field(d, "num_uses")?,
            display_name: display_name(req.str_field("display_name")?),
            meta: string_map(d, "meta")?,
            path: req.path.clone(),
            bound_cidrs: string_list(d, "bound_cidrs")?.unwrap_or_default(),
            no_parent,
            no_default_policy: bool_field(d, "no_default_policy")?.unwrap_or(false),
        };
        let asked = spec.ttl;
        let (token, entry) = self.tokens.create(spec)?;
        let mut resp = auth_response(TokenStore::auth_info(&token, &entry, self.tokens.now()));
        if entry.period == 0 && asked > entry.ttl {
            resp.warnings.push(format!(
                "TTL of {asked}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
                entry.ttl
            ));
        }
        Ok(resp)
    }

    fn renew(&self, req: &Request, token: &str, e: &TokenEntry) -> Result<Response, VaultError> {
        let inc = duration_field(&req.data, "increment")?;
        let e = self.tokens.renew(&e.id, inc)?;
        Ok(auth_response(TokenStore::auth_info(
            token,
            &e,
            self.tokens.now(),
        )))
    }

    async fn revoke(&self, e: &TokenEntry, orphan: bool) -> Result<Response, VaultError> {
        let ids = if orphan {
            self.tokens.revoke_orphan(&e.id)?
        } else {
            self.tokens.revoke_tree(&e.id)?
        };
        self.leases.revoke_by_tokens(&ids).await;
        Ok(Response::no_content())
    }
}

fn auth_response(auth: crate::request::AuthInfo) -> Response {
    Response {
        status: 200,
        auth: Some(auth),
        ..Response::default()
    }
}

fn is_write(op: Operation) -> bool {
    matches!(op, Operation::Create | Operation::Update)
}

#[async_trait]
impl Backend for TokenBackend {
    fn kind(&self) -> &'static str {
        "token"
    }

    async fn handle(&self, req: &Request) -> Result<Response, VaultError> {
        let rel = req.rel.trim_matches('/');
        let op = req.operation;
        let now = self.tokens.now();
        let unsupported = || VaultError::Unsupported(format!("{} on `{}`", op.as_str(), req.path));
        match rel {
            "create" | "create-orphan" if is_write(op) => self.create(req, rel == "create-orphan"),
            "lookup" if is_write(op) || op == Operation::Read => {
                let (_, e) = self.token_field(req)?;
                Ok(Response::data(lookup_data(&e, now, None)))
            }
            "lookup-self" if is_write(op) || op == Operation::Read => {
                let (token, e) = Self::self_token(req)?;
                Ok(Response::data(lookup_data(&e, now, Some(&token))))
            }
            "lookup-accessor" if is_write(op) => {
                let e = self.accessor_field(req)?;
                Ok(Response::data(lookup_data(&e, now, None)))
            }
            "renew" if is_write(op) => {
                let (token, e) = self.token_field(req)?;
                self.renew(req, &token, &e)
            }
            "renew-self" if is_write(op) => {
                let (token, e) = Self::self_token(req)?;
                self.renew(req, &token, &e)
            }
            "renew-accessor" if is_write(op) => {
                let e = self.accessor_field(req)?;
                self.renew(req, "", &e)
            }
            "revoke" if is_write(op) => {
                let token = req
                    .param("token")
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| VaultError::invalid("missing field `token`"))?;
                match self.tokens.lookup(&token)? {
                    Some(e) => self.revoke(&e, false).await,
                    None => Ok(Response::no_content()),
                }
            }
            "revoke-self" if is_write(op) => {
                let e = Self::caller(req)?;
                self.revoke(&e, false).await
            }
            "revoke-accessor" if is_write(op) => {
                let e = self.accessor_field(req)?;
                self.revoke(&e, false).await
            }
            "revoke-orphan" if is_write(op) => {
                let caller = Self::caller(req)?;
                if !self.privileged(req, &caller) {
                    return Err(VaultError::PermissionDenied);
                }
                let (_, e) = self.token_field(req)?;
                self.revoke(&e, true).await
            }
            "accessors" if op == Operation::List => {
                let caller = Self::caller(req)?;
                if !self.privileged(req, &caller) {
                    return Err(VaultError::PermissionDenied);
                }
                Response::list(self.tokens.accessors()?)
            }
            "accessors" | "create" | "create-orphan" | "lookup" | "lookup-self"
            | "lookup-accessor" | "renew" | "renew-self" | "renew-accessor" | "revoke"
            | "revoke-self" | "revoke-accessor" | "revoke-orphan" => Err(unsupported()),
            _ => Err(VaultError::NotFound(format!(
                "no handler for route `{}`",
                req.path
            ))),
        }
    }
}
