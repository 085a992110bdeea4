//! Which device a request comes from, and whether it is in a trusted state (its posture).
//!
//! Two sources, which the gateway may combine:
//!
//! - **A device certificate**, presented as the TLS client certificate and already verified by
//!   the TLS layer against the device CA (`device.ca_cert`). [`device_from_certificate`] reads
//!   its identity: the first URI subject alternative name `device:<id>` (the id is `<id>`) or
//!   `spiffe://...` (the id is the whole URI), else the subject common name. Its posture is
//!   claimed by a subject organizational unit `posture:compliant` or `posture:noncompliant`
//!   written by the issuing MDM when it enrolled the device. A certificate without such a claim
//!   has posture `unknown`: a certificate proves which device it is, not that the device is still
//!   patched and encrypted, so it cannot imply `compliant`.
//! - **A posture assertion** from a posture agent on the device: a compact JWS (RFC 7515 §7.1)
//!   in the `device.posture_header` header, signed with Ed25519 (`alg: EdDSA`, RFC 8037) by one
//!   of the trusted agent keys (`device.posture_agent_keys`), with claims
//!   `{"device_id", "posture", "iat", "exp"}`. [`PostureVerifier`] checks it.
//!
//! [`DeviceFacts::resolve`] combines them into the `device` context record.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;

/// Allowed clock difference between the posture agent and the gateway, in seconds.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// The largest posture assertion accepted, in bytes.
pub const MAX_ASSERTION_BYTES: usize = 4096;

/// The longest device id accepted, in bytes.
pub const MAX_DEVICE_ID_BYTES: usize = 256;

/// Whether a device is in the state the organisation requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Posture {
    /// Meets the requirements, as claimed by a trusted source.
    Compliant,
    /// Known not to meet them.
    Noncompliant,
    /// Nobody trusted said.
    Unknown,
}

impl Posture {
    /// The value of `context.device.posture`.
    pub fn as_str(self) -> &'static str {
        match self {
            Posture::Compliant => "compliant",
            Posture::Noncompliant => "noncompliant",
            Posture::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "compliant" => Some(Posture::Compliant),
            "noncompliant" => Some(Posture::Noncompliant),
            "unknown" => Some(Posture::Unknown),
            _ => None,
        }
    }
}

/// Where a device's posture came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostureSource {
    /// The device certificate.
    Certificate,
    /// A signed posture assertion from an agent.
    Agent,
    /// No device was identified.
    None,
}

impl PostureSource {
    /// The value of `context.device.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            PostureSource::Certificate => "certificate",
            PostureSource::Agent => "agent",
            PostureSource::None => "none",
        }
    }
}

/// The `device` context record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFacts {
    /// The device id, when a device was identified.
    pub id: Option<String>,
    /// Its posture.
    pub posture: Posture,
    /// Where the posture came from.
    pub source: PostureSource,
}

impl Default for DeviceFacts {
    fn default() -> Self {
        Self::none()
    }
}

impl DeviceFacts {
    /// No device: posture `unknown`, source `none`.
    pub fn none() -> Self {
        Self {
            id: None,
            posture: Posture::Unknown,
            source: PostureSource::None,
        }
    }

    /// Combines a verified device certificate and a verified posture assertion.
    ///
    /// An assertion about another device than the certificate's is ignored (it was made for,
    /// or copied from, another device); otherwise the assertion's posture wins, being the fresher
    /// claim. With neither, [`DeviceFacts::none`].
    pub fn resolve(certificate: Option<&CertDevice>, assertion: Option<&PostureClaims>) -> Self {
        match (certificate, assertion) {
            (Some(cert), Some(claims)) if cert.id != claims.device_id => Self::from_cert(cert),
            (_, Some(claims)) => Self {
                id: Some(claims.device_id.clone()),
                posture: claims.posture,
                source: PostureSource::Agent,
            },
            (Some(cert), None) => Self::from_cert(cert),
            (None, None) => Self::none(),
        }
    }

