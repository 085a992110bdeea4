//! `Cargo.lock`, versions 1 to 4.
//!
//! Packages without a `source` are the workspace's own crates (members and path
//! dependencies): they become root components. A dependency entry is `name`,
//! `name version` or `name version (source)`, whichever is needed to be unambiguous. Version 1
//! keeps checksums in a `[metadata]` table instead of on each package.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{toml_error, DirectDeps, Edge, ParseError, Parsed};
use crate::model::{Component, Ecosystem, Hash, HashAlg, Relation, Scope, Source};

#[derive(Deserialize)]
struct Lock {
    version: Option<i64>,
    #[serde(default)]
    package: Vec<Package>,
    #[serde(default)]
    metadata: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// The default registry's index, in its git and sparse forms.
const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

pub(super) fn parse(text: &str, manifest: Option<&str>) -> Result<Parsed, ParseError> {
    parse_workspace(text, manifest.as_slice())
}

/// Reads a `Cargo.lock` with the manifests of the workspace's packages, each of which marks
/// its own dev-only dependencies.
pub(super) fn parse_workspace(text: &str, manifests: &[&str]) -> Result<Parsed, ParseError> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    if let Some(v) = lock.version {
        if !(1..=4).contains(&v) {
            return Err(ParseError::whole(format!(
                "unsupported Cargo.lock version `{v}`"
            )));
        }
    }
    let mut dev_only: BTreeMap<String, DirectDeps> = BTreeMap::new();
    for m in manifests {
        if let (Some(package), deps) = dev_only_names(m) {
            dev_only.insert(package, deps);
        }
    }

    // Components, and the index that resolves dependency entries to them.
    let mut components = Vec::with_capacity(lock.package.len());
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in lock.package.iter().enumerate() {
        components.push(component(p, &lock.metadata)?);
        by_name.entry(p.name.as_str()).or_default().push(i);
    }

    // Edges.
    let mut edges = Vec::new();
    for (i, p) in lock.package.iter().enumerate() {
        let Some(from) = components.get(i).map(Component::key) else {
            continue;
        };
        let own_dev = dev_only.get(&p.name).filter(|_| p.source.is_none());
        for dep in &p.dependencies {
            let Some(j) = resolve(dep, &lock.package, &by_name) else {
                return Err(ParseError::whole(format!(
                    "package `{}` depends on `{dep}`, which is not in the lockfile",
                    p.name
                )));
            };
            let Some(to) = components.get(j) else {
                continue;
            };
            let dep_name = dep.split(' ').next().unwrap_or(dep);
            let scope = if own_dev.is_some_and(|d| d.by_name.contains_key(dep_name)) {
                Scope::Dev
            } else {
                Scope::Runtime
            };
            edges.push(Edge {
                from: from.clone(),
                to: to.key(),
                scope,
            });
        }
    }
    Ok(Parsed {
        components,
        edges,
        scopes_known: false,
    })
}

fn component(
    p: &Package,
    metadata: &BTreeMap<String, toml::Value>,
) -> Result<Component, ParseError> {
    let bad_name = |_| {
        ParseError::whole(format!(
            "package with empty name at version `{}`",
            p.version
        ))
    };
    let mut c = Component::new(Ecosystem::Cargo, &p.name, &p.version).map_err(bad_name)?;
    match p.source.as_deref() {
        None => c.relation = Relation::Root,
        Some(src) => c = c.with_source(source(src)),
    }

    // Checksum: on the package (v2+), or in `[metadata]` as "checksum NAME VERSION (SOURCE)".
    let v1_key = p
        .source
        .as_ref()
        .map(|s| format!("checksum {} {} ({s})", p.name, p.version));
    let checksum = p.checksum.clone().or_else(|| {
        let key = v1_key?;
        metadata
            .get(&key)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
    });
    if let Some(hash) = checksum.and_then(|h| Hash::from_hex(HashAlg::Sha256, &h)) {
        c.hashes.push(hash);
    }
    Ok(c)
}

