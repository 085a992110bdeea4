//! `yarn.lock`: classic (v1, yarn's own indented format) and Berry (v2+, YAML with a
//! `__metadata` entry).
//!
//! An entry is keyed by the descriptors (`name@range`) that resolved to it. The component's
//! name comes from the descriptor, except for aliases (`alias@npm:real@range`), where it is
//! the real package. A git descriptor or `resolved` URL makes a git-sourced component.

use std::collections::{BTreeMap, BTreeSet};

use super::npm::{
    git_source, integrity_hashes, manifest_deps, resolved_component, split_name_version,
};
use super::{yaml_error, Edge, ParseError, Parsed, PROJECT};
use crate::model::{Component, Ecosystem, Relation, Scope, Source};

/// One lockfile entry, format-independent.
#[derive(Default)]
struct Entry {
    line: usize,
    descriptors: Vec<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    /// (name, range, scope)
    dependencies: Vec<(String, String, Scope)>,
}

pub(super) fn parse(text: &str, manifest: Option<&str>) -> Result<Parsed, ParseError> {
    let berry = text.lines().any(|l| l.starts_with("__metadata:"));
    let entries = if berry {
        parse_berry(text)?
    } else {
        parse_classic(text)?
    };
    build(entries, manifest, berry)
}

fn build(entries: Vec<Entry>, manifest: Option<&str>, berry: bool) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    let mut index: BTreeMap<String, String> = BTreeMap::new();
    let mut keys = Vec::with_capacity(entries.len());
    for e in &entries {
        let c = component(e, berry)?;
        for d in &e.descriptors {
            index.insert(d.clone(), c.key());
        }
        keys.push(c.key());
        parsed.components.push(c);
    }
    let lookup = |name: &str, range: &str| {
        index
            .get(&format!("{name}@{range}"))
            .or_else(|| index.get(&format!("{name}@npm:{range}")))
            .cloned()
    };

    // Edges between entries.
    let mut has_incoming = BTreeSet::new();
    for (e, from) in entries.iter().zip(&keys) {
        for (name, range, scope) in &e.dependencies {
            if let Some(to) = lookup(name, range) {
                has_incoming.insert(to.clone());
                parsed.edges.push(Edge {
                    from: from.clone(),
                    to,
                    scope: *scope,
                });
            }
        }
    }

    // The project's own dependencies, from `package.json`; entries nothing depends on (a
    // workspace package's dependencies when its manifest is elsewhere) hang off the project.
    for (name, range, scope) in manifest.map(manifest_deps).unwrap_or_default() {
        if let Some(to) = lookup(&name, &range) {
            has_incoming.insert(to.clone());
            parsed.edges.push(Edge {
                from: PROJECT.to_string(),
                to,
                scope,
            });
        }
    }
    for (c, key) in parsed.components.iter().zip(&keys) {
        if !has_incoming.contains(key) && c.relation != Relation::Root {
            parsed.edges.push(Edge {
                from: PROJECT.to_string(),
                to: key.clone(),
                scope: Scope::Runtime,
            });
        }
    }
    Ok(parsed)
}

