//! The vault's storage: an ordered map from path-like keys to opaque (sealed) byte values.
//!
//! The vault keeps every engine's state here, the way Vault keeps it behind its barrier: the
//! store never sees a plaintext secret, only keys such as `kv/secret/meta/app/db` and values
//! the vault has already sealed. Several changes can be written in one transaction, so that a
//! lease and the index entries that point at it appear or disappear together.

use crate::StoreError;

/// One change in a [`VaultRepo::vault_write`] batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultOp {
    /// Store `value` under the key, replacing what was there.
    Put(String, Vec<u8>),
    /// Remove the key; removing a missing key is not an error.
    Delete(String),
}

/// The vault's key-value storage.
pub trait VaultRepo {
    /// The value under `key`, if any.
    fn vault_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every key that starts with `prefix`, in byte order.
    fn vault_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Applies every change in `ops` in one transaction: all or none.
    fn vault_write(&self, ops: &[VaultOp]) -> Result<(), StoreError>;
}
