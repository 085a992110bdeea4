//! Version ordering for each ecosystem, and package-name normalisation.
//!
//! OSV ranges are only meaningful under the ordering of the ecosystem they name: the same
//! string `1.0-1` is a post release in Python and a pre-release in SemVer. [`Scheme`] picks the
//! rules, [`Version`] is a parsed version that only compares with versions of its own scheme.
//! This module is a pure engine: it parses and compares, and never logs.

mod composer;
mod maven;
mod nuget;
mod pep440;
mod rubygems;
mod semver;

use std::cmp::Ordering;

pub use composer::ComposerVersion;
pub use maven::MavenVersion;
pub use nuget::NuGetVersion;
pub use pep440::Pep440;
pub use rubygems::GemVersion;
pub use semver::{Identifier, SemVer};

use crate::model::Ecosystem;

/// A version string that its scheme cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme} version `{version}`: {reason}")]
pub struct VersionError {
    /// The scheme that refused it (`semver`, `pep440`, ...).
    pub scheme: &'static str,
    /// The offending input, shortened to 80 characters.
    pub version: String,
    /// What was wrong.
    pub reason: &'static str,
}

impl VersionError {
    fn new(scheme: &'static str, version: &str, reason: &'static str) -> Self {
        Self {
            scheme,
            version: version.chars().take(80).collect(),
            reason,
        }
    }
}

/// A set of version rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// SemVer 2.0: crates.io, npm, and OSV `SEMVER` ranges.
    SemVer,
    /// Go modules: SemVer with a `v` prefix, pseudo-versions and `+incompatible`.
    Go,
    /// PEP 440: PyPI.
    Pep440,
    /// `Gem::Version`: RubyGems.
    RubyGems,
    /// Composer: Packagist.
    Composer,
    /// Maven's `ComparableVersion`.
    Maven,
    /// NuGet's SemVer variant.
    NuGet,
}

impl Scheme {
    /// The rules an ecosystem's versions follow.
    pub fn for_ecosystem(ecosystem: Ecosystem) -> Self {
        match ecosystem {
            Ecosystem::Go => Self::Go,
            Ecosystem::PyPI => Self::Pep440,
            Ecosystem::RubyGems => Self::RubyGems,
            Ecosystem::Packagist => Self::Composer,
            Ecosystem::Maven => Self::Maven,
            Ecosystem::NuGet => Self::NuGet,
            _ => Self::SemVer,
        }
    }

    /// Parses a version under these rules.
    pub fn parse(self, input: &str) -> Result<Version, VersionError> {
        Ok(match self {
            Self::SemVer => Version::SemVer(SemVer::parse(input)?),
            Self::Go => Version::SemVer(SemVer::parse_go(input)?),
            Self::Pep440 => Version::Pep440(Pep440::parse(input)?),
            Self::RubyGems => Version::RubyGems(GemVersion::parse(input)?),
            Self::Composer => Version::Composer(ComposerVersion::parse(input)?),
            Self::Maven => Version::Maven(MavenVersion::parse(input)?),
            Self::NuGet => Version::NuGet(NuGetVersion::parse(input)?),
        })
    }

    /// Compares two version strings under these rules.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        Ok(self.parse(a)?.cmp(&self.parse(b)?))
    }
}

/// A parsed version. Versions of different schemes never meet in practice; if they do they
/// order by scheme, so that sorting stays total.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// SemVer and Go.
    SemVer(SemVer),
    /// PEP 440.
    Pep440(Pep440),
    /// RubyGems.
    RubyGems(GemVersion),
    /// Composer.
    Composer(ComposerVersion),
    /// Maven.
    Maven(MavenVersion),
    /// NuGet.
    NuGet(NuGetVersion),
}

/// Normalises a package name the way its registry compares names, so that the name in an SBOM
/// and the name in an advisory meet: PyPI per PEP 503 (`Foo_Bar` == `foo-bar`); crates.io,
/// NuGet and Packagist case-insensitively; npm, Go, Maven and RubyGems exactly.
pub fn normalize_name(ecosystem: Ecosystem, name: &str) -> String {
    match ecosystem {
        Ecosystem::PyPI => pep440::normalize_name(name),
        Ecosystem::Cargo | Ecosystem::NuGet | Ecosystem::Packagist => name.trim().to_lowercase(),
        _ => name.trim().to_owned(),
    }
}
