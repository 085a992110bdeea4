//! .NET `packages.lock.json`: for each target framework, each package's `type` (`Direct`,
//! `Transitive`, `CentralTransitive`, `Project`), resolved version, `contentHash` (base64
//! SHA-512) and dependencies.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{json_error, Edge, ParseError, Parsed, PROJECT};
use crate::model::{Component, Ecosystem, Hash, Relation, Scope, Source};

#[derive(Deserialize)]
struct Lock {
    version: Option<u64>,
    dependencies: Option<BTreeMap<String, BTreeMap<String, Entry>>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: Option<String>,
    resolved: Option<String>,
    #[serde(rename = "contentHash")]
    content_hash: Option<String>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
}

pub(super) fn parse(text: &str) -> Result<Parsed, ParseError> {
    let lock: Lock = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    if let Some(v) = lock.version.filter(|v| !(1..=2).contains(v)) {
        return Err(ParseError::whole(format!(
            "unsupported packages.lock.json version `{v}`"
        )));
    }
    let Some(frameworks) = lock.dependencies else {
        return Err(ParseError::whole(
            "expected a `dependencies` object keyed by target framework",
        ));
    };
    let mut parsed = Parsed::default();
    for packages in frameworks.values() {
        let mut by_name: BTreeMap<String, String> = BTreeMap::new();
        let mut keyed = Vec::new();
        for (name, e) in packages {
            let version = e.resolved.as_deref().unwrap_or_default();
            let mut c = Component::new(Ecosystem::NuGet, name, version)
                .map_err(|_| ParseError::whole("package with an empty name"))?;
            c = match e.kind.as_deref() {
                Some("Project") => {
                    c.relation = Relation::Root;
                    c.source = Source::Path { path: name.clone() };
                    c
                }
                _ => c.with_source(Source::Registry { url: None }),
            };
            if let Some(h) = e
                .content_hash
                .as_deref()
                .and_then(|h| Hash::from_sri(&format!("sha512-{h}")))
            {
                c.hashes.push(h);
            }
            by_name.insert(name.to_ascii_lowercase(), c.key());
            keyed.push((c.key(), e));
            parsed.components.push(c);
        }
        for (from, e) in keyed {
            if e.kind.as_deref() == Some("Direct") {
                parsed.edges.push(Edge {
                    from: PROJECT.to_string(),
                    to: from.clone(),
                    scope: Scope::Runtime,
                });
            }
            for dep in e.dependencies.keys() {
                if let Some(to) = by_name.get(&dep.to_ascii_lowercase()) {
                    parsed.edges.push(Edge {
                        from: from.clone(),
                        to: to.clone(),
                        scope: Scope::Runtime,
                    });
                }
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_and_transitive_are_told_apart() {
        let text = r#"{"version":1,"dependencies":{"net8.0":{
            "A":{"type":"Direct","requested":"[1.0.0, )","resolved":"1.0.0","dependencies":{"B":"2.0.0"}},
            "B":{"type":"Transitive","resolved":"2.0.0"}}}}"#;
        let p = super::super::parse(super::super::FileKind::NugetLock, text, None).unwrap();
        let rel: Vec<(&str, Relation)> = p
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.relation))
            .collect();
        assert_eq!(
            rel,
            vec![("A", Relation::Direct), ("B", Relation::Transitive)]
        );
    }

    #[test]
    fn lock_without_dependencies_is_an_error() {
        assert!(parse(r#"{"version":1}"#).is_err());
        assert!(parse(r#"{"version":5,"dependencies":{}}"#).is_err());
    }
}