fn component(e: &Entry, berry: bool) -> Result<Component, ParseError> {
    let bad = |what: &str| ParseError::at(e.line, what.to_string());
    let first = e
        .descriptors
        .first()
        .ok_or_else(|| bad("entry without a descriptor"))?;
    let (installed_as, range) = split_name_version(first)
        .ok_or_else(|| bad(&format!("expected `name@range`, found `{first}`")))?;
    let version = e
        .version
        .as_deref()
        .ok_or_else(|| bad(&format!("entry `{first}` has no version")))?;

    // Berry: the resolution names the real package (`real@npm:1.2.3`, `x@workspace:.`).
    if berry {
        if let Some(resolution) = e.resolved.as_deref() {
            return berry_component(resolution, version).ok_or_else(|| {
                bad(&format!(
                    "expected `name@protocol:reference` resolution, found `{resolution}`"
                ))
            });
        }
    }

    // Classic: an `npm:` range is an alias for the real package.
    let name = match range.strip_prefix("npm:").and_then(split_name_version) {
        Some((real, _)) => real,
        None if range.starts_with("npm:@") || range.starts_with("npm:") => {
            range.trim_start_matches("npm:")
        }
        None => installed_as,
    };
    let resolved = e.resolved.as_deref();
    let git = resolved.and_then(git_source).or_else(|| git_source(range));
    let mut c = match git {
        Some(source) => Component::new(Ecosystem::Npm, name, version)
            .map_err(|_| bad("empty package name"))?
            .with_source(merge_git(source, range)),
        None => resolved_component(name, version, resolved.map(strip_fragment))
            .ok_or_else(|| bad("empty package name"))?,
    };
    c.hashes.extend(integrity_hashes(e.integrity.as_deref()));
    Ok(c)
}

/// Classic `resolved` URLs carry the tarball's SHA-1 as a fragment; it is not part of the URL.
fn strip_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(u, _)| u)
}

/// The descriptor's tag (`#v1.1.0`) and the resolution's commit both describe a git source.
fn merge_git(source: Source, range: &str) -> Source {
    let Source::Git {
        url,
        reference,
        commit,
    } = source
    else {
        return source;
    };
    let wanted = match git_source(range) {
        Some(Source::Git {
            reference: Some(r), ..
        }) => Some(r),
        _ => None,
    };
    Source::Git {
        url,
        reference: reference.or(wanted),
        commit,
    }
}

fn berry_component(resolution: &str, version: &str) -> Option<Component> {
    let (name, reference) = split_name_version(resolution)?;
    let (protocol, rest) = reference.split_once(':').unwrap_or(("npm", reference));
    if protocol == "workspace" {
        let mut c = Component::new(Ecosystem::Npm, name, version).ok()?;
        c.relation = Relation::Root;
        c.source = Source::Path {
            path: rest.to_string(),
        };
        return Some(c);
    }
    let c = Component::new(Ecosystem::Npm, name, version).ok()?;
    // Git resolutions: `name@https://host/o/r.git#commit=<sha>` or `name@git+ssh://...`.
    if protocol.starts_with("git") || reference.contains("#commit=") {
        let (url, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let commit = fragment
            .split('&')
            .find_map(|kv| kv.strip_prefix("commit="))
            .map(str::to_string);
        let url = url.trim_start_matches("git+").to_string();
        return Some(c.with_source(Source::Git {
            url,
            reference: None,
            commit,
        }));
    }
    Some(c.with_source(Source::Registry { url: None }))
}

/// Yarn classic's format: unindented entry headers ending in `:`, two-space indented
/// fields (`version "1.0.0"`), and four-space indented members of `dependencies:` blocks.
/// Keys and values may or may not be quoted.
fn parse_classic(text: &str) -> Result<Vec<Entry>, ParseError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut block: Option<Scope> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim_end();
        if trimmed.trim_start().is_empty() || trimmed.trim_start().starts_with('#') {
            continue;
        }
        let indent = trimmed.len() - trimmed.trim_start().len();
        let body = trimmed.trim_start();
        match indent {
            0 => {
                let Some(header) = body.strip_suffix(':') else {
                    return Err(ParseError::at(
                        line_no,
                        format!("expected an entry header ending in `:`, found `{body}`"),
                    ));
                };
                let descriptors = split_header(header)
                    .ok_or_else(|| ParseError::at(line_no, "unterminated quote in entry header"))?;
                entries.push(Entry {
                    line: line_no,
                    descriptors,
                    ..Entry::default()
                });
                block = None;
            }
            2 => {
                let Some(entry) = entries.last_mut() else {
                    return Err(ParseError::at(line_no, "field outside of any entry"));
                };
                if let Some(name) = body.strip_suffix(':') {
                    block = match unquote(name).as_str() {
                        "dependencies" => Some(Scope::Runtime),
                        "optionalDependencies" => Some(Scope::Optional),
                        _ => None,
                    };
                    continue;
                }
                block = None;
                let (key, value) = key_value(body).ok_or_else(|| {
                    ParseError::at(line_no, format!("expected `key value`, found `{body}`"))
                })?;
                match key.as_str() {
                    "version" => entry.version = Some(value),
                    "resolved" => entry.resolved = Some(value),
                    "integrity" => entry.integrity = Some(value),
                    _ => {}
                }
            }
            _ => {
                let (Some(entry), Some(scope)) = (entries.last_mut(), block) else {
                    continue;
                };
                let (name, range) = key_value(body).ok_or_else(|| {
                    ParseError::at(line_no, format!("expected `name range`, found `{body}`"))
                })?;
                entry.dependencies.push((name, range, scope));
            }
        }
    }
    Ok(entries)
}

