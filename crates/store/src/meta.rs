//! Small named values the control plane keeps: the wrapped data key, the audit HMAC key.

use crate::StoreError;

/// Named byte values, written once or replaced whole.
pub trait MetaRepo {
    /// The value stored under `key`, if any.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key` unless a value is already there; returns the value that is
    /// stored afterwards (so two racing initialisers agree on one).
    fn meta_init(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Stores `value` under `key`, replacing what was there.
    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
}
