//! The AppRole auth method (`auth/approle/`), with Vault's paths and bodies.
//!
//! A machine logs in with a role id (which names the role) and a secret id (a credential
//! made for it, with a TTL, a use count and optional CIDR binding) and gets a token with
//! the role's policies and token settings. Paths below the mount:
//!
//! - `role` (LIST), `role/<name>` (GET, POST partial update, DELETE), `role/<name>/role-id`
//!   (GET, POST): see [`role`];
//! - `role/<name>/secret-id` (POST generates, LIST accessors), `role/<name>/custom-secret-id`,
//!   `role/<name>/secret-id/lookup|destroy`, `role/<name>/secret-id-accessor/lookup|destroy`,
//!   `tidy/secret-id`: see [`secret_id`];
//! - `login` (no token needed): `{role_id, secret_id}` to an `auth` block.
//!
//! Every change of roles and secret ids, and the use-count step of a login, runs under one
//! lock per mount, so a secret id with one use left serves exactly one of two concurrent
//! logins. Every failed login is answered with the same 400 "invalid role or secret ID",
//! whichever check failed. Secret ids and role ids reach storage keys only as HMACs, with a
//! key made once per mount and sealed at `approle/<mount uuid>/hmac-key`.

mod fields;
mod role;
mod secret_id;

#[cfg(test)]
mod tests;

pub use role::RoleEntry;
pub use secret_id::SecretIdEntry;

use crate::backend::{Backend, MountEntry};
use crate::barrier::{Barrier, Batch};
use crate::error::VaultError;
use crate::request::{Operation, Request, Response};
use crate::token::{TokenSpec, TokenStore};
use async_trait::async_trait;
use fields::cidrs_allow;
use hmac::{Hmac, Mac};
use rand::RngCore;
use seawall_core::clock::SharedClock;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use zeroize::Zeroizing;

/// The one answer to every failed login.
pub const LOGIN_FAILED: &str = "invalid role or secret ID";

/// The AppRole engine of one mount. Build one per mount: the lock that makes secret-id use
/// counts exact lives here.
pub struct AppRoleBackend {
    /// `auth/approle/`.
    mount_path: String,
    /// `approle/<mount uuid>/`.
    prefix: String,
    barrier: Barrier,
    tokens: Arc<TokenStore>,
    clock: SharedClock,
    key: Mutex<Option<Arc<Zeroizing<Vec<u8>>>>>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for AppRoleBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRoleBackend")
            .field("mount", &self.mount_path)
            .finish_non_exhaustive()
    }
}

