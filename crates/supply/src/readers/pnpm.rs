//! `pnpm-lock.yaml`, lockfile versions 5.x, 6 and 9, including files holding several YAML
//! documents (pnpm writes one for its own config dependencies before the project's).
//!
//! Package keys take two forms: `/name/version` (v5, peer suffix after `_`) and
//! `/name@version` (v6; v9 drops the leading `/`; peer suffix in parentheses). The form is
//! told per key, from whether the first `@` after the scope comes before the first `/`, so
//! both read the same whatever `lockfileVersion` says. In v9 the dependencies of each package
//! are under `snapshots`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use super::npm::{git_source, integrity_hashes};
use super::{yaml_error, Edge, ParseError, Parsed, PROJECT};
use crate::model::{Component, Ecosystem, Scope, Source};

pub(super) fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| yaml_error(&e))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    if docs.is_empty() {
        return Err(ParseError::whole(
            "expected a YAML mapping with `lockfileVersion`",
        ));
    }
    let mut lock = Lock::default();
    for doc in &docs {
        if !doc.is_mapping() {
            return Err(ParseError::whole(
                "expected a YAML mapping with `lockfileVersion`",
            ));
        }
        lock.read_packages(doc)?;
    }
    for doc in &docs {
        lock.read_edges(doc);
    }
    let scopes_known = lock.saw_dev_flag;
    Ok(Parsed {
        components: lock.components.into_values().collect(),
        edges: lock.edges,
        scopes_known,
    })
}

#[derive(Default)]
struct Lock {
    /// Component by (name, version).
    components: BTreeMap<(String, String), Component>,
    edges: Vec<Edge>,
    saw_dev_flag: bool,
}

impl Lock {
    fn read_packages(&mut self, doc: &Value) -> Result<(), ParseError> {
        let Some(Value::Mapping(packages)) = doc.get("packages") else {
            return Ok(());
        };
        for (key, entry) in packages {
            let Some(key) = key.as_str() else { continue };
            let field = |f: &str| entry.get(f).and_then(Value::as_str);
            let parsed_key = parse_key(key);
            let (name, version) = match (field("name"), field("version"), &parsed_key) {
                (Some(n), Some(v), _) => (n.to_string(), v.to_string()),
                (_, _, Some((n, v))) => (n.clone(), v.clone()),
                _ => {
                    return Err(ParseError::whole(format!(
                        "expected a package key `/name@version` or `/name/version`, found `{key}`"
                    )))
                }
            };
            let mut c = Component::new(Ecosystem::Npm, &name, &version)
                .map_err(|_| ParseError::whole(format!("package key `{key}` has an empty name")))?;
            c = c.with_source(resolution_source(entry.get("resolution")));
            let integrity = entry
                .get("resolution")
                .and_then(|r| r.get("integrity"))
                .and_then(Value::as_str);
            c.hashes.extend(integrity_hashes(integrity));
            if let Some(dev) = entry.get("dev").and_then(Value::as_bool) {
                self.saw_dev_flag = true;
                let optional = entry
                    .get("optional")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                c.scope = if dev {
                    Scope::Dev
                } else if optional {
                    Scope::Optional
                } else {
                    Scope::Runtime
                };
            }
            // Aliased keys also index under the key's own (name, version).
            if let Some((kn, kv)) = parsed_key {
                if (kn.as_str(), kv.as_str()) != (name.as_str(), version.as_str()) {
                    self.components.entry((kn, kv)).or_insert_with(|| c.clone());
                }
            }
            self.components.entry((name, version)).or_insert(c);
        }
        Ok(())
    }

    fn read_edges(&mut self, doc: &Value) {
        // Between packages: `dependencies` on each package (v5, v6) or snapshot (v9).
        for table in ["packages", "snapshots"] {
            let Some(Value::Mapping(entries)) = doc.get(table) else {
                continue;
            };
            for (key, entry) in entries {
                let Some(from) = key
                    .as_str()
                    .and_then(parse_key)
                    .and_then(|k| self.key_of(&k.0, &k.1))
                else {
                    continue;
                };
                self.add_deps(
                    &from,
                    entry,
                    &[
                        ("dependencies", Scope::Runtime),
                        ("optionalDependencies", Scope::Optional),
                    ],
                );
            }
        }

        // From the project: `importers` (workspaces, v5.3+) or top-level tables.
        let tables = [
            ("dependencies", Scope::Runtime),
            ("optionalDependencies", Scope::Optional),
            ("devDependencies", Scope::Dev),
        ];
        match doc.get("importers") {
            Some(Value::Mapping(importers)) => {
                for importer in importers.values() {
                    self.add_deps(PROJECT, importer, &tables);
                }
            }
            _ => self.add_deps(PROJECT, doc, &tables),
        }
    }

