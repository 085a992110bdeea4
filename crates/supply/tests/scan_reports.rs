//! SBOM input, the ignore file, report formats and the `scan` command's exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use seawall_supply::advisory::AdvisoryIndex;
use seawall_supply::cli::advisories::{self, ImportArgs};
use seawall_supply::cli::scan::{self as scan_cli, Format, ScanArgs};
use seawall_supply::cvss::Severity;
use seawall_supply::scan::{
    components_from_sbom, match_components, sarif, table, vex, IgnoreFile, ScanOutcome,
};
use serde_json::json;
use time::macros::date;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/advisories")
}

fn cyclonedx() -> serde_json::Value {
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [
            {"type": "library", "name": "lodash", "purl": "pkg:npm/lodash@4.17.11",
             "components": [{"type": "library", "name": "semver", "purl": "pkg:npm/semver@7.5.1"}]},
            {"type": "library", "name": "openssl", "purl": "pkg:cargo/openssl@0.9.0"},
            {"type": "library", "name": "no-purl"},
            {"type": "library", "name": "debian", "purl": "pkg:deb/debian/curl@7.0"}
        ]
    })
}

#[test]
fn cyclonedx_components_are_read_by_purl_including_nested_ones() {
    let read = components_from_sbom("bom.json", cyclonedx().to_string().as_bytes()).unwrap();
    let names: Vec<&str> = read.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["lodash", "semver", "openssl"]);
    assert_eq!(read.skipped.len(), 2, "{:?}", read.skipped);
}

#[test]
fn spdx_packages_are_read_by_their_purl_external_ref() {
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "packages": [
            {"SPDXID": "SPDXRef-a", "name": "Foo_Bar", "externalRefs": [
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                 "referenceLocator": "pkg:pypi/Foo_Bar@1.0"}]},
            {"SPDXID": "SPDXRef-b", "name": "x"}
        ]
    });
    let read = components_from_sbom("spdx.json", doc.to_string().as_bytes()).unwrap();
    assert_eq!(read.components.len(), 1);
    assert_eq!(read.components[0].name, "foo-bar");
    assert_eq!(read.skipped.len(), 1);
}

#[test]
fn documents_that_are_not_sboms_are_refused_with_the_path() {
    for bytes in [&b"{not json"[..], br#"{"name": "x"}"#, b"[]"] {
        let err = components_from_sbom("in.json", bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`in.json`") && !err.contains('\n'), "{err}");
    }
}

fn sample_findings() -> Vec<seawall_supply::scan::Finding> {
    let mut index = AdvisoryIndex::open_in_memory().unwrap();
    index.import(&[fixtures().join("ghsa-npm-sample")]).unwrap();
    let read = components_from_sbom("bom.json", cyclonedx().to_string().as_bytes()).unwrap();
    match_components(&index, &read.components, None).unwrap()
}

#[test]
fn ignore_entries_accept_findings_until_they_expire() {
    let toml = r#"
        [[ignore]]
        id = "GHSA-jf85-cpcp-j695"
        reason = "defaultsDeep is never called"
        expires = "2026-06-30"
        [[ignore]]
        id = "GHSA-c2qf-rxjj-qqgw"
        reason = "ranges come from our own config"
        expires = "2025-01-01"
    "#;
    let ignore = IgnoreFile::parse("seawall-ignore.toml", toml).unwrap();
    let applied = ignore.apply(sample_findings(), date!(2026 - 01 - 15));

    let kept: Vec<&str> = applied.kept.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        kept,
        ["GHSA-c2qf-rxjj-qqgw"],
        "the expired entry is not honoured"
    );
    assert_eq!(applied.ignored.len(), 1);
    assert_eq!(applied.ignored[0].1.reason, "defaultsDeep is never called");
    assert_eq!(applied.expired.len(), 1);
    assert_eq!(applied.expired[0].id, "GHSA-c2qf-rxjj-qqgw");

    // On its expiry day an entry still holds; the day after it does not.
    let on_the_day = ignore.apply(sample_findings(), date!(2026 - 06 - 30));
    assert_eq!(on_the_day.ignored.len(), 1);
    let after = ignore.apply(sample_findings(), date!(2026 - 07 - 01));
    assert!(after.ignored.is_empty());
}

#[test]
fn yaml_ignore_file_matches_by_alias() {
    let yaml = "ignore:\n  - id: CVE-2019-10744\n    reason: accepted\n    expires: 2099-01-01\n";
    let ignore = IgnoreFile::parse("ignore.yaml", yaml).unwrap();
    let applied = ignore.apply(sample_findings(), date!(2026 - 01 - 01));
    assert_eq!(applied.ignored.len(), 1);
    assert_eq!(applied.ignored[0].0.id, "GHSA-jf85-cpcp-j695");
}

#[test]
fn ignore_entries_without_reason_or_valid_expiry_are_refused() {
    let cases = [
        (
            "a.toml",
            "[[ignore]]\nid = \"X\"\nreason = \"\"\nexpires = \"2026-01-01\"\n",
        ),
        ("a.toml", "[[ignore]]\nid = \"X\"\nreason = \"r\"\n"),
        (
            "a.toml",
            "[[ignore]]\nid = \"X\"\nreason = \"r\"\nexpires = \"next year\"\n",
        ),
        (
            "a.toml",
            "[[ignore]]\nid = \"X\"\nreason = \"r\"\nexpires = \"2026-02-30\"\n",
        ),
        (
            "a.toml",
            "[[ignore]]\nid = \"X\"\nreason = \"r\"\nexpires = \"2026-01-01\"\nwhy = 1\n",
        ),
        ("a.yaml", "ignore: [unclosed"),
        ("a.toml", "ignore = 3"),
    ];
    for (path, text) in cases {
        let err = IgnoreFile::parse(path, text).unwrap_err().to_string();
        assert!(err.contains(path) && !err.contains('\n'), "{text}: {err}");
    }
}

