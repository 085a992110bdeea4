//! CycloneDX JSON (1.6 by default, 1.5 on request) with the `dependencies` graph.
//!
//! Each component's `bom-ref` is its purl. Scope maps to CycloneDX's `required`
//! (runtime), `optional` and `excluded` (development only, not in what ships). How a
//! component relates to the project and where it was found go into `seawall:`-named
//! properties.

use serde_json::{json, Map, Value};

use super::licenses::{classify, License};
use super::{content_uuid, source_date, SbomReport};
use crate::model::{Component, Ecosystem, HashAlg, Relation, Scope, Source};

/// The CycloneDX specification version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpecVersion {
    /// CycloneDX 1.5.
    V1_5,
    /// CycloneDX 1.6.
    #[default]
    V1_6,
}

impl SpecVersion {
    /// As written in `specVersion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_5 => "1.5",
            Self::V1_6 => "1.6",
        }
    }
}

/// Writes the report as a CycloneDX JSON document (pretty-printed, newline-terminated).
pub fn write(report: &SbomReport, spec: SpecVersion) -> String {
    let mut doc = document(report, spec);
    // The serial number is derived from the document without it, so equal content gives an
    // equal serial number.
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    if let Value::Object(map) = &mut doc {
        map.insert(
            "serialNumber".into(),
            Value::String(format!("urn:uuid:{}", content_uuid(&body))),
        );
    }
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

fn document(report: &SbomReport, spec: SpecVersion) -> Value {
    let mut metadata = Map::new();
    if let Some(ts) = source_date() {
        metadata.insert("timestamp".into(), Value::String(ts));
    }
    metadata.insert(
        "tools".into(),
        json!({ "components": [{
            "type": "application",
            "name": "seawall",
            "version": env!("CARGO_PKG_VERSION"),
        }]}),
    );
    let mut root = Map::new();
    root.insert("type".into(), "application".into());
    root.insert("bom-ref".into(), report.root.bom_ref().into());
    root.insert("name".into(), report.root.name.clone().into());
    if let Some(v) = &report.root.version {
        root.insert("version".into(), v.clone().into());
    }
    metadata.insert("component".into(), Value::Object(root));
    if !report.files.is_empty() {
        let props: Vec<Value> = report
            .files
            .iter()
            .map(|f| json!({ "name": "seawall:input", "value": f }))
            .collect();
        metadata.insert("properties".into(), Value::Array(props));
    }

    let components: Vec<Value> = report.components.iter().map(component).collect();
    let dependencies: Vec<Value> = report
        .graph
        .edges
        .iter()
        .map(|(from, tos)| json!({ "ref": from, "dependsOn": tos }))
        .collect();
    json!({
        "$schema": format!("http://cyclonedx.org/schema/bom-{}.schema.json", spec.as_str()),
        "bomFormat": "CycloneDX",
        "specVersion": spec.as_str(),
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    })
}

fn component(c: &Component) -> Value {
    let mut m = Map::new();
    let kind = if c.relation == Relation::Root {
        "application"
    } else {
        "library"
    };
    m.insert("type".into(), kind.into());
    m.insert("bom-ref".into(), c.key().into());
    let grouped = matches!(
        c.ecosystem,
        Ecosystem::Npm | Ecosystem::Maven | Ecosystem::Packagist
    );
    match c.purl.namespace().filter(|_| grouped) {
        Some(group) => {
            m.insert("group".into(), group.into());
            m.insert("name".into(), c.purl.name().into());
        }
        None => {
            m.insert("name".into(), c.name.clone().into());
        }
    }
    if !c.version.is_empty() {
        m.insert("version".into(), c.version.clone().into());
    }
    let scope = match c.scope {
        Scope::Runtime => "required",
        Scope::Optional => "optional",
        Scope::Dev => "excluded",
    };
    m.insert("scope".into(), scope.into());
    if !c.hashes.is_empty() {
        let hashes: Vec<Value> = c
            .hashes
            .iter()
            .map(|h| json!({ "alg": alg_name(h.alg), "content": h.hex }))
            .collect();
        m.insert("hashes".into(), Value::Array(hashes));
    }
    if let Some(licenses) = licenses(&c.licenses) {
        m.insert("licenses".into(), licenses);
    }
    m.insert("purl".into(), c.key().into());
    if let Some(refs) = external_references(&c.source) {
        m.insert("externalReferences".into(), refs);
    }
    m.insert("properties".into(), Value::Array(properties(c)));
    Value::Object(m)
}

fn alg_name(alg: HashAlg) -> &'static str {
    match alg {
        HashAlg::Md5 => "MD5",
        HashAlg::Sha1 => "SHA-1",
        HashAlg::Sha256 => "SHA-256",
        HashAlg::Sha384 => "SHA-384",
        HashAlg::Sha512 => "SHA-512",
    }
}

/// One expression alone, or a list of identified and named licenses (the schema does not
/// allow mixing the two).
fn licenses(list: &[String]) -> Option<Value> {
    if list.is_empty() {
        return None;
    }
    let classified: Vec<License> = list.iter().map(|l| classify(l)).collect();
    if let [License::Expression(e)] = classified.as_slice() {
        return Some(json!([{ "expression": e }]));
    }
    let items: Vec<Value> = classified
        .into_iter()
        .zip(list)
        .map(|(c, raw)| match c {
            License::Id(id) => json!({ "license": { "id": id } }),
            License::Expression(_) | License::Text(_) => json!({ "license": { "name": raw } }),
        })
        .collect();
    Some(Value::Array(items))
}

fn external_references(source: &Source) -> Option<Value> {
    let (kind, url) = match source {
        Source::Git { url, .. } => ("vcs", url),
        Source::Url { url } => ("distribution", url),
        Source::Registry { url: Some(url) } => ("distribution", url),
        _ => return None,
    };
    // Only absolute URLs (`scp`-style git remotes are not IRI references).
    url.contains("://")
        .then(|| json!([{ "type": kind, "url": url }]))
}

fn properties(c: &Component) -> Vec<Value> {
    let relation = match c.relation {
        Relation::Root => "root",
        Relation::Direct => "direct",
        Relation::Transitive => "transitive",
        Relation::Unknown => "unknown",
    };
    let mut props = vec![json!({ "name": "seawall:relation", "value": relation })];
    if let Source::Git {
        reference: Some(r), ..
    } = &c.source
    {
        props.push(json!({ "name": "seawall:git_ref", "value": r }));
    }
    for f in &c.found_in {
        props.push(json!({ "name": "seawall:found_in", "value": f }));
    }
    props
}