    fn from_cert(cert: &CertDevice) -> Self {
        Self {
            id: Some(cert.id.clone()),
            posture: cert.posture,
            source: PostureSource::Certificate,
        }
    }
}

/// Why a device certificate or posture assertion was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The certificate is not DER X.509.
    #[error("device certificate is not a der x.509 certificate: {0}")]
    BadCertificate(String),
    /// The certificate names no device.
    #[error("device certificate has no `device:` or `spiffe:` uri and no common name")]
    NoDeviceId,
    /// A configured agent key is not a base64url Ed25519 public key.
    #[error("posture agent key `{0}` is not a base64url ed25519 public key (32 bytes)")]
    BadAgentKey(String),
    /// The assertion is longer than [`MAX_ASSERTION_BYTES`].
    #[error("posture assertion is longer than {MAX_ASSERTION_BYTES} bytes")]
    TooLarge,
    /// The assertion is not a well-formed compact JWS with the expected claims.
    #[error("posture assertion is malformed: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than `EdDSA`.
    #[error("posture assertion algorithm `{0}` is not `EdDSA`")]
    UnsupportedAlgorithm(String),
    /// No trusted agent key verifies the signature.
    #[error("posture assertion signature is not from a trusted posture agent")]
    BadSignature,
    /// `exp` is in the past (beyond the allowed skew).
    #[error("posture assertion expired at `{exp}`")]
    Expired {
        /// The `exp` claim.
        exp: i64,
    },
    /// `iat` is in the future (beyond the allowed skew).
    #[error("posture assertion is issued in the future at `{iat}`")]
    NotYetValid {
        /// The `iat` claim.
        iat: i64,
    },
}

/// A device identified by its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDevice {
    /// The device id.
    pub id: String,
    /// The posture claimed in the certificate, `Unknown` without a claim.
    pub posture: Posture,
}

/// Reads the device identity and posture claim of a DER client certificate.
///
/// The certificate must already be verified (chain, validity, key usage) by the TLS layer; this
/// only reads names from it.
pub fn device_from_certificate(der: &[u8]) -> Result<CertDevice, DeviceError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| DeviceError::BadCertificate(e.to_string()))?;
    let uri_id = cert
        .subject_alternative_name()
        .map_err(|e| DeviceError::BadCertificate(e.to_string()))?
        .into_iter()
        .flat_map(|san| san.value.general_names.iter())
        .find_map(|name| match name {
            GeneralName::URI(uri) => device_id_of_uri(uri),
            _ => None,
        });
    let id = match uri_id {
        Some(id) => id,
        None => cert
            .subject()
            .iter_common_name()
            .find_map(|cn| cn.as_str().ok())
            .filter(|cn| valid_device_id(cn))
            .map(str::to_owned)
            .ok_or(DeviceError::NoDeviceId)?,
    };
    let posture = cert
        .subject()
        .iter_organizational_unit()
        .filter_map(|ou| ou.as_str().ok())
        .find_map(|ou| ou.strip_prefix("posture:").and_then(Posture::parse))
        .unwrap_or(Posture::Unknown);
    Ok(CertDevice { id, posture })
}

fn device_id_of_uri(uri: &str) -> Option<String> {
    let id = if let Some(id) = uri.strip_prefix("device:") {
        id
    } else if uri.starts_with("spiffe://") {
        uri
    } else {
        return None;
    };
    valid_device_id(id).then(|| id.to_owned())
}

fn valid_device_id(id: &str) -> bool {
    (1..=MAX_DEVICE_ID_BYTES).contains(&id.len()) && !id.chars().any(char::is_control)
}

/// The claims of a verified posture assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostureClaims {
    /// The device the agent runs on.
    pub device_id: String,
    /// The posture the agent measured.
    pub posture: Posture,
    /// When the assertion was issued, seconds since the Unix epoch.
    pub iat: i64,
    /// When it expires, seconds since the Unix epoch.
    pub exp: i64,
}

