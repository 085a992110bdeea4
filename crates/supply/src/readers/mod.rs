//! Native readers for lockfiles and manifests: each turns one file's text into components
//! and dependency edges, without running any package manager.
//!
//! Readers are pure: [`parse`] takes the file kind, its text and the text of the manifest
//! beside it (when there is one) and returns a [`Parsed`] or a [`ParseError`] with the line
//! that could not be read. The directory walk and the merging of several files live in
//! [`crate::sbom::generate`].

pub mod binary;
mod cargo;
mod composer;
mod gem;
mod golang;
mod npm;
mod nuget;
mod pnpm;
mod python;
mod requirements;
mod yarn;

pub use requirements::parse_requirements_file;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::model::{Component, Scope};

/// The kinds of file we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// `Cargo.lock`, versions 1 to 4.
    CargoLock,
    /// `package-lock.json` or `npm-shrinkwrap.json`, lockfile versions 1 to 3.
    NpmLock,
    /// `yarn.lock`, classic (v1) or Berry (v2+).
    YarnLock,
    /// `pnpm-lock.yaml`, v5 to v9.
    PnpmLock,
    /// `poetry.lock`.
    PoetryLock,
    /// `uv.lock`.
    UvLock,
    /// `Pipfile.lock`.
    PipfileLock,
    /// A pinned `requirements*.txt`.
    Requirements,
    /// `go.mod` (with `go.sum` beside it).
    GoMod,
    /// `Gemfile.lock`.
    GemfileLock,
    /// `composer.lock`.
    ComposerLock,
    /// .NET `packages.lock.json`.
    NugetLock,
    /// An executable carrying its dependency list (cargo-auditable, Go build information).
    Binary,
}

impl FileKind {
    /// Every kind, in declaration order.
    pub const ALL: [FileKind; 13] = [
        Self::CargoLock,
        Self::NpmLock,
        Self::YarnLock,
        Self::PnpmLock,
        Self::PoetryLock,
        Self::UvLock,
        Self::PipfileLock,
        Self::Requirements,
        Self::GoMod,
        Self::GemfileLock,
        Self::ComposerLock,
        Self::NugetLock,
        Self::Binary,
    ];

    /// Recognises a file by its name. A name may carry a prefix ending in `.`
    /// (`ripgrep.Cargo.lock`), so that copies of lockfiles named after their project are read.
    pub fn detect(file_name: &str) -> Option<Self> {
        const NAMES: &[(&str, FileKind)] = &[
            ("Cargo.lock", FileKind::CargoLock),
            ("package-lock.json", FileKind::NpmLock),
            ("npm-shrinkwrap.json", FileKind::NpmLock),
            ("yarn.lock", FileKind::YarnLock),
            ("pnpm-lock.yaml", FileKind::PnpmLock),
            ("poetry.lock", FileKind::PoetryLock),
            ("uv.lock", FileKind::UvLock),
            ("Pipfile.lock", FileKind::PipfileLock),
            ("go.mod", FileKind::GoMod),
            ("Gemfile.lock", FileKind::GemfileLock),
            ("gems.locked", FileKind::GemfileLock),
            ("composer.lock", FileKind::ComposerLock),
            ("packages.lock.json", FileKind::NugetLock),
        ];
        for (name, kind) in NAMES {
            let prefixed = file_name
                .strip_suffix(name)
                .is_some_and(|p| p.is_empty() || p.ends_with('.'));
            if prefixed {
                return Some(*kind);
            }
        }
        let lower = file_name.to_ascii_lowercase();
        (lower.contains("requirements") && lower.ends_with(".txt"))
            .then_some(FileKind::Requirements)
    }

    /// The manifest whose text [`parse`] uses beside this lockfile, if any (`go.sum` for
    /// `go.mod`).
    pub fn manifest_name(self) -> Option<&'static str> {
        match self {
            Self::CargoLock => Some("Cargo.toml"),
            Self::NpmLock | Self::YarnLock | Self::PnpmLock => Some("package.json"),
            Self::PoetryLock | Self::UvLock => Some("pyproject.toml"),
            Self::GoMod => Some("go.sum"),
            Self::ComposerLock => Some("composer.json"),
            _ => None,
        }
    }

    /// A short name for messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::CargoLock => "Cargo.lock",
            Self::NpmLock => "package-lock.json",
            Self::YarnLock => "yarn.lock",
            Self::PnpmLock => "pnpm-lock.yaml",
            Self::PoetryLock => "poetry.lock",
            Self::UvLock => "uv.lock",
            Self::PipfileLock => "Pipfile.lock",
            Self::Requirements => "requirements.txt",
            Self::GoMod => "go.mod",
            Self::GemfileLock => "Gemfile.lock",
            Self::ComposerLock => "composer.lock",
            Self::NugetLock => "packages.lock.json",
            Self::Binary => "executable",
        }
    }
}

