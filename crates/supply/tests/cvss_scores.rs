//! CVSS base scores, checked against published examples and against an independent
//! implementation's scores for 1,000 random vectors (see `fixtures/cvss/README.md`).

use seawall_supply::cvss::{Cvss, CvssVersion, Severity};

#[test]
fn v31_scores_match_published_cve_scores() {
    // NVD's published v3.1 base scores for these CVEs, and the v3.1 specification's
    // examples document (CVE-2013-1937).
    for (vector, score) in [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0), // CVE-2021-44228
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),  // CVE-2014-0160
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),  // CVE-2013-1937
    ] {
        let cvss = Cvss::parse(vector).unwrap();
        assert_eq!(cvss.score, score, "{vector}");
        assert_eq!(cvss.version, CvssVersion::V3_1);
    }
}

#[test]
fn v40_scores_match_first_calculator_examples() {
    // Scores shown by FIRST's v4.0 calculator for these vectors.
    for (vector, score) in [
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            9.3,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H",
            10.0,
        ),
        (
            "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            8.5,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U",
            8.1,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
            0.0,
        ),
    ] {
        assert_eq!(Cvss::parse(vector).unwrap().score, score, "{vector}");
    }
}

#[test]
fn scores_agree_with_an_independent_implementation() {
    let table = include_str!("fixtures/cvss/reference_scores.tsv");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let (vector, expected) = line.split_once('\t').unwrap();
        let expected: f64 = expected.parse().unwrap();
        let got = Cvss::parse(vector).unwrap().score;
        if (got - expected).abs() > 1e-9 {
            wrong.push(format!("{vector}: ours {got}, reference {expected}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 1000);
    assert!(
        wrong.is_empty(),
        "{} of {checked} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn severity_ratings_follow_the_qualitative_scale() {
    assert_eq!(Severity::from_score(0.0), Severity::None);
    assert_eq!(Severity::from_score(0.1), Severity::Low);
    assert_eq!(Severity::from_score(3.9), Severity::Low);
    assert_eq!(Severity::from_score(4.0), Severity::Medium);
    assert_eq!(Severity::from_score(7.0), Severity::High);
    assert_eq!(Severity::from_score(9.0), Severity::Critical);
    assert_eq!("MODERATE".parse::<Severity>().unwrap(), Severity::Medium);
    assert!("severe".parse::<Severity>().is_err());
}

#[test]
fn malformed_vectors_are_errors_naming_the_input() {
    for vector in [
        "",
        "CVSS:2.0/AV:N",
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/A:N",
        "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/ZZ:1",
    ] {
        let err = Cvss::parse(vector).unwrap_err().to_string();
        assert!(!err.contains('\n') && err.contains('`'), "{vector}: {err}");
    }
}
