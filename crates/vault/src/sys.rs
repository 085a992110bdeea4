//! The `sys/` paths: health and seal status, mounts, leases, policies and capabilities.
//!
//! Shapes follow Vault's system backend so that hvac, the Vault CLI and Vault Agent read them
//! unchanged. `sys/seawall/leases` is Seawall's own: every lease with its revocation state,
//! which `seawall leases list --failing` reads.

use crate::backend::MountEntry;
use crate::core::{random_id, Vault};
use crate::error::VaultError;
use crate::request::{LeaseInfo, Operation, Request, Response};
use serde_json::{json, Map, Value};

/// The version reported by `sys/health` and `sys/seal-status`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+seawall");

/// How the vault is sealed, for `sys/seal-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealInfo {
    /// `shamir`, or `file` when the root key is read from the data directory.
    pub kind: String,
    pub threshold: u8,
    pub shares: u8,
}

impl Default for SealInfo {
    fn default() -> Self {
        Self {
            kind: "file".into(),
            threshold: 1,
            shares: 1,
        }
    }
}

/// Paths below `sys/` that need no token.
pub fn unauthenticated(rel: &str) -> bool {
    matches!(rel, "health" | "seal-status" | "unseal" | "leader" | "init")
}

/// Paths below `sys/` that need the `sudo` capability besides the operation's own.
pub fn needs_sudo(rel: &str) -> bool {
    rel.starts_with("leases/revoke-prefix/")
        || rel.starts_with("leases/revoke-force/")
        || (rel.starts_with("leases/lookup/") || rel == "leases/lookup/")
        || rel.starts_with("mounts/")
        || rel.starts_with("auth/")
        || rel.starts_with("seawall/")
}

/// For a lease lookup, renewal or revocation: the lease it is about, so that a token may act
/// on leases it obtained itself.
pub fn own_lease_target(req: &Request, rel: &str) -> Option<String> {
    const OWN: &[&str] = &[
        "leases/lookup",
        "leases/renew",
        "leases/revoke",
        "renew",
        "revoke",
    ];
    for base in OWN {
        if rel == *base {
            return req.str_field("lease_id").ok().flatten().map(str::to_owned);
        }
        if let Some(id) = rel.strip_prefix(base).and_then(|r| r.strip_prefix('/')) {
            if *base != "leases/lookup" {
                return Some(id.to_owned());
            }
        }
    }
    None
}

/// Handles a request whose path is `sys/<rel>`; the caller has been authorised.
pub async fn handle(vault: &Vault, req: &Request, rel: &str) -> Result<Response, VaultError> {
    let op = req.operation;
    match rel {
        "health" => return Ok(Response::data(health(vault))),
        "init" if op == Operation::Read => {
            return Ok(Response::data(json!({"initialized": true})))
        }
        "init" => {
            return Err(VaultError::invalid(
                "Vault is already initialized; a data directory is initialised with `seawall operator init`",
            ))
        }
        "seal-status" | "unseal" => return Ok(Response::data(seal_status(vault))),
        "leader" => {
            return Ok(Response::data(
                json!({"ha_enabled": false, "is_self": true, "leader_address": "", "leader_cluster_address": ""}),
            ))
        }
        "mounts" => return Ok(Response::data(mounts(vault, false))),
        "auth" => return Ok(Response::data(mounts(vault, true))),
        "internal/ui/mounts" => return Ok(Response::data(ui_mounts(vault))),
        "capabilities-self" => return capabilities_self(vault, req),
        "leases/lookup" | "leases/lookup/" if op == Operation::List => {
            return Response::list(vault.leases.list(""))
        }
        "leases/lookup" => return lease_lookup(vault, &lease_id_field(req)?),
        "leases/renew" | "renew" => return lease_renew(vault, req, &lease_id_field(req)?).await,
        "leases/revoke" | "revoke" => return lease_revoke(vault, &lease_id_field(req)?).await,
        "seawall/leases" => return seawall_leases(vault, req),
        _ => {}
    }
    if let Some(prefix) = rel.strip_prefix("leases/lookup/") {
        return match op {
            Operation::List => Response::list(list_level(vault, prefix)),
            _ => Err(VaultError::Unsupported("use LIST".into())),
        };
    }
    if let Some(id) = rel
        .strip_prefix("leases/renew/")
        .or_else(|| rel.strip_prefix("renew/"))
    {
        return lease_renew(vault, req, id).await;
    }
    if let Some(id) = rel
        .strip_prefix("leases/revoke/")
        .or_else(|| rel.strip_prefix("revoke/"))
    {
        return lease_revoke(vault, id).await;
    }
    if let Some(prefix) = rel
        .strip_prefix("leases/revoke-prefix/")
        .or_else(|| rel.strip_prefix("revoke-prefix/"))
    {
        let n = vault.leases.revoke_prefix(prefix).await?;
        tracing::info!(prefix, revoked = n, "leases revoked by prefix");
        return Ok(Response::no_content());
    }
    if let Some(path) = rel.strip_prefix("internal/ui/mounts/") {
        return ui_mount(vault, path);
    }
    if let Some(path) = rel.strip_prefix("mounts/") {
        return mount_change(vault, req, path, false).await;
    }
    if let Some(path) = rel.strip_prefix("auth/") {
        return mount_change(vault, req, path, true).await;
    }
    if rel == "policy"
        || rel.starts_with("policy/")
        || rel == "policies/acl"
        || rel.starts_with("policies/acl/")
    {
        return vault.policies.handle_sys(req, rel);
    }
    Err(VaultError::NotFound(format!(
        "no handler for route `sys/{rel}`"
    )))
}

