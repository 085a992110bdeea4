//! Executables that carry their own dependency list: Rust binaries built with
//! cargo-auditable and Go binaries (their embedded build information).
//!
//! cargo-auditable stores zlib-compressed JSON (`{"packages": [...]}`, dependencies by
//! index) in a `.dep-v0` section (`__dep_v0` on macOS). Go (1.18 and later) writes a
//! 32-byte header starting `\xff Go buildinf:` at a 16-byte boundary, followed by two
//! length-prefixed strings: the Go version and the module information, whose lines are
//! `path`, `mod`, `dep` and `=>` (a replacement of the `dep` before it), tab-separated.

use std::io::Read as _;

use serde::Deserialize;

use super::{Edge, ParseError, Parsed};
use crate::model::{Component, Ecosystem, Hash, HashAlg, Relation, Scope, Source};

/// The magic that starts Go's build information blob.
const GO_MAGIC: &[u8] = b"\xff Go buildinf:";

/// Decompressed cargo-auditable data larger than this is refused (real ones are a few KB).
const MAX_AUDIT_JSON: u64 = 64 * 1024 * 1024;

/// Whether the bytes start like an executable we may read (ELF, PE, Mach-O).
pub fn looks_executable(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 6] = [
        b"\x7fELF",
        b"MZ",
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
    ];
    MAGICS.iter().any(|m| head.starts_with(m))
}

/// Reads the dependency list a binary carries; an error when it carries none we know.
pub fn parse(data: &[u8]) -> Result<Parsed, ParseError> {
    if let Some(json) = auditable_section(data)? {
        return parse_auditable(&json);
    }
    if let Some(offset) = find_go_magic(data) {
        return parse_go(data, offset);
    }
    Err(ParseError::whole(
        "expected an executable built with cargo-auditable or Go 1.18+, found neither dependency list",
    ))
}

/// The decompressed `.dep-v0` section, when the file is an object file that has one.
fn auditable_section(data: &[u8]) -> Result<Option<Vec<u8>>, ParseError> {
    use object::{Object as _, ObjectSection as _};
    let Ok(file) = object::File::parse(data) else {
        return Ok(None);
    };
    let Some(section) = file
        .section_by_name(".dep-v0")
        .or_else(|| file.section_by_name("__dep_v0"))
    else {
        return Ok(None);
    };
    let compressed = section
        .data()
        .map_err(|e| ParseError::whole(format!("cannot read the `.dep-v0` section: {e}")))?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_AUDIT_JSON)
        .read_to_end(&mut json)
        .map_err(|e| ParseError::whole(format!("the `.dep-v0` section is not zlib data: {e}")))?;
    Ok(Some(json))
}

#[derive(Deserialize)]
struct AuditData {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    source: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    dependencies: Vec<usize>,
    #[serde(default)]
    root: bool,
}

fn parse_auditable(json: &[u8]) -> Result<Parsed, ParseError> {
    let data: AuditData = serde_json::from_slice(json)
        .map_err(|e| ParseError::whole(format!("invalid cargo-auditable JSON: {e}")))?;
    let mut parsed = Parsed::default();
    for p in &data.packages {
        let mut c = Component::new(Ecosystem::Cargo, &p.name, &p.version)
            .map_err(|_| ParseError::whole("cargo-auditable package with an empty name"))?;
        c.source = match p.source.as_deref() {
            Some("crates.io") => Source::Registry { url: None },
            Some("local") => Source::Path {
                path: String::new(),
            },
            _ => Source::Unknown,
        };
        if p.root {
            c.relation = Relation::Root;
        }
        parsed.components.push(c);
    }
    for (p, from) in data.packages.iter().zip(parsed.components.clone()) {
        for &i in &p.dependencies {
            let Some((dep, to)) = data.packages.get(i).zip(parsed.components.get(i)) else {
                return Err(ParseError::whole(format!(
                    "package `{}` depends on index {i}, which is out of range",
                    p.name
                )));
            };
            // Build dependencies (proc macros, build scripts) are not in the binary.
            let scope = if dep.kind.as_deref() == Some("build") {
                Scope::Dev
            } else {
                Scope::Runtime
            };
            parsed.edges.push(Edge {
                from: from.key(),
                to: to.key(),
                scope,
            });
        }
    }
    Ok(parsed)
}

