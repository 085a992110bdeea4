//! SBOM generation: find the lockfiles under a path, read each natively, merge what they
//! hold into one component graph, and write it as CycloneDX or SPDX.
//!
//! A file that cannot be read is skipped with a [`Warning`] naming the file and line, and
//! the rest are still read; a recognised file with no packages is reported too, so a result
//! is never silently empty. Output is deterministic: components are sorted by purl, and the
//! serial number and timestamp depend only on the content and `SOURCE_DATE_EPOCH`.

pub mod cyclonedx;
mod licenses;
pub mod spdx;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::model::{Component, DependencyGraph};
use crate::readers::{self, FileKind, ParseError, PROJECT};

/// Lockfiles larger than this are skipped as unreadable (the largest real ones are a few MB).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// What to read and how to name the result.
#[derive(Debug, Clone, Default)]
pub struct SbomOptions {
    /// Also read lockfiles inside `node_modules` and `vendor` trees.
    pub include_vendored: bool,
    /// The name of the root component; by default the scanned folder's name.
    pub name: Option<String>,
    /// The version of the root component.
    pub version: Option<String>,
}

/// The component graph of a source tree, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomReport {
    /// The scanned project itself.
    pub root: RootComponent,
    /// Every component found, sorted by purl.
    pub components: Vec<Component>,
    /// Edges by component key; the root's key is [`RootComponent::bom_ref`].
    pub graph: DependencyGraph,
    /// The files read, relative to the scanned path, sorted.
    pub files: Vec<String>,
    /// Files skipped or found empty.
    pub warnings: Vec<Warning>,
}

/// The project the SBOM describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootComponent {
    /// Its name.
    pub name: String,
    /// Its version, when given.
    pub version: Option<String>,
}

impl RootComponent {
    /// The root's key in the graph and its CycloneDX `bom-ref`.
    pub fn bom_ref(&self) -> String {
        format!("seawall:root:{}", self.name)
    }
}

/// Something the user should know about one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file, relative to the scanned path.
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What happened.
    pub kind: WarningKind,
    /// Details, lowercase, one line.
    pub message: String,
}

/// Kinds of [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WarningKind {
    /// The file could not be read and nothing from it is in the SBOM.
    Skipped,
    /// The file was read but names no packages.
    Empty,
    /// Some entries were left out (unpinned requirements).
    Partial,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            WarningKind::Skipped => "skipped",
            WarningKind::Empty => "no packages",
            WarningKind::Partial => "partly read",
        };
        match self.line {
            Some(l) => write!(f, "{}:{l}: {what}: {}", self.file, self.message),
            None => write!(f, "{}: {what}: {}", self.file, self.message),
        }
    }
}

impl SbomReport {
    /// Whether any input was skipped or only partly read (the CLI exits with 2).
    pub fn has_skipped(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| matches!(w.kind, WarningKind::Skipped | WarningKind::Partial))
    }
}

/// Why no SBOM could be made at all.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The path does not exist or cannot be listed.
    #[error("cannot read `{path}`: {reason}")]
    Path {
        /// The path given.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// A file was named that is not a lockfile we know.
    #[error("`{0}` is not a lockfile or manifest seawall reads")]
    Unrecognised(String),
    /// Nothing to read under the path.
    #[error("no lockfile or manifest found under `{0}`")]
    NothingFound(String),
}