/// Splits `"a@^1", a@^2` into descriptors.
fn split_header(header: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = header.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => current.extend(chars.next()),
            ',' if !quoted => {
                out.push(std::mem::take(&mut current).trim().to_string());
            }
            _ => current.push(c),
        }
    }
    if quoted {
        return None;
    }
    out.push(current.trim().to_string());
    out.retain(|d| !d.is_empty());
    Some(out)
}

/// `key value`, either part optionally quoted; a `key:` of a nested map has no value.
fn key_value(body: &str) -> Option<(String, String)> {
    let (key, rest) = if let Some(after) = body.strip_prefix('"') {
        let end = closing_quote(after)?;
        (after.get(..end)?.to_string(), after.get(end + 1..)?)
    } else {
        let (k, r) = body.split_once(char::is_whitespace)?;
        (k.trim_end_matches(':').to_string(), r)
    };
    Some((key, unquote(rest.trim().trim_start_matches(':').trim())))
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => s.to_string(),
    }
}

/// Yarn Berry: YAML, one mapping per entry, keyed by the comma-joined descriptors.
fn parse_berry(text: &str) -> Result<Vec<Entry>, ParseError> {
    let doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| yaml_error(&e))?;
    let serde_yaml::Value::Mapping(map) = doc else {
        return Err(ParseError::whole("expected a mapping of entries"));
    };
    let mut entries = Vec::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else { continue };
        if key == "__metadata" {
            continue;
        }
        let field = |f: &str| {
            value
                .get(f)
                .and_then(serde_yaml::Value::as_str)
                .map(str::to_string)
        };
        let mut entry = Entry {
            line: 0,
            descriptors: key
                .split(',')
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty())
                .collect(),
            version: field("version"),
            resolved: field("resolution"),
            integrity: None,
            dependencies: Vec::new(),
        };
        for (table, scope) in [
            ("dependencies", Scope::Runtime),
            ("optionalDependencies", Scope::Optional),
        ] {
            if let Some(serde_yaml::Value::Mapping(deps)) = value.get(table) {
                for (n, r) in deps {
                    if let (Some(n), Some(r)) = (n.as_str(), r.as_str()) {
                        entry
                            .dependencies
                            .push((n.to_string(), r.to_string(), scope));
                    }
                }
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_splits_quoted_and_bare_descriptors() {
        assert_eq!(
            split_header(r#""@a/b@^1", c@^2, "d@npm:e@1""#).unwrap(),
            vec!["@a/b@^1", "c@^2", "d@npm:e@1"]
        );
        assert!(split_header(r#""unterminated@1"#).is_none());
    }

    #[test]
    fn field_line_without_a_value_is_an_error_with_its_line() {
        let text = "a@^1:\n  version \"1.0.0\"\n  garbage\n";
        let err = parse(text, None).unwrap_err();
        assert_eq!(err.line, Some(3));
    }

    #[test]
    fn entry_without_version_is_an_error() {
        let err = parse("a@^1:\n  resolved \"https://x/a.tgz\"\n", None).unwrap_err();
        assert_eq!(err.line, Some(1));
    }
}
