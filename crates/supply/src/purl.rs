//! Package URLs (purl), as the purl specification defines them:
//! `pkg:type/namespace/name@version?qualifiers#subpath`.
//!
//! [`Purl`] keeps each part decoded; [`std::fmt::Display`] writes the canonical form (type
//! lowercased, each namespace and subpath segment, the name, the version and each qualifier
//! value percent-encoded, qualifiers sorted by key, empty qualifiers dropped) and
//! [`Purl::parse`] reads any valid purl back. Type-specific rules that change identity
//! (PyPI name normalisation, lowercase Composer names) are applied when a purl is built with
//! [`Purl::new`] or parsed, so two spellings of one package give one purl.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parsed package URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Purl {
    ty: String,
    namespace: Option<String>,
    name: String,
    version: Option<String>,
    qualifiers: BTreeMap<String, String>,
    subpath: Option<String>,
}

/// Why a string is not a package URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurlError {
    /// The `pkg:` scheme is missing.
    #[error("purl `{0}` does not start with `pkg:`")]
    Scheme(String),
    /// The type is missing or has characters the spec does not allow.
    #[error("purl `{0}` has no valid type")]
    Type(String),
    /// The name is missing.
    #[error("purl `{0}` has no name")]
    Name(String),
    /// A qualifier is not `key=value` or its key is invalid.
    #[error("purl `{purl}` has an invalid qualifier `{qualifier}`")]
    Qualifier {
        /// The whole purl.
        purl: String,
        /// The offending qualifier.
        qualifier: String,
    },
    /// A `%` escape is malformed or decodes to invalid UTF-8.
    #[error("purl `{0}` has an invalid percent-encoding")]
    Encoding(String),
}

impl Purl {
    /// Builds a purl from its decoded parts, normalising what the type's rules say to.
    pub fn new(
        ty: &str,
        namespace: Option<&str>,
        name: &str,
        version: Option<&str>,
    ) -> Result<Self, PurlError> {
        let ty = ty.to_ascii_lowercase();
        if !valid_type(&ty) {
            return Err(PurlError::Type(ty));
        }
        if name.is_empty() {
            return Err(PurlError::Name(format!("pkg:{ty}/")));
        }
        let mut purl = Self {
            ty,
            namespace: namespace
                .map(|n| n.trim_matches('/').to_string())
                .filter(|n| !n.is_empty()),
            name: name.to_string(),
            version: version.filter(|v| !v.is_empty()).map(str::to_string),
            qualifiers: BTreeMap::new(),
            subpath: None,
        };
        purl.normalise();
        if purl.name.is_empty() {
            return Err(PurlError::Name(format!("pkg:{}/", purl.ty)));
        }
        Ok(purl)
    }

