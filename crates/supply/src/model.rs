//! The component graph that readers produce and writers and the matcher consume.
//!
//! A [`Component`] is one package at one version from one source; its identity is its
//! [`Purl`] (rendered, it is also the CycloneDX `bom-ref`). A [`DependencyGraph`] holds the
//! edges between components by purl, plus the roots: what the scanned project itself is.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::purl::{Purl, PurlError};

/// A package ecosystem, named as OSV names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ecosystem {
    /// Rust crates.
    #[serde(rename = "crates.io")]
    Cargo,
    /// JavaScript packages (npm, yarn, pnpm).
    #[serde(rename = "npm")]
    Npm,
    /// Python packages.
    #[serde(rename = "PyPI")]
    PyPI,
    /// Go modules.
    #[serde(rename = "Go")]
    Go,
    /// Ruby gems.
    #[serde(rename = "RubyGems")]
    RubyGems,
    /// PHP Composer packages.
    #[serde(rename = "Packagist")]
    Packagist,
    /// .NET packages.
    #[serde(rename = "NuGet")]
    NuGet,
    /// Java packages.
    #[serde(rename = "Maven")]
    Maven,
}

impl Ecosystem {
    /// The ecosystem's name in OSV records (`crates.io`, `npm`, `PyPI`, ...).
    pub fn osv_name(self) -> &'static str {
        match self {
            Self::Cargo => "crates.io",
            Self::Npm => "npm",
            Self::PyPI => "PyPI",
            Self::Go => "Go",
            Self::RubyGems => "RubyGems",
            Self::Packagist => "Packagist",
            Self::NuGet => "NuGet",
            Self::Maven => "Maven",
        }
    }

    /// The purl type for the ecosystem (`cargo`, `npm`, `pypi`, `golang`, `gem`, ...).
    pub fn purl_type(self) -> &'static str {
        match self {
            Self::Cargo => "cargo",
            Self::Npm => "npm",
            Self::PyPI => "pypi",
            Self::Go => "golang",
            Self::RubyGems => "gem",
            Self::Packagist => "composer",
            Self::NuGet => "nuget",
            Self::Maven => "maven",
        }
    }

    /// The ecosystem a purl type belongs to, if it is one we know.
    pub fn from_purl_type(ty: &str) -> Option<Self> {
        Some(match ty {
            "cargo" => Self::Cargo,
            "npm" => Self::Npm,
            "pypi" => Self::PyPI,
            "golang" => Self::Go,
            "gem" => Self::RubyGems,
            "composer" => Self::Packagist,
            "nuget" => Self::NuGet,
            "maven" => Self::Maven,
            _ => return None,
        })
    }

    /// Splits a package name into purl namespace and name, by the ecosystem's own rules.
    fn split_name(self, name: &str) -> (Option<&str>, &str) {
        let split_last = |sep: char| match name.rsplit_once(sep) {
            Some((ns, n)) if !ns.is_empty() && !n.is_empty() => (Some(ns), n),
            _ => (None, name),
        };
        match self {
            // `@scope/name`; an unscoped name has no namespace.
            Self::Npm if name.starts_with('@') => split_last('/'),
            // Module path: everything up to the last `/` is the namespace.
            Self::Go | Self::Packagist => split_last('/'),
            Self::Maven => split_last(':'),
            _ => (None, name),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.osv_name())
    }
}

/// One package at one version, as found in a lockfile or manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// The ecosystem whose version rules apply.
    pub ecosystem: Ecosystem,
    /// The package name as the ecosystem writes it (`@scope/name`, `vendor/name`,
    /// `github.com/org/module`, `group:artifact`); PyPI names are PEP 503 normalised.
    pub name: String,
    /// The version exactly as locked (Go keeps its `v`).
    pub version: String,
    /// The package URL, which also identifies the component in the graph.
    pub purl: Purl,
    /// Where the package comes from.
    #[serde(default)]
    pub source: Source,
    /// Digests the lockfile records for the package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<Hash>,
    /// SPDX license expressions the lockfile states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Whether the package is needed at run time, only for development, or optional.
    #[serde(default)]
    pub scope: Scope,
    /// How the package relates to the scanned project.
    #[serde(default)]
    pub relation: Relation,
    /// The lockfiles (relative to the scanned path) the component was found in.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub found_in: BTreeSet<String>,
}

