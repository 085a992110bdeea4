//! The trait every secret and auth engine implements, and the mount table that routes to them.

use crate::error::VaultError;
use crate::request::{Request, Response};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A secret or auth engine mounted at a path.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The mount type shown by `sys/mounts`: `kv`, `database`, `token`, `approle`, `system`.
    fn kind(&self) -> &'static str;

    /// Handles a request whose `rel` path is below this engine's mount. The HTTP layer has
    /// already authenticated the caller and checked the ACL for `req.path`.
    async fn handle(&self, req: &Request) -> Result<Response, VaultError>;

    /// For a write: whether something already exists at the path, which decides between the
    /// `create` and `update` capabilities. Engines without the distinction answer `true`.
    async fn exists(&self, _req: &Request) -> Result<bool, VaultError> {
        Ok(true)
    }

    /// Whether `rel` may be called without a token (AppRole's `login`).
    fn unauthenticated(&self, _rel: &str) -> bool {
        false
    }
}

/// A mount as `sys/mounts` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    /// With trailing slash: `secret/`, `auth/approle/`.
    pub path: String,
    /// `kv`, `database`, `token`, `approle`, `system`.
    pub kind: String,
    /// A stable random id; storage keys of the engine start with it.
    pub uuid: String,
    pub accessor: String,
    #[serde(default)]
    pub description: String,
    /// Engine options, e.g. `{"version": "2"}` for KV.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}
