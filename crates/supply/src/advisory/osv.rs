//! The OSV record (<https://ossf.github.io/osv-schema/>), the parts of it that matching and
//! reporting use, and its evaluation rules: whether a version is affected.
//!
//! Parsing is strict where a mistake would change a verdict (ids, event kinds, range types) and
//! lenient elsewhere: unknown fields are ignored, as the schema asks of consumers.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::cvss::{Cvss, Severity};
use crate::model::Ecosystem;
use crate::version::{Scheme, Version, VersionError};

/// Largest record we read; the biggest real OSV records are a few hundred KiB.
pub const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// An OSV record that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    /// The bytes are not a JSON or YAML document of the expected shape.
    #[error("not an osv record: {0}")]
    Syntax(String),
    /// A required field is missing or empty.
    #[error("osv record `{id}` lacks `{field}`")]
    Missing {
        /// The record id, or `?` when that is what is missing.
        id: String,
        /// The missing field.
        field: &'static str,
    },
    /// The record is larger than [`MAX_RECORD_BYTES`].
    #[error("osv record is {0} bytes, over the limit")]
    TooLarge(usize),
    /// A range can not be evaluated (unknown type, or a version its scheme refuses).
    #[error("osv record `{id}`: {reason}")]
    Invalid {
        /// The record id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// One OSV record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsvRecord {
    /// The advisory id (`RUSTSEC-2021-0001`, `GHSA-...`, `GO-...`, `PYSEC-...`).
    pub id: String,
    /// When the record last changed (RFC 3339); re-imports compare it.
    pub modified: String,
    /// When it was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// Set when the record was withdrawn: it then affects nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Other ids of the same problem (CVE, GHSA, ...).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Longer description (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Severity vectors for the whole record.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// The affected packages.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Links.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Database-specific data; only `severity` is read (GitHub's label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// A `severity` entry: a type and a vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityEntry {
    /// `CVSS_V3`, `CVSS_V4`, `CVSS_V2`, `Ubuntu`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector or label.
    pub score: String,
}

/// An `affected` entry: one package and the versions of it that are affected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The package; entries without one are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Package>,
    /// Severity for this package only.
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Database-specific data for this package (RustSec puts `informational` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// An affected package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The OSV ecosystem name, possibly with a `:suffix` (`Debian:12`).
    pub ecosystem: String,
    /// The package name as the ecosystem spells it.
    pub name: String,
    /// The package's purl, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// A range of affected versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// How to order the events' versions.
    #[serde(rename = "type")]
    pub kind: RangeKind,
    /// The repository, for `GIT` ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The events, in any order.
    pub events: Vec<Event>,
}

/// The range types of the OSV schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    /// SemVer 2.0 ordering, whatever the ecosystem.
    #[serde(rename = "SEMVER")]
    SemVer,
    /// The ecosystem's own ordering.
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    /// Commit hashes; package versions can not be placed on them, so they are not evaluated.
    #[serde(rename = "GIT")]
    Git,
}

/// A range event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Versions from this one on are affected (`0`: from the first version).
    Introduced(String),
    /// Versions from this one on are not affected.
    Fixed(String),
    /// Versions after this one are not affected.
    LastAffected(String),
    /// The range search stops here: versions at or after it are not in this range.
    Limit(String),
}

/// A reference link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `ADVISORY`, `FIX`, `WEB`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL.
    pub url: String,
}

impl OsvRecord {
    /// Parses a JSON record.
    pub fn from_json(bytes: &[u8]) -> Result<Self, OsvError> {
        check_size(bytes)?;
        let record: Self =
            serde_json::from_slice(bytes).map_err(|e| OsvError::Syntax(one_line(&e)))?;
        record.validated()
    }

    /// Parses a YAML record (PyPA's format).
    pub fn from_yaml(bytes: &[u8]) -> Result<Self, OsvError> {
        check_size(bytes)?;
        // Through a JSON value: serde_yaml reads externally tagged enums (the range events) as
        // YAML tags, where OSV's YAML has plain maps.
        let value: serde_json::Value =
            serde_yaml::from_slice(bytes).map_err(|e| OsvError::Syntax(one_line(&e)))?;
        let record: Self =
            serde_json::from_value(value).map_err(|e| OsvError::Syntax(one_line(&e)))?;
        record.validated()
    }