/// What a reader found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The components, one per distinct purl.
    pub components: Vec<Component>,
    /// Dependency edges by component key. An edge from [`PROJECT`] starts at the scanned
    /// project itself (a lockfile with no root package of its own).
    pub edges: Vec<Edge>,
    /// Whether the reader set each component's scope from the lockfile; when not, scopes are
    /// derived from the edges' scopes.
    pub scopes_known: bool,
}

/// The key of the scanned project in [`Parsed::edges`].
pub const PROJECT: &str = "";

/// One dependency edge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// The dependent's key (or [`PROJECT`]).
    pub from: String,
    /// The dependency's key.
    pub to: String,
    /// The kind of dependency (dev, optional) the dependent declares.
    pub scope: Scope,
}

/// A file that could not be read: the line (1-based, when known) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ParseError {
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What was wrong, lowercase, one line.
    pub message: String,
}

impl ParseError {
    /// An error at a known line.
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            message: message.into(),
        }
    }

    /// An error with no line.
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

/// Reads one file of a known kind. `manifest` is the text of the file named by
/// [`FileKind::manifest_name`] beside it, when present.
pub fn parse(kind: FileKind, text: &str, manifest: Option<&str>) -> Result<Parsed, ParseError> {
    let mut parsed = match kind {
        FileKind::CargoLock => cargo::parse(text, manifest),
        FileKind::NpmLock => npm::parse(text, manifest),
        FileKind::YarnLock => yarn::parse(text, manifest),
        FileKind::PnpmLock => pnpm::parse(text),
        FileKind::PoetryLock => python::parse_poetry(text, manifest),
        FileKind::UvLock => python::parse_uv(text),
        FileKind::PipfileLock => python::parse_pipfile(text),
        FileKind::Requirements => requirements::parse(text).map(|r| r.parsed),
        FileKind::GoMod => golang::parse(text, manifest),
        FileKind::GemfileLock => gem::parse(text),
        FileKind::ComposerLock => composer::parse(text, manifest),
        FileKind::NugetLock => nuget::parse(text),
        FileKind::Binary => binary::parse(text.as_bytes()),
    }?;
    finish(&mut parsed);
    Ok(parsed)
}

/// Reads a `Cargo.lock` with the `Cargo.toml` of each workspace package (in any order), so
/// that every member's dev-dependencies get dev scope, not only the root package's.
pub fn parse_cargo_workspace(text: &str, manifests: &[&str]) -> Result<Parsed, ParseError> {
    let mut parsed = cargo::parse_workspace(text, manifests)?;
    finish(&mut parsed);
    Ok(parsed)
}

/// Reads an executable's embedded dependency list (see [`binary`]).
pub fn parse_binary(data: &[u8]) -> Result<Parsed, ParseError> {
    let mut parsed = binary::parse(data)?;
    finish(&mut parsed);
    Ok(parsed)
}

/// Merges duplicate components, drops edges to unknown keys, and derives relations and
/// scopes the reader left open from the graph.
fn finish(parsed: &mut Parsed) {
    let mut by_key: BTreeMap<String, Component> = BTreeMap::new();
    for c in parsed.components.drain(..) {
        match by_key.get_mut(&c.key()) {
            Some(existing) => existing.merge(c),
            None => {
                by_key.insert(c.key(), c);
            }
        }
    }
    parsed.edges.retain(|e| {
        (e.from == PROJECT || by_key.contains_key(&e.from)) && by_key.contains_key(&e.to)
    });
    parsed.edges.sort();
    parsed.edges.dedup();
    classify(&mut by_key, &parsed.edges, parsed.scopes_known);
    parsed.components = by_key.into_values().collect();
}

