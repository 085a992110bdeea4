//! The ignore file: findings a team has accepted, each with a reason and an expiry date.
//!
//! TOML:
//!
//! ```toml
//! [[ignore]]
//! id = "RUSTSEC-2020-0071"          # or any alias: CVE-..., GHSA-...
//! reason = "time is only used to format log lines"
//! expires = "2026-06-30"
//! package = "time"                   # optional: only for this package name
//! ```
//!
//! YAML has the same fields under a top-level `ignore:` list. Every entry needs all of `id`,
//! `reason` and `expires`: an acceptance without a reason or an end is not one. From the day
//! after `expires` the entry is no longer honoured, and it is reported so that someone looks
//! at it again.

use serde::Deserialize;
use time::Date;

use super::Finding;

/// The largest ignore file read.
const MAX_IGNORE_BYTES: usize = 4 * 1024 * 1024;

/// The ignore file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    /// Not valid TOML or YAML of the expected shape.
    #[error("ignore file `{path}`: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An `expires` value is not a `YYYY-MM-DD` date.
    #[error("ignore file `{path}`: entry `{id}` has an invalid expires date `{value}`")]
    Date {
        /// The file.
        path: String,
        /// The entry's id.
        id: String,
        /// The value given.
        value: String,
    },
    /// An entry lacks its id or reason.
    #[error("ignore file `{path}`: an entry has an empty `{field}`")]
    Empty {
        /// The file.
        path: String,
        /// The empty field.
        field: &'static str,
    },
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    /// The advisory id or alias.
    pub id: String,
    /// Why it is accepted.
    pub reason: String,
    /// The last day it is honoured.
    pub expires: Date,
    /// Only for this package name, when set.
    pub package: Option<String>,
}

/// A parsed ignore file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreFile {
    /// The entries, in file order.
    pub rules: Vec<IgnoreRule>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    ignore: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    reason: String,
    expires: String,
    #[serde(default)]
    package: Option<String>,
}

/// What applying the ignore file did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Findings still reported.
    pub kept: Vec<Finding>,
    /// Findings accepted, each with the rule that accepted it.
    pub ignored: Vec<(Finding, IgnoreRule)>,
    /// Rules past their expiry date (not honoured).
    pub expired: Vec<IgnoreRule>,
}

impl IgnoreFile {
    /// Parses an ignore file; `.yaml`/`.yml` names are read as YAML, anything else as TOML.
    pub fn parse(path: &str, text: &str) -> Result<Self, IgnoreError> {
        let syntax = |reason: String| IgnoreError::Syntax {
            path: path.to_owned(),
            reason: reason.replace('\n', " ").trim().to_owned(),
        };
        if text.len() > MAX_IGNORE_BYTES {
            return Err(syntax("file too large".into()));
        }
        let lower = path.to_ascii_lowercase();
        let raw: RawFile = if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            serde_yaml::from_str(text).map_err(|e| syntax(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| syntax(e.to_string()))?
        };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let mut rules = Vec::new();
        for r in raw.ignore {
            let id = r.id.trim().to_owned();
            if id.is_empty() {
                return Err(IgnoreError::Empty {
                    path: path.to_owned(),
                    field: "id",
                });
            }
            if r.reason.trim().is_empty() {
                return Err(IgnoreError::Empty {
                    path: path.to_owned(),
                    field: "reason",
                });
            }
            let expires = Date::parse(r.expires.trim(), format).map_err(|_| IgnoreError::Date {
                path: path.to_owned(),
                id: id.clone(),
                value: r.expires.chars().take(40).collect(),
            })?;
            rules.push(IgnoreRule {
                id,
                reason: r.reason.trim().to_owned(),
                expires,
                package: r.package,
            });
        }
        Ok(Self { rules })
    }

    /// Splits findings into kept and ignored, as of `today`.
    pub fn apply(&self, findings: Vec<Finding>, today: Date) -> Applied {
        let (live, expired): (Vec<&IgnoreRule>, Vec<&IgnoreRule>) =
            self.rules.iter().partition(|r| r.expires >= today);
        let mut applied = Applied {
            expired: expired.into_iter().cloned().collect(),
            ..Applied::default()
        };
        for finding in findings {
            let rule = live.iter().find(|r| {
                let names_it = r.id == finding.id || finding.aliases.contains(&r.id);
                let package_ok = r.package.as_ref().is_none_or(|p| *p == finding.name);
                names_it && package_ok
            });
            match rule {
                Some(rule) => applied.ignored.push((finding, (*rule).clone())),
                None => applied.kept.push(finding),
            }
        }
        applied
    }
}
