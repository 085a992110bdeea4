//! Secret ids of a role: generate (`role/<n>/secret-id`), set (`custom-secret-id`), LIST
//! (accessors), lookup and destroy by value or by accessor, and `tidy/secret-id`.
//!
//! A secret id is stored only as an HMAC: the entry lives at
//! `approle/<mount>/secret-id/<role>/<hmac>`, and `approle/<mount>/accessor/<role>/<accessor>`
//! points to that HMAC so an operator can manage it without knowing the value. The value is
//! returned once, when it is made. Expired entries are removed when met (lookup, login, tidy).

use super::fields::{
    cidr_list, cidrs_within, duration_opt, metadata, uint_field, unknown_fields, uuid,
};
use super::role::RoleEntry;
use super::AppRoleBackend;
use crate::barrier::Batch;
use crate::error::VaultError;
use crate::request::{Request, Response};
use crate::token::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// A stored secret id (without its value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretIdEntry {
    pub accessor: String,
    pub cidr_list: Vec<String>,
    pub token_bound_cidrs: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub creation_time: i64,
    /// 0: never expires.
    pub expiration_time: i64,
    pub last_updated_time: i64,
    /// Uses left; 0 is unlimited.
    pub num_uses: u32,
    pub ttl: i64,
}

impl SecretIdEntry {
    pub fn expired(&self, now: i64) -> bool {
        self.expiration_time != 0 && now >= self.expiration_time
    }

    fn to_json(&self) -> serde_json::Value {
        let never = "0001-01-01T00:00:00Z".to_owned();
        json!({
            "cidr_list": self.cidr_list,
            "creation_time": rfc3339(self.creation_time),
            "expiration_time": if self.expiration_time == 0 { never } else { rfc3339(self.expiration_time) },
            "last_updated_time": rfc3339(self.last_updated_time),
            "metadata": self.metadata,
            "secret_id_accessor": self.accessor,
            "secret_id_num_uses": self.num_uses,
            "secret_id_ttl": self.ttl,
            "token_bound_cidrs": self.token_bound_cidrs,
        })
    }
}

const GENERATE_FIELDS: &[&str] = &[
    "metadata",
    "cidr_list",
    "token_bound_cidrs",
    "ttl",
    "num_uses",
    "secret_id",
    "role_name",
];

fn not_found_secret(role: &str) -> VaultError {
    VaultError::NotFound(format!("no such secret ID for role \"{role}\""))
}

fn not_found_accessor(role: &str, accessor: &str) -> VaultError {
    VaultError::NotFound(format!(
        "no secret ID with accessor \"{}\" for role \"{role}\"",
        accessor.escape_debug()
    ))
}

impl AppRoleBackend {
    pub(super) fn secret_prefix(&self, role: &str) -> String {
        format!("{}secret-id/{role}/", self.prefix)
    }

    pub(super) fn accessor_prefix(&self, role: &str) -> String {
        format!("{}accessor/{role}/", self.prefix)
    }

    /// The storage key of a secret id value for `role`.
    pub(super) fn secret_key(&self, role: &str, secret_id: &str) -> Result<String, VaultError> {
        let mac = self.hmac("secret-id", &format!("{role}\n{secret_id}"))?;
        Ok(format!("{}{mac}", self.secret_prefix(role)))
    }

    fn accessor_key(&self, role: &str, accessor: &str) -> String {
        format!("{}{accessor}", self.accessor_prefix(role))
    }

    /// Adds the deletion of a secret id and its accessor to `batch`.
    pub(super) fn delete_secret(
        &self,
        batch: &mut Batch,
        role: &str,
        key: &str,
        e: &SecretIdEntry,
    ) {
        batch.delete(key.to_owned());
        batch.delete(self.accessor_key(role, &e.accessor));
    }