    fn add_deps(&mut self, from: &str, entry: &Value, tables: &[(&str, Scope)]) {
        for (table, scope) in tables {
            let Some(Value::Mapping(deps)) = entry.get(*table) else {
                continue;
            };
            for (name, value) in deps {
                let Some(name) = name.as_str() else { continue };
                // v6+ importers: `{ specifier, version }`; elsewhere a plain version string.
                let value = value.get("version").unwrap_or(value);
                let Some(reference) = value.as_str() else {
                    continue;
                };
                if let Some(to) = self.resolve(name, reference) {
                    self.edges.push(Edge {
                        from: from.to_string(),
                        to,
                        scope: *scope,
                    });
                }
            }
        }
    }

    /// A dependency's reference: a version (with peer suffix), or a key (`/real/1.0.0`,
    /// `real@1.0.0`) when the dependency is an alias or not from the registry.
    fn resolve(&self, name: &str, reference: &str) -> Option<String> {
        if reference.starts_with("link:") || reference.starts_with("file:") {
            return None;
        }
        let version = strip_peers(reference);
        self.key_of(name, version).or_else(|| {
            let (n, v) = parse_key(reference)?;
            self.key_of(&n, &v)
        })
    }

    fn key_of(&self, name: &str, version: &str) -> Option<String> {
        self.components
            .get(&(name.to_string(), version.to_string()))
            .map(Component::key)
    }
}

/// Reads a package key in either form into (name, version without peer suffix).
pub(crate) fn parse_key(key: &str) -> Option<(String, String)> {
    let s = key.trim_start_matches('/');
    let (scope, rest) = if s.starts_with('@') {
        let slash = s.find('/')?;
        (s.get(..=slash)?, s.get(slash + 1..)?)
    } else {
        ("", s)
    };
    let at = rest.find('@');
    let slash = rest.find('/');
    let (name, version) = match (at, slash) {
        // `name@version`, v6 and later.
        (Some(a), s) if s.is_none_or(|s| a < s) => (rest.get(..a)?, rest.get(a + 1..)?),
        // `name/version`, v5.
        (_, Some(s)) => (rest.get(..s)?, rest.get(s + 1..)?),
        _ => return None,
    };
    let version = strip_peers(version);
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some((format!("{scope}{name}"), version.to_string()))
}

/// Drops a peer-dependency suffix: `1.0.0(react@18.0.0)` (v6+) or `1.0.0_react@18.0.0` (v5).
fn strip_peers(version: &str) -> &str {
    let end = version.find(['(', '_']).unwrap_or(version.len());
    version.get(..end).unwrap_or(version)
}

fn resolution_source(resolution: Option<&Value>) -> Source {
    let Some(r) = resolution else {
        return Source::Registry { url: None };
    };
    let field = |f: &str| r.get(f).and_then(Value::as_str);
    if let (Some(repo), Some(commit)) = (field("repo"), field("commit")) {
        let url = match git_source(repo) {
            Some(Source::Git { url, .. }) => url,
            _ => repo.to_string(),
        };
        return Source::Git {
            url,
            reference: None,
            commit: Some(commit.to_string()),
        };
    }
    if let Some(tarball) = field("tarball") {
        if tarball.starts_with("file:") {
            return Source::Path {
                path: tarball.trim_start_matches("file:").to_string(),
            };
        }
        return Source::Url {
            url: tarball.to_string(),
        };
    }
    if let Some(dir) = field("directory") {
        return Source::Path {
            path: dir.to_string(),
        };
    }
    Source::Registry { url: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_key_forms_read_the_same() {
        let pairs = [
            ("/lodash/4.17.21", "/lodash@4.17.21"),
            ("/@babel/core/7.0.0", "/@babel/core@7.0.0"),
            (
                "/react-dom/18.2.0_react@18.2.0",
                "/react-dom@18.2.0(react@18.2.0)",
            ),
            ("/@a/b/1.0.0_@c+d@2.0.0", "@a/b@1.0.0(@c/d@2.0.0)"),
        ];
        for (v5, v6) in pairs {
            assert_eq!(parse_key(v5), parse_key(v6), "{v5} vs {v6}");
            assert!(parse_key(v5).is_some());
        }
        assert_eq!(
            parse_key("/@babel/core/7.0.0"),
            Some(("@babel/core".into(), "7.0.0".into()))
        );
    }

    #[test]
    fn keys_without_a_version_are_rejected() {
        for bad in ["", "/", "/lodash", "@scope", "/@scope/", "name@"] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_document_that_is_not_a_mapping_is_an_error() {
        assert!(parse("- a\n- b\n").is_err());
        assert!(parse("").is_err());
    }
}
