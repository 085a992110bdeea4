//! The policy engine: a validated policy set and the decision for one request.
//!
//! [`PolicyEngine`] is immutable once loaded and cheap to clone (one `Arc`), so the gateway can
//! keep the last good set in an `ArcSwap` or `RwLock` and replace it whole when the policy
//! directory changes; a set that fails to load never replaces it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cedar_policy::{Authorizer, PolicySet};

use crate::clock::Zone;
use crate::decide::{self, Decision, RequestFacts};
use crate::diagnostic::Diagnostic;
use crate::load::{self, Compiled, MAX_POLICY_FILE_BYTES};

/// The most policy files a directory may hold.
pub const MAX_POLICY_FILES: usize = 1000;

/// Why a policy set was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory could not be listed.
    #[error("cannot read policy directory `{}`: {source}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A policy file could not be read (or is not UTF-8).
    #[error("cannot read policy file `{}`: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory holds more than [`MAX_POLICY_FILES`] policy files.
    #[error("policy directory `{}` holds more than {MAX_POLICY_FILES} policy files", path.display())]
    TooManyFiles {
        /// The directory.
        path: PathBuf,
    },
    /// The policies have errors; nothing was loaded.
    #[error("{}", summary(diagnostics))]
    Invalid {
        /// Every problem found, errors and warnings, in file order.
        diagnostics: Vec<Diagnostic>,
    },
}

fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    match errors.first() {
        Some(first) => format!(
            "{} error(s) in the policy set, the first: {}:{}:{}: {}",
            errors.len(),
            first.file,
            first.line,
            first.column,
            first.message
        ),
        None => "the policy set is invalid".to_owned(),
    }
}

/// A validated Cedar policy set, ready to decide requests.
#[derive(Clone)]
pub struct PolicyEngine {
    inner: Arc<Inner>,
    zone: Zone,
}

struct Inner {
    policies: PolicySet,
    groups: BTreeSet<String>,
    authorizer: Authorizer,
    warnings: Vec<Diagnostic>,
}

impl fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("policies", &self.inner.policies.num_of_policies())
            .field("groups", &self.inner.groups)
            .field("zone", &self.zone)
            .finish()
    }
}

impl PolicyEngine {
    /// Loads every `*.cedar` file directly in `dir` (not in subdirectories), in name order.
    ///
    /// Files are named in diagnostics and fallback policy ids by their file name. Any error in
    /// any file refuses the whole set. An empty directory gives an engine that denies
    /// everything. Local time is UTC until [`with_zone`](Self::with_zone).
    pub fn load_dir(dir: &Path) -> Result<Self, LoadError> {
        let sources = read_dir(dir)?;
        Self::from_sources(sources)
    }

    /// Loads policies from `(file name, text)` pairs, for example the files a gateway fetched
    /// from the control plane.
    pub fn from_sources<N, T>(sources: impl IntoIterator<Item = (N, T)>) -> Result<Self, LoadError>
    where
        N: Into<String>,
        T: Into<String>,
    {
        let sources: Vec<(String, String)> = sources
            .into_iter()
            .map(|(n, t)| (n.into(), t.into()))
            .collect();
        match load::compile(&sources) {
            (Some(Compiled { policies, groups }), warnings) => Ok(Self {
                inner: Arc::new(Inner {
                    policies,
                    groups,
                    authorizer: Authorizer::new(),
                    warnings,
                }),
                zone: Zone::utc(),
            }),
            (None, diagnostics) => Err(LoadError::Invalid { diagnostics }),
        }
    }

    /// The same policies, with `hour` and `weekday` computed in `zone`.
    #[must_use]
    pub fn with_zone(mut self, zone: Zone) -> Self {
        self.zone = zone;
        self
    }

    /// Decides one request. Never fails: a decision that cannot be made is a deny.
    pub fn decide(&self, facts: &RequestFacts<'_>) -> Decision {
        let inner = &*self.inner;
        decide::decide(
            &inner.authorizer,
            &inner.policies,
            &inner.groups,
            &self.zone,
            facts,
        )
    }

    /// The names of the groups that the policies mention (`Group::"admins"` anywhere in a
    /// policy). Membership in any other group cannot change a decision.
    pub fn groups_mentioned(&self) -> &BTreeSet<String> {
        &self.inner.groups
    }

    /// The number of policies loaded.
    pub fn policy_count(&self) -> usize {
        self.inner.policies.num_of_policies()
    }

    /// Warnings found while loading (the set was accepted).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.inner.warnings
    }
}

/// Checks policy files for `seawall policy check`: each path is a `*.cedar` file or a directory
/// of them. Returns every problem found (errors and warnings); none means the set would load.
/// Unreadable files are reported as diagnostics too.
pub fn check(paths: &[PathBuf]) -> Vec<Diagnostic> {
    let mut sources = Vec::new();
    let mut diagnostics = Vec::new();
    for path in paths {
        let display = path.display().to_string();
        if path.is_dir() {
            match read_dir(path) {
                Ok(files) => sources.extend(
                    files
                        .into_iter()
                        .map(|(name, text)| (path.join(name).display().to_string(), text)),
                ),
                Err(e) => diagnostics.push(Diagnostic::whole_file(&display, e.to_string())),
            }
        } else {
            match read_file(path) {
                Ok(text) => sources.push((display, text)),
                Err(e) => diagnostics.push(Diagnostic::whole_file(&display, e.to_string())),
            }
        }
    }
    diagnostics.extend(load::compile(&sources).1);
    diagnostics
}

/// The `(file name, text)` of every `*.cedar` file in `dir`, sorted by name.
fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, LoadError> {
    let read_dir_error = |source| LoadError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir_error)? {
        let path = entry.map_err(read_dir_error)?.path();
        if path.extension().is_some_and(|e| e == "cedar") && path.is_file() {
            paths.push(path);
        }
        if paths.len() > MAX_POLICY_FILES {
            return Err(LoadError::TooManyFiles {
                path: dir.to_owned(),
            });
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((name, read_file(&path)?))
        })
        .collect()
}

/// Reads one policy file, refusing files over [`MAX_POLICY_FILE_BYTES`] before reading them.
fn read_file(path: &Path) -> Result<String, LoadError> {
    let error = |source| LoadError::ReadFile {
        path: path.to_owned(),
        source,
    };
    let len = std::fs::metadata(path).map_err(error)?.len();
    if len > MAX_POLICY_FILE_BYTES as u64 {
        return Err(error(std::io::Error::other(format!(
            "larger than {MAX_POLICY_FILE_BYTES} bytes"
        ))));
    }
    std::fs::read_to_string(path).map_err(error)
}
