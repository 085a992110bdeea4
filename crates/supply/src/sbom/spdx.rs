//! SPDX 2.3 JSON: one package per component plus one for the project, `DESCRIBES` from the
//! document to the project, and a relationship per dependency edge: `DEPENDS_ON`, or
//! `DEV_DEPENDENCY_OF` / `OPTIONAL_DEPENDENCY_OF` (from the dependency to its dependent)
//! when the dependency is for development only or optional.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::licenses::{classify, License};
use super::{content_uuid, source_date, SbomReport};
use crate::model::{Component, HashAlg, Relation, Scope, Source};

/// The project package's SPDX identifier.
const ROOT_ID: &str = "SPDXRef-Project";

/// Writes the report as an SPDX 2.3 JSON document (pretty-printed, newline-terminated).
///
/// `created` is `SOURCE_DATE_EPOCH` when set, else the Unix epoch, so that output is
/// reproducible; the document comment says which.
pub fn write(report: &SbomReport) -> String {
    let mut packages = vec![root_package(report)];
    packages.extend(report.components.iter().map(package));
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": ROOT_ID,
    })];
    let scopes: std::collections::BTreeMap<String, Scope> = report
        .components
        .iter()
        .map(|c| (c.key(), c.scope))
        .collect();
    let root_ref = report.root.bom_ref();
    for (from, tos) in &report.graph.edges {
        let from_id = if *from == root_ref {
            ROOT_ID.to_string()
        } else {
            spdx_id(from)
        };
        for to in tos {
            let to_id = spdx_id(to);
            let rel = match scopes.get(to).copied().unwrap_or_default() {
                Scope::Runtime => json!({
                    "spdxElementId": from_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": to_id,
                }),
                Scope::Dev => json!({
                    "spdxElementId": to_id, "relationshipType": "DEV_DEPENDENCY_OF", "relatedSpdxElement": from_id,
                }),
                Scope::Optional => json!({
                    "spdxElementId": to_id, "relationshipType": "OPTIONAL_DEPENDENCY_OF", "relatedSpdxElement": from_id,
                }),
            };
            relationships.push(rel);
        }
    }

    let (created, comment) = match source_date() {
        Some(t) => (t, "created is SOURCE_DATE_EPOCH"),
        None => (
            "1970-01-01T00:00:00Z".to_string(),
            "created is fixed for reproducible output; set SOURCE_DATE_EPOCH",
        ),
    };
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": report.root.name,
        "documentNamespace": "",
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: seawall-{}", env!("CARGO_PKG_VERSION"))],
            "comment": comment,
        },
        "documentDescribes": [ROOT_ID],
        "packages": packages,
        "relationships": relationships,
    });
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    let namespace = format!(
        "https://spdx.org/spdxdocs/seawall/{}-{}",
        sanitize(&report.root.name),
        content_uuid(&body)
    );
    if let Value::Object(map) = &mut doc {
        map.insert("documentNamespace".into(), Value::String(namespace));
    }
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

/// `SPDXRef-Package-` and a digest of the component key: unique, stable, and made only of
/// the characters SPDX identifiers allow.
pub fn spdx_id(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!(
        "SPDXRef-Package-{}",
        hex::encode(digest.get(..10).unwrap_or_default())
    )
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn root_package(report: &SbomReport) -> Value {
    let mut m = Map::new();
    m.insert("SPDXID".into(), ROOT_ID.into());
    m.insert("name".into(), report.root.name.clone().into());
    if let Some(v) = &report.root.version {
        m.insert("versionInfo".into(), v.clone().into());
    }
    m.insert("downloadLocation".into(), "NOASSERTION".into());
    m.insert("filesAnalyzed".into(), false.into());
    m.insert("primaryPackagePurpose".into(), "APPLICATION".into());
    Value::Object(m)
}

fn package(c: &Component) -> Value {
    let mut m = Map::new();
    m.insert("SPDXID".into(), spdx_id(&c.key()).into());
    m.insert("name".into(), c.name.clone().into());
    if !c.version.is_empty() {
        m.insert("versionInfo".into(), c.version.clone().into());
    }
    m.insert(
        "downloadLocation".into(),
        download_location(&c.source).into(),
    );
    m.insert("filesAnalyzed".into(), false.into());
    let (declared, comment) = declared_license(&c.licenses);
    m.insert("licenseConcluded".into(), "NOASSERTION".into());
    m.insert("licenseDeclared".into(), declared.into());
    if let Some(comment) = comment {
        m.insert("licenseComments".into(), comment.into());
    }
    m.insert("copyrightText".into(), "NOASSERTION".into());
    if !c.hashes.is_empty() {
        let sums: Vec<Value> = c
            .hashes
            .iter()
            .map(|h| json!({ "algorithm": alg_name(h.alg), "checksumValue": h.hex }))
            .collect();
        m.insert("checksums".into(), Value::Array(sums));
    }
    m.insert(
        "externalRefs".into(),
        json!([{ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.key() }]),
    );
    let purpose = if c.relation == Relation::Root {
        "APPLICATION"
    } else {
        "LIBRARY"
    };
    m.insert("primaryPackagePurpose".into(), purpose.into());
    Value::Object(m)
}

fn alg_name(alg: HashAlg) -> &'static str {
    match alg {
        HashAlg::Md5 => "MD5",
        HashAlg::Sha1 => "SHA1",
        HashAlg::Sha256 => "SHA256",
        HashAlg::Sha384 => "SHA384",
        HashAlg::Sha512 => "SHA512",
    }
}

/// SPDX download locations: `git+URL@commit` for git, the URL for downloads.
fn download_location(source: &Source) -> String {
    match source {
        Source::Git { url, commit, .. } if url.contains("://") => {
            let at = commit
                .as_deref()
                .map(|c| format!("@{c}"))
                .unwrap_or_default();
            format!("git+{}{at}", url.trim_start_matches("git+"))
        }
        Source::Url { url } if url.starts_with("http") => url.clone(),
        _ => "NOASSERTION".to_string(),
    }
}

/// The declared license as an SPDX expression, or `NOASSERTION` with the text in a comment
/// when it names licenses outside the SPDX list.
fn declared_license(list: &[String]) -> (String, Option<String>) {
    if list.is_empty() {
        return ("NOASSERTION".to_string(), None);
    }
    let mut parts = Vec::new();
    for raw in list {
        match classify(raw) {
            License::Id(id) => parts.push(id.to_string()),
            License::Expression(e) if list.len() == 1 => parts.push(e),
            License::Expression(e) => parts.push(format!(
                "({})",
                e.trim_start_matches('(').trim_end_matches(')')
            )),
            License::Text(_) => {
                return (
                    "NOASSERTION".to_string(),
                    Some(format!("declared: {}", list.join("; "))),
                );
            }
        }
    }
    (parts.join(" AND "), None)
}