impl AppRoleBackend {
    /// The engine for `mount`; its storage keys start with `approle/<mount.uuid>/`.
    pub fn new(
        mount: &MountEntry,
        barrier: Barrier,
        tokens: Arc<TokenStore>,
        clock: SharedClock,
    ) -> Self {
        let mount_path = if mount.path.ends_with('/') {
            mount.path.clone()
        } else {
            format!("{}/", mount.path)
        };
        Self {
            mount_path,
            prefix: format!("approle/{}/", mount.uuid),
            barrier,
            tokens,
            clock,
            key: Mutex::new(None),
            lock: Mutex::new(()),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The mount's HMAC key, made and sealed at first use.
    fn key(&self) -> Result<Arc<Zeroizing<Vec<u8>>>, VaultError> {
        let mut slot = self.key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let path = format!("{}hmac-key", self.prefix);
        let hex_key: Zeroizing<String> = match self.barrier.get::<String>(&path)? {
            Some(k) => Zeroizing::new(k),
            None => {
                let mut raw = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(raw.as_mut());
                let k = Zeroizing::new(hex::encode(raw.as_ref()));
                self.barrier.put(&path, &*k)?;
                k
            }
        };
        let bytes = hex::decode(hex_key.as_bytes())
            .map_err(|_| VaultError::Internal(format!("stored key `{path}` is corrupt")))?;
        let key = Arc::new(Zeroizing::new(bytes));
        *slot = Some(key.clone());
        Ok(key)
    }

    /// Hex HMAC-SHA256 of `value` under the mount key, separated by `domain`.
    fn hmac(&self, domain: &str, value: &str) -> Result<String, VaultError> {
        let key = self.key()?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .map_err(|_| VaultError::Internal("HMAC key length".into()))?;
        mac.update(domain.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Checks the credentials and spends one use of the secret id; on success the role and
    /// the secret id's token metadata. Every refusal is the same error.
    fn check_login(&self, req: &Request) -> Result<(RoleEntry, Option<SecretIdEntry>), VaultError> {
        let failed = || VaultError::invalid(LOGIN_FAILED);
        let role_id = req
            .str_field("role_id")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| VaultError::invalid("missing role_id"))?;
        let secret_id = req.str_field("secret_id")?.unwrap_or_default();
        let _guard = self.guard();
        let role = self.role_by_id(role_id)?.ok_or_else(failed)?;
        if !cidrs_allow(&role.secret_id_bound_cidrs, req.client_addr) {
            return Err(failed());
        }
        if !role.bind_secret_id {
            return Ok((role, None));
        }
        if secret_id.is_empty() {
            return Err(failed());
        }
        let key = self.secret_key(&role.name, secret_id)?;
        let Some(mut entry) = self.barrier.get::<SecretIdEntry>(&key)? else {
            return Err(failed());
        };
        let now = self.now();
        let mut batch = Batch::new();
        if entry.expired(now) {
            self.delete_secret(&mut batch, &role.name, &key, &entry);
            self.barrier.commit(batch)?;
            return Err(failed());
        }
        if !cidrs_allow(&entry.cidr_list, req.client_addr) {
            return Err(failed());
        }
        match entry.num_uses {
            0 => {}
            1 => self.delete_secret(&mut batch, &role.name, &key, &entry),
            n => {
                entry.num_uses = n - 1;
                entry.last_updated_time = now;
                batch.put(key, &entry);
            }
        }
        self.barrier.commit(batch)?;
        Ok((role, Some(entry)))
    }

    async fn login(&self, req: &Request) -> Result<Response, VaultError> {
        let (role, secret) = self.check_login(req)?;
        let mut meta = BTreeMap::new();
        let mut bound = role.token_bound_cidrs.clone();
        if let Some(s) = &secret {
            meta.extend(s.metadata.clone());
            bound.extend(s.token_bound_cidrs.iter().cloned());
        }
        meta.insert("role_name".to_owned(), role.name.clone());
        bound.sort();
        bound.dedup();
        // The role's token_max_ttl caps the token's whole life, as explicit_max_ttl does.
        let max = match (role.token_explicit_max_ttl, role.token_max_ttl) {
            (0, m) | (m, 0) => m,
            (e, m) => e.min(m),
        };
        let (token, entry) = self.tokens.create(TokenSpec {
            parent: None,
            policies: role.token_policies.clone(),
            ttl: role.token_ttl,
            explicit_max_ttl: max,
            period: role.token_period,
            renewable: true,
            num_uses: role.token_num_uses,
            display_name: format!("approle-{}", role.name),
            meta,
            path: format!("{}login", self.mount_path),
            bound_cidrs: bound,
            no_parent: true,
            no_default_policy: role.token_no_default_policy,
        })?;
        Ok(Response {
            status: 200,
            auth: Some(TokenStore::auth_info(&token, &entry, self.now())),
            ..Response::default()
        })
    }

    async fn route(&self, req: &Request) -> Result<Response, VaultError> {
        use Operation::*;
        let rel = req.rel.trim_matches('/');
        let parts: Vec<&str> = rel.split('/').collect();
        let op = req.operation;
        let write = matches!(op, Create | Update);
        match (parts.as_slice(), op) {
            (["login"], _) if write => self.login(req).await,
            (["role"], List | Read) => self.role_list(),
            (["role", n], Read) => self.role_read(n),
            (["role", n], _) if write => self.role_write(n, req),
            (["role", n], Delete) => self.role_delete(n),
            (["role", n, "role-id"], Read) => self.role_id_read(n),
            (["role", n, "role-id"], _) if write => self.role_id_write(n, req),
            (["role", n, "secret-id"], List) => self.secret_list(&fields::role_name(n)?),
            (["role", n, "secret-id"], _) if write => {
                self.secret_create(&fields::role_name(n)?, req, false)
            }
            (["role", n, "custom-secret-id"], _) if write => {
                self.secret_create(&fields::role_name(n)?, req, true)
            }
            (["role", n, "secret-id", "lookup"], _) if write => {
                self.secret_lookup(&fields::role_name(n)?, req)
            }
            (["role", n, "secret-id", "destroy"], Delete) => {
                self.secret_destroy(&fields::role_name(n)?, req)
            }
            (["role", n, "secret-id", "destroy"], _) if write => {
                self.secret_destroy(&fields::role_name(n)?, req)
            }
            (["role", n, "secret-id-accessor", "lookup"], _) if write => {
                self.accessor_lookup(&fields::role_name(n)?, req)
            }
            (["role", n, "secret-id-accessor", "destroy"], Delete) => {
                self.accessor_destroy(&fields::role_name(n)?, req)
            }
            (["role", n, "secret-id-accessor", "destroy"], _) if write => {
                self.accessor_destroy(&fields::role_name(n)?, req)
            }
            (["tidy", "secret-id"], _) if write => self.tidy(),
            (
                ["login"]
                | ["role"]
                | ["role", _]
                | ["role", _, "role-id" | "secret-id" | "custom-secret-id"]
                | ["role", _, "secret-id" | "secret-id-accessor", "lookup" | "destroy"]
                | ["tidy", "secret-id"],
                _,
            ) => Err(VaultError::Unsupported(format!(
                "{} on {}{rel}",
                op.as_str(),
                self.mount_path
            ))),
            _ => Err(VaultError::NotFound(format!(
                "no such path: {}{rel}",
                self.mount_path
            ))),
        }
    }
}

#[async_trait]
impl Backend for AppRoleBackend {
    fn kind(&self) -> &'static str {
        "approle"
    }

    async fn handle(&self, req: &Request) -> Result<Response, VaultError> {
        self.route(req).await
    }

    async fn exists(&self, req: &Request) -> Result<bool, VaultError> {
        let rel = req.rel.trim_matches('/');
        match rel.strip_prefix("role/") {
            Some(n) if !n.contains('/') => match fields::role_name(n) {
                Ok(name) => Ok(self.get_role(&name)?.is_some()),
                Err(_) => Ok(false),
            },
            _ => Ok(true),
        }
    }

    fn unauthenticated(&self, rel: &str) -> bool {
        rel.trim_matches('/') == "login"
    }
}