/// Reads every lockfile under `path` (or the one file `path` names) into one graph.
pub fn generate(path: &Path, opts: &SbomOptions) -> Result<SbomReport, SbomError> {
    let meta = std::fs::metadata(path).map_err(|e| SbomError::Path {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let base = if meta.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let files = if meta.is_dir() {
        find_lockfiles(path, opts.include_vendored)
    } else {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let kind = FileKind::detect(name)
            .or_else(|| is_executable(path, false).then_some(FileKind::Binary))
            .ok_or_else(|| SbomError::Unrecognised(path.display().to_string()))?;
        vec![(path.to_path_buf(), kind)]
    };
    if files.is_empty() {
        return Err(SbomError::NothingFound(path.display().to_string()));
    }

    let root = RootComponent {
        name: opts
            .name
            .clone()
            .unwrap_or_else(|| default_name(path, meta.is_dir())),
        version: opts.version.clone().filter(|v| !v.is_empty()),
    };
    let mut merger = Merger::new(root.bom_ref());
    let mut warnings = Vec::new();
    let mut read_files = Vec::new();
    for (file, kind) in files {
        let rel = relative(&base, &file);
        match read_one(&file, kind) {
            Ok((parsed, mut extra)) => {
                if parsed.components.is_empty() {
                    warnings.push(Warning {
                        file: rel.clone(),
                        line: None,
                        kind: WarningKind::Empty,
                        message: format!("recognised as {} but it names no packages", kind.label()),
                    });
                }
                for w in &mut extra {
                    w.file = relative(&base, Path::new(&w.file));
                }
                warnings.extend(extra);
                merger.add(parsed, &rel);
                read_files.push(rel);
            }
            Err(e) => warnings.push(Warning {
                file: rel,
                line: e.line,
                kind: WarningKind::Skipped,
                message: e.message,
            }),
        }
    }
    let (components, graph) = merger.finish();
    read_files.sort();
    Ok(SbomReport {
        root,
        components,
        graph,
        files: read_files,
        warnings,
    })
}

/// Walks `dir` respecting `.gitignore` (even outside a git checkout), skipping hidden
/// folders and, unless asked, `node_modules` and `vendor`; sorted for determinism.
fn find_lockfiles(dir: &Path, include_vendored: bool) -> Vec<(PathBuf, FileKind)> {
    let mut walker = ignore::WalkBuilder::new(dir);
    walker.require_git(false).follow_links(false);
    walker.filter_entry(move |entry| {
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let name = entry.file_name().to_str().unwrap_or_default();
        !(is_dir && !include_vendored && (name == "node_modules" || name == "vendor"))
    });
    let mut out: Vec<(PathBuf, FileKind)> = walker
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            let kind = FileKind::detect(e.file_name().to_str()?)
                .or_else(|| in_requirements_folder(e.path()).then_some(FileKind::Requirements))
                .or_else(|| is_executable(e.path(), true).then_some(FileKind::Binary))?;
            Some((e.into_path(), kind))
        })
        .collect();
    out.sort();
    out
}

/// The `Cargo.toml` files of the workspace a `Cargo.lock` belongs to: every manifest under
/// its folder, respecting `.gitignore` and skipping `target` and vendored trees. Nested
/// workspaces' manifests may be among them; they only matter for packages of the lockfile.
fn workspace_manifests(lockfile: &Path) -> Vec<String> {
    let Some(dir) = lockfile.parent() else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut walker = ignore::WalkBuilder::new(dir);
    walker.require_git(false).follow_links(false);
    walker.filter_entry(|entry| {
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let name = entry.file_name().to_str().unwrap_or_default();
        !(is_dir && matches!(name, "target" | "node_modules" | "vendor"))
    });
    let mut paths: Vec<PathBuf> = walker
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()) && e.file_name() == "Cargo.toml")
        .map(ignore::DirEntry::into_path)
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| read_text(p).ok()).collect()
}

/// `requirements/*.txt`, the other common home of pinned requirements.
fn in_requirements_folder(path: &Path) -> bool {
    let parent = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str());
    parent == Some("requirements") && path.extension().and_then(|e| e.to_str()) == Some("txt")
}

/// Whether a file starts like an executable (ELF, PE, Mach-O). In a folder walk only files
/// with an execute bit are opened, so that scanning a tree does not read every file.
fn is_executable(path: &Path, need_exec_bit: bool) -> bool {
    use std::io::Read as _;
    #[cfg(unix)]
    if need_exec_bit {
        use std::os::unix::fs::PermissionsExt as _;
        let exec = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
        if !exec {
            return false;
        }
    }
    #[cfg(not(unix))]
    let _ = need_exec_bit;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && readers::binary::looks_executable(&head)
}

/// Reads one file (and, for requirements files, its includes) with its manifest.
fn read_one(file: &Path, kind: FileKind) -> Result<(readers::Parsed, Vec<Warning>), ParseError> {
    if kind == FileKind::Requirements {
        return Ok(read_requirements(file));
    }
    if kind == FileKind::Binary {
        let data =
            read_bytes(file).map_err(|e| ParseError::whole(format!("cannot read file: {e}")))?;
        return Ok((readers::parse_binary(&data)?, Vec::new()));
    }
    let text = read_text(file).map_err(|e| ParseError::whole(format!("cannot read file: {e}")))?;
    if kind == FileKind::CargoLock && file.file_name().is_some_and(|n| n == "Cargo.lock") {
        let manifests = workspace_manifests(file);
        let refs: Vec<&str> = manifests.iter().map(String::as_str).collect();
        return Ok((readers::parse_cargo_workspace(&text, &refs)?, Vec::new()));
    }
    let manifest = kind
        .manifest_name()
        .and_then(|m| read_text(&sibling(file, m)).ok());
    let parsed = readers::parse(kind, &text, manifest.as_deref())?;
    Ok((parsed, Vec::new()))
}

