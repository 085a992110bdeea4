//! The KV version 2 secrets engine: versioned key/value secrets behind Vault's HTTP API.
//!
//! Paths below the mount, as Vault serves them: `config`, `data/<path>` (read a version,
//! write with check-and-set, merge-patch, soft-delete the latest), `metadata/<path>` (read,
//! write settings, patch, delete everything, list), `delete/`, `undelete/`, `destroy/` (by
//! version number) and `subkeys/<path>`.
//!
//! Storage, below `kv/<mount uuid>/`: `config` (the mount's settings), `meta/<path>` (a
//! secret's settings and version list) and `ver/<path>/<n>` (version n's data). A read
//! opens the metadata and one version; a write puts the new version and the metadata in one
//! batch. Writes to the same secret are serialised by a lock stripe so that check-and-set
//! compares against the version actually replaced.

mod input;
mod model;
mod ops;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_input;

use crate::backend::{Backend, MountEntry};
use crate::barrier::Barrier;
use crate::error::VaultError;
use crate::request::{Operation, Request, Response};
use async_trait::async_trait;
use model::{Config, KeyMeta};
use seawall_core::clock::SharedClock;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, RwLock};

/// Lock stripes for writes; secrets hashing to the same stripe wait for each other.
const STRIPES: usize = 64;

/// A KV version 2 engine serving one mount.
pub struct KvBackend {
    barrier: Barrier,
    clock: SharedClock,
    /// `kv/<mount uuid>/`.
    root: String,
    /// The mount's settings, read from storage once and kept in step by `config` writes.
    config: RwLock<Option<Config>>,
    config_write: Mutex<()>,
    stripes: Box<[Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for KvBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvBackend")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl KvBackend {
    /// The engine for `mount`, storing below `kv/<mount.uuid>/`.
    pub fn new(mount: &MountEntry, barrier: Barrier, clock: SharedClock) -> Self {
        Self {
            barrier,
            clock,
            root: format!("kv/{}/", mount.uuid),
            config: RwLock::new(None),
            config_write: Mutex::new(()),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn config_key(&self) -> String {
        format!("{}config", self.root)
    }

    fn meta_prefix(&self) -> String {
        format!("{}meta/", self.root)
    }

    fn meta_key(&self, path: &str) -> String {
        format!("{}meta/{path}", self.root)
    }

    fn version_key(&self, path: &str, version: u64) -> String {
        format!("{}ver/{path}/{version}", self.root)
    }

    /// The mount's settings (defaults until `config` is written).
    fn config(&self) -> Result<Config, VaultError> {
        if let Some(c) = *self.config.read().unwrap_or_else(|e| e.into_inner()) {
            return Ok(c);
        }
        let loaded: Config = self.barrier.get(&self.config_key())?.unwrap_or_default();
        let mut slot = self.config.write().unwrap_or_else(|e| e.into_inner());
        Ok(*slot.get_or_insert(loaded))
    }

    fn load_meta(&self, path: &str) -> Result<Option<KeyMeta>, VaultError> {
        self.barrier.get(&self.meta_key(path))
    }

    /// Holds off other writes to `path` (and to the few secrets sharing its stripe).
    fn lock(&self, path: &str) -> MutexGuard<'_, ()> {
        let i = (self.hasher.hash_one(path) % STRIPES as u64) as usize;
        // The guarded value is `()`: a panic elsewhere leaves nothing inconsistent behind.
        self.stripes[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }
}

/// Splits `data/app/db` into `("data", "app/db")`.
fn route(rel: &str) -> (&str, &str) {
    rel.split_once('/').unwrap_or((rel, ""))
}

#[async_trait]
impl Backend for KvBackend {
    fn kind(&self) -> &'static str {
        "kv"
    }

    async fn handle(&self, req: &Request) -> Result<Response, VaultError> {
        use Operation::*;
        let (head, rest) = route(&req.rel);
        let op = req.operation;
        let write = matches!(op, Create | Update);
        match head {
            "config" if rest.is_empty() => match op {
                Read => self.read_config(),
                _ if write => self.write_config(req),
                _ => Err(unsupported(op, req)),
            },
            "metadata" if op == List => self.list(rest),
            "data" | "metadata" | "delete" | "undelete" | "destroy" | "subkeys" => {
                let path = input::secret_path(rest)?;
                match (head, op) {
                    ("data", Read) => self.read_data(path, req),
                    ("data", _) if write => self.write_data(path, req),
                    ("data", Patch) => self.patch_data(path, req),
                    ("data", Delete) => self.delete_latest(path),
                    ("metadata", Read) => self.read_metadata(path),
                    ("metadata", _) if write => self.write_metadata(path, req),
                    ("metadata", Patch) => self.patch_metadata(path, req),
                    ("metadata", Delete) => self.delete_metadata(path),
                    ("delete", _) if write => self.change_versions(path, req, ops::Change::Delete),
                    ("undelete", _) if write => {
                        self.change_versions(path, req, ops::Change::Undelete)
                    }
                    ("destroy", _) if write => {
                        self.change_versions(path, req, ops::Change::Destroy)
                    }
                    ("subkeys", Read) => self.read_subkeys(path, req),
                    _ => Err(unsupported(op, req)),
                }
            }
            _ => Err(VaultError::NotFound(format!(
                "unsupported path `{}`: the KV engine serves config, data/, metadata/, delete/, undelete/, destroy/ and subkeys/",
                req.path
            ))),
        }
    }

    async fn exists(&self, req: &Request) -> Result<bool, VaultError> {
        match route(&req.rel) {
            ("data" | "metadata", rest) => {
                let path = input::secret_path(rest)?;
                Ok(self.load_meta(path)?.is_some())
            }
            _ => Ok(true),
        }
    }
}

fn unsupported(op: Operation, req: &Request) -> VaultError {
    VaultError::Unsupported(format!("{} on `{}`", op.as_str(), req.path))
}
