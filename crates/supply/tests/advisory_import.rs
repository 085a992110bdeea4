//! Importing OSV records: real databases, incremental re-import, withdrawn records, zip
//! exports and malformed input.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use seawall_supply::advisory::AdvisoryIndex;
use seawall_supply::scan::{component_from_purl, match_components};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/advisories")
}

fn record_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(record_files(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("json" | "yaml")
        ) {
            out.push(path);
        }
    }
    out
}

#[test]
fn real_databases_import_without_errors() {
    let mut index = AdvisoryIndex::open_in_memory().unwrap();
    let report = index.import(&[fixtures()]).unwrap();
    let files = record_files(&fixtures()).len();

    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.added.len(), files);
    assert_eq!(index.len().unwrap(), files);
    // PYSEC-2021-371 lists `0.2.0-n653`, which is not a PEP 440 version: that range is left
    // out and said so, the record is kept.
    assert!(report
        .warnings
        .iter()
        .any(|w| w.id.as_deref() == Some("PYSEC-2021-371")));
}

#[test]
fn reimport_of_the_same_records_changes_nothing() {
    let mut index = AdvisoryIndex::open_in_memory().unwrap();
    let first = index.import(&[fixtures()]).unwrap();
    let second = index.import(&[fixtures()]).unwrap();

    assert!(second.changed().is_empty());
    assert_eq!(second.unchanged, first.added.len());
}

#[test]
fn later_modified_record_replaces_the_stored_one_and_is_listed_as_changed() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixtures()
        .join("ghsa-npm-sample/advisories/github-reviewed/2023/11/GHSA-wf5p-g6vw-rhxx")
        .join("GHSA-wf5p-g6vw-rhxx.json");
    let mut index = AdvisoryIndex::open(dir.path().join("adv.db")).unwrap();
    index.import(&[&original]).unwrap();
    let axios = [component_from_purl("pkg:npm/axios@1.6.1").unwrap()];
    assert!(match_components(&index, &axios, None).unwrap().is_empty());

    // The same record, later, now saying 1.6.1 is affected too.
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&original).unwrap()).unwrap();
    record["modified"] = "2030-01-01T00:00:00Z".into();
    record["affected"][0]["ranges"][0]["events"][1]["fixed"] = "1.6.2".into();
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, record.to_string()).unwrap();
    let report = index.import(&[&newer]).unwrap();

    assert_eq!(report.changed(), vec!["GHSA-wf5p-g6vw-rhxx".to_owned()]);
    assert_eq!(report.updated, vec!["GHSA-wf5p-g6vw-rhxx".to_owned()]);
    assert_eq!(match_components(&index, &axios, None).unwrap().len(), 1);

    // An older copy arriving afterwards does not roll the record back.
    let report = index.import(&[&original]).unwrap();
    assert_eq!(report.unchanged, 1);
    assert_eq!(match_components(&index, &axios, None).unwrap().len(), 1);
}

#[test]
fn withdrawn_record_matches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixtures().join("rustsec-osv/crates/RUSTSEC-2016-0001.json");
    let mut index = AdvisoryIndex::open_in_memory().unwrap();
    index.import(&[&original]).unwrap();
    let openssl = [component_from_purl("pkg:cargo/openssl@0.8.3").unwrap()];
    assert_eq!(match_components(&index, &openssl, None).unwrap().len(), 1);

    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&original).unwrap()).unwrap();
    record["modified"] = "2030-01-01T00:00:00Z".into();
    record["withdrawn"] = "2030-01-01T00:00:00Z".into();
    let withdrawn = dir.path().join("withdrawn.json");
    std::fs::write(&withdrawn, record.to_string()).unwrap();
    let report = index.import(&[&withdrawn]).unwrap();

    assert_eq!(report.withdrawn, vec!["RUSTSEC-2016-0001".to_owned()]);
    assert!(report.changed().contains(&"RUSTSEC-2016-0001".to_owned()));
    assert!(match_components(&index, &openssl, None).unwrap().is_empty());
    let only = ["RUSTSEC-2016-0001".to_owned()];
    assert!(match_components(&index, &openssl, Some(&only))
        .unwrap()
        .is_empty());
}

