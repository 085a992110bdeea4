//! Pinned pip requirements files (`requirements*.txt`), with `-r` and `-c` includes.
//!
//! A line is a PEP 508 requirement, optionally continued with `\`, followed by options such
//! as `--hash=sha256:...`; `#` starts a comment. Only pinned requirements (`==` or `===`)
//! name a version; an unpinned one takes its version from a constraints file (`-c`) when
//! one pins it, else it is left out and counted in [`Requirements::unpinned`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::python::{pep508_name, prefixed_hash};
use super::{Edge, ParseError, Parsed, PROJECT};
use crate::model::{normalise_pypi_name, Component, Ecosystem, Hash, Scope, Source};

/// One requirements file, read without following its includes.
#[derive(Debug, Default)]
pub struct Requirements {
    /// The pinned components, each a direct dependency of the project.
    pub parsed: Parsed,
    /// `-r` includes: (line, path as written).
    pub includes: Vec<(usize, String)>,
    /// `-c` constraints files: (line, path as written).
    pub constraints: Vec<(usize, String)>,
    /// Requirements without a pin: (line, name).
    pub unpinned: Vec<(usize, String)>,
}

/// A requirement line, once continuations and comments are removed.
struct Requirement {
    name: String,
    version: Option<String>,
    git: Option<Source>,
    hashes: Vec<Hash>,
}

pub(super) fn parse(text: &str) -> Result<Requirements, ParseError> {
    let mut out = Requirements {
        parsed: Parsed {
            scopes_known: true,
            ..Parsed::default()
        },
        ..Requirements::default()
    };
    for (line_no, line) in logical_lines(text) {
        if let Some(path) = option_value(&line, &["-r", "--requirement"]) {
            out.includes.push((line_no, path));
            continue;
        }
        if let Some(path) = option_value(&line, &["-c", "--constraint"]) {
            out.constraints.push((line_no, path));
            continue;
        }
        // Other options (`--index-url`, `-e`, `--hash` on its own line) name no package.
        if line.starts_with('-') {
            continue;
        }
        let req = requirement(&line).ok_or_else(|| {
            ParseError::at(
                line_no,
                format!("expected a requirement `name==version`, found `{line}`"),
            )
        })?;
        match (&req.version, &req.git) {
            (None, None) => out.unpinned.push((line_no, req.name)),
            _ => {
                let version = req.version.as_deref().unwrap_or_default();
                let mut c = Component::new(Ecosystem::PyPI, &req.name, version)
                    .map_err(|_| ParseError::at(line_no, "requirement with an empty name"))?;
                if let Some(git) = req.git {
                    c = c.with_source(git);
                }
                c.hashes = req.hashes;
                out.parsed.edges.push(Edge {
                    from: PROJECT.to_string(),
                    to: c.key(),
                    scope: Scope::Runtime,
                });
                out.parsed.components.push(c);
            }
        }
    }
    Ok(out)
}

/// Joins `\` continuations and strips comments; yields (first line number, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if current.is_empty() {
            start = i + 1;
        }
        // A comment starts at `#` at the line start or after whitespace (PEP 508 URLs keep `#`).
        let without_comment = match raw
            .find(" #")
            .map(|p| p + 1)
            .or_else(|| raw.starts_with('#').then_some(0))
        {
            Some(p) => raw.get(..p).unwrap_or_default(),
            None => raw,
        };
        let (body, continued) = match without_comment.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (without_comment, false),
        };
        current.push_str(body.trim());
        current.push(' ');
        if !continued {
            let line = current.trim().to_string();
            if !line.is_empty() {
                out.push((start, line));
            }
            current.clear();
        }
    }
    let line = current.trim().to_string();
    if !line.is_empty() {
        out.push((start, line));
    }
    out
}

/// The value of `-r file`, `-rfile`, `--requirement=file` or `--requirement file`.
fn option_value(line: &str, names: &[&str]) -> Option<String> {
    for name in names {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let rest = rest.strip_prefix('=').unwrap_or(rest);
        let short_glued = name.len() == 2 && !rest.starts_with(char::is_whitespace);
        if rest.starts_with(char::is_whitespace)
            || short_glued
            || line.starts_with(&format!("{name}="))
        {
            let value = rest.split_whitespace().next()?;
            return Some(value.to_string());
        }
    }
    None
}

/// Reads `name[extras] ==version ; markers --hash=alg:hex ...` or `name @ git+URL@ref`.
fn requirement(line: &str) -> Option<Requirement> {
    let name = pep508_name(line)?;
    let mut hashes = Vec::new();
    let mut spec_parts = Vec::new();
    for token in line.split_whitespace() {
        if let Some(h) = token.strip_prefix("--hash=") {
            hashes.push(prefixed_hash(h)?);
        } else if !token.starts_with("--") {
            spec_parts.push(token);
        }
    }
    let spec = spec_parts.join(" ");
    // Markers do not change which version is pinned.
    let spec = spec.split_once(';').map_or(spec.as_str(), |(s, _)| s);
    let name_end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(spec.len());
    let after_name = spec.get(name_end..).unwrap_or_default();
    let after_extras = match after_name.trim_start().strip_prefix('[') {
        Some(r) => r.split_once(']').map(|(_, r)| r)?,
        None => after_name,
    };
    let constraint = after_extras
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    if let Some(url) = constraint.strip_prefix('@') {
        let url = url.trim();
        let git = url.starts_with("git+").then(|| git_url(url));
        return Some(Requirement {
            name,
            version: None,
            git,
            hashes,
        });
    }
    let version = pinned_version(constraint);
    Some(Requirement {
        name,
        version,
        git: None,
        hashes,
    })
}