/// Reads a `source` string: `registry+URL`, `sparse+URL`, `git+URL?kind=ref#commit`, `path+URL`.
pub(crate) fn source(src: &str) -> Source {
    if CRATES_IO.contains(&src) {
        return Source::Registry { url: None };
    }
    if let Some(rest) = src.strip_prefix("git+") {
        let (rest, commit) = match rest.split_once('#') {
            Some((r, c)) => (r, Some(c.to_string())),
            None => (rest, None),
        };
        let (url, reference) = match rest.split_once('?') {
            Some((u, q)) => (u, Some(q.to_string())),
            None => (rest, None),
        };
        return Source::Git {
            url: url.to_string(),
            reference,
            commit,
        };
    }
    if let Some(url) = src
        .strip_prefix("registry+")
        .or_else(|| src.strip_prefix("sparse+"))
    {
        return Source::Registry {
            url: Some(url.to_string()),
        };
    }
    if let Some(path) = src.strip_prefix("path+") {
        return Source::Path {
            path: path.trim_start_matches("file://").to_string(),
        };
    }
    Source::Url {
        url: src.to_string(),
    }
}

/// Resolves a dependency entry (`name`, `name version`, `name version (source)`).
fn resolve(dep: &str, packages: &[Package], by_name: &BTreeMap<&str, Vec<usize>>) -> Option<usize> {
    let mut parts = dep.splitn(3, ' ');
    let name = parts.next()?;
    let version = parts.next();
    let source = parts
        .next()
        .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
    let candidates = by_name.get(name)?;
    candidates.iter().copied().find(|&i| {
        let Some(p) = packages.get(i) else {
            return false;
        };
        version.is_none_or(|v| p.version == v)
            && source.is_none_or(|s| p.source.as_deref() == Some(s))
    })
}

/// The crates a `Cargo.toml` names only as dev-dependencies (in `[dev-dependencies]` and
/// its `[target.*]` forms), by their real name (`package = "..."` renames), and the name of
/// the package the manifest describes: its edges to those crates are dev edges. A member
/// whose manifest was not given has all its dependencies counted as run time (the cautious
/// side: a dev-only crate may be reported as shipped, never the reverse).
fn dev_only_names(manifest: &str) -> (Option<String>, DirectDeps) {
    let Ok(doc) = toml::from_str::<toml::Table>(manifest) else {
        return (None, DirectDeps::default());
    };
    let package = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str);
    let mut tables = vec![&doc];
    if let Some(targets) = doc.get("target").and_then(toml::Value::as_table) {
        tables.extend(targets.values().filter_map(toml::Value::as_table));
    }
    let mut deps = DirectDeps::default();
    for t in tables {
        for (key, scope) in [
            ("dependencies", Scope::Runtime),
            ("build-dependencies", Scope::Runtime),
            ("dev-dependencies", Scope::Dev),
        ] {
            let Some(table) = t.get(key).and_then(toml::Value::as_table) else {
                continue;
            };
            for (name, spec) in table {
                let real = spec
                    .get("package")
                    .and_then(toml::Value::as_str)
                    .unwrap_or(name);
                deps.add(real, scope);
            }
        }
    }
    deps.by_name.retain(|_, s| *s == Scope::Dev);
    (package.map(str::to_string), deps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_source_is_split_into_url_reference_and_commit() {
        let s = source("git+https://github.com/o/r.git?tag=v1.2#0123abc");
        assert_eq!(
            s,
            Source::Git {
                url: "https://github.com/o/r.git".into(),
                reference: Some("tag=v1.2".into()),
                commit: Some("0123abc".into()),
            }
        );
    }

    #[test]
    fn only_the_described_package_gets_dev_edges_from_its_manifest() {
        let lock = "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\ndependencies = [\"x\"]\n\n\
                    [[package]]\nname = \"b\"\nversion = \"1.0.0\"\ndependencies = [\"x\"]\n\n\
                    [[package]]\nname = \"x\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let manifest = "[package]\nname = \"a\"\n[dev-dependencies]\nrenamed = { package = \"x\", version = \"1\" }\n";
        let p = parse(lock, Some(manifest)).unwrap();
        let scopes: Vec<(String, Scope)> =
            p.edges.iter().map(|e| (e.from.clone(), e.scope)).collect();
        assert_eq!(
            scopes,
            vec![
                ("pkg:cargo/a@1.0.0".into(), Scope::Dev),
                ("pkg:cargo/b@1.0.0".into(), Scope::Runtime)
            ]
        );
    }

    #[test]
    fn unknown_lockfile_version_is_an_error() {
        let err = parse("version = 9\n", None).unwrap_err();
        assert!(err.message.contains("`9`"), "{err}");
    }

    #[test]
    fn dangling_dependency_is_an_error() {
        let text = "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\ndependencies = [\"b\"]\n";
        assert!(parse(text, None).is_err());
    }
}
