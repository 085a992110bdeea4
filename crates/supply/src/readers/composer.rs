//! `composer.lock`: `packages` (run time) and `packages-dev` (development only), with the
//! direct dependencies named by the `composer.json` beside it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::npm::license_strings;
use super::{json_error, Edge, ParseError, Parsed, PROJECT};
use crate::model::{Component, Ecosystem, Hash, HashAlg, Scope, Source};

#[derive(Deserialize)]
struct Lock {
    packages: Option<Vec<Package>>,
    #[serde(rename = "packages-dev")]
    packages_dev: Option<Vec<Package>>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    source: Option<Location>,
    dist: Option<Location>,
    #[serde(default)]
    require: BTreeMap<String, Value>,
    license: Option<Value>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    reference: Option<String>,
    shasum: Option<String>,
}

pub(super) fn parse(text: &str, manifest: Option<&str>) -> Result<Parsed, ParseError> {
    let lock: Lock = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    if lock.packages.is_none() && lock.packages_dev.is_none() {
        return Err(ParseError::whole(
            "expected `packages` and `packages-dev` arrays",
        ));
    }
    let mut parsed = Parsed {
        scopes_known: true,
        ..Parsed::default()
    };
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    let all: Vec<(&Package, Scope)> = lock
        .packages
        .iter()
        .flatten()
        .map(|p| (p, Scope::Runtime))
        .chain(lock.packages_dev.iter().flatten().map(|p| (p, Scope::Dev)))
        .collect();
    for (p, scope) in &all {
        let mut c = Component::new(Ecosystem::Packagist, &p.name, &p.version).map_err(|_| {
            ParseError::whole(format!(
                "package with empty name at version `{}`",
                p.version
            ))
        })?;
        c = c.with_source(source(p));
        c.scope = *scope;
        c.licenses = license_strings(p.license.as_ref());
        let sha1 = p.dist.as_ref().and_then(|d| d.shasum.as_deref());
        c.hashes
            .extend(sha1.and_then(|h| Hash::from_hex(HashAlg::Sha1, h)));
        by_name.insert(p.name.to_ascii_lowercase(), c.key());
        parsed.components.push(c);
    }
    for ((p, _), c) in all.iter().zip(parsed.components.clone()) {
        for dep in p.require.keys() {
            if let Some(to) = by_name.get(&dep.to_ascii_lowercase()) {
                parsed.edges.push(Edge {
                    from: c.key(),
                    to: to.clone(),
                    scope: Scope::Runtime,
                });
            }
        }
    }
    for (name, scope) in manifest.map(manifest_direct).unwrap_or_default() {
        if let Some(to) = by_name.get(&name.to_ascii_lowercase()) {
            parsed.edges.push(Edge {
                from: PROJECT.to_string(),
                to: to.clone(),
                scope,
            });
        }
    }
    Ok(parsed)
}

/// Packagist packages come from the default registry; a `path` dist is a local package.
fn source(p: &Package) -> Source {
    match p.dist.as_ref().and_then(|d| d.kind.as_deref()) {
        Some("path") => Source::Path {
            path: p
                .dist
                .as_ref()
                .and_then(|d| d.url.clone())
                .unwrap_or_default(),
        },
        _ if p.dist.is_none()
            && p.source.as_ref().and_then(|s| s.kind.as_deref()) == Some("git") =>
        {
            let s = p.source.as_ref();
            Source::Git {
                url: s.and_then(|s| s.url.clone()).unwrap_or_default(),
                reference: None,
                commit: s.and_then(|s| s.reference.clone()),
            }
        }
        _ => Source::Registry { url: None },
    }
}

fn manifest_direct(manifest: &str) -> Vec<(String, Scope)> {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(manifest) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (table, scope) in [("require", Scope::Runtime), ("require-dev", Scope::Dev)] {
        if let Some(Value::Object(deps)) = doc.get(table) {
            out.extend(deps.keys().map(|k| (k.clone(), scope)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_packages_get_dev_scope() {
        let text = r#"{"packages":[{"name":"a/b","version":"1.0.0"}],
                       "packages-dev":[{"name":"c/d","version":"2.0.0"}]}"#;
        let p = parse(text, None).unwrap();
        let dev: Vec<&str> = p
            .components
            .iter()
            .filter(|c| c.scope == Scope::Dev)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(dev, vec!["c/d"]);
    }

    #[test]
    fn lock_without_package_lists_is_an_error() {
        assert!(parse("{}", None).is_err());
        assert!(parse(r#"{"packages":[{"name":"a/b"}]}"#, None).is_err());
    }
}
