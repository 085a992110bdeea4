//! AppRole roles: `role/<name>` (create, partial update, read, delete), LIST `role`, and
//! `role/<name>/role-id` (read, set).
//!
//! A role names the policies and token settings a login gets, and the constraints on its
//! secret ids. Its role id (a UUID unless given) is indexed under an HMAC of the id, so
//! a login finds the role without the id appearing in a storage key.

use super::fields::{
    bool_field, cidr_list, duration_opt, role_name, uint_field, unknown_fields, uuid,
};
use super::AppRoleBackend;
use crate::barrier::Batch;
use crate::error::VaultError;
use crate::request::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A stored role.
#[derive(Clone, Serialize, Deserialize)]
pub struct RoleEntry {
    pub name: String,
    /// Sealed in storage; returned only by `role/<name>/role-id`.
    pub role_id: String,
    pub bind_secret_id: bool,
    pub secret_id_bound_cidrs: Vec<String>,
    /// Uses of a new secret id; 0 is unlimited.
    pub secret_id_num_uses: u32,
    /// Seconds a new secret id lives; 0 is forever.
    pub secret_id_ttl: i64,
    pub token_policies: Vec<String>,
    pub token_ttl: i64,
    pub token_max_ttl: i64,
    pub token_explicit_max_ttl: i64,
    pub token_num_uses: u32,
    pub token_period: i64,
    pub token_bound_cidrs: Vec<String>,
    pub token_no_default_policy: bool,
}

impl std::fmt::Debug for RoleEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleEntry")
            .field("name", &self.name)
            .field("token_policies", &self.token_policies)
            .finish_non_exhaustive()
    }
}

impl RoleEntry {
    fn new(name: String) -> Self {
        Self {
            name,
            role_id: uuid(),
            bind_secret_id: true,
            secret_id_bound_cidrs: Vec::new(),
            secret_id_num_uses: 0,
            secret_id_ttl: 0,
            token_policies: Vec::new(),
            token_ttl: 0,
            token_max_ttl: 0,
            token_explicit_max_ttl: 0,
            token_num_uses: 0,
            token_period: 0,
            token_bound_cidrs: Vec::new(),
            token_no_default_policy: false,
        }
    }

    /// The role as `GET role/<name>` shows it (Vault's field names, old aliases included).
    fn to_json(&self) -> serde_json::Value {
        json!({
            "bind_secret_id": self.bind_secret_id,
            "local_secret_ids": false,
            "secret_id_bound_cidrs": self.secret_id_bound_cidrs,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl,
            "token_bound_cidrs": self.token_bound_cidrs,
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_max_ttl": self.token_max_ttl,
            "token_no_default_policy": self.token_no_default_policy,
            "token_num_uses": self.token_num_uses,
            "token_period": self.token_period,
            "token_policies": self.token_policies,
            "token_ttl": self.token_ttl,
            "token_type": "default",
            "policies": self.token_policies,
            "period": self.token_period,
        })
    }
}

const ROLE_FIELDS: &[&str] = &[
    "bind_secret_id",
    "secret_id_bound_cidrs",
    "secret_id_num_uses",
    "secret_id_ttl",
    "token_policies",
    "policies",
    "token_ttl",
    "token_max_ttl",
    "token_explicit_max_ttl",
    "token_num_uses",
    "token_period",
    "period",
    "token_bound_cidrs",
    "token_no_default_policy",
    "token_type",
    "local_secret_ids",
    "enable_local_secret_ids",
    "role_id",
    "role_name",
];