/// `==1.0` or `===1.0`, alone (a range such as `>=1,<2` is not a pin; nor is `==1.*`).
fn pinned_version(constraint: &str) -> Option<String> {
    if constraint.contains(',') {
        return None;
    }
    let v = constraint
        .strip_prefix("===")
        .or_else(|| constraint.strip_prefix("=="))?
        .trim();
    (!v.is_empty() && !v.contains('*')).then(|| v.to_string())
}

/// `git+https://host/o/r.git@ref#egg=x` as a git source.
fn git_url(url: &str) -> Source {
    let url = url.trim_start_matches("git+");
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    // The `@ref` comes after the path, not in the `user@host` part.
    let path_start = url.find("://").map_or(0, |p| p + 3);
    let (base, reference) = match url
        .get(path_start..)
        .and_then(|rest| rest.rfind('@').map(|i| i + path_start))
    {
        Some(at) if url.get(path_start..at).is_some_and(|s| s.contains('/')) => {
            (url.get(..at).unwrap_or(url), url.get(at + 1..))
        }
        _ => (url, None),
    };
    let is_commit =
        reference.is_some_and(|r| r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()));
    Source::Git {
        url: base.to_string(),
        reference: reference.filter(|_| !is_commit).map(str::to_string),
        commit: reference.filter(|_| is_commit).map(str::to_string),
    }
}

/// What reading a requirements file and everything it includes gave.
#[derive(Debug, Default)]
pub struct RequirementsTree {
    /// The components of all files read.
    pub parsed: Parsed,
    /// Every file read, the first one included.
    pub files: Vec<PathBuf>,
    /// Files that could not be read: (path, error).
    pub errors: Vec<(PathBuf, ParseError)>,
    /// Unpinned requirements: (file, line, name).
    pub unpinned: Vec<(PathBuf, usize, String)>,
}

/// Reads a requirements file and follows its `-r` includes (each file once) and `-c`
/// constraints, relative to the including file's folder.
pub fn parse_requirements_file(
    path: &Path,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> RequirementsTree {
    let mut tree = RequirementsTree::default();
    let mut seen = BTreeSet::new();
    let mut pins: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = vec![path.to_path_buf()];
    let mut unpinned_raw = Vec::new();
    while let Some(file) = queue.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let text = match read(&file) {
            Ok(t) => t,
            Err(e) => {
                tree.errors.push((
                    file,
                    ParseError::whole(format!("cannot read included file: {e}")),
                ));
                continue;
            }
        };
        let reqs = match parse(&text) {
            Ok(r) => r,
            Err(e) => {
                tree.errors.push((file, e));
                continue;
            }
        };
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        queue.extend(reqs.includes.iter().rev().map(|(_, p)| dir.join(p)));
        for (_, c) in &reqs.constraints {
            let cfile = dir.join(c);
            match read(&cfile).ok().and_then(|t| parse(&t).ok()) {
                Some(cons) => {
                    for comp in cons.parsed.components {
                        pins.insert(comp.name, comp.version);
                    }
                }
                None => tree
                    .errors
                    .push((cfile, ParseError::whole("cannot read constraints file"))),
            }
        }
        unpinned_raw.extend(reqs.unpinned.into_iter().map(|(l, n)| (file.clone(), l, n)));
        tree.parsed.components.extend(reqs.parsed.components);
        tree.parsed.edges.extend(reqs.parsed.edges);
        tree.files.push(file);
    }

    // Constraints pin what the requirements left open.
    for (file, line, name) in unpinned_raw {
        match pins.get(&normalise_pypi_name(&name)) {
            Some(v) => {
                if let Ok(c) = Component::new(Ecosystem::PyPI, &name, v) {
                    tree.parsed.edges.push(Edge {
                        from: PROJECT.to_string(),
                        to: c.key(),
                        scope: Scope::Runtime,
                    });
                    tree.parsed.components.push(c);
                }
            }
            None => tree.unpinned.push((file, line, name)),
        }
    }
    tree.parsed.scopes_known = true;
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_hashes_and_markers_are_read() {
        let text = "Foo_Bar==1.2.3 ; python_version < \"3.12\" \\\n    --hash=sha256:\
                    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n    # via x\n";
        let r = parse(text).unwrap();
        let c = &r.parsed.components[0];
        assert_eq!((c.name.as_str(), c.version.as_str()), ("foo-bar", "1.2.3"));
        assert_eq!(c.hashes.len(), 1);
    }

    #[test]
    fn includes_and_constraints_are_collected() {
        let r =
            parse("-r base.txt\n--requirement=dev.txt\n-cconstraints.txt\nrequests>=2\n").unwrap();
        assert_eq!(
            r.includes,
            vec![(1, "base.txt".to_string()), (2, "dev.txt".to_string())]
        );
        assert_eq!(r.constraints, vec![(3, "constraints.txt".to_string())]);
        assert_eq!(r.unpinned, vec![(4, "requests".to_string())]);
    }

    #[test]
    fn git_requirement_keeps_its_ref() {
        let r = parse("pkg @ git+https://github.com/o/r.git@v1.0#egg=pkg\n").unwrap();
        assert_eq!(
            r.parsed.components[0].source,
            Source::Git {
                url: "https://github.com/o/r.git".into(),
                reference: Some("v1.0".into()),
                commit: None
            }
        );
    }

    #[test]
    fn malformed_lines_fail_with_their_line() {
        let err = parse("ok==1\n==2\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(parse("a==1 --hash=sha256:nothex\n").is_err());
    }
}
