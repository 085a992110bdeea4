//! Device certificates: optional mTLS against the device CA, read into the policy's context.

use super::common::*;
use http::StatusCode;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

struct Pki {
    ca_pem_file: tempfile::NamedTempFile,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

fn device_ca() -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Test Device CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = params.self_signed(&ca_key).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), ca_cert.pem()).unwrap();
    Pki {
        ca_pem_file: file,
        ca_cert,
        ca_key,
    }
}

fn device_cert(
    pki: &Pki,
    id: &str,
    posture: &str,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::URI(format!("device:{id}").try_into().unwrap())];
    params.distinguished_name.push(DnType::CommonName, id);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, format!("posture:{posture}"));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &pki.ca_cert, &pki.ca_key).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
}

async fn get_over_tls(
    h: &Harness,
    server_cert: &CertificateDer<'static>,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    token: &str,
) -> Result<StatusCode, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_cert.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let stream = connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("/device-check")
        .header("host", "localhost")
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok(resp.status())
}

#[tokio::test]
async fn device_certificate_is_optional_and_reaches_the_policy_context() {
    let pki = device_ca();
    let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let server_der = server.cert.der().clone();
    let tls = seawall_gateway::tls::server_config_from(
        vec![server_der.clone()],
        PrivateKeyDer::Pkcs8(server.key_pair.serialize_der().into()),
        Some(pki.ca_pem_file.path()),
    )
    .unwrap();
    let h = start_with(Options {
        tls: Some(tls),
        ..Options::default()
    })
    .await;
    let token = h.token("alice", &["eng"], 0);

    let status = get_over_tls(
        &h,
        &server_der,
        Some(device_cert(&pki, "laptop-42", "compliant")),
        &token,
    )
    .await;
    assert_eq!(status, Ok(StatusCode::OK));
    let ctx = h
        .decisions
        .0
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .decision
        .context
        .clone();
    assert_eq!(ctx.device_id, "laptop-42");
    assert_eq!(ctx.device_posture, "compliant");

    // No certificate: the connection is still accepted, and the device is unknown.
    let status = get_over_tls(&h, &server_der, None, &token).await;
    assert_eq!(status, Ok(StatusCode::OK));
    let ctx = h
        .decisions
        .0
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .decision
        .context
        .clone();
    assert_eq!(ctx.device_posture, "unknown");
    assert_eq!(ctx.device_id, "");

    // A certificate from another CA fails the handshake.
    let rogue = device_ca();
    let status = get_over_tls(
        &h,
        &server_der,
        Some(device_cert(&rogue, "rogue", "compliant")),
        &token,
    )
    .await;
    assert!(status.is_err(), "{status:?}");
}
