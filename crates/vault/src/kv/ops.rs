//! The KV engine's operations: one method per endpoint and method.
//!
//! Every write checks its whole input before it takes the secret's lock, and builds one
//! storage batch that it commits only when everything is accepted, so a refused request
//! changes nothing.

use super::input::{self, field};
use super::model::{go_duration, version_json, Config, KeyMeta, VersionMeta};
use super::KvBackend;
use crate::barrier::Batch;
use crate::error::VaultError;
use crate::request::{Request, Response};
use serde_json::{json, Map, Value};

/// What `delete/`, `undelete/` and `destroy/` do to the versions they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Delete,
    Undelete,
    Destroy,
}

fn no_secret(path: &str) -> VaultError {
    VaultError::NotFound(format!("no secret at `{path}`"))
}

fn no_version(path: &str, version: u64) -> VaultError {
    VaultError::NotFound(format!("secret `{path}` has no version {version}"))
}

/// Vault's 404 for a deleted or destroyed version: the body still carries its metadata.
fn gone(body: Value) -> Response {
    Response {
        status: 404,
        data: Some(body),
        ..Response::default()
    }
}

fn with_warnings(mut resp: Response, warnings: Vec<String>) -> Response {
    resp.warnings = warnings;
    resp
}

/// The settings fields a `metadata/` write or patch may carry, checked.
struct MetaFields {
    max_versions: Option<u32>,
    cas_required: Option<bool>,
    delete_version_after: Option<i64>,
}

impl MetaFields {
    fn parse(req: &Request) -> Result<Self, VaultError> {
        Ok(Self {
            max_versions: field(req, "max_versions")
                .map(|v| input::uint32_field(v, "max_versions"))
                .transpose()?,
            cas_required: field(req, "cas_required")
                .map(|v| input::bool_field(v, "cas_required"))
                .transpose()?,
            delete_version_after: field(req, "delete_version_after")
                .map(|v| input::duration_field(v, "delete_version_after"))
                .transpose()?,
        })
    }

    fn apply(&self, meta: &mut KeyMeta) {
        if let Some(n) = self.max_versions {
            meta.max_versions = n;
        }
        if let Some(b) = self.cas_required {
            meta.cas_required = b;
        }
        if let Some(d) = self.delete_version_after {
            meta.delete_version_after = d;
        }
    }
}

const CONFIG_FIELDS: &[&str] = &["max_versions", "cas_required", "delete_version_after"];
const DATA_FIELDS: &[&str] = &["data", "options", "version"];
const META_FIELDS: &[&str] = &[
    "max_versions",
    "cas_required",
    "delete_version_after",
    "custom_metadata",
];

impl KvBackend {
    pub(super) fn read_config(&self) -> Result<Response, VaultError> {
        let c = self.config()?;
        Ok(Response::data(json!({
            "cas_required": c.cas_required,
            "delete_version_after": go_duration(c.delete_version_after),
            "max_versions": c.max_versions,
        })))
    }

    pub(super) fn write_config(&self, req: &Request) -> Result<Response, VaultError> {
        let fields = MetaFields::parse(req)?;
        let _guard = self.config_write.lock().unwrap_or_else(|e| e.into_inner());
        let mut c: Config = self.config()?;
        if let Some(n) = fields.max_versions {
            c.max_versions = n;
        }
        if let Some(b) = fields.cas_required {
            c.cas_required = b;
        }
        if let Some(d) = fields.delete_version_after {
            c.delete_version_after = d;
        }
        self.barrier.put(&self.config_key(), &c)?;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Some(c);
        Ok(with_warnings(
            Response::no_content(),
            input::unknown_fields(req, CONFIG_FIELDS),
        ))
    }

    pub(super) fn read_data(&self, path: &str, req: &Request) -> Result<Response, VaultError> {
        let wanted = input::uint_param(req, "version")?;
        let (version, vm, custom) = self.find_version(path, wanted)?;
        let metadata = version_json(version, &vm, custom);
        if !vm.is_live(self.now()) {
            return Ok(gone(json!({ "data": null, "metadata": metadata })));
        }
        let data: Map<String, Value> = self
            .barrier
            .get(&self.version_key(path, version))?
            .ok_or_else(|| no_version(path, version))?;
        Ok(Response::data(
            json!({ "data": data, "metadata": metadata }),
        ))
    }