    /// Checks what the schema requires and what evaluation relies on.
    fn validated(self) -> Result<Self, OsvError> {
        let id = self.id.trim();
        if id.is_empty() {
            return Err(OsvError::Missing {
                id: "?".into(),
                field: "id",
            });
        }
        if self.modified.trim().is_empty() {
            return Err(OsvError::Missing {
                id: id.to_owned(),
                field: "modified",
            });
        }
        if id.len() > 200 || id.contains(char::is_whitespace) {
            return Err(OsvError::Invalid {
                id: one_line(&id),
                reason: "malformed id".into(),
            });
        }
        for affected in &self.affected {
            for range in &affected.ranges {
                if range.events.is_empty() {
                    let reason = "a range has no events".into();
                    return Err(OsvError::Invalid {
                        id: self.id.clone(),
                        reason,
                    });
                }
                if !range
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::Introduced(_)))
                {
                    let reason = "a range has no `introduced` event".into();
                    return Err(OsvError::Invalid {
                        id: self.id.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(self)
    }

    /// Whether the record has been withdrawn.
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn
            .as_deref()
            .is_some_and(|w| !w.trim().is_empty())
    }

    /// The `(ecosystem, normalised name)` of every affected package we know the ecosystem of.
    pub fn packages(&self) -> impl Iterator<Item = (Ecosystem, String, &Affected)> {
        self.affected.iter().filter_map(|a| {
            let package = a.package.as_ref()?;
            let ecosystem = parse_ecosystem(&package.ecosystem)?;
            Some((
                ecosystem,
                crate::version::normalize_name(ecosystem, &package.name),
                a,
            ))
        })
    }

    /// The database's own severity label (GitHub's `database_specific.severity`, RustSec's
    /// `informational` kind), if any.
    pub fn severity_label(&self) -> Option<String> {
        let label = |v: &serde_json::Value, key: &str| {
            v.get(key).and_then(|s| s.as_str()).map(str::to_owned)
        };
        if let Some(l) = self
            .database_specific
            .as_ref()
            .and_then(|d| label(d, "severity"))
        {
            return Some(l);
        }
        self.affected.iter().find_map(|a| {
            let d = a.database_specific.as_ref()?;
            label(d, "severity")
                .or_else(|| label(d, "informational").map(|i| format!("informational: {i}")))
        })
    }

    /// The highest-version CVSS vector the record (or one of its packages) carries, scored.
    /// Vectors we cannot read are skipped; `None` if none is readable.
    pub fn cvss(&self) -> Option<Cvss> {
        let entries = self
            .severity
            .iter()
            .chain(self.affected.iter().flat_map(|a| &a.severity));
        let mut best: Option<Cvss> = None;
        for entry in entries {
            let Ok(cvss) = Cvss::parse(&entry.score) else {
                continue;
            };
            let newer = best
                .as_ref()
                .is_none_or(|b| rank(cvss.version) > rank(b.version));
            if newer {
                best = Some(cvss);
            }
        }
        best
    }

    /// The severity rating: from the CVSS score when there is one, else from the database's
    /// label, else [`Severity::None`] (unknown).
    pub fn severity_rating(&self) -> Severity {
        if let Some(cvss) = self.cvss() {
            return cvss.severity();
        }
        self.severity_label()
            .and_then(|l| l.parse().ok())
            .unwrap_or(Severity::None)
    }
}

fn rank(v: crate::cvss::CvssVersion) -> u8 {
    match v {
        crate::cvss::CvssVersion::V3_0 => 0,
        crate::cvss::CvssVersion::V3_1 => 1,
        crate::cvss::CvssVersion::V4_0 => 2,
    }
}

/// Reads an OSV ecosystem name; a `:suffix` (a release of a distribution) is dropped.
pub fn parse_ecosystem(name: &str) -> Option<Ecosystem> {
    let base = name.split(':').next().unwrap_or(name);
    serde_json::from_value(serde_json::Value::String(base.to_owned())).ok()
}

fn check_size(bytes: &[u8]) -> Result<(), OsvError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(OsvError::TooLarge(bytes.len()));
    }
    Ok(())
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace('\n', " ").chars().take(200).collect()
}

/// An affected entry prepared for evaluation: event versions parsed once.
#[derive(Debug, Clone)]
pub struct CompiledAffected {
    scheme: Scheme,
    versions: Vec<String>,
    parsed_versions: Vec<Version>,
    ranges: Vec<CompiledRange>,
    /// Fixed versions named by the ranges, for reports.
    pub fixed: Vec<String>,
}

#[derive(Debug, Clone)]
struct CompiledRange {
    scheme: Scheme,
    /// Events sorted by version; `None` stands for `introduced: 0`.
    events: Vec<(Option<Version>, EventKind)>,
    limits: Vec<Version>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
}

