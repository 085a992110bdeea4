//! Python lockfiles: `poetry.lock`, `uv.lock` and `Pipfile.lock`.
//!
//! Names are normalised as PEP 503 says, so `Foo_Bar` and `foo-bar` are one package, and
//! dependencies are looked up by normalised name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;

use super::{json_error, toml_error, Edge, ParseError, Parsed, PROJECT};
use crate::model::{
    normalise_pypi_name, Component, Ecosystem, Hash, HashAlg, Relation, Scope, Source,
};

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<PoetryPackage>,
}

#[derive(Deserialize)]
struct PoetryPackage {
    name: String,
    version: String,
    #[serde(default)]
    optional: bool,
    category: Option<String>,
    groups: Option<Vec<String>>,
    #[serde(default)]
    files: Vec<PoetryFile>,
    source: Option<PoetrySource>,
    #[serde(default)]
    dependencies: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct PoetryFile {
    hash: Option<String>,
}

#[derive(Deserialize)]
struct PoetrySource {
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    reference: Option<String>,
    resolved_reference: Option<String>,
}

pub(super) fn parse_poetry(text: &str, manifest: Option<&str>) -> Result<Parsed, ParseError> {
    let lock: PoetryLock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    let mut parsed = Parsed {
        scopes_known: true,
        ..Parsed::default()
    };
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for p in &lock.package {
        let mut c = Component::new(Ecosystem::PyPI, &p.name, &p.version).map_err(|_| {
            ParseError::whole(format!(
                "package with empty name at version `{}`",
                p.version
            ))
        })?;
        if let Some(src) = &p.source {
            c = c.with_source(poetry_source(src));
        }
        c.hashes.extend(
            p.files
                .iter()
                .filter_map(|f| prefixed_hash(f.hash.as_deref()?)),
        );
        let main = p
            .groups
            .as_ref()
            .map_or(p.category.as_deref() != Some("dev"), |g| {
                g.iter().any(|g| g == "main")
            });
        c.scope = if !main {
            Scope::Dev
        } else if p.optional {
            Scope::Optional
        } else {
            Scope::Runtime
        };
        by_name.entry(c.name.clone()).or_insert_with(|| c.key());
        parsed.components.push(c);
    }
    for (p, c) in lock.package.iter().zip(parsed.components.clone()) {
        for dep in p.dependencies.keys() {
            if let Some(to) = by_name.get(&normalise_pypi_name(dep)) {
                parsed.edges.push(Edge {
                    from: c.key(),
                    to: to.clone(),
                    scope: Scope::Runtime,
                });
            }
        }
    }
    for (name, scope) in manifest.map(pyproject_direct).unwrap_or_default() {
        if let Some(to) = by_name.get(&name) {
            parsed.edges.push(Edge {
                from: PROJECT.to_string(),
                to: to.clone(),
                scope,
            });
        }
    }
    Ok(parsed)
}

fn poetry_source(src: &PoetrySource) -> Source {
    let url = src.url.clone().unwrap_or_default();
    match src.kind.as_deref() {
        Some("git") => Source::Git {
            url,
            reference: src.reference.clone(),
            commit: src.resolved_reference.clone(),
        },
        Some("directory" | "file") => Source::Path { path: url },
        Some("url") => Source::Url { url },
        Some("legacy") if !url.is_empty() => Source::Registry { url: Some(url) },
        _ => Source::Registry { url: None },
    }
}

/// `sha256:<hex>` and the like.
pub(crate) fn prefixed_hash(s: &str) -> Option<Hash> {
    let (alg, hex) = s.split_once(':')?;
    Hash::from_hex(HashAlg::parse(alg)?, hex)
}

/// Direct dependencies named by `pyproject.toml`: PEP 621 `[project]` tables, and Poetry's
/// own `[tool.poetry.*dependencies]` and groups.
fn pyproject_direct(manifest: &str) -> Vec<(String, Scope)> {
    let Ok(doc) = toml::from_str::<toml::Table>(manifest) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let project = doc.get("project");
    for spec in project
        .and_then(|p| p.get("dependencies"))
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = spec.as_str().and_then(pep508_name) {
            out.push((name, Scope::Runtime));
        }
    }
    let optional = project
        .and_then(|p| p.get("optional-dependencies"))
        .and_then(toml::Value::as_table);
    for specs in optional
        .into_iter()
        .flat_map(|t| t.values())
        .filter_map(toml::Value::as_array)
    {
        out.extend(
            specs
                .iter()
                .filter_map(|s| s.as_str().and_then(pep508_name))
                .map(|n| (n, Scope::Optional)),
        );
    }
    let groups = doc.get("dependency-groups").and_then(toml::Value::as_table);
    for specs in groups
        .into_iter()
        .flat_map(|t| t.values())
        .filter_map(toml::Value::as_array)
    {
        out.extend(
            specs
                .iter()
                .filter_map(|s| s.as_str().and_then(pep508_name))
                .map(|n| (n, Scope::Dev)),
        );
    }
    let poetry = doc.get("tool").and_then(|t| t.get("poetry"));
    let mut tables: Vec<(&toml::Value, Scope)> = Vec::new();
    if let Some(p) = poetry {
        tables.extend(p.get("dependencies").map(|t| (t, Scope::Runtime)));
        tables.extend(p.get("dev-dependencies").map(|t| (t, Scope::Dev)));
        let groups = p.get("group").and_then(toml::Value::as_table);
        for g in groups.into_iter().flat_map(|t| t.values()) {
            tables.extend(g.get("dependencies").map(|t| (t, Scope::Dev)));
        }
    }
    for (table, scope) in tables {
        for name in table.as_table().into_iter().flat_map(|t| t.keys()) {
            if name != "python" {
                out.push((normalise_pypi_name(name), scope));
            }
        }
    }
    out
}