    pub(super) fn read_subkeys(&self, path: &str, req: &Request) -> Result<Response, VaultError> {
        let wanted = input::uint_param(req, "version")?;
        let depth = input::uint_param(req, "depth")?;
        let (version, vm, custom) = self.find_version(path, wanted)?;
        let metadata = version_json(version, &vm, custom);
        if !vm.is_live(self.now()) {
            return Ok(gone(json!({ "subkeys": null, "metadata": metadata })));
        }
        let data: Map<String, Value> = self
            .barrier
            .get(&self.version_key(path, version))?
            .ok_or_else(|| no_version(path, version))?;
        Ok(Response::data(json!({
            "subkeys": input::subkeys(&data, depth),
            "metadata": metadata,
        })))
    }

    /// The version a read asks for (0: the current one), its bookkeeping and the secret's
    /// custom metadata; 404 when the secret or that version does not exist.
    fn find_version(
        &self,
        path: &str,
        wanted: u64,
    ) -> Result<(u64, VersionMeta, Value), VaultError> {
        let meta = self.load_meta(path)?.ok_or_else(|| no_secret(path))?;
        let version = if wanted == 0 { meta.current } else { wanted };
        if version == 0 {
            return Err(no_secret(path));
        }
        let vm = *meta
            .versions
            .get(&version)
            .ok_or_else(|| no_version(path, version))?;
        Ok((version, vm, meta.custom_json()))
    }

    pub(super) fn write_data(&self, path: &str, req: &Request) -> Result<Response, VaultError> {
        let data = input::data_object(req)?;
        let cas = input::cas_option(req)?;
        let _guard = self.lock(path);
        let config = self.config()?;
        let now = self.now();
        let mut meta = self.load_meta(path)?.unwrap_or_else(|| KeyMeta::new(now));
        check_cas(&config, &meta, cas)?;
        let resp = self.add_version(path, &mut meta, &config, now, data)?;
        Ok(with_warnings(resp, input::unknown_fields(req, DATA_FIELDS)))
    }

    pub(super) fn patch_data(&self, path: &str, req: &Request) -> Result<Response, VaultError> {
        let patch = input::data_object(req)?;
        let cas = input::cas_option(req)?;
        let _guard = self.lock(path);
        let config = self.config()?;
        let now = self.now();
        let mut meta = self.load_meta(path)?.ok_or_else(|| no_secret(path))?;
        check_cas(&config, &meta, cas)?;
        let current = meta.current;
        match meta.versions.get(&current) {
            Some(vm) if vm.is_live(now) => {}
            Some(_) => {
                return Err(VaultError::NotFound(format!(
                    "the current version of `{path}` is deleted or destroyed: nothing to patch"
                )))
            }
            None => return Err(no_secret(path)),
        }
        let old: Map<String, Value> = self
            .barrier
            .get(&self.version_key(path, current))?
            .ok_or_else(|| no_version(path, current))?;
        let mut merged = old;
        input::merge_patch_map(&mut merged, patch);
        let resp = self.add_version(path, &mut meta, &config, now, &merged)?;
        Ok(with_warnings(resp, input::unknown_fields(req, DATA_FIELDS)))
    }

    /// Stores `data` as the next version of `path`, prunes versions beyond the maximum, and
    /// answers with the new version's metadata. The caller holds the secret's lock.
    fn add_version(
        &self,
        path: &str,
        meta: &mut KeyMeta,
        config: &Config,
        now: i64,
        data: &Map<String, Value>,
    ) -> Result<Response, VaultError> {
        let version = meta.current + 1;
        let delete_after = meta.effective_delete_after(config);
        let vm = VersionMeta {
            created: now,
            deleted: (delete_after > 0).then(|| now.saturating_add(delete_after * 1000)),
            destroyed: false,
        };
        meta.versions.insert(version, vm);
        meta.current = version;
        meta.updated = now;
        let mut batch = Batch::new();
        let keep = meta.effective_max_versions(config);
        while meta.versions.len() > keep {
            let Some((old, _)) = meta.versions.pop_first() else {
                break;
            };
            batch.delete(self.version_key(path, old));
            if let Some((&first, _)) = meta.versions.first_key_value() {
                meta.oldest = first;
            }
        }
        batch.put(self.version_key(path, version), data);
        batch.put(self.meta_key(path), &*meta);
        self.barrier.commit(batch)?;
        Ok(Response::data(version_json(
            version,
            &vm,
            meta.custom_json(),
        )))
    }

    pub(super) fn delete_latest(&self, path: &str) -> Result<Response, VaultError> {
        let _guard = self.lock(path);
        let Some(mut meta) = self.load_meta(path)? else {
            return Ok(Response::no_content());
        };
        let now = self.now();
        let current = meta.current;
        match meta.versions.get_mut(&current) {
            Some(vm) if vm.is_live(now) => vm.deleted = Some(now),
            _ => return Ok(Response::no_content()),
        }
        self.barrier.put(&self.meta_key(path), &meta)?;
        Ok(Response::no_content())
    }