/// Applies the fields given in `req` to `role`; absent fields keep their value.
fn apply(role: &mut RoleEntry, req: &Request) -> Result<(), VaultError> {
    let d = &req.data;
    if let Some(b) = bool_field(d, "bind_secret_id")? {
        role.bind_secret_id = b;
    }
    if let Some(c) = cidr_list(d, "secret_id_bound_cidrs")? {
        role.secret_id_bound_cidrs = c;
    }
    if let Some(n) = uint_field(d, "secret_id_num_uses")? {
        role.secret_id_num_uses = n;
    }
    if let Some(t) = duration_opt(d, "secret_id_ttl")? {
        role.secret_id_ttl = t;
    }
    let policies_field = if d.contains_key("token_policies") {
        "token_policies"
    } else {
        "policies"
    };
    if let Some(p) = crate::token::string_list(d, policies_field)? {
        let mut p: Vec<String> = p.into_iter().map(|s| s.to_lowercase()).collect();
        p.sort();
        p.dedup();
        if p.iter().any(|x| x == "root") {
            return Err(VaultError::invalid(format!(
                "field `{policies_field}`: auth methods cannot create root tokens; remove `root`"
            )));
        }
        role.token_policies = p;
    }
    for (field, slot) in [
        ("token_ttl", &mut role.token_ttl),
        ("token_max_ttl", &mut role.token_max_ttl),
        ("token_explicit_max_ttl", &mut role.token_explicit_max_ttl),
    ] {
        if let Some(t) = duration_opt(d, field)? {
            *slot = t;
        }
    }
    let period_field = if d.contains_key("token_period") {
        "token_period"
    } else {
        "period"
    };
    if let Some(t) = duration_opt(d, period_field)? {
        role.token_period = t;
    }
    if let Some(n) = uint_field(d, "token_num_uses")? {
        role.token_num_uses = n;
    }
    if let Some(c) = cidr_list(d, "token_bound_cidrs")? {
        role.token_bound_cidrs = c;
    }
    if let Some(b) = bool_field(d, "token_no_default_policy")? {
        role.token_no_default_policy = b;
    }
    match req.str_field("token_type")? {
        None | Some("" | "default" | "service" | "default-service") => {}
        Some(other) => {
            return Err(VaultError::invalid(format!(
                "field `token_type`: \"{}\" is not supported; Seawall issues service tokens",
                other.escape_debug()
            )))
        }
    }
    if let Some(id) = req.str_field("role_id")? {
        role.role_id = check_role_id(id)?;
    }
    if role.token_max_ttl > 0 && role.token_ttl > role.token_max_ttl {
        return Err(VaultError::invalid(
            "field `token_ttl` is greater than `token_max_ttl`",
        ));
    }
    if !role.bind_secret_id
        && role.secret_id_bound_cidrs.is_empty()
        && role.token_bound_cidrs.is_empty()
    {
        return Err(VaultError::invalid(
            "at least one constraint must be enabled on the role: bind_secret_id, secret_id_bound_cidrs or token_bound_cidrs",
        ));
    }
    Ok(())
}

fn check_role_id(id: &str) -> Result<String, VaultError> {
    let id = id.trim();
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(VaultError::invalid(
            "field `role_id` must be 1 to 256 printable characters",
        ));
    }
    Ok(id.to_owned())
}

fn missing_role(name: &str) -> VaultError {
    VaultError::NotFound(format!("role \"{name}\" does not exist"))
}

/// A 204, or a 200 carrying Vault's warning about ignored fields.
pub(super) fn done(warning: Option<String>) -> Response {
    match warning {
        None => Response::no_content(),
        Some(w) => Response {
            status: 200,
            warnings: vec![w],
            ..Response::default()
        },
    }
}

impl AppRoleBackend {
    pub(super) fn role_key(&self, name: &str) -> String {
        format!("{}role/{name}", self.prefix)
    }

    fn role_id_key(&self, role_id: &str) -> Result<String, VaultError> {
        Ok(format!(
            "{}role-id/{}",
            self.prefix,
            self.hmac("role-id", role_id)?
        ))
    }

    pub(super) fn get_role(&self, name: &str) -> Result<Option<RoleEntry>, VaultError> {
        self.barrier.get(&self.role_key(name))
    }

