//! The listener certificate: configured PEM files, or one generated once in the data directory
//! for local use. Loading the PEM files into a rustls configuration is the gateway crate's
//! (`seawall_gateway::tls`), shared by both listeners.

use std::path::{Path, PathBuf};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
}

/// PEM paths of a certificate chain and its key.
#[derive(Debug, Clone)]
pub struct CertPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The configured pair, or the self-signed pair in `data_dir/tls/`, generated when absent.
pub fn cert_paths(configured: Option<CertPaths>, data_dir: &Path) -> Result<CertPaths, TlsError> {
    if let Some(p) = configured {
        return Ok(p);
    }
    let dir = data_dir.join("tls");
    let paths = CertPaths {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    if paths.cert.exists() && paths.key.exists() {
        return Ok(paths);
    }
    std::fs::create_dir_all(&dir).map_err(|source| TlsError::Write {
        path: dir.clone(),
        source,
    })?;
    let generated = generate_local_chain().map_err(|e| TlsError::Generate(e.to_string()))?;
    write_private(&paths.key, generated.key_pem.as_bytes())?;
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|source| TlsError::Write {
            path: path.to_owned(),
            source,
        })
    };
    write(&dir.join("ca.pem"), &generated.ca_pem)?;
    write(
        &paths.cert,
        &format!("{}{}", generated.leaf_pem, generated.ca_pem),
    )?;
    Ok(paths)
}

/// A certificate for local use, issued by a throw-away CA.
struct LocalChain {
    ca_pem: String,
    leaf_pem: String,
    key_pem: String,
}

/// Makes a CA (whose key is dropped at once, so nothing else can ever be issued under it) and a
/// server certificate for localhost, 127.0.0.1 and ::1 signed by it. Clients trust `ca.pem`, or
/// `cert.pem`, which holds the chain; TLS libraries that refuse a leaf as a trust anchor
/// accept the CA.
fn generate_local_chain() -> Result<LocalChain, rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "Seawall local CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;

    let leaf_key = KeyPair::generate()?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let mut leaf = CertificateParams::new(names)?;
    leaf.distinguished_name.push(DnType::CommonName, "Seawall");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key)?;
    Ok(LocalChain {
        ca_pem: ca_cert.pem(),
        leaf_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let err = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(err)
}