/// Sets `Direct`/`Transitive` for components whose relation is unknown, by distance from
/// the project and its own (root) components; and, when the lockfile does not say, each
/// component's scope: runtime if reachable through runtime edges only, else optional if
/// reachable through runtime and optional edges, else dev.
fn classify(by_key: &mut BTreeMap<String, Component>, edges: &[Edge], scopes_known: bool) {
    use crate::model::Relation;

    let mut adjacency: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
    for e in edges {
        adjacency.entry(e.from.as_str()).or_default().push(e);
    }
    let mut starts: Vec<String> = vec![PROJECT.to_string()];
    starts.extend(
        by_key
            .iter()
            .filter(|(_, c)| c.relation == Relation::Root)
            .map(|(k, _)| k.clone()),
    );
    let start_set: BTreeSet<&str> = starts.iter().map(String::as_str).collect();

    // Relation: breadth-first distance from the starts.
    let reached = reach(&adjacency, &starts, Scope::Dev);
    for (key, depth) in &reached {
        if let Some(c) = by_key.get_mut(*key) {
            if c.relation == Relation::Unknown && !start_set.contains(key) {
                c.relation = if *depth == 1 {
                    Relation::Direct
                } else {
                    Relation::Transitive
                };
            }
        }
    }

    // Scope: by the widest kind of path that reaches each component.
    if scopes_known || edges.is_empty() {
        return;
    }
    let runtime = reach(&adjacency, &starts, Scope::Runtime);
    let optional = reach(&adjacency, &starts, Scope::Optional);
    for (key, c) in by_key.iter_mut() {
        if start_set.contains(key.as_str()) {
            continue;
        }
        c.scope = if runtime.contains_key(key.as_str()) {
            Scope::Runtime
        } else if optional.contains_key(key.as_str()) {
            Scope::Optional
        } else if reached.contains_key(key.as_str()) {
            Scope::Dev
        } else {
            c.scope
        };
    }
}

/// Nodes reachable from `starts` through edges of scope at most `limit`, with their depth.
fn reach<'a>(
    adjacency: &BTreeMap<&'a str, Vec<&'a Edge>>,
    starts: &'a [String],
    limit: Scope,
) -> BTreeMap<&'a str, usize> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut queue: VecDeque<(&str, usize)> = VecDeque::new();
    for s in starts {
        seen.insert(s.as_str(), 0);
        queue.push_back((s.as_str(), 0));
    }
    while let Some((node, depth)) = queue.pop_front() {
        for e in adjacency.get(node).into_iter().flatten() {
            if e.scope <= limit && !seen.contains_key(e.to.as_str()) {
                seen.insert(e.to.as_str(), depth + 1);
                queue.push_back((e.to.as_str(), depth + 1));
            }
        }
    }
    seen
}

/// The 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |head| head.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// A TOML parse error as a [`ParseError`] with its line.
pub(crate) fn toml_error(text: &str, err: &toml::de::Error) -> ParseError {
    let message = first_line(err.message());
    match err.span() {
        Some(span) => ParseError::at(
            line_of(text, span.start),
            format!("invalid TOML: {message}"),
        ),
        None => ParseError::whole(format!("invalid TOML: {message}")),
    }
}

/// A JSON parse error as a [`ParseError`] with its line.
pub(crate) fn json_error(err: &serde_json::Error) -> ParseError {
    let message = first_line(&err.to_string());
    let line = err.line();
    if line == 0 {
        ParseError::whole(format!("invalid JSON: {message}"))
    } else {
        ParseError::at(line, format!("invalid JSON: {message}"))
    }
}

/// A YAML parse error as a [`ParseError`] with its line.
pub(crate) fn yaml_error(err: &serde_yaml::Error) -> ParseError {
    let message = first_line(&err.to_string());
    match err.location() {
        Some(loc) => ParseError::at(loc.line(), format!("invalid YAML: {message}")),
        None => ParseError::whole(format!("invalid YAML: {message}")),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

/// The components of a manifest's dependency tables, by name, with the scope each table
/// gives them. Used to tell direct dependencies and their scope when a lockfile does not.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirectDeps {
    pub(crate) by_name: BTreeMap<String, Scope>,
}

impl DirectDeps {
    pub(crate) fn add(&mut self, name: &str, scope: Scope) {
        let entry = self.by_name.entry(name.to_string()).or_insert(scope);
        *entry = entry.widest(scope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_recognised_with_or_without_a_project_prefix() {
        assert_eq!(FileKind::detect("Cargo.lock"), Some(FileKind::CargoLock));
        assert_eq!(
            FileKind::detect("ripgrep.Cargo.lock"),
            Some(FileKind::CargoLock)
        );
        assert_eq!(FileKind::detect("XCargo.lock"), None);
        assert_eq!(
            FileKind::detect("requirements-dev.txt"),
            Some(FileKind::Requirements)
        );
        assert_eq!(
            FileKind::detect("warehouse.requirements-main.txt"),
            Some(FileKind::Requirements)
        );
        assert_eq!(FileKind::detect("package.json"), None);
    }
}
