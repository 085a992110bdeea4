//! The barrier: every value the vault stores is sealed before it reaches the store.
//!
//! Values are serialised to JSON and sealed with the data key (XChaCha20-Poly1305), with the
//! storage key as associated data, so a sealed value moved to another key does not open.
//! Keys themselves are not secret (they name mounts, roles, lease ids and HMACs of tokens,
//! never a token or a password).

use crate::error::VaultError;
use seawall_core::seal::Sealer;
use seawall_store::{Store, VaultOp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// Sealed, typed access to the vault's storage.
#[derive(Clone)]
pub struct Barrier {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
}

/// A batch of changes written together by [`Barrier::commit`].
#[derive(Default)]
pub struct Batch {
    ops: Vec<VaultOp>,
    sealed: Vec<(String, Vec<u8>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of `value` (serialised and sealed at commit).
    pub fn put<T: Serialize>(&mut self, key: impl Into<String>, value: &T) -> &mut Self {
        let bytes = serde_json::to_vec(value).expect("vault values serialise");
        self.sealed.push((key.into(), bytes));
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: impl Into<String>) -> &mut Self {
        self.ops.push(VaultOp::Delete(key.into()));
        self
    }

    /// Whether the batch holds no change.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.sealed.is_empty()
    }
}

impl Barrier {
    /// A barrier over `store`, sealing with `sealer`.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>) -> Self {
        Self { store, sealer }
    }

    /// Reads and opens the value under `key`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, VaultError> {
        let Some(sealed) = self.store.vault_get(key)? else {
            return Ok(None);
        };
        let plain = self
            .sealer
            .open(&sealed, key)
            .map_err(|_| VaultError::Unseal(key.to_owned()))?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| VaultError::Internal(format!("stored value `{key}` is corrupt: {e}")))
    }

    /// Seals and stores one value.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), VaultError> {
        let mut b = Batch::new();
        b.put(key, value);
        self.commit(b)
    }

    /// Deletes one key (a missing key is fine).
    pub fn delete(&self, key: &str) -> Result<(), VaultError> {
        let mut b = Batch::new();
        b.delete(key);
        self.commit(b)
    }

    /// Every key starting with `prefix`, in byte order.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, VaultError> {
        Ok(self.store.vault_keys(prefix)?)
    }

    /// The names directly below `prefix`, Vault-style: a child with deeper keys is listed
    /// once with a trailing `/`.
    pub fn children(&self, prefix: &str) -> Result<Vec<String>, VaultError> {
        let mut out: Vec<String> = Vec::new();
        for key in self.keys(prefix)? {
            let rest = &key[prefix.len()..];
            let child = match rest.find('/') {
                Some(i) => &rest[..=i],
                None => rest,
            };
            if !child.is_empty() && out.last().map(String::as_str) != Some(child) {
                out.push(child.to_owned());
            }
        }
        Ok(out)
    }

    /// Writes every change in `batch` in one transaction.
    pub fn commit(&self, batch: Batch) -> Result<(), VaultError> {
        let Batch { mut ops, sealed } = batch;
        for (key, plain) in sealed {
            let value = self.sealer.seal(&plain, &key);
            ops.push(VaultOp::Put(key, value));
        }
        if ops.is_empty() {
            return Ok(());
        }
        Ok(self.store.vault_write(&ops)?)
    }

    /// The sealer, for engines that seal a field on its own.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use seawall_core::seal::DataKey;
    use seawall_store::sqlite::SqliteStore;

    /// A barrier over an in-memory store, for this crate's tests.
    pub(crate) fn memory_barrier() -> Barrier {
        Barrier::new(
            Arc::new(SqliteStore::open_in_memory().unwrap()),
            Arc::new(Sealer::new(DataKey::generate())),
        )
    }

    #[test]
    fn values_are_sealed_and_bound_to_their_key() {
        let b = memory_barrier();
        b.put("a/x", &serde_json::json!({"password": "hunter2"}))
            .unwrap();
        let raw = b.store.vault_get("a/x").unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("hunter2"));
        // Moving the sealed bytes to another key must not open.
        b.store
            .vault_write(&[VaultOp::Put("a/y".into(), raw)])
            .unwrap();
        assert!(b.get::<serde_json::Value>("a/y").is_err());
        let v: serde_json::Value = b.get("a/x").unwrap().unwrap();
        assert_eq!(v["password"], "hunter2");
    }

    #[test]
    fn children_fold_deeper_keys_into_folders() {
        let b = memory_barrier();
        let mut batch = Batch::new();
        for k in ["p/a", "p/b/c", "p/b/d", "p/e/f/g", "q/z"] {
            batch.put(k, &1);
        }
        b.commit(batch).unwrap();
        assert_eq!(b.children("p/").unwrap(), vec!["a", "b/", "e/"]);
    }
}