/// The project name at the start of a PEP 508 requirement.
pub(crate) fn pep508_name(spec: &str) -> Option<String> {
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = spec.get(..end)?.trim();
    (!name.is_empty()).then(|| normalise_pypi_name(name))
}

#[derive(Deserialize)]
struct UvLock {
    version: Option<i64>,
    #[serde(default)]
    package: Vec<UvPackage>,
}

#[derive(Deserialize)]
struct UvPackage {
    name: String,
    version: Option<String>,
    source: Option<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    dependencies: Vec<UvDep>,
    #[serde(default, rename = "optional-dependencies")]
    optional_dependencies: BTreeMap<String, Vec<UvDep>>,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: BTreeMap<String, Vec<UvDep>>,
    sdist: Option<UvArtifact>,
    #[serde(default)]
    wheels: Vec<UvArtifact>,
}

#[derive(Deserialize)]
struct UvDep {
    name: String,
    version: Option<String>,
}

#[derive(Deserialize)]
struct UvArtifact {
    hash: Option<String>,
}

pub(super) fn parse_uv(text: &str) -> Result<Parsed, ParseError> {
    let lock: UvLock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    if let Some(v) = lock.version.filter(|v| *v != 1) {
        return Err(ParseError::whole(format!(
            "unsupported uv.lock version `{v}`"
        )));
    }
    let mut parsed = Parsed::default();
    let mut index: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in &lock.package {
        let c = uv_component(p)?;
        index
            .entry(c.name.clone())
            .or_default()
            .push((c.version.clone(), c.key()));
        parsed.components.push(c);
    }
    let lookup = |d: &UvDep| {
        let candidates = index.get(&normalise_pypi_name(&d.name))?;
        let hit = match &d.version {
            Some(v) => candidates.iter().find(|(cv, _)| cv == v),
            None => candidates.first(),
        };
        hit.map(|(_, k)| k.clone())
    };
    for (p, c) in lock.package.iter().zip(parsed.components.clone()) {
        let from = c.key();
        let groups = [(vec![&p.dependencies], Scope::Runtime)]
            .into_iter()
            .chain([(
                p.optional_dependencies.values().collect::<Vec<_>>(),
                Scope::Optional,
            )])
            .chain([(p.dev_dependencies.values().collect::<Vec<_>>(), Scope::Dev)]);
        for (lists, scope) in groups {
            for d in lists.into_iter().flatten() {
                if let Some(to) = lookup(d) {
                    parsed.edges.push(Edge {
                        from: from.clone(),
                        to,
                        scope,
                    });
                }
            }
        }
    }
    Ok(parsed)
}

