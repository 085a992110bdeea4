//! Stored policies and the `sys/policy` / `sys/policies/acl` API.
//!
//! Policies live sealed under `policy/<name>` as the document text; they are parsed once at
//! open and on every write, and kept in memory. Two are built in: `root`, which grants
//! everything and is never stored, changed or deleted, and `default` (see `default.hcl`),
//! which is written at first open, may be edited and may not be deleted. Compiled ACLs are
//! cached per set of policy names; any write empties the cache.

use super::{parse_policy, Acl, Policy};
use crate::barrier::Barrier;
use crate::error::VaultError;
use crate::request::{Operation, Request, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The text of the built-in `default` policy, written at first open.
pub const DEFAULT_POLICY: &str = include_str!("default.hcl");

const PREFIX: &str = "policy/";
/// Distinct sets of policy names whose compiled ACL is kept.
const CACHE_MAX: usize = 4096;

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    name: String,
    raw: String,
}

/// The policies of the vault.
pub struct PolicyStore {
    barrier: Barrier,
    policies: RwLock<BTreeMap<String, Arc<Policy>>>,
    cache: Mutex<HashMap<Vec<String>, Arc<Acl>>>,
    root: Arc<Acl>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("policies", &self.read().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Lower-cases and checks a policy name: 1 to 128 characters of `a-z 0-9 - _ . @`.
pub fn normalize_name(name: &str) -> Result<String, VaultError> {
    let n = name.trim().to_lowercase();
    if n.is_empty() {
        return Err(VaultError::invalid("policy name is empty"));
    }
    if n.len() > 128
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err(VaultError::invalid(format!(
            "policy name \"{}\" is not valid: use 1 to 128 characters of a-z, 0-9, '-', '_', '.', '@'",
            name.escape_debug()
        )));
    }
    Ok(n)
}

impl PolicyStore {
    /// Loads every stored policy and writes the built-in `default` when it is missing.
    pub fn open(barrier: Barrier) -> Result<Arc<Self>, VaultError> {
        let mut map = BTreeMap::new();
        for key in barrier.keys(PREFIX)? {
            let Some(stored) = barrier.get::<StoredPolicy>(&key)? else {
                continue;
            };
            // Only documents that parsed were stored; one that no longer does is a bug or
            // tampering, and ignoring it could drop a deny rule: refuse to start.
            let policy = parse_policy(&stored.name, &stored.raw)
                .map_err(|e| VaultError::Internal(format!("stored {e}")))?;
            map.insert(policy.name.clone(), Arc::new(policy));
        }
        let store = Self {
            barrier,
            policies: RwLock::new(map),
            cache: Mutex::new(HashMap::new()),
            root: Arc::new(Acl::root()),
        };
        if !store.read().contains_key("default") {
            store.write_policy("default", DEFAULT_POLICY)?;
        }
        Ok(Arc::new(store))
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Arc<Policy>>> {
        self.policies.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Arc<Policy>>> {
        self.policies.write().unwrap_or_else(|e| e.into_inner())
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<Vec<String>, Arc<Acl>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The compiled ACL of a token's policies. `root` among them gives the root ACL; unknown
    /// names grant nothing.
    pub fn acl(&self, names: &[String]) -> Arc<Acl> {
        let mut key: Vec<String> = names.iter().map(|n| n.trim().to_lowercase()).collect();
        if key.iter().any(|n| n == "root") {
            return self.root.clone();
        }
        key.sort();
        key.dedup();
        // Compile under the read lock so a concurrent write cannot leave a stale entry.
        let policies = self.read();
        if let Some(acl) = self.cache().get(&key) {
            return acl.clone();
        }
        let acl = Arc::new(Acl::compile(
            key.iter().filter_map(|n| policies.get(n)).map(|p| &**p),
        ));
        let mut cache = self.cache();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, acl.clone());
        acl
    }

    /// A stored policy (`root` is not one).
    pub fn get(&self, name: &str) -> Option<Arc<Policy>> {
        self.read().get(&name.trim().to_lowercase()).cloned()
    }

    /// Every policy name, `root` included, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.push("root".into());
        names.sort();
        names
    }

    /// Creates or replaces a policy. The document is parsed first: on any error nothing changes.
    pub fn set(&self, name: &str, text: &str) -> Result<(), VaultError> {
        let name = normalize_name(name)?;
        if name == "root" {
            return Err(VaultError::invalid("cannot update the root policy"));
        }
        if text.trim().is_empty() {
            return Err(VaultError::invalid(format!(
                "policy \"{name}\": the document is empty"
            )));
        }
        self.write_policy(&name, text)
    }

    fn write_policy(&self, name: &str, text: &str) -> Result<(), VaultError> {
        let policy = parse_policy(name, text)?;
        let mut policies = self.write();
        self.barrier.put(
            &format!("{PREFIX}{name}"),
            &StoredPolicy {
                name: name.to_owned(),
                raw: text.to_owned(),
            },
        )?;
        policies.insert(name.to_owned(), Arc::new(policy));
        self.cache().clear();
        Ok(())
    }

    /// Deletes a policy; deleting one that does not exist succeeds, as in Vault.
    pub fn delete(&self, name: &str) -> Result<(), VaultError> {
        let name = normalize_name(name)?;
        if name == "root" || name == "default" {
            return Err(VaultError::invalid(format!(
                "cannot delete the {name} policy"
            )));
        }
        let mut policies = self.write();
        self.barrier.delete(&format!("{PREFIX}{name}"))?;
        policies.remove(&name);
        self.cache().clear();
        Ok(())
    }

    /// Serves `sys/policy[/<name>]` (document field `rules`) and `sys/policies/acl[/<name>]`
    /// (document field `policy`); `rel` is the path below `sys/`.
    pub fn handle_sys(&self, req: &Request, rel: &str) -> Result<Response, VaultError> {
        let rel = rel.trim_matches('/');
        if rel == "policy" || rel == "policies/acl" {
            return match req.operation {
                Operation::Read | Operation::List => {
                    let names = self.names();
                    Ok(if rel == "policy" {
                        Response::data(json!({ "policies": names, "keys": names }))
                    } else {
                        Response::data(json!({ "keys": names }))
                    })
                }
                op => Err(unsupported(op, rel)),
            };
        }
        let (name, field) = if let Some(n) = rel.strip_prefix("policy/") {
            (n, "rules")
        } else if let Some(n) = rel.strip_prefix("policies/acl/") {
            (n, "policy")
        } else {
            return Err(VaultError::NotFound(format!("no such path: sys/{rel}")));
        };
        match req.operation {
            Operation::Read => {
                let name = normalize_name(name)?;
                let raw = if name == "root" {
                    String::new()
                } else {
                    self.get(&name)
                        .ok_or_else(|| VaultError::NotFound(format!("no policy named \"{name}\"")))?
                        .raw
                        .clone()
                };
                Ok(Response::data(json!({ "name": name, field: raw })))
            }
            Operation::Create | Operation::Update => {
                let mut text = req.str_field("policy")?.unwrap_or_default();
                if text.is_empty() && field == "rules" {
                    text = req.str_field("rules")?.unwrap_or_default();
                }
                if text.trim().is_empty() {
                    return Err(VaultError::invalid(
                        "field `policy` is missing or empty: give the policy document (HCL or JSON)",
                    ));
                }
                let text = decode_base64(text);
                self.set(name, &text)?;
                Ok(Response::no_content())
            }
            Operation::Delete => {
                self.delete(name)?;
                Ok(Response::no_content())
            }
            op => Err(unsupported(op, rel)),
        }
    }
}

fn unsupported(op: Operation, rel: &str) -> VaultError {
    VaultError::Unsupported(format!("{} on sys/{rel}", op.as_str()))
}

/// Vault accepts a base64-encoded document; plain HCL or JSON never decodes as base64.
fn decode_base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| text.to_owned())
}