    /// Makes a secret id for `role` (random, or `custom`) with the request's options.
    pub(super) fn secret_create(
        &self,
        role_name: &str,
        req: &Request,
        custom: bool,
    ) -> Result<Response, VaultError> {
        let d = &req.data;
        let metadata = metadata(d)?;
        let cidrs = cidr_list(d, "cidr_list")?.unwrap_or_default();
        let token_cidrs = cidr_list(d, "token_bound_cidrs")?.unwrap_or_default();
        let ttl = duration_opt(d, "ttl")?;
        let num_uses = uint_field(d, "num_uses")?;
        let secret_id = if custom {
            let s = req
                .str_field("secret_id")?
                .ok_or_else(|| VaultError::invalid("field `secret_id` is required"))?;
            if s.is_empty() || s.len() > 1024 || s.chars().any(char::is_control) {
                return Err(VaultError::invalid(
                    "field `secret_id` must be 1 to 1024 printable characters",
                ));
            }
            s.to_owned()
        } else {
            uuid()
        };
        let _guard = self.guard();
        let role: RoleEntry = self.require_role(role_name)?;
        cidrs_within(&cidrs, &role.secret_id_bound_cidrs, "cidr_list")?;
        cidrs_within(&token_cidrs, &role.token_bound_cidrs, "token_bound_cidrs")?;
        let ttl = match ttl {
            None | Some(0) => role.secret_id_ttl,
            Some(t) if role.secret_id_ttl > 0 && t > role.secret_id_ttl => {
                return Err(VaultError::invalid(format!(
                    "field `ttl` ({t}s) is longer than the role's secret_id_ttl ({}s)",
                    role.secret_id_ttl
                )))
            }
            Some(t) => t,
        };
        let num_uses = match num_uses {
            None | Some(0) => role.secret_id_num_uses,
            Some(n) if role.secret_id_num_uses > 0 && n > role.secret_id_num_uses => {
                return Err(VaultError::invalid(format!(
                    "field `num_uses` ({n}) is more than the role's secret_id_num_uses ({})",
                    role.secret_id_num_uses
                )))
            }
            Some(n) => n,
        };
        let key = self.secret_key(&role.name, &secret_id)?;
        if self.barrier.get::<SecretIdEntry>(&key)?.is_some() {
            return Err(VaultError::invalid(
                "field `secret_id`: this secret ID already exists for the role",
            ));
        }
        let now = self.now();
        let entry = SecretIdEntry {
            accessor: uuid(),
            cidr_list: cidrs,
            token_bound_cidrs: token_cidrs,
            metadata,
            creation_time: now,
            expiration_time: if ttl > 0 { now + ttl } else { 0 },
            last_updated_time: now,
            num_uses,
            ttl,
        };
        let mut batch = Batch::new();
        batch.put(key.clone(), &entry);
        batch.put(self.accessor_key(&role.name, &entry.accessor), &key);
        self.barrier.commit(batch)?;
        let mut resp = Response::data(json!({
            "secret_id": secret_id,
            "secret_id_accessor": entry.accessor,
            "secret_id_ttl": ttl,
            "secret_id_num_uses": num_uses,
        }));
        if let Some(w) = unknown_fields(d, GENERATE_FIELDS) {
            resp.warnings.push(w);
        }
        Ok(resp)
    }

    /// The live entry at `key`; an expired one is deleted and reported as absent. Caller
    /// holds the lock.
    fn live_entry(&self, role: &str, key: &str) -> Result<Option<SecretIdEntry>, VaultError> {
        let Some(e) = self.barrier.get::<SecretIdEntry>(key)? else {
            return Ok(None);
        };
        if e.expired(self.now()) {
            let mut batch = Batch::new();
            self.delete_secret(&mut batch, role, key, &e);
            self.barrier.commit(batch)?;
            return Ok(None);
        }
        Ok(Some(e))
    }

