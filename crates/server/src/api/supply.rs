//! Continuous vulnerability matching of stored SBOMs.
//!
//! - `POST /api/v1/sboms?project=P&version=V` stores a CycloneDX or SPDX JSON SBOM and matches
//!   it at once against the advisory index.
//! - `POST /api/v1/advisories` imports OSV records (one JSON object or an array); only the
//!   advisories that changed are evaluated against the stored SBOMs that name their packages.
//! - `GET /api/v1/findings[?project=P]` lists what was found.
//!
//! Each new finding is published as a `SecurityEvent` for the playbooks. Writes need an
//! access token of a member of `admins`.

use super::admin::require_admin;
use super::{ApiError, ApiState};
use crate::serve::PeerAddr;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use seawall_core::event::{EventKind, EventSink, SecurityEvent, Severity as EventSeverity};
use seawall_store::Store;
use seawall_supply::advisory::osv::OsvRecord;
use seawall_supply::advisory::AdvisoryIndex;
use seawall_supply::scan::{component_from_purl, components_from_sbom, match_components, Finding};
use serde::Deserialize;
use std::sync::{Arc, Mutex};

/// Largest SBOM or advisory upload accepted.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// What the supply endpoints share.
#[derive(Clone)]
pub struct SupplyState {
    pub store: Arc<dyn Store>,
    pub index: Arc<Mutex<AdvisoryIndex>>,
    pub events: Arc<dyn EventSink>,
    pub clock: seawall_core::clock::SharedClock,
}

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/sboms", post(put_sbom))
        .route("/api/v1/advisories", post(import_advisories))
        .route("/api/v1/findings", get(list_findings))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
}

#[derive(Deserialize)]
struct SbomQuery {
    project: String,
    version: String,
}

async fn put_sbom(
    State(s): State<ApiState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Query(q): Query<SbomQuery>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_admin(&s, peer, &headers)?;
    check_name("project", &q.project)?;
    check_name("version", &q.version)?;
    let supply = s.supply.clone();
    let out = tokio::task::spawn_blocking(move || store_and_match(&supply, &q, &body))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(Json(out))
}

fn store_and_match(
    s: &SupplyState,
    q: &SbomQuery,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let sbom = components_from_sbom("request body", body)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let purls: Vec<String> = sbom.components.iter().map(|c| c.purl.to_string()).collect();
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the sbom is not utf-8".into()))?;
    let now = s.clock.now();
    let id = s
        .store
        .sbom_put(&q.project, &q.version, &purls, text, now)
        .map_err(|e| ApiError::Store(e.to_string()))?;
    let findings = {
        let index = s.index.lock().unwrap_or_else(|p| p.into_inner());
        match_components(&index, &sbom.components, None)
            .map_err(|e| ApiError::Store(e.to_string()))?
    };
    let new = record(s, id, &q.project, &findings)?;
    Ok(serde_json::json!({
        "id": id,
        "components": purls.len(),
        "skipped": sbom.skipped,
        "findings": findings.len(),
        "new_findings": new,
    }))
}

async fn import_advisories(
    State(s): State<ApiState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_admin(&s, peer, &headers)?;
    let supply = s.supply.clone();
    let out = tokio::task::spawn_blocking(move || import_and_rematch(&supply, &body))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(Json(out))
}

fn import_and_rematch(s: &SupplyState, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not json: {e}")))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let bytes = serde_json::to_vec(item).map_err(|_| ApiError::Internal)?;
        let record = OsvRecord::from_json(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("record {i}: {e}")))?;
        records.push(record);
    }

    // Import, then evaluate only what changed, against every stored SBOM.
    let mut index = s.index.lock().unwrap_or_else(|p| p.into_inner());
    let report = index
        .import_records(records)
        .map_err(|e| ApiError::Store(e.to_string()))?;
    let changed = report.changed();
    let mut new_findings = Vec::new();
    if !changed.is_empty() {
        for sbom in s
            .store
            .sboms()
            .map_err(|e| ApiError::Store(e.to_string()))?
        {
            let components: Vec<_> = sbom
                .purls
                .iter()
                .filter_map(|p| component_from_purl(p).ok())
                .collect();
            let findings = match_components(&index, &components, Some(&changed))
                .map_err(|e| ApiError::Store(e.to_string()))?;
            for f in record(s, sbom.id, &sbom.project, &findings)? {
                new_findings.push(serde_json::json!({
                    "project": sbom.project, "version": sbom.version, "finding": f,
                }));
            }
        }
    }
    Ok(serde_json::json!({
        "added": report.added.len(),
        "updated": report.updated.len(),
        "unchanged": report.unchanged,
        "errors": report.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "new_findings": new_findings,
    }))
}

/// Stores findings; publishes and returns the new ones.
fn record(
    s: &SupplyState,
    sbom_id: i64,
    project: &str,
    findings: &[Finding],
) -> Result<Vec<String>, ApiError> {
    let now = s.clock.now();
    let mut new = Vec::new();
    for f in findings {
        let detail = serde_json::to_value(f).map_err(|_| ApiError::Internal)?;
        let fresh = s
            .store
            .finding_put(sbom_id, &f.id, &f.purl, f.severity.as_str(), &detail, now)
            .map_err(|e| ApiError::Store(e.to_string()))?;
        if fresh {
            s.events.publish(SecurityEvent {
                time: now,
                severity: event_severity(f.severity.as_str()),
                kind: EventKind::Finding {
                    project: project.to_string(),
                    advisory: f.id.clone(),
                    purl: f.purl.clone(),
                },
                context: serde_json::Map::new(),
            });
            new.push(format!("{} {}", f.id, f.purl));
        }
    }
    Ok(new)
}

fn event_severity(s: &str) -> EventSeverity {
    match s {
        "critical" => EventSeverity::Critical,
        "high" => EventSeverity::High,
        "medium" => EventSeverity::Medium,
        "low" => EventSeverity::Low,
        _ => EventSeverity::Info,
    }
}

#[derive(Deserialize)]
struct FindingsQuery {
    project: Option<String>,
}

async fn list_findings(
    State(s): State<ApiState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Query(q): Query<FindingsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_admin(&s, peer, &headers)?;
    let store = s.supply.store.clone();
    let rows = tokio::task::spawn_blocking(move || store.findings(q.project.as_deref()))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|e| ApiError::Store(e.to_string()))?;
    serde_json::to_value(rows)
        .map(Json)
        .map_err(|_| ApiError::Internal)
}

fn check_name(what: &str, v: &str) -> Result<(), ApiError> {
    let ok = !v.is_empty()
        && v.len() <= 200
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+/@:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{what} `{}` must be 1-200 characters of letters, digits and ._-+/@:",
            v.chars().take(60).collect::<String>()
        )))
    }
}