#[test]
fn zip_export_is_imported_like_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    let sources = record_files(&fixtures().join("go-vulndb"));
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for path in &sources {
            zip.start_file(path.file_name().unwrap().to_str().unwrap(), options)
                .unwrap();
            zip.write_all(&std::fs::read(path).unwrap()).unwrap();
        }
        zip.finish().unwrap();
    }
    let mut index = AdvisoryIndex::open_in_memory().unwrap();
    let report = index.import(&[&zip_path]).unwrap();

    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.added.len(), sources.len());
    assert!(index.record("GO-2022-0229").unwrap().is_some());
}

const BAD_EVENT: &str = r#"{"id": "BAD-3", "modified": "2020-01-01T00:00:00Z",
  "affected": [{"package": {"ecosystem": "npm", "name": "x"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"patched": "1.0.0"}]}]}]}"#;
const BAD_RANGE_TYPE: &str = r#"{"id": "BAD-4", "modified": "2020-01-01T00:00:00Z",
  "affected": [{"package": {"ecosystem": "npm", "name": "x"},
    "ranges": [{"type": "CALVER", "events": [{"introduced": "0"}]}]}]}"#;
const NO_INTRODUCED: &str = "id: BAD-5
modified: 2020-01-01T00:00:00Z
affected:
- package: {ecosystem: PyPI, name: x}
  ranges:
  - type: ECOSYSTEM
    events:
    - fixed: '1.0'
";

#[test]
fn malformed_records_are_skipped_with_one_line_errors_naming_file_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixtures().join("rustsec-osv/crates/RUSTSEC-2016-0001.json");
    std::fs::copy(&good, dir.path().join("good.json")).unwrap();
    let bad: [(&str, &str); 8] = [
        (
            "truncated.json",
            r#"{"id": "BAD-1", "modified": "2020-01-01T00:00:00Z", "affected": ["#,
        ),
        ("no-id.json", r#"{"modified": "2020-01-01T00:00:00Z"}"#),
        (
            "empty-id.json",
            r#"{"id": " ", "modified": "2020-01-01T00:00:00Z"}"#,
        ),
        ("no-modified.json", r#"{"id": "BAD-2"}"#),
        ("bad-event.json", BAD_EVENT),
        ("bad-range-type.json", BAD_RANGE_TYPE),
        ("no-introduced.yaml", NO_INTRODUCED),
        ("not-yaml.yaml", "id: [unclosed\n"),
    ];
    for (name, text) in bad {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let mut index = AdvisoryIndex::open_in_memory().unwrap();
    let report = index.import(&[dir.path()]).unwrap();

    assert_eq!(report.added, vec!["RUSTSEC-2016-0001".to_owned()]);
    assert_eq!(report.errors.len(), bad.len(), "{:?}", report.errors);
    for error in &report.errors {
        let line = error.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(bad.iter().any(|(name, _)| line.contains(name)), "{line}");
    }
    for id in ["BAD-3", "BAD-4", "BAD-5"] {
        assert!(
            report.errors.iter().any(|e| e.id.as_deref() == Some(id)),
            "{id} not named"
        );
    }
}

#[test]
fn missing_path_and_unknown_file_type_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "hello").unwrap();
    let mut index = AdvisoryIndex::open_in_memory().unwrap();
    let report = index
        .import(&[dir.path().join("absent.json"), notes])
        .unwrap();
    assert_eq!(report.errors.len(), 2);
}

#[test]
fn truncated_zip_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    std::fs::write(&zip_path, b"PK\x03\x04 this is not really a zip").unwrap();
    let mut index = AdvisoryIndex::open_in_memory().unwrap();
    let report = index.import(&[&zip_path]).unwrap();
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].to_string().contains("all.zip"));
}