fn read_requirements(file: &Path) -> (readers::Parsed, Vec<Warning>) {
    // Includes may only reach files inside the folder of the requirements file they start
    // from: an untrusted repository's `-r /etc/passwd` or `-r ../../secret` must not make a CI
    // job read (and echo in warnings) files outside the tree it scans.
    let root = file
        .parent()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .unwrap_or_default();
    let confined = |p: &Path| -> std::io::Result<String> {
        let real = std::fs::canonicalize(p)?;
        if root.as_os_str().is_empty() || !real.starts_with(&root) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "it is outside the folder being scanned",
            ));
        }
        read_text(&real)
    };
    let tree = readers::parse_requirements_file(file, &confined);
    let mut warnings = Vec::new();
    for (path, e) in tree.errors {
        warnings.push(Warning {
            file: path.display().to_string(),
            line: e.line,
            kind: WarningKind::Skipped,
            message: e.message,
        });
    }
    for (path, line, name) in tree.unpinned {
        warnings.push(Warning {
            file: path.display().to_string(),
            line: Some(line),
            kind: WarningKind::Partial,
            message: format!("requirement `{name}` is not pinned to a version"),
        });
    }
    (tree.parsed, warnings)
}

fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    std::fs::read(path)
}

/// Reads a file as UTF-8 (a BOM is dropped), refusing files over [`MAX_FILE_BYTES`].
fn read_text(path: &Path) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text))
}

/// The manifest beside a lockfile, keeping a project prefix (`ripgrep.Cargo.lock` ->
/// `ripgrep.Cargo.toml`).
fn sibling(lockfile: &Path, manifest: &str) -> PathBuf {
    let name = lockfile
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let kind_name = [
        "Cargo.lock",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "uv.lock",
        "go.mod",
        "composer.lock",
    ]
    .into_iter()
    .find(|k| name.ends_with(k));
    let prefix = kind_name
        .and_then(|k| name.strip_suffix(k))
        .unwrap_or_default();
    lockfile.with_file_name(format!("{prefix}{manifest}"))
}

fn relative(base: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(base).unwrap_or(file);
    let s = rel.to_string_lossy().replace('\\', "/");
    if s.is_empty() {
        file.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    } else {
        s
    }
}

fn default_name(path: &Path, is_dir: bool) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = if is_dir {
        abs.as_path()
    } else {
        abs.parent().unwrap_or(&abs)
    };
    dir.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "project".to_string())
}

/// Merges the graphs of several files: one component per purl, edges unioned, and every
/// component nothing depends on attached to the root so that the graph is connected.
struct Merger {
    root: String,
    components: BTreeMap<String, Component>,
    graph: DependencyGraph,
}

impl Merger {
    fn new(root: String) -> Self {
        Self {
            root,
            components: BTreeMap::new(),
            graph: DependencyGraph::default(),
        }
    }

    fn add(&mut self, parsed: readers::Parsed, file: &str) {
        for mut c in parsed.components {
            c.found_in.insert(file.to_string());
            match self.components.get_mut(&c.key()) {
                Some(existing) => existing.merge(c),
                None => {
                    self.components.insert(c.key(), c);
                }
            }
        }
        for e in parsed.edges {
            let from = if e.from == PROJECT {
                self.root.as_str()
            } else {
                e.from.as_str()
            };
            self.graph.add_edge(from, &e.to);
        }
    }

    fn finish(mut self) -> (Vec<Component>, DependencyGraph) {
        let targets: BTreeSet<&String> = self.graph.edges.values().flatten().collect();
        let orphans: Vec<String> = self
            .components
            .keys()
            .filter(|k| !targets.contains(k))
            .cloned()
            .collect();
        for k in orphans {
            self.graph.add_edge(&self.root, &k);
        }
        self.graph.add_node(&self.root);
        for k in self.components.keys() {
            self.graph.add_node(k);
        }
        (self.components.into_values().collect(), self.graph)
    }
}

/// A UUID (version 5 layout) from a SHA-256 of `content`, for serial numbers and SPDX
/// namespaces that are the same for the same content.
pub(crate) fn content_uuid(content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..32).unwrap_or_default()
    )
}

/// The document timestamp: `SOURCE_DATE_EPOCH` when set (reproducible builds), as RFC 3339.
pub(crate) fn source_date() -> Option<String> {
    let secs: i64 = std::env::var("SOURCE_DATE_EPOCH")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_uuid_is_stable_and_version_5_shaped() {
        let a = content_uuid(b"x");
        assert_eq!(a, content_uuid(b"x"));
        assert_ne!(a, content_uuid(b"y"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'5');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn manifest_beside_a_prefixed_lockfile_keeps_the_prefix() {
        assert_eq!(
            sibling(Path::new("d/rg.Cargo.lock"), "Cargo.toml"),
            PathBuf::from("d/rg.Cargo.toml")
        );
        assert_eq!(
            sibling(Path::new("d/go.mod"), "go.sum"),
            PathBuf::from("d/go.sum")
        );
    }
}
