//! `package-lock.json` and `npm-shrinkwrap.json`, lockfile versions 1, 2 and 3.
//!
//! Versions 2 and 3 list every installed package under `packages`, keyed by its path
//! (`node_modules/a/node_modules/b`); a dependency resolves as Node does, from the
//! dependent's own `node_modules` up to the root. Version 1 nests packages under
//! `dependencies`. Workspace packages appear as `link: true` entries pointing at a folder
//! entry; they are the project's own (root) components. An alias installs a package under
//! another name: the entry's `name` (v2+) or its `npm:real@version` version (v1) gives the
//! real package.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use super::{json_error, Edge, ParseError, Parsed, PROJECT};
use crate::model::{Component, Ecosystem, Hash, Relation, Scope, Source};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lock {
    lockfile_version: Option<u64>,
    packages: Option<BTreeMap<String, Entry>>,
    dependencies: Option<BTreeMap<String, V1Entry>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Entry {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    license: Option<Value>,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    dev_optional: bool,
    #[serde(default)]
    dependencies: BTreeMap<String, Value>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Value>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Value>,
    #[serde(default)]
    peer_dependencies: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct V1Entry {
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    requires: BTreeMap<String, Value>,
    #[serde(default)]
    dependencies: BTreeMap<String, V1Entry>,
}

pub(super) fn parse(text: &str, manifest: Option<&str>) -> Result<Parsed, ParseError> {
    let lock: Lock = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    match (lock.lockfile_version, lock.packages, lock.dependencies) {
        (Some(v), _, _) if !(1..=3).contains(&v) => Err(ParseError::whole(format!(
            "unsupported lockfileVersion `{v}`"
        ))),
        (_, Some(packages), _) => Ok(parse_packages(&packages)),
        (_, None, Some(deps)) => Ok(parse_v1(&deps, manifest)),
        (_, None, None) => Err(ParseError::whole(
            "expected a `packages` or `dependencies` object",
        )),
    }
}

/// Versions 2 and 3: the flat `packages` map.
fn parse_packages(packages: &BTreeMap<String, Entry>) -> Parsed {
    // Folders that are workspace members: the targets of `link` entries.
    let mut links: BTreeMap<&str, &str> = BTreeMap::new();
    for (path, e) in packages {
        if e.link {
            if let Some(target) = e.resolved.as_deref() {
                links.insert(path.as_str(), target);
            }
        }
    }

    let mut parsed = Parsed {
        scopes_known: true,
        ..Parsed::default()
    };
    let mut keys: BTreeMap<&str, String> = BTreeMap::new();
    for (path, e) in packages {
        if path.is_empty() || e.link {
            continue;
        }
        let is_member = !path.contains("node_modules/");
        let Some(c) = entry_component(path, e, is_member) else {
            continue;
        };
        keys.insert(path.as_str(), c.key());
        parsed.components.push(c);
    }
    // A link resolves to its target's component.
    for (path, target) in &links {
        if let Some(key) = keys.get(target).cloned() {
            keys.insert(path, key);
        }
    }

    // Edges: each package's declared dependencies, resolved as Node resolves them.
    for (path, e) in packages {
        if e.link {
            continue;
        }
        let from = if path.is_empty() {
            PROJECT.to_string()
        } else {
            let Some(k) = keys.get(path.as_str()) else {
                continue;
            };
            k.clone()
        };
        let root_like = path.is_empty() || !path.contains("node_modules/");
        let declared = [
            (&e.dependencies, Scope::Runtime),
            (&e.optional_dependencies, Scope::Optional),
            (&e.peer_dependencies, Scope::Runtime),
            (&e.dev_dependencies, Scope::Dev),
        ];
        for (deps, scope) in declared {
            // Only the project and workspace members install their dev dependencies.
            if scope == Scope::Dev && !root_like {
                continue;
            }
            for name in deps.keys() {
                if let Some(to) = resolve_node(path, name, &keys) {
                    parsed.edges.push(Edge {
                        from: from.clone(),
                        to,
                        scope,
                    });
                }
            }
        }
    }
    // The project depends on its workspace members.
    for (path, e) in packages {
        let member = !path.is_empty() && !path.contains("node_modules/") && !e.link;
        if let Some(k) = keys.get(path.as_str()).filter(|_| member) {
            parsed.edges.push(Edge {
                from: PROJECT.to_string(),
                to: k.clone(),
                scope: Scope::Runtime,
            });
        }
    }
    parsed
}

/// Node's lookup: `<dir>/node_modules/<name>` from the dependent's folder up to the root.
fn resolve_node(from: &str, name: &str, keys: &BTreeMap<&str, String>) -> Option<String> {
    let mut dir = from.to_string();
    loop {
        let candidate = if dir.is_empty() {
            format!("node_modules/{name}")
        } else {
            format!("{dir}/node_modules/{name}")
        };
        if let Some(k) = keys.get(candidate.as_str()) {
            return Some(k.clone());
        }
        if dir.is_empty() {
            return None;
        }
        // Up one level: drop the last `node_modules/<pkg>` (scoped packages take two segments).
        dir = match dir.rfind("node_modules/") {
            Some(0) => String::new(),
            Some(i) => dir
                .get(..i.saturating_sub(1))
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
    }
}

fn entry_component(path: &str, e: &Entry, is_member: bool) -> Option<Component> {
    let installed_as = path.rsplit_once("node_modules/").map_or(path, |(_, n)| n);
    let name = e.name.as_deref().unwrap_or(installed_as);
    let version = e.version.as_deref().unwrap_or_default();
    let mut c = if is_member {
        let mut c = Component::new(Ecosystem::Npm, name, version).ok()?;
        c.relation = Relation::Root;
        c.source = Source::Path {
            path: path.to_string(),
        };
        c
    } else {
        resolved_component(name, version, e.resolved.as_deref())?
    };
    c.scope = entry_scope(e.dev, e.optional, e.dev_optional);
    c.hashes.extend(integrity_hashes(e.integrity.as_deref()));
    c.licenses.extend(license_strings(e.license.as_ref()));
    Some(c)
}

fn entry_scope(dev: bool, optional: bool, dev_optional: bool) -> Scope {
    if dev || dev_optional {
        Scope::Dev
    } else if optional {
        Scope::Optional
    } else {
        Scope::Runtime
    }
}

/// A component from a name, a version and a `resolved` URL (registry tarball, git or file).
pub(crate) fn resolved_component(
    name: &str,
    version: &str,
    resolved: Option<&str>,
) -> Option<Component> {
    let c = Component::new(Ecosystem::Npm, name, version).ok()?;
    let Some(resolved) = resolved else {
        return Some(c);
    };
    if let Some(source) = git_source(resolved) {
        return Some(c.with_source(source));
    }
    if let Some(path) = resolved.strip_prefix("file:") {
        let mut c = c;
        c.source = Source::Path {
            path: path.to_string(),
        };
        return Some(c);
    }
    let default = resolved.starts_with("https://registry.npmjs.org/")
        || resolved.starts_with("https://registry.yarnpkg.com/");
    let source = if default {
        Source::Registry { url: None }
    } else if resolved.starts_with("http://") || resolved.starts_with("https://") {
        Source::Url {
            url: resolved.to_string(),
        }
    } else {
        Source::Unknown
    };
    Some(c.with_source(source))
}

/// Reads git specifiers: `git+https://host/o/r.git#commit`, `git://...`, `git+ssh://...`,
/// `github:o/r#ref`.
pub(crate) fn git_source(spec: &str) -> Option<Source> {
    let (url, fragment) = match spec.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (spec, None),
    };
    let url = if let Some(rest) = url.strip_prefix("github:") {
        format!("https://github.com/{rest}.git")
    } else if url.starts_with("git+") || url.starts_with("git://") {
        url.trim_start_matches("git+").to_string()
    } else {
        return None;
    };
    let fragment = fragment.filter(|f| !f.is_empty());
    let is_commit =
        fragment.is_some_and(|f| f.len() == 40 && f.bytes().all(|b| b.is_ascii_hexdigit()));
    Some(Source::Git {
        url,
        reference: fragment.filter(|_| !is_commit).map(str::to_string),
        commit: fragment.filter(|_| is_commit).map(str::to_string),
    })
}

/// SRI `integrity` strings (several may be given, separated by spaces).
pub(crate) fn integrity_hashes(integrity: Option<&str>) -> Vec<Hash> {
    integrity
        .map(|i| i.split_whitespace().filter_map(Hash::from_sri).collect())
        .unwrap_or_default()
}

/// `license` as a string, `{ "type": ... }`, or a list of either.
pub(crate) fn license_strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
        Some(Value::Object(o)) => license_strings(o.get("type")),
        Some(Value::Array(items)) => items
            .iter()
            .flat_map(|i| license_strings(Some(i)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Version 1: the nested `dependencies` tree. The top level mixes direct and hoisted
/// transitive packages; `package.json` beside the lockfile tells which are direct. Without it,
/// the top-level packages nothing requires are taken as the direct ones.
fn parse_v1(deps: &BTreeMap<String, V1Entry>, manifest: Option<&str>) -> Parsed {
    let mut parsed = Parsed {
        scopes_known: true,
        ..Parsed::default()
    };
    let mut scopes: Vec<BTreeMap<String, String>> = Vec::new();
    walk_v1(deps, &mut scopes, &mut parsed);

    let top: BTreeMap<&str, (String, Scope)> = deps
        .iter()
        .filter_map(|(n, e)| {
            let c = v1_component(n, e)?;
            Some((n.as_str(), (c.key(), entry_scope(e.dev, e.optional, false))))
        })
        .collect();
    let declared = manifest.map(manifest_deps).unwrap_or_default();
    let direct: Vec<(String, Scope)> = if declared.is_empty() {
        let required: BTreeSet<&String> = parsed.edges.iter().map(|e| &e.to).collect();
        top.values()
            .filter(|(k, _)| !required.contains(k))
            .cloned()
            .collect()
    } else {
        declared
            .iter()
            .filter_map(|(name, _, scope)| top.get(name.as_str()).map(|(k, _)| (k.clone(), *scope)))
            .collect()
    };
    for (to, scope) in direct {
        parsed.edges.push(Edge {
            from: PROJECT.to_string(),
            to,
            scope,
        });
    }
    parsed
}

/// `package.json`'s dependency tables as (name, range, scope).
pub(crate) fn manifest_deps(manifest: &str) -> Vec<(String, String, Scope)> {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(manifest) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (table, scope) in [
        ("dependencies", Scope::Runtime),
        ("optionalDependencies", Scope::Optional),
        ("devDependencies", Scope::Dev),
    ] {
        if let Some(Value::Object(deps)) = doc.get(table) {
            for (name, range) in deps {
                if let Some(r) = range.as_str() {
                    out.push((name.clone(), r.to_string(), scope));
                }
            }
        }
    }
    out
}

/// Walks one level of the v1 tree. `scopes` is the stack of name -> key maps from the root
/// down, so that `requires` resolve to the nearest installed copy, as in Node.
fn walk_v1(
    deps: &BTreeMap<String, V1Entry>,
    scopes: &mut Vec<BTreeMap<String, String>>,
    parsed: &mut Parsed,
) {
    let mut level = BTreeMap::new();
    let mut keyed = Vec::new();
    for (installed_as, e) in deps {
        let Some(c) = v1_component(installed_as, e) else {
            continue;
        };
        level.insert(installed_as.clone(), c.key());
        keyed.push((c.key(), e));
        parsed.components.push(c);
    }
    scopes.push(level);
    for (key, e) in &keyed {
        if !e.dependencies.is_empty() {
            walk_v1(&e.dependencies, scopes, parsed);
        }
        // `requires` resolve against the entry's own nested deps first, then upwards.
        let own: BTreeMap<&str, String> = e
            .dependencies
            .iter()
            .filter_map(|(n, d)| v1_component(n, d).map(|c| (n.as_str(), c.key())))
            .collect();
        for name in e.requires.keys() {
            let hit = own
                .get(name.as_str())
                .cloned()
                .or_else(|| scopes.iter().rev().find_map(|s| s.get(name).cloned()));
            if let Some(to) = hit {
                parsed.edges.push(Edge {
                    from: key.clone(),
                    to,
                    scope: Scope::Runtime,
                });
            }
        }
    }
    scopes.pop();
}

fn v1_component(installed_as: &str, e: &V1Entry) -> Option<Component> {
    let raw = e.version.as_deref().unwrap_or_default();
    // `npm:real-name@1.2.3` is an alias; git and file versions carry their source.
    let (name, version, resolved) = if let Some(alias) = raw.strip_prefix("npm:") {
        let (name, version) = split_name_version(alias)?;
        (name.to_string(), version.to_string(), e.resolved.clone())
    } else if git_source(raw).is_some() || raw.starts_with("file:") {
        (
            installed_as.to_string(),
            String::new(),
            Some(raw.to_string()),
        )
    } else {
        (
            installed_as.to_string(),
            raw.to_string(),
            e.resolved.clone(),
        )
    };
    let mut c = resolved_component(&name, &version, resolved.as_deref())?;
    c.scope = entry_scope(e.dev, e.optional, false);
    c.hashes.extend(integrity_hashes(e.integrity.as_deref()));
    Some(c)
}

/// Splits `name@version` where the name may be scoped (`@scope/name@1.0.0`).
pub(crate) fn split_name_version(s: &str) -> Option<(&str, &str)> {
    let at = s.get(1..)?.find('@')? + 1;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_resolution_prefers_the_nearest_copy() {
        let mut keys = BTreeMap::new();
        keys.insert("node_modules/b", "b@2".to_string());
        keys.insert("node_modules/a/node_modules/b", "b@1".to_string());
        assert_eq!(
            resolve_node("node_modules/a", "b", &keys).as_deref(),
            Some("b@1")
        );
        assert_eq!(
            resolve_node("node_modules/c", "b", &keys).as_deref(),
            Some("b@2")
        );
        assert_eq!(
            resolve_node("node_modules/@s/x/node_modules/y", "b", &keys).as_deref(),
            Some("b@2")
        );
    }

    #[test]
    fn scoped_name_version_splits_after_the_scope() {
        assert_eq!(split_name_version("@s/n@1.0.0"), Some(("@s/n", "1.0.0")));
        assert_eq!(split_name_version("n@1.0.0"), Some(("n", "1.0.0")));
        assert_eq!(split_name_version("@"), None);
    }

    #[test]
    fn wrong_top_level_shape_is_an_error() {
        assert!(parse("[]", None).is_err());
        assert!(parse("{}", None).is_err());
        assert!(parse(r#"{"lockfileVersion": 7, "packages": {}}"#, None).is_err());
    }
}