fn health(vault: &Vault) -> Value {
    json!({
        "initialized": true,
        "sealed": false,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": vault.parts.clock.now(),
        "version": VERSION,
        "cluster_name": "seawall",
        "cluster_id": "",
    })
}

/// `sys/seal-status` of an unsealed vault.
pub fn seal_status(vault: &Vault) -> Value {
    let s = &vault.parts.seal;
    json!({
        "type": s.kind,
        "initialized": true,
        "sealed": false,
        "t": s.threshold,
        "n": s.shares,
        "progress": 0,
        "nonce": "",
        "version": VERSION,
        "build_date": "",
        "migration": false,
        "cluster_name": "seawall",
        "cluster_id": "",
        "recovery_seal": false,
        "storage_type": "sqlite",
    })
}

fn mount_json(m: &MountEntry) -> Value {
    json!({
        "type": m.kind,
        "description": m.description,
        "accessor": m.accessor,
        "uuid": m.uuid,
        "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": false},
        "options": if m.options.is_empty() { Value::Null } else { json!(m.options) },
        "local": false,
        "seal_wrap": false,
        "external_entropy_access": false,
        "plugin_version": "",
    })
}

fn mounts(vault: &Vault, auth: bool) -> Value {
    let mut out = Map::new();
    for m in vault.mount_entries() {
        match (auth, m.path.strip_prefix("auth/")) {
            (true, Some(p)) => {
                out.insert(p.to_owned(), mount_json(&m));
            }
            (false, None) => {
                out.insert(m.path.clone(), mount_json(&m));
            }
            _ => {}
        }
    }
    if !auth {
        out.insert(
            "sys/".into(),
            json!({"type": "system", "description": "system endpoints", "options": null,
                   "config": {"default_lease_ttl": 0, "max_lease_ttl": 0}, "local": false,
                   "seal_wrap": true, "accessor": "system", "uuid": ""}),
        );
    }
    Value::Object(out)
}

fn ui_mounts(vault: &Vault) -> Value {
    json!({"secret": mounts(vault, false), "auth": mounts(vault, true)})
}

/// `sys/internal/ui/mounts/<path>`: the mount that holds `path`, which the Vault CLI reads to
/// find a KV engine's version.
fn ui_mount(vault: &Vault, path: &str) -> Result<Response, VaultError> {
    let path = path.trim_end_matches('/');
    let m = vault.route(path).ok_or_else(|| {
        VaultError::invalid(format!(
            "preflight capability check returned 403, please ensure client's policies grant access to path \"{path}/\""
        ))
    })?;
    let mut v = mount_json(&m.entry);
    if let Value::Object(o) = &mut v {
        o.insert("path".into(), json!(m.entry.path));
    }
    Ok(Response::data(v))
}