    fn secret_field<'a>(req: &'a Request, field: &str) -> Result<&'a str, VaultError> {
        req.str_field(field)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| VaultError::invalid(format!("field `{field}` is required")))
    }

    /// The key of the secret id an accessor points to.
    fn key_by_accessor(&self, role: &str, accessor: &str) -> Result<Option<String>, VaultError> {
        if accessor.contains('/') {
            return Ok(None);
        }
        self.barrier
            .get::<String>(&self.accessor_key(role, accessor))
    }

    pub(super) fn secret_lookup(&self, role: &str, req: &Request) -> Result<Response, VaultError> {
        let secret = Self::secret_field(req, "secret_id")?;
        let _guard = self.guard();
        self.require_role(role)?;
        let key = self.secret_key(role, secret)?;
        let e = self
            .live_entry(role, &key)?
            .ok_or_else(|| not_found_secret(role))?;
        Ok(Response::data(e.to_json()))
    }

    pub(super) fn secret_destroy(&self, role: &str, req: &Request) -> Result<Response, VaultError> {
        let secret = Self::secret_field(req, "secret_id")?;
        let _guard = self.guard();
        self.require_role(role)?;
        let key = self.secret_key(role, secret)?;
        if let Some(e) = self.barrier.get::<SecretIdEntry>(&key)? {
            let mut batch = Batch::new();
            self.delete_secret(&mut batch, role, &key, &e);
            self.barrier.commit(batch)?;
        }
        Ok(Response::no_content())
    }

    pub(super) fn accessor_lookup(
        &self,
        role: &str,
        req: &Request,
    ) -> Result<Response, VaultError> {
        let accessor = Self::secret_field(req, "secret_id_accessor")?;
        let _guard = self.guard();
        self.require_role(role)?;
        let key = self
            .key_by_accessor(role, accessor)?
            .ok_or_else(|| not_found_accessor(role, accessor))?;
        let e = self
            .live_entry(role, &key)?
            .ok_or_else(|| not_found_accessor(role, accessor))?;
        Ok(Response::data(e.to_json()))
    }

    pub(super) fn accessor_destroy(
        &self,
        role: &str,
        req: &Request,
    ) -> Result<Response, VaultError> {
        let accessor = Self::secret_field(req, "secret_id_accessor")?;
        let _guard = self.guard();
        self.require_role(role)?;
        let key = self
            .key_by_accessor(role, accessor)?
            .ok_or_else(|| not_found_accessor(role, accessor))?;
        let mut batch = Batch::new();
        batch.delete(key);
        batch.delete(self.accessor_key(role, accessor));
        self.barrier.commit(batch)?;
        Ok(Response::no_content())
    }

    /// LIST: the accessors of the role's live secret ids.
    pub(super) fn secret_list(&self, role: &str) -> Result<Response, VaultError> {
        self.require_role(role)?;
        let now = self.now();
        let mut keys = Vec::new();
        for accessor in self.barrier.children(&self.accessor_prefix(role))? {
            let Some(key) = self.key_by_accessor(role, &accessor)? else {
                continue;
            };
            if let Some(e) = self.barrier.get::<SecretIdEntry>(&key)? {
                if !e.expired(now) {
                    keys.push(accessor);
                }
            }
        }
        Response::list(keys)
    }

    /// `tidy/secret-id`: removes expired secret ids and accessors left without one.
    pub(super) fn tidy(&self) -> Result<Response, VaultError> {
        let _guard = self.guard();
        let now = self.now();
        let mut batch = Batch::new();
        let mut removed = 0usize;
        for key in self.barrier.keys(&format!("{}secret-id/", self.prefix))? {
            if let Some(e) = self.barrier.get::<SecretIdEntry>(&key)? {
                if e.expired(now) {
                    batch.delete(key);
                    removed += 1;
                }
            }
        }
        for key in self.barrier.keys(&format!("{}accessor/", self.prefix))? {
            let keep = match self.barrier.get::<String>(&key)? {
                Some(target) => self
                    .barrier
                    .get::<SecretIdEntry>(&target)?
                    .is_some_and(|e| !e.expired(now)),
                None => false,
            };
            if !keep {
                batch.delete(key);
            }
        }
        self.barrier.commit(batch)?;
        Ok(Response::data(json!({ "removed": removed })))
    }
}
