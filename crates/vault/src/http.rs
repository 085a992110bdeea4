//! Vault's HTTP API: `/v1/<path>` in, Vault's JSON shapes out.
//!
//! Methods include `LIST` (and `GET ?list=true`); the token comes from `X-Vault-Token` or
//! `Authorization: Bearer`; bodies are JSON objects (an empty body is an empty object). An
//! answer with data is `{"request_id", "lease_id", "renewable", "lease_duration", "data",
//! "wrap_info", "warnings", "auth", "mount_type"}`; an error is `{"errors": ["..."]}` with
//! Vault's status code. `sys/health` answers with its own status codes and no envelope.

use crate::core::{RawRequest, Vault};
use crate::error::VaultError;
use crate::request::Response;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Largest request body accepted (Vault's default is 32 MiB; secrets are small).
pub const MAX_BODY: usize = 1 << 20;

/// Answers one `/v1/` request. `path` is what follows `/v1/`; `query` the raw query string.
pub async fn serve(
    vault: &Vault,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
    client_addr: Option<IpAddr>,
) -> axum::response::Response {
    let raw = match decode(method, path, query, headers, &body, client_addr) {
        Ok(r) => r,
        Err(e) => {
            vault.audit_refused(method.as_str(), path, client_addr, &e);
            return error(&e);
        }
    };
    let path = raw.path.trim_matches('/').to_owned();
    let query = raw.query.clone();
    match vault.handle(raw).await {
        Ok(r) if path == "sys/health" => health_response(r, &query),
        Ok(r) if RAW_SYS.contains(&path.as_str()) => {
            json_response(StatusCode::OK, &r.data.unwrap_or(Value::Null))
        }
        Ok(r) if path.starts_with("sys/") => encode_with_legacy_fields(r),
        Ok(r) => encode(r),
        Err(e) => error(&e),
    }
}

/// Turns the HTTP request into a [`RawRequest`].
pub fn decode(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    client_addr: Option<IpAddr>,
) -> Result<RawRequest, VaultError> {
    let query = parse_query(query.unwrap_or(""))?;
    let body = parse_body(body)?;
    let token = headers
        .get("x-vault-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned)
        })
        .filter(|t| !t.is_empty())
        .map(seawall_core::Secret::new);
    Ok(RawRequest {
        method: method.as_str().to_owned(),
        path: percent_decode(path)?,
        query,
        body,
        token,
        client_addr,
    })
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, VaultError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if body.len() > MAX_BODY {
        return Err(VaultError::invalid(format!(
            "request body is larger than {MAX_BODY} bytes"
        )));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(VaultError::invalid("request body must be a JSON object")),
        Err(e) => Err(VaultError::invalid(format!(
            "failed to parse JSON input: {e}"
        ))),
    }
}

fn parse_query(q: &str) -> Result<BTreeMap<String, String>, VaultError> {
    let mut out = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k)?, percent_decode(&v.replace('+', " "))?);
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, VaultError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| VaultError::invalid(format!("bad percent-encoding in `{s}`")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| VaultError::invalid(format!("`{s}` is not UTF-8")))
}

/// `sys/` paths Vault answers with a bare JSON object, without the envelope.
const RAW_SYS: &[&str] = &["sys/seal-status", "sys/unseal", "sys/init", "sys/leader"];

/// Other `sys/` answers carry their data both in `data` and at the top level, as Vault's do
/// (clients read either).
fn encode_with_legacy_fields(r: Response) -> axum::response::Response {
    let Some(Value::Object(top)) = r.data.clone() else {
        return encode(r);
    };
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut body = envelope(&r);
    if let Value::Object(m) = &mut body {
        for (k, v) in top {
            m.entry(k).or_insert(v);
        }
    }
    json_response(status, &body)
}

/// Writes a successful answer in Vault's envelope.
pub fn encode(r: Response) -> axum::response::Response {
    if r.status == 204 && r.data.is_none() && r.lease.is_none() && r.auth.is_none() {
        return with_status(StatusCode::NO_CONTENT, Body::empty());
    }
    json_response(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK),
        &envelope(&r),
    )
}

/// Vault's response envelope around `r`.
fn envelope(r: &Response) -> Value {
    let (lease_id, lease_duration, renewable) = match &r.lease {
        Some(l) => (l.lease_id.clone(), l.lease_duration, l.renewable),
        None => (String::new(), 0, false),
    };
    json!({
        "request_id": crate::core::random_id(),
        "lease_id": lease_id,
        "renewable": renewable,
        "lease_duration": lease_duration,
        "data": r.data,
        "wrap_info": null,
        "warnings": if r.warnings.is_empty() { Value::Null } else { json!(r.warnings) },
        "auth": r.auth,
        "mount_type": "",
    })
}

/// `sys/health` answers with the status codes load balancers read: 200 active, 503 sealed;
/// `?sealedcode=` and friends override them as in Vault.
fn health_response(r: Response, query: &BTreeMap<String, String>) -> axum::response::Response {
    let code = query
        .get("activecode")
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    json_response(code, &r.data.unwrap_or(Value::Null))
}

/// Writes an error as `{"errors": [...]}`.
pub fn error(e: &VaultError) -> axum::response::Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() && !matches!(e, VaultError::Sealed | VaultError::Upstream(_)) {
        tracing::error!(error = %e, "vault request failed");
    }
    let errors: Vec<String> = match e {
        // Vault answers a missing path with an empty error list.
        VaultError::NotFound(m) if m.is_empty() => Vec::new(),
        other => vec![other.to_string()],
    };
    json_response(status, &json!({ "errors": errors }))
}

fn json_response(status: StatusCode, body: &Value) -> axum::response::Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = with_status(status, Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn with_status(status: StatusCode, body: Body) -> axum::response::Response {
    let mut r = axum::response::Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_queries_decode() {
        let h = HeaderMap::new();
        let r = decode(
            &Method::GET,
            "secret/data/a%20b",
            Some("version=2&list=true"),
            &h,
            b"",
            None,
        )
        .unwrap();
        assert_eq!(r.path, "secret/data/a b");
        assert_eq!(r.query["version"], "2");
        assert!(decode(&Method::POST, "x", None, &h, b"[1]", None).is_err());
        assert!(decode(&Method::POST, "x", None, &h, b"{bad", None).is_err());
        assert!(decode(&Method::GET, "a%zz", None, &h, b"", None).is_err());
        assert!(decode(&Method::GET, "a%ff", None, &h, b"", None).is_err());
    }

    #[test]
    fn token_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer hvs.abc"));
        let r = decode(&Method::GET, "x", None, &h, b"", None).unwrap();
        assert_eq!(r.token.unwrap().expose(), "hvs.abc");
        h.insert("x-vault-token", HeaderValue::from_static("hvs.def"));
        let r = decode(&Method::GET, "x", None, &h, b"", None).unwrap();
        assert_eq!(r.token.unwrap().expose(), "hvs.def");
    }
}