/// The first 16-byte-aligned offset holding Go's magic.
fn find_go_magic(data: &[u8]) -> Option<usize> {
    (0..data.len())
        .step_by(16)
        .find(|&i| data.get(i..i + GO_MAGIC.len()) == Some(GO_MAGIC))
}

fn parse_go(data: &[u8], offset: usize) -> Result<Parsed, ParseError> {
    let header = data
        .get(offset..offset + 32)
        .ok_or_else(|| ParseError::whole("truncated Go build information header"))?;
    let flags = header.get(15).copied().unwrap_or_default();
    // Flag 2: strings follow the header inline (Go 1.18+); older binaries hold pointers.
    if flags & 0x2 == 0 {
        return Err(ParseError::whole(
            "Go build information from before Go 1.18 (pointer form) is not supported",
        ));
    }
    let mut pos = offset + 32;
    let version = read_go_string(data, &mut pos)?;
    let modinfo = read_go_string(data, &mut pos)?;
    // The module information is framed by 16-byte sentinels.
    let modinfo =
        if modinfo.len() >= 33 && modinfo.as_bytes().get(modinfo.len() - 17) == Some(&b'\n') {
            modinfo.get(16..modinfo.len() - 16).unwrap_or_default()
        } else {
            modinfo.as_str()
        };
    go_components(&version, modinfo)
}

fn read_go_string(data: &[u8], pos: &mut usize) -> Result<String, ParseError> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *data
            .get(*pos)
            .ok_or_else(|| ParseError::whole("truncated Go build information"))?;
        *pos += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(ParseError::whole("invalid length in Go build information"));
        }
    }
    let len = usize::try_from(len)
        .map_err(|_| ParseError::whole("invalid length in Go build information"))?;
    let bytes = data
        .get(*pos..pos.saturating_add(len))
        .ok_or_else(|| ParseError::whole("truncated Go build information"))?;
    *pos += len;
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn go_components(go_version: &str, modinfo: &str) -> Result<Parsed, ParseError> {
    let mut parsed = Parsed {
        scopes_known: true,
        ..Parsed::default()
    };
    let mut root: Option<Component> = None;
    let mut deps: Vec<Component> = Vec::new();
    for line in modinfo.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod", path, version, rest @ ..] => {
                let mut c = go_component(path, version, rest.first().copied())?;
                c.relation = Relation::Root;
                root = Some(c);
            }
            ["dep", path, version, rest @ ..] => {
                deps.push(go_component(path, version, rest.first().copied())?)
            }
            ["=>", path, version, rest @ ..] => {
                // A local replacement (`=> ../fork (devel)`) keeps the module it replaces.
                let local =
                    version.is_empty() || *version == "(devel)" || path.starts_with(['.', '/']);
                let replacement = if local {
                    let mut c = deps
                        .last()
                        .cloned()
                        .ok_or_else(|| ParseError::whole("replacement without a module"))?;
                    c.source = Source::Path {
                        path: (*path).to_string(),
                    };
                    c
                } else {
                    go_component(path, version, rest.first().copied())?
                };
                if let Some(last) = deps.last_mut() {
                    *last = replacement;
                }
            }
            _ => {}
        }
    }
    // The standard library the binary was built with, as OSV names it.
    let std_version = go_version
        .trim()
        .strip_prefix("go")
        .map(|v| format!("v{}", v.split(' ').next().unwrap_or(v)));
    if let Some(v) = std_version {
        deps.push(go_component("stdlib", &v, None)?);
    }
    let root_key = root.as_ref().map(Component::key);
    for d in deps {
        if let Some(from) = &root_key {
            parsed.edges.push(Edge {
                from: from.clone(),
                to: d.key(),
                scope: Scope::Runtime,
            });
        }
        parsed.components.push(d);
    }
    parsed.components.extend(root);
    Ok(parsed)
}