async fn mount_change(
    vault: &Vault,
    req: &Request,
    path: &str,
    auth: bool,
) -> Result<Response, VaultError> {
    let bare = path.trim_end_matches('/');
    if bare.is_empty() || bare.contains("//") || bare.starts_with("sys") {
        return Err(VaultError::invalid(format!("invalid mount path `{path}`")));
    }
    let full = match auth {
        true => format!("auth/{bare}/"),
        false => format!("{bare}/"),
    };
    match req.operation {
        Operation::Create | Operation::Update => {
            let kind = req
                .str_field("type")?
                .ok_or_else(|| VaultError::invalid("field `type` is required"))?;
            let mut options: std::collections::BTreeMap<String, String> = match req
                .data
                .get("options")
            {
                Some(Value::Object(o)) => o
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect(),
                None | Some(Value::Null) => Default::default(),
                Some(_) => return Err(VaultError::invalid("field `options` must be an object")),
            };
            let kind = match (auth, kind) {
                (false, "kv-v2") => {
                    options.insert("version".into(), "2".into());
                    "kv"
                }
                (false, "kv") => {
                    if options.get("version").map(String::as_str) != Some("2") {
                        return Err(VaultError::invalid(
                            "only KV version 2 is supported: set options.version to \"2\" or use type `kv-v2`",
                        ));
                    }
                    "kv"
                }
                (false, "database") => "database",
                (true, "approle") => "approle",
                (_, other) => {
                    return Err(VaultError::invalid(format!(
                        "engine type `{other}` cannot be mounted here (secrets: kv-v2, database; auth: approle)"
                    )))
                }
            };
            if vault
                .mount_entries()
                .iter()
                .any(|m| m.path == full || m.path.starts_with(&full) || full.starts_with(&m.path))
            {
                return Err(VaultError::invalid(format!(
                    "path is already in use at `{full}`"
                )));
            }
            let entry = MountEntry {
                path: full.clone(),
                kind: kind.into(),
                uuid: random_id(),
                accessor: format!("{kind}_{}", &random_id()[..8]),
                description: req.str_field("description")?.unwrap_or("").into(),
                options,
            };
            vault.attach(entry)?;
            vault.save_mounts()?;
            Ok(Response::no_content())
        }
        Operation::Delete => {
            if matches!(full.as_str(), "auth/token/") {
                return Err(VaultError::invalid("the token engine cannot be unmounted"));
            }
            if !vault.mount_entries().iter().any(|m| m.path == full) {
                return Ok(Response::no_content());
            }
            // As Vault does: revoke everything issued under the mount before it goes.
            vault.leases.revoke_prefix(&full).await?;
            if vault.leases.live_count(&full) > 0 {
                return Err(VaultError::Upstream(format!(
                    "leases under `{full}` could not all be revoked; the mount is kept (see `seawall leases list --failing`)"
                )));
            }
            {
                let mut mounts = vault.mounts.write().unwrap_or_else(|p| p.into_inner());
                mounts.retain(|m| m.entry.path != full);
            }
            vault.save_mounts()?;
            Ok(Response::no_content())
        }
        Operation::Read => {
            let m = vault
                .mount_entries()
                .into_iter()
                .find(|m| m.path == full)
                .ok_or_else(|| VaultError::NotFound(format!("no mount at `{full}`")))?;
            Ok(Response::data(mount_json(&m)))
        }
        other => Err(VaultError::Unsupported(other.as_str().into())),
    }
}

fn lease_id_field(req: &Request) -> Result<String, VaultError> {
    req.str_field("lease_id")?
        .map(str::to_owned)
        .ok_or_else(|| VaultError::invalid("field `lease_id` is required"))
}

fn lease_lookup(vault: &Vault, id: &str) -> Result<Response, VaultError> {
    let lease = vault
        .leases
        .lookup(id)
        .ok_or_else(|| VaultError::invalid(format!("invalid lease `{id}`")))?;
    Ok(Response::data(crate::lease::lookup_response(
        &lease,
        vault.parts.clock.now(),
    )))
}

async fn lease_renew(vault: &Vault, req: &Request, id: &str) -> Result<Response, VaultError> {
    let increment = match req.data.get("increment") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            parse_duration(v)
                .map_err(|e| VaultError::invalid(format!("field `increment`: {e}")))?,
        ),
    };
    let info: LeaseInfo = vault.leases.renew(id, increment).await?;
    Ok(Response {
        status: 200,
        lease: Some(info),
        ..Response::default()
    })
}

async fn lease_revoke(vault: &Vault, id: &str) -> Result<Response, VaultError> {
    if vault.leases.lookup(id).is_none() {
        // Revoking an unknown or already revoked lease succeeds, as in Vault.
        return Ok(Response::no_content());
    }
    vault.leases.revoke(id).await?;
    Ok(Response::no_content())
}

