//! Opening a data directory.
//!
//! A fresh directory gets a new root key (mode 0600), a new SQLite store and a data key
//! wrapped by the root key. An existing directory must have its root key: a missing or corrupt
//! key file is an error that names the file, and nothing is created or overwritten, because a
//! new key could never read the data already sealed under the old one.

use seawall_audit::AuditLog;
use seawall_core::clock::SharedClock;
use seawall_core::config::Config;
use seawall_core::seal::{root_key_path, DataKey, RootKey, SealError, Sealer};
use seawall_store::sqlite::SqliteStore;
use seawall_store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DATA_KEY_META: &str = "seal.data_key";
const STORE_FILE: &str = "seawall.db";

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot create data directory `{path}`: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Seal(#[from] SealError),
    #[error("root key file `{key}` is missing but `{store}` exists; without the key its data cannot be read (restore the key file, or move the data directory away to start afresh)")]
    KeyLost { key: PathBuf, store: PathBuf },
    #[error("data directory `{0}` is sealed: its root key exists only as key shares (`seal.json`); start `seawall server` and unseal it with `seawall operator unseal`")]
    Sealed(PathBuf),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("audit log: {0}")]
    Audit(#[from] seawall_audit::AuditError),
}

/// What start-up yields: everything a role needs from the data directory.
#[derive(Clone)]
pub struct State {
    pub config: Arc<Config>,
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    pub sealer: Arc<Sealer>,
    pub audit: AuditLog,
    pub clock: SharedClock,
}

/// Opens data directories.
pub struct Bootstrap;

impl Bootstrap {
    /// Opens (creating on first use) the data directory that `config` names.
    pub fn open(config: Config, clock: SharedClock) -> Result<State, BootstrapError> {
        let data_dir = config.data_dir();
        create_private_dir(&data_dir)?;
        let key_path = root_key_path(&data_dir);
        let store_path = data_dir.join(STORE_FILE);
        let root = open_root_key(&key_path, &store_path)?;
        Self::open_with_key(config, clock, root)
    }

    /// Opens an existing data directory with a root key from elsewhere: one rebuilt from key
    /// shares by [`crate::unseal`]. A key that does not unwrap the data key is refused.
    pub fn open_with_key(
        config: Config,
        clock: SharedClock,
        root: RootKey,
    ) -> Result<State, BootstrapError> {
        let data_dir = config.data_dir();
        let store_path = data_dir.join(STORE_FILE);
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&store_path)?);
        let sealer = Arc::new(Sealer::new(data_key(store.as_ref(), &root)?));
        let audit = AuditLog::open(store.clone(), &sealer, clock.clone())?;
        Ok(State {
            config: Arc::new(config),
            data_dir,
            store,
            sealer,
            audit,
            clock,
        })
    }
}

fn open_root_key(key_path: &Path, store_path: &Path) -> Result<RootKey, BootstrapError> {
    match RootKey::load(key_path) {
        Ok(k) => Ok(k),
        Err(SealError::RootKeyMissing { .. })
            if key_path
                .parent()
                .is_some_and(crate::unseal::is_shamir_sealed) =>
        {
            Err(BootstrapError::Sealed(
                key_path.parent().unwrap_or(key_path).to_owned(),
            ))
        }
        Err(SealError::RootKeyMissing { .. }) if store_path.exists() => {
            Err(BootstrapError::KeyLost {
                key: key_path.to_owned(),
                store: store_path.to_owned(),
            })
        }
        Err(SealError::RootKeyMissing { .. }) => Ok(RootKey::create(key_path)?),
        Err(e) => Err(e.into()),
    }
}

/// Unwraps the data key, creating and wrapping one on first use.
fn data_key(store: &dyn Store, root: &RootKey) -> Result<DataKey, BootstrapError> {
    let wrapped = store.meta_init(DATA_KEY_META, &root.wrap(&DataKey::generate()))?;
    Ok(root.unwrap_key(&wrapped)?)
}

fn create_private_dir(path: &Path) -> Result<(), BootstrapError> {
    let err = |source| BootstrapError::CreateDir {
        path: path.to_owned(),
        source,
    };
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_core::SystemClock;

    fn config(dir: &Path) -> Config {
        Config {
            data_dir: Some(dir.to_owned()),
            ..Config::default()
        }
    }

    #[test]
    fn fresh_directory_is_initialised_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        let s = Bootstrap::open(config(&d), Arc::new(SystemClock)).unwrap();
        let sealed = s.sealer.seal(b"x", "t");
        drop(s);
        let again = Bootstrap::open(config(&d), Arc::new(SystemClock)).unwrap();
        assert_eq!(again.sealer.open(&sealed, "t").unwrap().as_slice(), b"x");
    }

    #[test]
    fn missing_key_with_existing_store_is_refused_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        drop(Bootstrap::open(config(&d), Arc::new(SystemClock)).unwrap());
        std::fs::remove_file(root_key_path(&d)).unwrap();
        let err = Bootstrap::open(config(&d), Arc::new(SystemClock))
            .err()
            .unwrap();
        assert!(err.to_string().contains("root.key"), "{err}");
        assert!(!root_key_path(&d).exists());
    }

    #[test]
    fn another_key_cannot_open_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        drop(Bootstrap::open(config(&d), Arc::new(SystemClock)).unwrap());
        std::fs::remove_file(root_key_path(&d)).unwrap();
        RootKey::create(&root_key_path(&d)).unwrap();
        let err = Bootstrap::open(config(&d), Arc::new(SystemClock))
            .err()
            .unwrap();
        assert!(err.to_string().contains("root key does not match"), "{err}");
    }
}
