//! Malformed input: every reader, given truncated and corrupted copies of every lockfile
//! fixture, returns components or an error, and never panics. (The fuzz targets in
//! `fuzz/fuzz_targets/sbom_*.rs` explore further; this runs in every `cargo test`.)

use std::path::{Path, PathBuf};

use seawall_supply::readers::{parse, parse_binary, FileKind};

fn lockfiles() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_none_or(|e| e != "md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lockfiles"),
        &mut out,
    );
    out.sort();
    out
}

/// Deterministic corruptions: cuts at a spread of offsets, and bytes replaced by characters
/// that matter to the formats (quotes, brackets, separators, newlines).
fn variants(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let len = text.len();
    let step = (len / 23).max(1);
    let specials = [
        '"', '{', '[', ':', '\n', '@', '/', '#', ' ', '=', '(', '-', '\'', '\t',
    ];
    for (n, cut) in (0..len).step_by(step).enumerate() {
        if text.is_char_boundary(cut) {
            out.push(text[..cut].to_string());
            let mut corrupted = text.to_string();
            let at = (cut..len)
                .find(|i| corrupted.is_char_boundary(*i) && corrupted.is_char_boundary(i + 1));
            if let Some(at) = at {
                corrupted.replace_range(at..at + 1, &specials[n % specials.len()].to_string());
                out.push(corrupted);
            }
        }
    }
    out
}

#[test]
fn every_reader_survives_truncated_and_corrupted_lockfiles() {
    let mut runs = 0;
    for path in lockfiles() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        // Big files: the first 40 KB is where the structure is; keep the test quick.
        let text: String = text.chars().take(40_000).collect();
        for variant in variants(&text) {
            for kind in FileKind::ALL {
                let _ = parse(kind, &variant, Some(&variant));
                runs += 1;
            }
        }
    }
    assert!(runs > 10_000, "only {runs} runs");
}

#[test]
fn the_binary_reader_survives_truncated_executables() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binaries/audhello/audhello");
    let data = std::fs::read(path).unwrap();
    assert!(parse_binary(&data).is_ok());
    for cut in (0..data.len()).step_by(data.len() / 97) {
        let _ = parse_binary(&data[..cut]);
        let mut flipped = data.clone();
        flipped[cut] ^= 0xff;
        let _ = parse_binary(&flipped);
    }
}
