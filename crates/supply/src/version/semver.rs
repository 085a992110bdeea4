//! Semantic Versioning 2.0.0 (<https://semver.org>), as crates.io, npm and OSV's `SEMVER` ranges
//! use it, plus Go's module versions, which are SemVer with a `v` prefix.
//!
//! Go pseudo-versions (`v0.0.0-20200124225646-8b5121be2f68`) are ordinary SemVer pre-releases, so
//! SemVer precedence already orders them the way the Go toolchain does: below the release they
//! are based on and by timestamp among themselves. `+incompatible` is build metadata, which
//! precedence ignores (§10).

use std::cmp::Ordering;

use super::VersionError;

/// A parsed SemVer version. Equality and ordering follow precedence (§11): build metadata is
/// ignored.
#[derive(Debug, Clone)]
pub struct SemVer {
    /// Major, minor and patch.
    pub release: [u64; 3],
    /// Pre-release identifiers, empty for a release.
    pub pre: Vec<Identifier>,
}

/// One dot-separated pre-release identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Identifier {
    /// Digits only: compared numerically, and below any alphanumeric identifier (§11.4.3).
    Numeric(u64),
    /// Anything else: compared in ASCII order (§11.4.2).
    Alphanumeric(String),
}

impl SemVer {
    /// Parses a strict SemVer version; a leading `v` (Go, some npm data) is accepted.
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let bad = |reason: &'static str| VersionError::new("semver", input, reason);
        let s = input.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        // Build metadata never takes part in precedence (§10).
        let s = s.split_once('+').map_or(s, |(head, _build)| head);
        let (core, pre) = match s.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (s, None),
        };
        let mut release = [0u64; 3];
        let mut parts = core.split('.');
        for slot in &mut release {
            let part = parts
                .next()
                .ok_or_else(|| bad("expected MAJOR.MINOR.PATCH"))?;
            *slot = parse_number(part).ok_or_else(|| bad("release parts must be numbers"))?;
        }
        if parts.next().is_some() {
            return Err(bad("more than three release parts"));
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => parse_identifiers(pre).ok_or_else(|| bad("invalid pre-release"))?,
        };
        Ok(Self { release, pre })
    }

    /// Parses a Go module version: a `v` prefix, SemVer, and an optional `+incompatible`.
    pub fn parse_go(input: &str) -> Result<Self, VersionError> {
        let s = input.trim();
        let s = s.strip_suffix("+incompatible").unwrap_or(s);
        Self::parse(s).map_err(|_| VersionError::new("go", input, "expected vMAJOR.MINOR.PATCH"))
    }

    /// Whether this is a pre-release.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

/// Parses an unsigned decimal number of up to 19 digits.
fn parse_number(part: &str) -> Option<u64> {
    if part.is_empty() || part.len() > 19 || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn parse_identifiers(pre: &str) -> Option<Vec<Identifier>> {
    pre.split('.')
        .map(|id| {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                None
            } else if let Some(n) = parse_number(id) {
                Some(Identifier::Numeric(n))
            } else {
                Some(Identifier::Alphanumeric(id.to_owned()))
            }
        })
        .collect()
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.release.cmp(&other.release).then_with(|| {
            // A pre-release sorts below its release (§11.3); otherwise field by field, and a
            // longer list of identifiers wins when all before are equal (§11.4.4).
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SemVer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SemVer {}