    /// Adds a qualifier; an empty value is dropped, as the spec says.
    #[must_use]
    pub fn with_qualifier(mut self, key: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.qualifiers
                .insert(key.to_ascii_lowercase(), value.to_string());
        }
        self
    }

    /// Sets the subpath (segments separated by `/`).
    #[must_use]
    pub fn with_subpath(mut self, subpath: &str) -> Self {
        let cleaned = clean_subpath(subpath);
        self.subpath = (!cleaned.is_empty()).then_some(cleaned);
        self
    }

    /// Parses a purl string, following the spec's parsing algorithm.
    pub fn parse(input: &str) -> Result<Self, PurlError> {
        let err_input = || input.to_string();

        // Subpath: right of the first `#`, qualifiers: right of the first `?`.
        let (rest, subpath) = match input.split_once('#') {
            Some((r, s)) => (r, Some(s)),
            None => (input, None),
        };
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };

        let Some(rest) = strip_prefix_ignore_case(rest, "pkg:") else {
            return Err(PurlError::Scheme(err_input()));
        };
        let rest = rest.trim_start_matches('/');
        let Some((ty, rest)) = rest.split_once('/') else {
            return Err(PurlError::Type(err_input()));
        };
        let ty = ty.to_ascii_lowercase();
        if !valid_type(&ty) {
            return Err(PurlError::Type(err_input()));
        }

        // Version: right of the last `@` (an encoded `@` in a namespace is `%40`).
        let rest = rest.trim_end_matches('/');
        let (rest, version) = match rest.rsplit_once('@') {
            Some((r, v)) => (
                r,
                Some(decode(v).ok_or_else(|| PurlError::Encoding(err_input()))?),
            ),
            None => (rest, None),
        };
        let (namespace, name) = match rest.rsplit_once('/') {
            Some((ns, n)) => (Some(ns), n),
            None => (None, rest),
        };
        let name = decode(name).ok_or_else(|| PurlError::Encoding(err_input()))?;
        if name.is_empty() {
            return Err(PurlError::Name(err_input()));
        }
        let namespace = match namespace {
            Some(ns) => Some(decode_segments(ns).ok_or_else(|| PurlError::Encoding(err_input()))?),
            None => None,
        };

        let mut purl = Self {
            ty,
            namespace: namespace.filter(|n| !n.is_empty()),
            name,
            version: version.filter(|v| !v.is_empty()),
            qualifiers: BTreeMap::new(),
            subpath: None,
        };
        if let Some(q) = qualifiers {
            purl.qualifiers = parse_qualifiers(input, q)?;
        }
        if let Some(s) = subpath {
            let decoded = decode_segments(s).ok_or_else(|| PurlError::Encoding(err_input()))?;
            purl = purl.with_subpath(&decoded);
        }
        purl.normalise();
        if purl.name.is_empty() {
            return Err(PurlError::Name(err_input()));
        }
        Ok(purl)
    }

    /// The package type, e.g. `cargo`, `npm`, `pypi`, `golang`.
    pub fn ty(&self) -> &str {
        &self.ty
    }

    /// The namespace (npm scope with its `@`, Maven group, Go module path prefix), decoded.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The package name, decoded.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version, decoded.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The qualifiers, sorted by key.
    pub fn qualifiers(&self) -> &BTreeMap<String, String> {
        &self.qualifiers
    }

    /// The subpath, decoded.
    pub fn subpath(&self) -> Option<&str> {
        self.subpath.as_deref()
    }

    /// The full package name as its ecosystem writes it: `@scope/name` for npm,
    /// `group:artifact` for Maven, `module/path` for Go, `vendor/name` for Composer.
    pub fn package_name(&self) -> String {
        match (&self.namespace, self.ty.as_str()) {
            (Some(ns), "maven") => format!("{ns}:{}", self.name),
            (Some(ns), _) => format!("{ns}/{}", self.name),
            (None, _) => self.name.clone(),
        }
    }

    /// Applies the per-type rules of the purl-types list that make names canonical.
    fn normalise(&mut self) {
        match self.ty.as_str() {
            // PyPI names are case-insensitive and `_` equals `-` (PEP 503).
            "pypi" => self.name = crate::model::normalise_pypi_name(&self.name),
            // Composer vendor and package names are lowercase.
            "composer" => {
                self.name = self.name.to_ascii_lowercase();
                self.namespace = self.namespace.as_ref().map(|n| n.to_ascii_lowercase());
            }
            _ => {}
        }
    }
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/", self.ty)?;
        if let Some(ns) = &self.namespace {
            for segment in ns.split('/').filter(|s| !s.is_empty()) {
                write!(f, "{}/", encode(segment))?;
            }
        }
        write!(f, "{}", encode(&self.name))?;
        if let Some(v) = &self.version {
            write!(f, "@{}", encode(v))?;
        }
        let mut sep = '?';
        // Qualifier values keep `/` as is, as the spec's test suite and the reference
        // implementations do (`repository_url=repo.spring.io/release`).
        for (k, v) in &self.qualifiers {
            write!(f, "{sep}{k}={}", encode_keep_slash(v))?;
            sep = '&';
        }
        if let Some(s) = &self.subpath {
            let encoded: Vec<String> = s.split('/').map(encode).collect();
            write!(f, "#{}", encoded.join("/"))?;
        }
        Ok(())
    }
}