impl CompiledAffected {
    /// Prepares an affected entry of `ecosystem`. A range with a version its scheme refuses
    /// cannot be evaluated: it is left out and its error returned beside the result, so the
    /// caller can report it (the explicit `versions` list and the other ranges still apply).
    pub fn compile(ecosystem: Ecosystem, affected: &Affected) -> (Self, Vec<VersionError>) {
        let scheme = Scheme::for_ecosystem(ecosystem);
        let mut ranges = Vec::new();
        let mut fixed = Vec::new();
        let mut errors = Vec::new();
        for range in &affected.ranges {
            let range_scheme = match range.kind {
                RangeKind::Git => continue,
                RangeKind::SemVer => Scheme::SemVer,
                RangeKind::Ecosystem => scheme,
            };
            match CompiledRange::compile(range_scheme, &range.events) {
                Ok(compiled) => {
                    fixed.extend(range.events.iter().filter_map(|e| match e {
                        Event::Fixed(v) => Some(v.clone()),
                        _ => None,
                    }));
                    ranges.push(compiled);
                }
                Err(e) => errors.push(e),
            }
        }
        let parsed_versions = affected
            .versions
            .iter()
            .filter_map(|v| scheme.parse(v).ok())
            .collect();
        let compiled = Self {
            scheme,
            versions: affected.versions.clone(),
            parsed_versions,
            ranges,
            fixed,
        };
        (compiled, errors)
    }

    /// Whether `version` is affected: listed explicitly, or inside a range by the OSV
    /// evaluation algorithm. A version its scheme cannot read can only match the list.
    pub fn affects(&self, version: &str) -> bool {
        self.affects_version(&ComponentVersion::new(self.scheme, version))
    }

    /// [`Self::affects`] for a version parsed once and evaluated against many advisories.
    pub fn affects_version(&self, version: &ComponentVersion) -> bool {
        if self.versions.contains(&version.raw) {
            return true;
        }
        let parsed = version.ecosystem.as_ref();
        if parsed.is_some_and(|p| self.parsed_versions.contains(p)) {
            return true;
        }
        self.ranges.iter().any(|r| {
            // SEMVER ranges order by SemVer even outside SemVer ecosystems.
            let v = match r.scheme {
                Scheme::SemVer if version.semver.is_some() => version.semver.as_ref(),
                _ => parsed,
            };
            v.is_some_and(|v| r.contains(v))
        })
    }
}

/// A component's version, parsed once under its ecosystem's rules and, where those differ,
/// under SemVer (for `SEMVER` ranges).
#[derive(Debug, Clone)]
pub struct ComponentVersion {
    raw: String,
    ecosystem: Option<Version>,
    semver: Option<Version>,
}

impl ComponentVersion {
    /// Parses `raw` for matching under `scheme`.
    pub fn new(scheme: Scheme, raw: &str) -> Self {
        let semver = match scheme {
            Scheme::SemVer | Scheme::Go => None,
            _ => Scheme::SemVer.parse(raw).ok(),
        };
        Self {
            raw: raw.to_owned(),
            ecosystem: scheme.parse(raw).ok(),
            semver,
        }
    }
}

impl CompiledRange {
    fn compile(scheme: Scheme, raw: &[Event]) -> Result<Self, VersionError> {
        let mut events = Vec::new();
        let mut limits = Vec::new();
        for event in raw {
            let (kind, v) = match event {
                Event::Introduced(v) if v.trim() == "0" => {
                    events.push((None, EventKind::Introduced));
                    continue;
                }
                Event::Introduced(v) => (EventKind::Introduced, v),
                Event::Fixed(v) => (EventKind::Fixed, v),
                Event::LastAffected(v) => (EventKind::LastAffected, v),
                Event::Limit(v) if v.trim() == "*" => continue,
                Event::Limit(v) => {
                    limits.push(scheme.parse(v)?);
                    continue;
                }
            };
            events.push((Some(scheme.parse(v)?), kind));
        }
        // `None` (introduced 0) sorts first; equal versions keep their written order.
        events.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            scheme,
            events,
            limits,
        })
    }

    /// The OSV schema's evaluation: walk the sorted events; an `introduced` at or below the
    /// version opens, a `fixed` at or below closes, a `last_affected` below closes.
    fn contains(&self, v: &Version) -> bool {
        if !self.limits.is_empty() && self.limits.iter().all(|l| v >= l) {
            return false;
        }
        let mut affected = false;
        for (at, kind) in &self.events {
            let ord = at.as_ref().map_or(Ordering::Greater, |at| v.cmp(at));
            match kind {
                EventKind::Introduced if ord != Ordering::Less => affected = true,
                EventKind::Fixed if ord != Ordering::Less => affected = false,
                EventKind::LastAffected if ord == Ordering::Greater => affected = false,
                _ => {}
            }
        }
        affected
    }
}