/// LIST `sys/leases/lookup/<prefix>`: one level of the lease tree, Vault-style.
fn list_level(vault: &Vault, prefix: &str) -> Vec<String> {
    let prefix = match prefix.is_empty() || prefix.ends_with('/') {
        true => prefix.to_owned(),
        false => format!("{prefix}/"),
    };
    let mut out: Vec<String> = Vec::new();
    for id in vault.leases.list(&prefix) {
        let rest = &id[prefix.len()..];
        let child = match rest.find('/') {
            Some(i) => &rest[..=i],
            None => rest,
        };
        if !child.is_empty() && !out.iter().any(|c| c == child) {
            out.push(child.to_owned());
        }
    }
    out
}

fn seawall_leases(vault: &Vault, req: &Request) -> Result<Response, VaultError> {
    let failing_only = req
        .param("failing")
        .is_some_and(|v| v == "true" || v == "1");
    let prefix = req.param("prefix").unwrap_or_default();
    let now = vault.parts.clock.now();
    let leases: Vec<Value> = match failing_only {
        true => vault.leases.failing(),
        false => vault
            .leases
            .list(&prefix)
            .iter()
            .filter_map(|id| vault.leases.lookup(id))
            .collect(),
    }
    .into_iter()
    .filter(|l| l.id.starts_with(&prefix))
    .map(|l| {
        json!({
            "id": l.id,
            "issue_time": l.issue_time,
            "expire_time": l.expire_time,
            "ttl": (l.expire_time - now).max(0),
            "state": format!("{:?}", l.state).to_lowercase(),
            "attempts": l.attempts,
            "last_error": l.last_error,
            "failing": l.failing,
        })
    })
    .collect();
    Ok(Response::data(json!({ "leases": leases })))
}

fn capabilities_self(vault: &Vault, req: &Request) -> Result<Response, VaultError> {
    let token = req.token.as_ref().ok_or(VaultError::PermissionDenied)?;
    let mut paths: Vec<String> = Vec::new();
    match req.data.get("paths").or_else(|| req.data.get("path")) {
        Some(Value::String(s)) => paths.push(s.clone()),
        Some(Value::Array(a)) => {
            for v in a {
                paths.push(
                    v.as_str()
                        .ok_or_else(|| VaultError::invalid("field `paths` must hold strings"))?
                        .to_owned(),
                );
            }
        }
        _ => return Err(VaultError::invalid("field `paths` is required")),
    }
    let acl = vault.policies.acl(&token.policies);
    let mut out = Map::new();
    let mut all: Vec<String> = Vec::new();
    for p in &paths {
        let caps = acl.capabilities(p.trim_start_matches('/'));
        all.extend(caps.iter().cloned());
        out.insert(p.clone(), json!(caps));
    }
    if paths.len() == 1 {
        out.insert("capabilities".into(), json!(all));
    }
    Ok(Response::data(Value::Object(out)))
}

/// A duration as Vault accepts it: seconds as a number or string, or `90s`, `5m`, `2h`, `1d`.
pub fn parse_duration(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("`{n}` is not a whole number of seconds")),
        Value::String(s) => parse_duration_str(s),
        _ => Err("must be a number of seconds or a duration such as `1h`".into()),
    }
}

/// A duration string: `300`, `300s`, `5m`, `2h`, `1d`, or a sum such as `1h30m`.
pub fn parse_duration_str(s: &str) -> Result<i64, String> {
    crate::duration::seconds(s)
        .ok_or_else(|| format!("`{s}` is not a duration (use e.g. 30s, 5m, 1h, or whole seconds)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_str("90").unwrap(), 90);
        assert_eq!(parse_duration_str("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration(&json!(5)).unwrap(), 5);
        for bad in ["", "-1", "5x", "m", "5m3", "99999999999999999999d"] {
            assert!(parse_duration_str(bad).is_err(), "{bad}");
        }
        assert!(parse_duration(&json!(-3)).is_err());
        assert!(parse_duration(&json!(true)).is_err());
    }

    #[test]
    fn own_lease_paths() {
        let r = Request::new(Operation::Update, "sys", "leases/revoke")
            .with_data(json!({"lease_id": "database/creds/r/abc"}));
        assert_eq!(
            own_lease_target(&r, "leases/revoke").as_deref(),
            Some("database/creds/r/abc")
        );
        let r = Request::new(Operation::Update, "sys", "leases/renew/database/creds/r/x");
        assert_eq!(
            own_lease_target(&r, "leases/renew/database/creds/r/x").as_deref(),
            Some("database/creds/r/x")
        );
        assert!(own_lease_target(&r, "leases/revoke-prefix/database").is_none());
    }
}