impl FromStr for Purl {
    type Err = PurlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Purl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Purl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A type is ASCII letters, digits, `.`, `+` and `-`, and does not start with a digit.
fn valid_type(ty: &str) -> bool {
    let mut chars = ty.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

fn parse_qualifiers(input: &str, raw: &str) -> Result<BTreeMap<String, String>, PurlError> {
    let mut out = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let bad = || PurlError::Qualifier {
            purl: input.to_string(),
            qualifier: pair.to_string(),
        };
        let (key, value) = pair.split_once('=').ok_or_else(bad)?;
        let key = key.to_ascii_lowercase();
        let key_ok = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
            && !key.starts_with(|c: char| c.is_ascii_digit());
        if !key_ok {
            return Err(bad());
        }
        let value = decode(value).ok_or_else(|| PurlError::Encoding(input.to_string()))?;
        if !value.is_empty() {
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// Drops empty, `.` and `..` segments, as the spec requires of subpaths.
fn clean_subpath(s: &str) -> String {
    let parts: Vec<&str> = s
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    parts.join("/")
}

fn decode_segments(s: &str) -> Option<String> {
    let parts: Option<Vec<String>> = s.split('/').filter(|p| !p.is_empty()).map(decode).collect();
    parts.map(|p| p.join("/"))
}

/// Percent-encodes everything but ASCII letters, digits, `.`, `-`, `_`, `~` and `:`
/// (the colon is left as is, as the spec's canonical form does).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b".-_~:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn encode_keep_slash(s: &str) -> String {
    s.split('/').map(encode).collect::<Vec<_>>().join("/")
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
fn decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex_val(*bytes.get(i + 1)?)?;
            let lo = hex_val(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_scope_is_encoded_in_the_namespace() {
        let p = Purl::new("npm", Some("@angular"), "core", Some("12.3.1")).unwrap();
        assert_eq!(p.to_string(), "pkg:npm/%40angular/core@12.3.1");
        assert_eq!(p.package_name(), "@angular/core");
    }

    #[test]
    fn parse_reads_back_what_display_writes() {
        let p = Purl::new(
            "golang",
            Some("github.com/gorilla"),
            "mux",
            Some("v1.8.0+incompatible"),
        )
        .unwrap()
        .with_qualifier("vcs_url", "git+https://github.com/gorilla/mux.git@abc")
        .with_subpath("sub/dir");
        let text = p.to_string();
        assert_eq!(
            text,
            "pkg:golang/github.com/gorilla/mux@v1.8.0%2Bincompatible\
             ?vcs_url=git%2Bhttps://github.com/gorilla/mux.git%40abc#sub/dir"
        );
        assert_eq!(Purl::parse(&text).unwrap(), p);
    }

    #[test]
    fn qualifiers_are_sorted_and_empty_ones_dropped() {
        let p = Purl::parse("pkg:deb/debian/curl@7.50.3-1?distro=jessie&arch=i386&empty=").unwrap();
        assert_eq!(
            p.to_string(),
            "pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie"
        );
    }

    #[test]
    fn pypi_names_are_normalised() {
        let p = Purl::parse("pkg:pypi/Foo_Bar.baz@1.0").unwrap();
        assert_eq!(p.name(), "foo-bar-baz");
    }

    #[test]
    fn malformed_purls_are_rejected() {
        for bad in [
            "",
            "pkg:",
            "npm/foo@1",
            "pkg:/foo",
            "pkg:npm/",
            "pkg:1x/foo",
            "pkg:npm/a%zz",
            "pkg:npm/a?=x",
            "pkg:npm/a?k",
            "pkg:npm/%ff%fe",
        ] {
            assert!(Purl::parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn scheme_and_type_are_case_insensitive() {
        let p = Purl::parse("PKG:Cargo/serde@1.0.0").unwrap();
        assert_eq!(p.to_string(), "pkg:cargo/serde@1.0.0");
    }
}