    /// The role a role id belongs to.
    pub(super) fn role_by_id(&self, role_id: &str) -> Result<Option<RoleEntry>, VaultError> {
        let Some(name) = self.barrier.get::<String>(&self.role_id_key(role_id)?)? else {
            return Ok(None);
        };
        Ok(self.get_role(&name)?.filter(|r| r.role_id == role_id))
    }

    /// Stores `role`, moving its role-id index when the id changed. Caller holds the lock.
    fn save_role(&self, role: &RoleEntry, old_id: Option<&str>) -> Result<(), VaultError> {
        let new_key = self.role_id_key(&role.role_id)?;
        if old_id != Some(role.role_id.as_str()) {
            if let Some(owner) = self.barrier.get::<String>(&new_key)? {
                if owner != role.name && self.get_role(&owner)?.is_some() {
                    return Err(VaultError::invalid(
                        "field `role_id`: the value is already used by another role",
                    ));
                }
            }
        }
        let mut batch = Batch::new();
        if let Some(old) = old_id.filter(|o| *o != role.role_id) {
            batch.delete(self.role_id_key(old)?);
        }
        batch.put(self.role_key(&role.name), role);
        batch.put(new_key, &role.name);
        self.barrier.commit(batch)
    }

    pub(super) fn role_list(&self) -> Result<Response, VaultError> {
        Response::list(self.barrier.children(&format!("{}role/", self.prefix))?)
    }

    pub(super) fn role_read(&self, name: &str) -> Result<Response, VaultError> {
        let name = role_name(name)?;
        let role = self.get_role(&name)?.ok_or_else(|| missing_role(&name))?;
        Ok(Response::data(role.to_json()))
    }

    pub(super) fn role_write(&self, name: &str, req: &Request) -> Result<Response, VaultError> {
        let name = role_name(name)?;
        let _guard = self.guard();
        let existing = self.get_role(&name)?;
        let old_id = existing.as_ref().map(|r| r.role_id.clone());
        let mut role = existing.unwrap_or_else(|| RoleEntry::new(name.clone()));
        apply(&mut role, req)?;
        self.save_role(&role, old_id.as_deref())?;
        Ok(done(unknown_fields(&req.data, ROLE_FIELDS)))
    }

    pub(super) fn role_delete(&self, name: &str) -> Result<Response, VaultError> {
        let name = role_name(name)?;
        let _guard = self.guard();
        let Some(role) = self.get_role(&name)? else {
            return Ok(Response::no_content());
        };
        let mut batch = Batch::new();
        batch.delete(self.role_key(&name));
        batch.delete(self.role_id_key(&role.role_id)?);
        for prefix in [self.secret_prefix(&name), self.accessor_prefix(&name)] {
            for key in self.barrier.keys(&prefix)? {
                batch.delete(key);
            }
        }
        self.barrier.commit(batch)?;
        Ok(Response::no_content())
    }

    pub(super) fn role_id_read(&self, name: &str) -> Result<Response, VaultError> {
        let name = role_name(name)?;
        let role = self.get_role(&name)?.ok_or_else(|| missing_role(&name))?;
        Ok(Response::data(json!({ "role_id": role.role_id })))
    }

    pub(super) fn role_id_write(&self, name: &str, req: &Request) -> Result<Response, VaultError> {
        let name = role_name(name)?;
        let id = check_role_id(
            req.str_field("role_id")?
                .ok_or_else(|| VaultError::invalid("field `role_id` is required"))?,
        )?;
        let _guard = self.guard();
        let mut role = self.get_role(&name)?.ok_or_else(|| missing_role(&name))?;
        let old = std::mem::replace(&mut role.role_id, id);
        self.save_role(&role, Some(&old))?;
        Ok(done(unknown_fields(&req.data, &["role_id"])))
    }

    /// Missing-role error for the secret-id paths.
    pub(super) fn require_role(&self, name: &str) -> Result<RoleEntry, VaultError> {
        self.get_role(name)?.ok_or_else(|| missing_role(name))
    }
}