fn go_component(path: &str, version: &str, sum: Option<&str>) -> Result<Component, ParseError> {
    let version = if version == "(devel)" { "" } else { version };
    let mut c = Component::new(Ecosystem::Go, path, version)
        .map_err(|_| ParseError::whole("Go module with an empty path"))?;
    c.source = Source::Registry { url: None };
    if let Some(h) = sum.and_then(|s| s.strip_prefix("h1:")).and_then(h1_hash) {
        c.hashes.push(h);
    }
    Ok(c)
}

fn h1_hash(b64: &str) -> Option<Hash> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Hash::from_hex(HashAlg::Sha256, &hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Go 1.18+ build information blob, as the linker lays it out.
    fn go_blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut data = vec![0u8; 48];
        data.extend_from_slice(GO_MAGIC);
        data.push(8); // pointer size
        data.push(0x2); // inline strings
        data.resize(48 + 32, 0);
        for s in [version.as_bytes(), modinfo.as_bytes()] {
            // Unsigned LEB128 length, as Go's `binary.PutUvarint` writes it.
            let mut len = s.len();
            while len >= 0x80 {
                data.push(u8::try_from(len & 0x7f).unwrap() | 0x80);
                len >>= 7;
            }
            data.push(u8::try_from(len).unwrap());
            data.extend_from_slice(s);
        }
        data
    }

    #[test]
    fn go_build_information_gives_module_deps_replacements_and_stdlib() {
        let sentinel = "0123456789abcdef";
        let modinfo = format!(
            "{sentinel}path\texample.com/cmd\nmod\texample.com/cmd\t(devel)\t\n\
             dep\tgithub.com/a/b\tv1.2.3\th1:TuBL49tXwgrFYWhqrNgrUNEY92u81SPhu7sTdzQEiWY=\n\
             dep\tgolang.org/x/net\tv0.1.0\th1:x\n=>\tgithub.com/fork/net\tv0.2.0\th1:y\n\
             build\t-compiler=gc\n{}",
            "\n".to_string() + sentinel
        );
        let p = parse(&go_blob("go1.22.5", &modinfo)).unwrap();
        let keys: Vec<String> = p.components.iter().map(Component::key).collect();
        assert_eq!(
            keys,
            vec![
                "pkg:golang/github.com/a/b@v1.2.3",
                "pkg:golang/github.com/fork/net@v0.2.0",
                "pkg:golang/stdlib@v1.22.5",
                "pkg:golang/example.com/cmd",
            ]
        );
        assert_eq!(p.components[0].hashes.len(), 1);
        assert_eq!(p.edges.len(), 3);
    }

    #[test]
    fn old_go_pointer_form_and_truncated_blobs_are_errors() {
        let mut old = go_blob("go1.17", "");
        old[48 + 15] = 0;
        assert!(parse(&old).unwrap_err().message.contains("before Go 1.18"));
        let mut cut = go_blob("go1.22.5", "x");
        cut.truncate(48 + 34);
        assert!(parse(&cut).is_err());
        assert!(parse(b"not a binary").is_err());
    }

    #[test]
    fn auditable_json_with_out_of_range_dependency_is_an_error() {
        let json =
            br#"{"packages":[{"name":"a","version":"1.0.0","dependencies":[5],"root":true}]}"#;
        assert!(parse_auditable(json).is_err());
        let ok = br#"{"packages":[{"name":"a","version":"1.0.0","dependencies":[1],"root":true},
                      {"name":"b","version":"2.0.0","source":"crates.io","kind":"build"}]}"#;
        let p = parse_auditable(ok).unwrap();
        assert_eq!(p.edges[0].scope, Scope::Dev);
    }
}