impl Component {
    /// A registry component with its default purl; other fields take their defaults.
    ///
    /// Fails only when the name is empty.
    pub fn new(ecosystem: Ecosystem, name: &str, version: &str) -> Result<Self, PurlError> {
        let name = match ecosystem {
            Ecosystem::PyPI => normalise_pypi_name(name),
            _ => name.to_string(),
        };
        let (namespace, short) = ecosystem.split_name(&name);
        let purl = Purl::new(ecosystem.purl_type(), namespace, short, Some(version))?;
        Ok(Self {
            ecosystem,
            name,
            version: version.to_string(),
            purl,
            source: Source::default(),
            hashes: Vec::new(),
            licenses: Vec::new(),
            scope: Scope::default(),
            relation: Relation::default(),
            found_in: BTreeSet::new(),
        })
    }

    /// Sets the source, and records a git source in the purl's `vcs_url` qualifier and a
    /// non-default registry in `repository_url`, so that the purl tells them apart.
    #[must_use]
    pub fn with_source(mut self, source: Source) -> Self {
        match &source {
            Source::Git { url, commit, .. } => {
                let at = commit
                    .as_deref()
                    .map(|c| format!("@{c}"))
                    .unwrap_or_default();
                let vcs = if url.starts_with("git+") {
                    url.clone()
                } else {
                    format!("git+{url}")
                };
                self.purl = self.purl.with_qualifier("vcs_url", &format!("{vcs}{at}"));
            }
            Source::Registry { url: Some(url) } => {
                self.purl = self.purl.with_qualifier("repository_url", url);
            }
            Source::Url { url } => {
                self.purl = self.purl.with_qualifier("download_url", url);
            }
            _ => {}
        }
        self.source = source;
        self
    }

    /// The key that identifies the component in a graph: its rendered purl.
    pub fn key(&self) -> String {
        self.purl.to_string()
    }

    /// Folds another sighting of the same component into this one: the widest scope, the
    /// closest relation, and the union of hashes, licenses and locations.
    pub fn merge(&mut self, other: Component) {
        self.scope = self.scope.widest(other.scope);
        self.relation = self.relation.closest(other.relation);
        for h in other.hashes {
            if !self.hashes.contains(&h) {
                self.hashes.push(h);
            }
        }
        for l in other.licenses {
            if !self.licenses.contains(&l) {
                self.licenses.push(l);
            }
        }
        self.found_in.extend(other.found_in);
        self.hashes.sort();
        self.licenses.sort();
    }
}

/// Where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A package registry; `url` is set only when it is not the ecosystem's default one.
    Registry {
        /// The registry's URL, when not the default.
        url: Option<String>,
    },
    /// A git repository.
    Git {
        /// The repository URL, without `git+` prefix, query or fragment.
        url: String,
        /// The tag, branch or rev the lockfile asked for.
        reference: Option<String>,
        /// The commit the lockfile pinned.
        commit: Option<String>,
    },
    /// A local directory (a workspace member or a path dependency).
    Path {
        /// The path as the lockfile writes it.
        path: String,
    },
    /// A tarball or other direct download.
    Url {
        /// Where it is downloaded from.
        url: String,
    },
    /// The lockfile does not say.
    #[default]
    Unknown,
}

/// A digest of a package's archive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Hash {
    /// The algorithm.
    pub alg: HashAlg,
    /// Lowercase hex.
    pub hex: String,
}

/// Digest algorithms lockfiles record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HashAlg {
    /// MD5 (some old lockfiles).
    Md5,
    /// SHA-1 (npm v1 lockfiles, yarn classic).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512 (npm integrity).
    Sha512,
}

impl HashAlg {
    /// Reads `sha256`, `SHA-256`, `sha512` and the like.
    pub fn parse(name: &str) -> Option<Self> {
        let lower: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_lowercase();
        Some(match lower.as_str() {
            "md5" => Self::Md5,
            "sha1" => Self::Sha1,
            "sha256" => Self::Sha256,
            "sha384" => Self::Sha384,
            "sha512" => Self::Sha512,
            _ => return None,
        })
    }

