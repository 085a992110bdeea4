//! Envelope encryption of secret material at rest.
//!
//! A random 256-bit *data key* encrypts secrets with XChaCha20-Poly1305; the data key is stored
//! only *wrapped* (encrypted) under the *root key*. The root key lives outside the store, in a
//! key file of mode 0600 in the data directory, so a copy of the database alone reveals nothing.
//! Losing the root key file means the sealed data can never be read again.
//!
//! Every sealed value is bound to the place it is stored through the associated data (for
//! example `"totp:<factor id>"`), so a ciphertext copied into another row fails to open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
/// Marks a sealed value and its format version.
const MAGIC: &[u8; 3] = b"SW1";
const ROOT_KEY_HEADER: &str = "seawall-root-key-v1";

/// Why sealing or unsealing failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("root key file `{path}` does not exist")]
    RootKeyMissing { path: PathBuf },
    #[error("root key file `{path}` is unreadable: {source}")]
    RootKeyUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("root key file `{path}` is corrupt: {reason}")]
    RootKeyCorrupt { path: PathBuf, reason: &'static str },
    #[error("root key file `{path}` is readable by other users (mode {mode:o}); it must be 0600")]
    RootKeyTooOpen { path: PathBuf, mode: u32 },
    #[error("cannot write root key file `{path}`: {source}")]
    RootKeyWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the data key cannot be unwrapped: the root key does not match this data directory")]
    WrongRootKey,
    #[error("sealed value is malformed or was made with another key")]
    Malformed,
    #[error("sealed value failed authentication: it was altered or moved")]
    Tampered,
}

/// The root key, held in memory only while the process runs.
pub struct RootKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey([redacted])")
    }
}

impl RootKey {
    /// A fresh random root key.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    /// Wraps raw key bytes, for example from a Shamir recombination.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Reads the key file, refusing one that other users can read.
    pub fn load(path: &Path) -> Result<Self, SealError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SealError::RootKeyMissing {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(SealError::RootKeyUnreadable {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        check_mode(path)?;
        let corrupt = |reason| SealError::RootKeyCorrupt {
            path: path.to_owned(),
            reason,
        };
        let mut lines = text.lines();
        if lines.next() != Some(ROOT_KEY_HEADER) {
            return Err(corrupt("the first line is not `seawall-root-key-v1`"));
        }
        let hex_key = lines
            .next()
            .ok_or_else(|| corrupt("the key line is missing"))?;
        let raw = Zeroizing::new(
            hex::decode(hex_key.trim()).map_err(|_| corrupt("the key is not hexadecimal"))?,
        );
        let bytes: [u8; KEY_LEN] = raw
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("the key is not 32 bytes long"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// Writes a new key file with mode 0600. Refuses to overwrite an existing file, so a
    /// mistake can never destroy the only copy of a key.
    pub fn create(path: &Path) -> Result<Self, SealError> {
        let key = Self::generate();
        let write_err = |source| SealError::RootKeyWrite {
            path: path.to_owned(),
            source,
        };
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(write_err)?;
        let body = Zeroizing::new(format!("{ROOT_KEY_HEADER}\n{}\n", hex::encode(*key.0)));
        file.write_all(body.as_bytes()).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        Ok(key)
    }

    /// Loads the key file, or creates it when it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        match Self::load(path) {
            Err(SealError::RootKeyMissing { .. }) => Self::create(path),
            other => other,
        }
    }

    /// The raw key, for splitting into shares.
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Wraps (encrypts) a data key under this root key.
    pub fn wrap(&self, data_key: &DataKey) -> Vec<u8> {
        seal_with(&self.0, data_key.0.as_ref(), b"seawall data key")
    }

    /// Unwraps a data key that [`RootKey::wrap`] produced.
    pub fn unwrap_key(&self, wrapped: &[u8]) -> Result<DataKey, SealError> {
        let raw = Zeroizing::new(
            open_with(&self.0, wrapped, b"seawall data key")
                .map_err(|_| SealError::WrongRootKey)?,
        );
        let bytes: [u8; KEY_LEN] = raw
            .as_slice()
            .try_into()
            .map_err(|_| SealError::Malformed)?;
        Ok(DataKey(Zeroizing::new(bytes)))
    }
}

#[cfg(unix)]
fn check_mode(path: &Path) -> Result<(), SealError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|source| SealError::RootKeyUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SealError::RootKeyTooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path) -> Result<(), SealError> {
    Ok(())
}

/// The key that encrypts secrets; stored only wrapped by the root key.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        Self(k)
    }
}

/// Seals and opens secret values with the data key.
#[derive(Debug)]
pub struct Sealer {
    data_key: DataKey,
}

impl Sealer {
    /// A sealer over an unwrapped data key.
    pub fn new(data_key: DataKey) -> Self {
        Self { data_key }
    }

    /// Encrypts `plaintext`, bound to `aad` (where the value is stored).
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Vec<u8> {
        seal_with(&self.data_key.0, plaintext, aad.as_bytes())
    }

    /// Decrypts a value sealed with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        open_with(&self.data_key.0, sealed, aad.as_bytes()).map(Zeroizing::new)
    }
}

fn seal_with(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    // Encryption with a valid key and nonce length cannot fail; the only error the AEAD API
    // reports is a plaintext longer than 2^38 bytes, which no secret here approaches.
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(key: &[u8; KEY_LEN], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let rest = sealed.strip_prefix(MAGIC).ok_or(SealError::Malformed)?;
    if rest.len() < NONCE_LEN + 16 {
        return Err(SealError::Malformed);
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| SealError::Tampered)
}

/// The conventional location of the root key file inside a data directory.
pub fn root_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("root.key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_value_opens_only_with_its_own_place() {
        let sealer = Sealer::new(DataKey::generate());
        let sealed = sealer.seal(b"seed", "totp:1");
        assert_eq!(sealer.open(&sealed, "totp:1").unwrap().as_slice(), b"seed");
        assert!(matches!(
            sealer.open(&sealed, "totp:2"),
            Err(SealError::Tampered)
        ));
    }

    #[test]
    fn flipped_bit_is_detected() {
        let sealer = Sealer::new(DataKey::generate());
        let mut sealed = sealer.seal(b"seed", "a");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(sealer.open(&sealed, "a").is_err());
        assert!(sealer.open(b"xx", "a").is_err());
    }

    #[test]
    fn data_key_round_trips_through_the_root_key_and_not_another() {
        let root = RootKey::generate();
        let dk = DataKey::generate();
        let wrapped = root.wrap(&dk);
        let back = root.unwrap_key(&wrapped).unwrap();
        assert_eq!(*back.0, *dk.0);
        assert!(matches!(
            RootKey::generate().unwrap_key(&wrapped),
            Err(SealError::WrongRootKey)
        ));
    }

    #[test]
    fn key_file_is_created_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = root_key_path(dir.path());
        let k1 = RootKey::load_or_create(&path).unwrap();
        let k2 = RootKey::load_or_create(&path).unwrap();
        assert_eq!(k1.expose_bytes(), k2.expose_bytes());
        assert!(RootKey::create(&path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn corrupt_key_file_is_named_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = root_key_path(dir.path());
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .unwrap();
            f.write_all(b"garbage\n").unwrap();
        }
        let err = RootKey::load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("root.key"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"garbage\n");
    }

    #[test]
    fn debug_hides_key_material() {
        let k = RootKey::generate();
        assert_eq!(format!("{k:?}"), "RootKey([redacted])");
    }
}
