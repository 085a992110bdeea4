//! Policy path patterns: exact paths, a trailing `*` glob, and `+` segments.
//!
//! `secret/foo` matches only itself; `secret/foo*` matches every path that starts with
//! `secret/foo`; `secret/+/config` matches `secret/<any one segment>/config`. A `+` is a
//! wildcard only as a whole segment; `*` only as the last character.
//!
//! When several wildcard patterns match a path, Vault's priority order picks one. For two
//! matching patterns P1 and P2, P1 has the lower priority when, checked in this order:
//! 1. its first wildcard (`+` or `*`) comes earlier;
//! 2. it ends in `*` and P2 does not;
//! 3. it has more `+` segments;
//! 4. it is shorter;
//! 5. it sorts before P2.
//!
//! An exact pattern beats every wildcard.

use std::cmp::Ordering;

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    raw: String,
    kind: Kind,
    /// Byte offset of the first wildcard; the length for an exact pattern.
    first_wildcard: usize,
    ends_glob: bool,
    plus_segments: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    /// A trailing glob without `+` segments: the text before the `*`.
    Prefix(String),
    /// With `+` segments; `glob` when the last segment is a prefix (the pattern ended in `*`).
    Segments {
        segs: Vec<String>,
        glob: bool,
    },
}

/// Checks a pattern as written in a policy; the error says what is wrong (without the path,
/// which the caller names).
pub fn validate(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err("the path is empty".into());
    }
    if raw.len() > 1024 {
        return Err("the path is longer than 1024 bytes".into());
    }
    if raw.chars().any(char::is_control) {
        return Err("the path contains a control character".into());
    }
    if let Some(i) = raw.find('*') {
        if i != raw.len() - 1 {
            return Err("`*` is only allowed as the last character of a path".into());
        }
    }
    Ok(())
}

impl Pattern {
    /// Compiles a pattern (validated by [`validate`]).
    pub fn new(raw: &str) -> Self {
        let ends_glob = raw.ends_with('*');
        let body = raw.strip_suffix('*').unwrap_or(raw);
        let segs: Vec<String> = body.split('/').map(str::to_owned).collect();
        let mut first_plus = None;
        let mut offset = 0;
        for s in &segs {
            if s == "+" && first_plus.is_none() {
                first_plus = Some(offset);
            }
            offset += s.len() + 1;
        }
        let plus_segments = segs.iter().filter(|s| *s == "+").count();
        let first_wildcard = match (first_plus, ends_glob) {
            (Some(i), _) => i,
            (None, true) => raw.len() - 1,
            (None, false) => raw.len(),
        };
        let kind = if plus_segments > 0 {
            Kind::Segments {
                segs,
                glob: ends_glob,
            }
        } else if ends_glob {
            Kind::Prefix(body.to_owned())
        } else {
            Kind::Exact
        };
        Self {
            raw: raw.to_owned(),
            kind,
            first_wildcard,
            ends_glob,
            plus_segments,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the pattern has no wildcard.
    pub fn is_exact(&self) -> bool {
        self.kind == Kind::Exact
    }

    /// Whether `path` (no leading `/`) matches.
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => self.raw == path,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Segments { segs, glob } => {
                let parts: Vec<&str> = path.split('/').collect();
                if parts.len() < segs.len() || (!glob && parts.len() != segs.len()) {
                    return false;
                }
                let last = segs.len() - 1;
                segs.iter().zip(&parts).enumerate().all(|(i, (seg, part))| {
                    if seg == "+" {
                        true
                    } else if *glob && i == last {
                        part.starts_with(seg.as_str())
                    } else {
                        seg == part
                    }
                })
            }
        }
    }

    /// Compares the priority of two patterns: `Greater` when `self` wins over `other`.
    pub fn priority_cmp(&self, other: &Pattern) -> Ordering {
        self.first_wildcard
            .cmp(&other.first_wildcard)
            .then_with(|| other.ends_glob.cmp(&self.ends_glob))
            .then_with(|| other.plus_segments.cmp(&self.plus_segments))
            .then_with(|| self.raw.len().cmp(&other.raw.len()))
            .then_with(|| self.raw.cmp(&other.raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Pattern::new(p).matches(path)
    }

    #[test]
    fn exact_glob_and_segment_matching() {
        assert!(m("secret/foo", "secret/foo"));
        assert!(!m("secret/foo", "secret/foo/bar"));
        assert!(!m("secret/foo", "secret/fo"));
        assert!(m("secret/foo*", "secret/foo"));
        assert!(m("secret/foo*", "secret/foobar"));
        assert!(m("secret/foo*", "secret/foo/bar/baz"));
        assert!(!m("secret/foo*", "secret/fo"));
        assert!(m("*", "anything/at/all"));
        assert!(m("secret/+/teamb", "secret/a/teamb"));
        assert!(!m("secret/+/teamb", "secret/a/b/teamb"));
        assert!(!m("secret/+/teamb", "secret/a/teamc"));
        assert!(m("secret/+/+/teamb", "secret/x/y/teamb"));
        assert!(m("secret/+/foo*", "secret/a/food/more"));
        assert!(!m("secret/+/foo*", "secret/a/fo/od"));
        assert!(m("secret/+/*", "secret/a/b/c"));
        assert!(m("secret/+*", "secret/a/b"));
        assert!(m("+/config", "kv/config"));
        assert!(!m("+/config", "config"));
        // A `+` inside a segment is literal.
        assert!(m("c++/x", "c++/x"));
        assert!(!m("c++/x", "cxx/x"));
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(validate("secret/*").is_ok());
        assert!(validate("secret/+/x").is_ok());
        assert!(validate("").unwrap_err().contains("empty"));
        assert!(validate("secret/*/x")
            .unwrap_err()
            .contains("last character"));
        assert!(validate("secret/\nx").unwrap_err().contains("control"));
    }

    fn higher(a: &str, b: &str) -> bool {
        Pattern::new(a).priority_cmp(&Pattern::new(b)) == Ordering::Greater
    }

    #[test]
    fn priority_follows_vaults_order() {
        // The documented example: same first wildcard, both globs, fewer `+` wins.
        assert!(higher("secret/*", "secret/+/+/foo/*"));
        // Rule 1: a later first wildcard wins.
        assert!(higher("secret/foo/*", "secret/*"));
        assert!(higher("secret/a/+", "secret/+/b"));
        // Rule 2: not ending in `*` wins.
        assert!(higher("secret/+", "secret/+*"));
        assert!(higher("secret/+/foo", "secret/+/*"));
        // Rule 3: fewer `+` segments.
        assert!(higher("secret/+/foo/bar", "secret/+/+/bar"));
        // Rule 4: longer wins.
        assert!(higher("secret/+/foobar", "secret/+/foo"));
        // Rule 5: lexicographically larger wins.
        assert!(higher("secret/+/b", "secret/+/a"));
        // Longest prefix among plain globs.
        assert!(higher("secret/foo*", "secret/fo*"));
    }
}
