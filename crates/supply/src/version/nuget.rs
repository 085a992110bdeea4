//! NuGet versions: SemVer 2.0 with an optional fourth release part (`1.2.3.4`), missing parts
//! read as 0 (`1.0` == `1.0.0.0`), and pre-release labels compared case-insensitively.

use super::semver::Identifier;
use super::VersionError;

/// A parsed NuGet version. Build metadata is ignored for ordering, as in SemVer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NuGetVersion {
    release: [u64; 4],
    /// `true` for a release, so that releases sort above their pre-releases.
    is_release: bool,
    pre: Vec<Identifier>,
}

impl NuGetVersion {
    /// Parses a NuGet version.
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let bad = |reason: &'static str| VersionError::new("nuget", input, reason);
        let s = input.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(head, _)| head);
        let (core, pre) = match s.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (s, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 4 {
            return Err(bad("expected one to four numeric parts"));
        }
        let mut release = [0u64; 4];
        for (slot, part) in release.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("release parts must be numbers"));
            }
            *slot = part.parse().map_err(|_| bad("number too large"))?;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre
                .split('.')
                .map(|id| identifier(id).ok_or_else(|| bad("invalid pre-release label")))
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            release,
            is_release: pre.is_empty(),
            pre,
        })
    }

    /// Whether this is a pre-release.
    pub fn is_prerelease(&self) -> bool {
        !self.is_release
    }
}

fn identifier(id: &str) -> Option<Identifier> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    if id.bytes().all(|b| b.is_ascii_digit()) {
        return id.parse().ok().map(Identifier::Numeric);
    }
    Some(Identifier::Alphanumeric(id.to_ascii_lowercase()))
}