    /// The length of the digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

impl Hash {
    /// A digest from hex; `None` if it is not hex of the algorithm's length.
    pub fn from_hex(alg: HashAlg, hex: &str) -> Option<Self> {
        let ok = hex.len() == alg.digest_len() * 2 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| Self {
            alg,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// A digest from a Subresource Integrity string such as `sha512-<base64>`.
    pub fn from_sri(sri: &str) -> Option<Self> {
        let (alg, b64) = sri.trim().split_once('-')?;
        let alg = HashAlg::parse(alg)?;
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        (bytes.len() == alg.digest_len()).then(|| Self {
            alg,
            hex: hex::encode(bytes),
        })
    }
}

/// How a component is used.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Needed when the software runs.
    #[default]
    Runtime,
    /// Optional at run time.
    Optional,
    /// Only for development, building or testing.
    Dev,
}

impl Scope {
    /// Of two sightings, the scope that matters most: runtime beats optional beats dev.
    pub fn widest(self, other: Self) -> Self {
        self.min(other)
    }
}

/// How a component relates to the scanned project.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// Part of the project itself (a workspace member, the root package).
    Root,
    /// Named by the project's own manifest.
    Direct,
    /// Reached only through other packages.
    Transitive,
    /// The lockfile does not tell.
    #[default]
    Unknown,
}

impl Relation {
    /// Of two sightings, the closer relation.
    pub fn closest(self, other: Self) -> Self {
        self.min(other)
    }
}

/// Edges between components, by component key (rendered purl).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyGraph {
    /// For each component, the components it depends on directly.
    pub edges: BTreeMap<String, BTreeSet<String>>,
}

impl DependencyGraph {
    /// Records that `from` depends on `to`.
    pub fn add_edge(&mut self, from: &str, to: &str) {
        if from != to {
            self.edges
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
    }

    /// Makes sure `node` appears, even with no dependencies.
    pub fn add_node(&mut self, node: &str) {
        self.edges.entry(node.to_string()).or_default();
    }

    /// Adds every edge of `other`.
    pub fn extend(&mut self, other: DependencyGraph) {
        for (from, tos) in other.edges {
            self.edges.entry(from).or_default().extend(tos);
        }
    }

    /// What `node` depends on directly.
    pub fn dependencies_of(&self, node: &str) -> impl Iterator<Item = &str> {
        self.edges
            .get(node)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// Normalises a PyPI project name as PEP 503 does: lowercase, runs of `-`, `_` and `.`
/// become one `-`.
pub fn normalise_pypi_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_crate_purl_has_nothing_empty() {
        let c = Component::new(Ecosystem::Cargo, "serde", "1.0.200").unwrap();
        assert_eq!(c.purl.to_string(), "pkg:cargo/serde@1.0.200");
    }

    #[test]
    fn names_split_into_namespaces_by_ecosystem() {
        let cases = [
            (
                Ecosystem::Npm,
                "@babel/core",
                "7.0.0",
                "pkg:npm/%40babel/core@7.0.0",
            ),
            (
                Ecosystem::Npm,
                "left-pad",
                "1.3.0",
                "pkg:npm/left-pad@1.3.0",
            ),
            (
                Ecosystem::Go,
                "golang.org/x/net",
                "v0.1.0",
                "pkg:golang/golang.org/x/net@v0.1.0",
            ),
            (
                Ecosystem::Packagist,
                "Laravel/Framework",
                "v10.0.0",
                "pkg:composer/laravel/framework@v10.0.0",
            ),
            (
                Ecosystem::Maven,
                "org.slf4j:slf4j-api",
                "2.0.9",
                "pkg:maven/org.slf4j/slf4j-api@2.0.9",
            ),
            (Ecosystem::PyPI, "Foo_Bar", "1.0", "pkg:pypi/foo-bar@1.0"),
            (Ecosystem::RubyGems, "rails", "7.1.0", "pkg:gem/rails@7.1.0"),
            (
                Ecosystem::NuGet,
                "Newtonsoft.Json",
                "13.0.1",
                "pkg:nuget/Newtonsoft.Json@13.0.1",
            ),
        ];
        for (eco, name, version, want) in cases {
            assert_eq!(Component::new(eco, name, version).unwrap().key(), want);
        }
    }

    #[test]
    fn git_source_goes_into_vcs_url() {
        let c = Component::new(Ecosystem::Cargo, "foo", "0.1.0")
            .unwrap()
            .with_source(Source::Git {
                url: "https://github.com/o/foo.git".into(),
                reference: Some("v1".into()),
                commit: Some("abc123".into()),
            });
        assert_eq!(
            c.purl.qualifiers().get("vcs_url").map(String::as_str),
            Some("git+https://github.com/o/foo.git@abc123")
        );
    }

    #[test]
    fn pypi_names_normalise_per_pep_503() {
        assert_eq!(normalise_pypi_name("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(normalise_pypi_name("foo-bar"), "foo-bar");
    }

    #[test]
    fn sri_hashes_decode_to_hex() {
        // SHA-1 of the empty string.
        let h = Hash::from_sri("sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=").unwrap();
        assert_eq!(h.alg, HashAlg::Sha1);
        assert_eq!(h.hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert!(Hash::from_sri("sha512-tooshort").is_none());
        assert!(Hash::from_sri("md4-AAAA").is_none());
    }
}