/// Verifies posture assertions against the trusted posture agent keys.
#[derive(Debug, Clone, Default)]
pub struct PostureVerifier {
    keys: Vec<VerifyingKey>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl PostureVerifier {
    /// A verifier trusting `keys`: base64url (no padding) Ed25519 public keys, as in
    /// `device.posture_agent_keys`. With no keys every assertion is refused.
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Result<Self, DeviceError> {
        let keys = keys
            .iter()
            .map(|k| {
                let k = k.as_ref();
                let bad = || DeviceError::BadAgentKey(k.chars().take(64).collect());
                let bytes = URL_SAFE_NO_PAD.decode(k.trim()).map_err(|_| bad())?;
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
                VerifyingKey::from_bytes(&bytes).map_err(|_| bad())
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Verifies the compact JWS `assertion` at time `now` (seconds since the Unix epoch).
    pub fn verify(&self, assertion: &str, now: i64) -> Result<PostureClaims, DeviceError> {
        if assertion.len() > MAX_ASSERTION_BYTES {
            return Err(DeviceError::TooLarge);
        }
        let mut parts = assertion.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DeviceError::Malformed("not three dot-separated parts"));
        };

        // The header first: refuse anything but EdDSA before touching the signature (RFC 8725
        // §3.1), and any critical extension, which we cannot honour (RFC 7515 §4.1.11).
        let header: Header = decode_json(header_b64, HEADER_ERRORS)?;
        if header.alg != "EdDSA" {
            return Err(DeviceError::UnsupportedAlgorithm(
                header.alg.chars().take(32).collect(),
            ));
        }
        if header.crit.is_some() {
            return Err(DeviceError::Malformed(
                "critical header extensions are not supported",
            ));
        }

        // The signature covers the encoded header and payload (RFC 7515 §5.2).
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| DeviceError::Malformed("signature is not base64url"))?;
        let signature = Signature::from_slice(&signature)
            .map_err(|_| DeviceError::Malformed("signature is not 64 bytes"))?;
        let signed_len = header_b64.len() + 1 + payload_b64.len();
        let signed = assertion.as_bytes().get(..signed_len).unwrap_or_default();
        if !self
            .keys
            .iter()
            .any(|key| key.verify_strict(signed, &signature).is_ok())
        {
            return Err(DeviceError::BadSignature);
        }

        let claims: PostureClaims = decode_json(payload_b64, CLAIMS_ERRORS)?;
        check_claims(&claims, now)?;
        Ok(claims)
    }
}

/// Checks the claims of a correctly signed assertion.
fn check_claims(claims: &PostureClaims, now: i64) -> Result<(), DeviceError> {
    if !valid_device_id(&claims.device_id) {
        return Err(DeviceError::Malformed(
            "`device_id` is empty, too long or has control characters",
        ));
    }
    if claims.exp < claims.iat {
        return Err(DeviceError::Malformed("`exp` is before `iat`"));
    }
    if now.saturating_sub(CLOCK_SKEW_SECS) > claims.exp {
        return Err(DeviceError::Expired { exp: claims.exp });
    }
    if claims.iat > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(DeviceError::NotYetValid { iat: claims.iat });
    }
    Ok(())
}

/// Decodes one base64url JSON part of the JWS; `errors` are the messages for bad base64 and for
/// bad JSON.
fn decode_json<T: serde::de::DeserializeOwned>(
    part: &str,
    errors: (&'static str, &'static str),
) -> Result<T, DeviceError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| DeviceError::Malformed(errors.0))?;
    serde_json::from_slice(&bytes).map_err(|_| DeviceError::Malformed(errors.1))
}

const HEADER_ERRORS: (&str, &str) = (
    "header is not base64url",
    "header is not a json object with `alg`",
);
const CLAIMS_ERRORS: (&str, &str) = (
    "claims are not base64url",
    "claims are not a json object with `device_id`, `posture`, `iat` and `exp`",
);
