//! `go.mod`, with the hashes of `go.sum` beside it.
//!
//! `require` lines give the module's dependencies (those marked `// indirect` are
//! transitive); `replace` directives swap a module for another module version, which is
//! what gets built, or for a local folder. Versions keep their `v` and are taken verbatim,
//! pseudo-versions and `+incompatible` included.

use std::collections::BTreeMap;

use super::{Edge, ParseError, Parsed};
use crate::model::{Component, Ecosystem, Hash, HashAlg, Relation, Scope, Source};

struct Require {
    path: String,
    version: String,
    indirect: bool,
}

/// A `replace` target: another module version, or a local folder.
enum Target {
    Module(String, String),
    Local(String),
}

pub(super) fn parse(text: &str, go_sum: Option<&str>) -> Result<Parsed, ParseError> {
    let mut module = None;
    let mut requires = Vec::new();
    // Keyed by (path, version or "" for every version).
    let mut replaces: BTreeMap<(String, String), Target> = BTreeMap::new();
    let mut block: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let (code, comment) = match raw.split_once("//") {
            Some((c, m)) => (c.trim(), m.trim()),
            None => (raw.trim(), ""),
        };
        if code.is_empty() {
            continue;
        }
        if code == ")" {
            block = None;
            continue;
        }
        let (verb, rest) = match &block {
            Some(b) => (b.as_str(), code),
            None => code.split_once(char::is_whitespace).unwrap_or((code, "")),
        };
        let rest = rest.trim();
        if block.is_none() && rest == "(" {
            block = Some(verb.to_string());
            continue;
        }
        match verb {
            "module" => module = Some(unquote(rest)),
            "require" => {
                let mut parts = rest.split_whitespace();
                let (Some(path), Some(version)) = (parts.next(), parts.next()) else {
                    return Err(ParseError::at(
                        line_no,
                        format!("expected `module/path vX.Y.Z`, found `{rest}`"),
                    ));
                };
                let indirect = comment.split(';').any(|c| c.trim() == "indirect");
                requires.push(Require {
                    path: unquote(path),
                    version: version.to_string(),
                    indirect,
                });
            }
            "replace" => {
                let (old, new) = replace_directive(rest).ok_or_else(|| {
                    ParseError::at(
                        line_no,
                        format!("expected `old [version] => new [version]`, found `{rest}`"),
                    )
                })?;
                replaces.insert(old, new);
            }
            _ => {}
        }
    }
    let Some(module) = module else {
        return Err(ParseError::whole("expected a `module` directive"));
    };

    let sums = go_sum.map(read_go_sum).unwrap_or_default();
    let mut root = Component::new(Ecosystem::Go, &module, "")
        .map_err(|_| ParseError::whole("empty module path"))?;
    root.relation = Relation::Root;
    root.source = Source::Path {
        path: ".".to_string(),
    };
    let mut parsed = Parsed {
        scopes_known: true,
        ..Parsed::default()
    };
    for r in requires {
        let target = replaces
            .get(&(r.path.clone(), r.version.clone()))
            .or_else(|| replaces.get(&(r.path.clone(), String::new())));
        let mut c = match target {
            Some(Target::Module(path, version)) => Component::new(Ecosystem::Go, path, version),
            _ => Component::new(Ecosystem::Go, &r.path, &r.version),
        }
        .map_err(|_| ParseError::whole(format!("empty module path in requirement `{}`", r.path)))?;
        if let Some(Target::Local(dir)) = target {
            c.source = Source::Path { path: dir.clone() };
        }
        if let Some(h) = sums.get(&(c.name.clone(), c.version.clone())) {
            c.hashes.push(h.clone());
        }
        c.relation = if r.indirect {
            Relation::Transitive
        } else {
            Relation::Direct
        };
        parsed.edges.push(Edge {
            from: root.key(),
            to: c.key(),
            scope: Scope::Runtime,
        });
        parsed.components.push(c);
    }
    parsed.components.push(root);
    Ok(parsed)
}

/// `old [version] => new [version]`; a target without a version is a local folder.
fn replace_directive(rest: &str) -> Option<((String, String), Target)> {
    let (old, new) = rest.split_once("=>")?;
    let mut old = old.split_whitespace();
    let old_path = unquote(old.next()?);
    let old_version = old.next().unwrap_or_default().to_string();
    let mut new = new.split_whitespace();
    let new_path = unquote(new.next()?);
    let target = match new.next() {
        Some(v) => Target::Module(new_path, v.to_string()),
        None => Target::Local(new_path),
    };
    Some(((old_path, old_version), target))
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').trim_matches('`').to_string()
}

/// `go.sum` lines `path version h1:<base64 SHA-256>`; the `/go.mod` lines hash only the
/// module's go.mod and are skipped.
fn read_go_sum(text: &str) -> BTreeMap<(String, String), Hash> {
    use base64::Engine as _;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(path), Some(version), Some(sum)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if version.ends_with("/go.mod") {
            continue;
        }
        let Some(b64) = sum.strip_prefix("h1:") else {
            continue;
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        if let Some(h) = Hash::from_hex(HashAlg::Sha256, &hex::encode(bytes)) {
            out.insert((path.to_string(), version.to_string()), h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_with_module_version_swaps_the_component() {
        let text = "module example.com/m\nrequire golang.org/x/net v0.1.0\n\
                    replace golang.org/x/net => github.com/fork/net v0.2.0\n";
        let p = parse(text, None).unwrap();
        assert!(p
            .components
            .iter()
            .any(|c| c.name == "github.com/fork/net" && c.version == "v0.2.0"));
        assert!(!p.components.iter().any(|c| c.name == "golang.org/x/net"));
    }

    #[test]
    fn go_mod_without_module_is_an_error() {
        assert!(parse("require a v1\n", None).is_err());
    }

    #[test]
    fn require_without_version_fails_at_its_line() {
        let err = parse("module m\n\nrequire (\n  a\n)\n", None).unwrap_err();
        assert_eq!(err.line, Some(4));
    }
}