    pub(super) fn change_versions(
        &self,
        path: &str,
        req: &Request,
        change: Change,
    ) -> Result<Response, VaultError> {
        let versions = input::versions_field(req)?;
        let warnings = input::unknown_fields(req, &["versions"]);
        let _guard = self.lock(path);
        let Some(mut meta) = self.load_meta(path)? else {
            return Ok(with_warnings(Response::no_content(), warnings));
        };
        let now = self.now();
        let mut batch = Batch::new();
        let mut changed = false;
        for v in versions {
            let Some(vm) = meta.versions.get_mut(&v) else {
                continue;
            };
            if vm.destroyed {
                continue;
            }
            match change {
                Change::Delete if !vm.is_deleted(now) => vm.deleted = Some(now),
                Change::Undelete if vm.deleted.is_some() => vm.deleted = None,
                Change::Destroy => {
                    vm.destroyed = true;
                    batch.delete(self.version_key(path, v));
                }
                _ => continue,
            }
            changed = true;
        }
        if changed {
            batch.put(self.meta_key(path), &meta);
            self.barrier.commit(batch)?;
        }
        Ok(with_warnings(Response::no_content(), warnings))
    }

    pub(super) fn read_metadata(&self, path: &str) -> Result<Response, VaultError> {
        let meta = self.load_meta(path)?.ok_or_else(|| no_secret(path))?;
        Ok(Response::data(meta.to_json()))
    }

    pub(super) fn write_metadata(&self, path: &str, req: &Request) -> Result<Response, VaultError> {
        let fields = MetaFields::parse(req)?;
        let custom = field(req, "custom_metadata")
            .map(input::custom_field)
            .transpose()?;
        let _guard = self.lock(path);
        let now = self.now();
        let mut meta = self.load_meta(path)?.unwrap_or_else(|| KeyMeta::new(now));
        fields.apply(&mut meta);
        if let Some(c) = custom {
            meta.custom_metadata = Some(c);
        }
        meta.updated = now;
        self.barrier.put(&self.meta_key(path), &meta)?;
        Ok(with_warnings(
            Response::no_content(),
            input::unknown_fields(req, META_FIELDS),
        ))
    }

    pub(super) fn patch_metadata(&self, path: &str, req: &Request) -> Result<Response, VaultError> {
        let fields = MetaFields::parse(req)?;
        let _guard = self.lock(path);
        let mut meta = self.load_meta(path)?.ok_or_else(|| no_secret(path))?;
        if let Some(patch) = field(req, "custom_metadata") {
            meta.custom_metadata = Some(input::patch_custom(meta.custom_metadata.take(), patch)?);
        }
        fields.apply(&mut meta);
        meta.updated = self.now();
        self.barrier.put(&self.meta_key(path), &meta)?;
        Ok(with_warnings(
            Response::no_content(),
            input::unknown_fields(req, META_FIELDS),
        ))
    }

    pub(super) fn delete_metadata(&self, path: &str) -> Result<Response, VaultError> {
        let _guard = self.lock(path);
        let Some(meta) = self.load_meta(path)? else {
            return Ok(Response::no_content());
        };
        let mut batch = Batch::new();
        for (&v, vm) in &meta.versions {
            if !vm.destroyed {
                batch.delete(self.version_key(path, v));
            }
        }
        batch.delete(self.meta_key(path));
        self.barrier.commit(batch)?;
        Ok(Response::no_content())
    }

    /// `LIST metadata/<folder>`: the secrets and folders directly below, Vault-style.
    pub(super) fn list(&self, folder: &str) -> Result<Response, VaultError> {
        let folder = folder.trim_end_matches('/');
        let prefix = if folder.is_empty() {
            self.meta_prefix()
        } else {
            input::secret_path(folder)?;
            format!("{}{folder}/", self.meta_prefix())
        };
        Response::list(self.barrier.children(&prefix)?)
    }
}

/// Vault's check-and-set rules: `cas` must equal the current version (0: not yet written);
/// when the mount or the secret requires it, a write without `cas` is refused.
fn check_cas(config: &Config, meta: &KeyMeta, cas: Option<u64>) -> Result<(), VaultError> {
    match cas {
        None if config.cas_required || meta.cas_required => Err(VaultError::invalid(
            "check-and-set parameter required for this call: set `options.cas` to the current version (0 for a new secret)",
        )),
        Some(c) if c != meta.current => Err(VaultError::CasMismatch),
        _ => Ok(()),
    }
}