#[test]
fn sarif_log_has_one_rule_per_advisory_and_one_result_per_finding() {
    let findings = sample_findings();
    let outcome = ScanOutcome {
        target: "bom.json".into(),
        components: 3,
        findings,
        ..Default::default()
    };
    let log = sarif(&outcome);

    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let results = run["results"].as_array().unwrap();
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(results.len(), outcome.findings.len());
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
    }
    let lodash = rules
        .iter()
        .find(|r| r["id"] == "GHSA-jf85-cpcp-j695")
        .unwrap();
    // CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H is 9.1.
    assert_eq!(lodash["properties"]["security-severity"], "9.1");
}

#[test]
fn vex_document_lists_each_finding_against_the_component_purl() {
    let findings = sample_findings();
    let outcome = ScanOutcome {
        target: "bom.json".into(),
        components: 3,
        findings,
        ..Default::default()
    };
    let doc = vex(&outcome);

    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.6");
    let vulns = doc["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), outcome.findings.len());
    let lodash = vulns
        .iter()
        .find(|v| v["id"] == "GHSA-jf85-cpcp-j695")
        .unwrap();
    assert_eq!(lodash["affects"][0]["ref"], "pkg:npm/lodash@4.17.11");
    assert_eq!(lodash["analysis"]["state"], "in_triage");
    assert_eq!(lodash["ratings"][0]["severity"], "critical");
    // Deterministic: the same findings give the same document.
    assert_eq!(doc, vex(&outcome));
}

#[test]
fn table_lists_findings_and_a_summary() {
    let findings = sample_findings();
    let outcome = ScanOutcome {
        target: "bom.json".into(),
        components: 3,
        findings,
        ..Default::default()
    };
    let text = table(&outcome);
    assert!(text.contains("GHSA-jf85-cpcp-j695"));
    assert!(text.contains("2 findings in 3 components"), "{text}");
}

fn run_scan(db: &Path, bom: &Path, fail_on: Option<Severity>, ignore: Option<PathBuf>) -> ExitCode {
    let out = bom.with_extension("out");
    scan_cli::run(&ScanArgs {
        target: bom.to_path_buf(),
        db: db.to_path_buf(),
        format: Format::Json,
        fail_on,
        ignore,
        output: Some(out),
    })
}

#[test]
fn fail_on_sets_exit_code_one_at_or_above_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("adv.db");
    let code = advisories::run(&ImportArgs {
        paths: vec![fixtures().join("ghsa-npm-sample")],
        db: db.clone(),
        json: false,
    });
    assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::SUCCESS));
    let bom = dir.path().join("bom.json");
    std::fs::write(&bom, cyclonedx().to_string()).unwrap();

    // lodash 4.17.11 is critical (9.1); semver 7.5.1 medium (5.3).
    let code = |fail_on, ignore| format!("{:?}", run_scan(&db, &bom, fail_on, ignore));
    let (ok, findings) = (
        format!("{:?}", ExitCode::SUCCESS),
        format!("{:?}", ExitCode::from(1)),
    );
    assert_eq!(code(None, None), ok);
    assert_eq!(code(Some(Severity::Critical), None), findings);
    assert_eq!(code(Some(Severity::Medium), None), findings);

    // With the critical one accepted, only the medium finding is left.
    let ignore = dir.path().join("ignore.toml");
    std::fs::write(
        &ignore,
        "[[ignore]]\nid = \"GHSA-jf85-cpcp-j695\"\nreason = \"r\"\nexpires = \"2999-01-01\"\n",
    )
    .unwrap();
    assert_eq!(code(Some(Severity::High), Some(ignore.clone())), ok);
    assert_eq!(code(Some(Severity::Low), Some(ignore)), findings);

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bom.with_extension("out")).unwrap()).unwrap();
    assert_eq!(report["ignored"].as_array().unwrap().len(), 1);
}

#[test]
fn scan_without_an_index_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let bom = dir.path().join("bom.json");
    std::fs::write(&bom, cyclonedx().to_string()).unwrap();
    let code = run_scan(&dir.path().join("absent.db"), &bom, None, None);
    assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::from(2)));
    assert!(
        !dir.path().join("absent.db").exists(),
        "a scan must not create an empty index"
    );
}

#[test]
fn import_with_a_malformed_record_exits_two_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    std::fs::copy(
        fixtures().join("rustsec-osv/crates/RUSTSEC-2016-0001.json"),
        dir.path().join("good.json"),
    )
    .unwrap();
    let db = dir.path().join("adv.db");
    let code = advisories::run(&ImportArgs {
        paths: vec![dir.path().to_path_buf()],
        db: db.clone(),
        json: false,
    });
    assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::from(2)));
    assert_eq!(AdvisoryIndex::open(&db).unwrap().len().unwrap(), 1);
}
