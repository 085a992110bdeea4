//! `Gemfile.lock` (and `gems.locked`): `GEM`, `GIT` and `PATH` source sections, each with
//! its remotes and `specs`, then `DEPENDENCIES` (the Gemfile's own) and `CHECKSUMS`.
//!
//! A spec is `    name (version)` or `    name (version-platform)`; its dependencies follow,
//! indented by six spaces.

use std::collections::BTreeMap;

use super::{Edge, ParseError, Parsed, PROJECT};
use crate::model::{Component, Ecosystem, Hash, HashAlg, Scope, Source};

#[derive(Default, Clone)]
struct Section {
    kind: String,
    remotes: Vec<String>,
    revision: Option<String>,
    reference: Option<String>,
}

struct Spec {
    name: String,
    version: String,
    platform: Option<String>,
    section: Section,
    deps: Vec<String>,
}

pub(super) fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut specs: Vec<Spec> = Vec::new();
    let mut direct: Vec<String> = Vec::new();
    let mut checksums: BTreeMap<(String, String), Hash> = BTreeMap::new();
    let mut section = Section::default();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        if indent == 0 {
            section = Section {
                kind: body.to_string(),
                ..Section::default()
            };
            continue;
        }
        match section.kind.as_str() {
            "GEM" | "GIT" | "PATH" | "PLUGIN SOURCE" => match indent {
                2 => read_source_field(&mut section, body),
                4 => {
                    let (name, version) = name_and_paren(body).ok_or_else(|| {
                        ParseError::at(
                            line_no,
                            format!("expected `name (version)`, found `{body}`"),
                        )
                    })?;
                    let (version, platform) = split_platform(&version);
                    specs.push(Spec {
                        name,
                        version,
                        platform,
                        section: section.clone(),
                        deps: Vec::new(),
                    });
                }
                _ => {
                    let name = body
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    if let Some(spec) = specs.last_mut() {
                        spec.deps.push(name);
                    }
                }
            },
            "DEPENDENCIES" if indent == 2 => {
                let name = body.split_whitespace().next().unwrap_or_default();
                direct.push(name.trim_end_matches('!').to_string());
            }
            "CHECKSUMS" if indent == 2 => {
                let Some((head, sum)) = body.rsplit_once(' ') else {
                    continue;
                };
                let Some((name, version)) = name_and_paren(head) else {
                    continue;
                };
                let Some(hex) = sum.strip_prefix("sha256=") else {
                    continue;
                };
                if let Some(h) = Hash::from_hex(HashAlg::Sha256, hex) {
                    checksums.insert((name, version), h);
                }
            }
            _ => {}
        }
    }
    build(specs, &direct, &checksums)
}

fn build(
    specs: Vec<Spec>,
    direct: &[String],
    checksums: &BTreeMap<(String, String), Hash>,
) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed::default();
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for s in &specs {
        let mut c = Component::new(Ecosystem::RubyGems, &s.name, &s.version)
            .map_err(|_| ParseError::whole("spec with an empty name"))?;
        if let Some(p) = &s.platform {
            c.purl = c.purl.with_qualifier("platform", p);
        }
        c = c.with_source(source(&s.section));
        let full_version = match &s.platform {
            Some(p) => format!("{}-{p}", s.version),
            None => s.version.clone(),
        };
        if let Some(h) = checksums.get(&(s.name.clone(), full_version)) {
            c.hashes.push(h.clone());
        }
        by_name.entry(s.name.clone()).or_insert_with(|| c.key());
        parsed.components.push(c);
    }
    for (s, c) in specs.iter().zip(parsed.components.clone()) {
        for d in &s.deps {
            if let Some(to) = by_name.get(d) {
                parsed.edges.push(Edge {
                    from: c.key(),
                    to: to.clone(),
                    scope: Scope::Runtime,
                });
            }
        }
    }
    for d in direct {
        if let Some(to) = by_name.get(d) {
            parsed.edges.push(Edge {
                from: PROJECT.to_string(),
                to: to.clone(),
                scope: Scope::Runtime,
            });
        }
    }
    Ok(parsed)
}

fn read_source_field(section: &mut Section, body: &str) {
    let Some((key, value)) = body.split_once(':') else {
        return;
    };
    let value = value.trim().to_string();
    match key {
        "remote" => section.remotes.push(value),
        "revision" => section.revision = Some(value),
        "tag" | "branch" | "ref" => section.reference = Some(value),
        _ => {}
    }
}

fn source(section: &Section) -> Source {
    let remote = section.remotes.first().cloned().unwrap_or_default();
    match section.kind.as_str() {
        "GIT" => Source::Git {
            url: remote,
            reference: section.reference.clone(),
            commit: section.revision.clone(),
        },
        "PATH" => Source::Path { path: remote },
        _ => {
            let default = section.remotes.is_empty()
                || section
                    .remotes
                    .iter()
                    .any(|r| r.trim_end_matches('/') == "https://rubygems.org");
            Source::Registry {
                url: (!default).then_some(remote),
            }
        }
    }
}

/// `name (inside)` into (name, inside).
fn name_and_paren(s: &str) -> Option<(String, String)> {
    let (name, rest) = s.split_once(" (")?;
    let inside = rest.strip_suffix(')')?;
    (!name.is_empty() && !inside.is_empty()).then(|| (name.to_string(), inside.to_string()))
}

/// `1.15.6-x86_64-linux` into version and platform; RubyGems versions have no `-` of
/// their own in lockfiles, so the first `-` starts the platform.
fn split_platform(v: &str) -> (String, Option<String>) {
    match v.split_once('-') {
        Some((version, platform)) if !platform.is_empty() => {
            (version.to_string(), Some(platform.to_string()))
        }
        _ => (v.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_gems_carry_a_platform_qualifier() {
        let text = "GEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.15.6-x86_64-linux)\n      racc (~> 1.4)\n    racc (1.7.3)\n\nDEPENDENCIES\n  nokogiri\n";
        let p = parse(text).unwrap();
        let keys: Vec<String> = p.components.iter().map(Component::key).collect();
        assert!(
            keys.contains(&"pkg:gem/nokogiri@1.15.6?platform=x86_64-linux".to_string()),
            "{keys:?}"
        );
        assert_eq!(p.edges.len(), 2);
    }

    #[test]
    fn spec_without_version_fails_at_its_line() {
        let err = parse("GEM\n  specs:\n    rails\n").unwrap_err();
        assert_eq!(err.line, Some(3));
    }
}