fn uv_component(p: &UvPackage) -> Result<Component, ParseError> {
    let version = p.version.as_deref().unwrap_or_default();
    let mut c = Component::new(Ecosystem::PyPI, &p.name, version)
        .map_err(|_| ParseError::whole("package with empty name"))?;
    let src = |k: &str| {
        p.source
            .as_ref()
            .and_then(|s| s.get(k))
            .and_then(toml::Value::as_str)
    };
    if let Some(path) = src("editable").or_else(|| src("virtual")) {
        c.relation = Relation::Root;
        c.source = Source::Path {
            path: path.to_string(),
        };
    } else if let Some(git) = src("git") {
        c = c.with_source(match super::cargo::source(&format!("git+{git}")) {
            Source::Git {
                url,
                reference,
                commit,
            } => Source::Git {
                url,
                reference,
                commit,
            },
            other => other,
        });
    } else if let Some(path) = src("path").or_else(|| src("directory")) {
        c.source = Source::Path {
            path: path.to_string(),
        };
    } else if let Some(url) = src("url") {
        c = c.with_source(Source::Url {
            url: url.to_string(),
        });
    } else if let Some(registry) = src("registry") {
        let default = registry.trim_end_matches('/') == "https://pypi.org/simple";
        c = c.with_source(Source::Registry {
            url: (!default).then(|| registry.to_string()),
        });
    }
    let artifacts = p.sdist.iter().chain(&p.wheels);
    c.hashes
        .extend(artifacts.filter_map(|a| prefixed_hash(a.hash.as_deref()?)));
    Ok(c)
}

pub(super) fn parse_pipfile(text: &str) -> Result<Parsed, ParseError> {
    let doc: Json = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    let Json::Object(doc) = doc else {
        return Err(ParseError::whole(
            "expected a JSON object with `default` and `develop`",
        ));
    };
    if !doc.contains_key("default") && !doc.contains_key("develop") {
        return Err(ParseError::whole(
            "expected a JSON object with `default` and `develop`",
        ));
    }
    let mut parsed = Parsed {
        scopes_known: true,
        ..Parsed::default()
    };
    for (section, scope) in [("default", Scope::Runtime), ("develop", Scope::Dev)] {
        let Some(Json::Object(packages)) = doc.get(section) else {
            continue;
        };
        for (name, entry) in packages {
            let field = |f: &str| entry.get(f).and_then(Json::as_str);
            let version = field("version")
                .unwrap_or_default()
                .trim_start_matches("===")
                .trim_start_matches("==");
            let mut c = Component::new(Ecosystem::PyPI, name, version)
                .map_err(|_| ParseError::whole(format!("package `{name}` has an empty name")))?;
            if let Some(git) = field("git") {
                c = c.with_source(Source::Git {
                    url: git.trim_start_matches("git+").to_string(),
                    reference: None,
                    commit: field("ref").map(str::to_string),
                });
            }
            let hashes = entry
                .get("hashes")
                .and_then(Json::as_array)
                .into_iter()
                .flatten();
            c.hashes
                .extend(hashes.filter_map(|h| prefixed_hash(h.as_str()?)));
            c.scope = scope;
            parsed.components.push(c);
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep508_names_are_read_and_normalised() {
        assert_eq!(
            pep508_name("Foo_Bar[x] (>=1) ; python_version < '3'").as_deref(),
            Some("foo-bar")
        );
        assert_eq!(
            pep508_name("poetry-core @ git+https://x").as_deref(),
            Some("poetry-core")
        );
        assert_eq!(pep508_name(">=1"), None);
    }

    #[test]
    fn pipfile_without_sections_is_an_error() {
        assert!(parse_pipfile("{}").is_err());
        assert!(parse_pipfile("[1]").is_err());
    }

    #[test]
    fn uv_lock_of_unknown_version_is_an_error() {
        assert!(parse_uv("version = 2\n").is_err());
    }
}
