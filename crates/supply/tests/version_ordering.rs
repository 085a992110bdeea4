//! Version ordering per ecosystem, checked against the orderings the specifications themselves
//! publish, and one test for each pitfall listed in issue 3.

use std::cmp::Ordering;

use seawall_supply::model::Ecosystem;
use seawall_supply::version::{normalize_name, Scheme};

/// Asserts that `versions` is strictly ascending under `scheme`, pair by pair.
fn assert_ascending(scheme: Scheme, versions: &[&str]) {
    for pair in versions.windows(2) {
        let ord = scheme.compare(pair[0], pair[1]).unwrap();
        assert_eq!(
            ord,
            Ordering::Less,
            "{scheme:?}: expected {} < {}",
            pair[0],
            pair[1]
        );
    }
}

fn assert_equal(scheme: Scheme, a: &str, b: &str) {
    assert_eq!(
        scheme.compare(a, b).unwrap(),
        Ordering::Equal,
        "{scheme:?}: {a} == {b}"
    );
}

#[test]
fn semver_precedence_matches_the_spec_example() {
    // semver.org §11.4, the example list.
    assert_ascending(
        Scheme::SemVer,
        &[
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ],
    );
}

#[test]
fn semver_ignores_build_metadata() {
    assert_equal(Scheme::SemVer, "1.0.0+20130313144700", "1.0.0");
    assert_equal(Scheme::SemVer, "1.0.0-beta+exp.sha.5114f85", "1.0.0-beta");
}

#[test]
fn go_pseudo_version_fix_does_not_match_later_release() {
    // Issue 3: `introduced: 0, fixed: 0.0.0-20200124225646-8b5121be2f68` must not cover v0.53.0,
    // because the pseudo-version is a pre-release of 0.0.0.
    let ord = Scheme::Go
        .compare("v0.53.0", "0.0.0-20200124225646-8b5121be2f68")
        .unwrap();
    assert_eq!(ord, Ordering::Greater);
}

#[test]
fn go_pseudo_versions_order_by_timestamp_and_below_their_base() {
    assert_ascending(
        Scheme::Go,
        &[
            "v0.0.0-20190101000000-aaaaaaaaaaaa",
            "v0.0.0-20200124225646-8b5121be2f68",
            "v0.0.1",
            // A commit after the tag v1.2.3-pre (Go modules reference, "Pseudo-versions").
            "v1.2.3-pre",
            "v1.2.3-pre.0.20200101000000-bbbbbbbbbbbb",
            "v1.2.3",
            "v1.2.4-0.20210101000000-cccccccccccc",
            "v1.2.4",
        ],
    );
}

#[test]
fn go_incompatible_suffix_compares_as_its_version() {
    assert_equal(Scheme::Go, "v2.0.0+incompatible", "2.0.0");
    assert_ascending(
        Scheme::Go,
        &["v1.9.9", "v2.0.0+incompatible", "v2.0.1+incompatible"],
    );
}

#[test]
fn pep440_implicit_post_release_equals_explicit_one() {
    // Issue 3: `1.0-1` is `1.0.post1`.
    assert_equal(Scheme::Pep440, "1.0-1", "1.0.post1");
}

#[test]
fn pep440_normalisation_rules_hold() {
    // PEP 440 "Normalization" section, one example per rule.
    for (a, b) in [
        ("1.0A1", "1.0a1"),
        ("1.1RC1", "1.1rc1"),
        ("1.0.0", "1.0"),
        ("1.1a.1", "1.1a1"),
        ("1.1-a1", "1.1a1"),
        ("1.0a", "1.0a0"),
        ("1.1alpha1", "1.1a1"),
        ("1.1beta2", "1.1b2"),
        ("1.1c3", "1.1rc3"),
        ("1.1pre3", "1.1rc3"),
        ("1.1preview3", "1.1rc3"),
        ("1.2-post2", "1.2.post2"),
        ("1.2post2", "1.2.post2"),
        ("1.0.post", "1.0.post0"),
        ("1.0-r4", "1.0.post4"),
        ("1.0rev4", "1.0.post4"),
        ("1.2-dev2", "1.2.dev2"),
        ("1.2.dev", "1.2.dev0"),
        ("1.0+ubuntu-1", "1.0+ubuntu.1"),
        ("v1.0", "1.0"),
        (" 1.0 ", "1.0"),
        ("0!1.0", "1.0"),
    ] {
        assert_equal(Scheme::Pep440, a, b);
    }
}

#[test]
fn pep440_orders_the_spec_summary_example() {
    // PEP 440 "Summary of permitted suffixes and relative ordering", the example list.
    assert_ascending(
        Scheme::Pep440,
        &[
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ],
    );
}

#[test]
fn pep440_epoch_dominates_release() {
    assert_ascending(Scheme::Pep440, &["2024.1", "1!0.1", "2!0.0.1"]);
}

#[test]
fn pypi_names_normalise_per_pep503() {
    // Issue 3: `Foo_Bar` and `foo-bar` are one package.
    assert_eq!(
        normalize_name(Ecosystem::PyPI, "Foo_Bar"),
        normalize_name(Ecosystem::PyPI, "foo-bar")
    );
    assert_eq!(normalize_name(Ecosystem::PyPI, "Foo.._-Bar"), "foo-bar");
}

#[test]
fn rubygems_prereleases_sort_below_the_release() {
    assert_ascending(
        Scheme::RubyGems,
        &[
            "1.0.0.a",
            "1.0.0.a1",
            "1.0.0.b1",
            "1.0.0.rc1",
            "1.0.0",
            "1.0.1",
            "1.1",
            "7.0.4.3",
        ],
    );
    assert_equal(Scheme::RubyGems, "1.0", "1.0.0");
    assert_equal(Scheme::RubyGems, "1.0.0-rc1", "1.0.0.pre.rc1");
}

#[test]
fn composer_stabilities_order_dev_alpha_beta_rc_stable_patch() {
    assert_ascending(
        Scheme::Composer,
        &[
            "1.0.0-dev",
            "1.0.0-alpha1",
            "1.0.0-alpha2",
            "1.0.0-beta1",
            "1.0.0-RC1",
            "1.0.0-RC2",
            "1.0.0",
            "1.0.0-patch1",
            "1.0.1",
            "v1.0.2",
            "1.10.0",
        ],
    );
    assert_equal(Scheme::Composer, "v2.3", "2.3.0.0");
    assert!(Scheme::Composer.parse("dev-main").is_err());
}

#[test]
fn maven_orders_the_specification_examples() {
    // Maven "Version Order Specification": the published examples.
    assert_ascending(Scheme::Maven, &["1", "1.1"]);
    assert_ascending(Scheme::Maven, &["1-snapshot", "1", "1-sp"]);
    assert_ascending(Scheme::Maven, &["1-foo2", "1-foo10"]);
    assert_ascending(Scheme::Maven, &["1.foo", "1-1", "1.1"]);
    assert_ascending(
        Scheme::Maven,
        &[
            "1-alpha",
            "1-beta",
            "1-milestone",
            "1-rc",
            "1-snapshot",
            "1",
        ],
    );
    assert_equal(Scheme::Maven, "1-ga", "1");
    assert_equal(Scheme::Maven, "1.final", "1");
    assert_equal(Scheme::Maven, "1-cr", "1-rc");
    assert_equal(Scheme::Maven, "1.0.0", "1");
    assert_equal(Scheme::Maven, "1a1", "1-alpha-1");
}

#[test]
fn maven_final_release_is_below_its_vendor_rebuild() {
    // Issue 3 lists "`4.1.108.Final` sorts above `4.1.108.Final-redhat-0001`" as a pitfall.
    // Maven's own ordering says the opposite: `Final` is the release (an empty qualifier) and
    // `-redhat-0001` appends an unknown qualifier, which sorts after the release. A scanner
    // must use Maven's order, or every Red Hat rebuild of a fixed release would be reported as
    // vulnerable. This test pins Maven's order and the inconsistency is reported on the issue.
    let ord = Scheme::Maven
        .compare("4.1.108.Final", "4.1.108.Final-redhat-0001")
        .unwrap();
    assert_eq!(ord, Ordering::Less);
    assert_ascending(
        Scheme::Maven,
        &[
            "4.1.107.Final",
            "4.1.108.Final-redhat-0001",
            "4.1.109.Final",
        ],
    );
}

#[test]
fn nuget_versions_pad_to_four_parts_and_ignore_label_case() {
    assert_equal(Scheme::NuGet, "1.0", "1.0.0.0");
    assert_equal(Scheme::NuGet, "1.0.0-BETA", "1.0.0-beta");
    assert_equal(Scheme::NuGet, "1.0.0+build", "1.0.0");
    assert_ascending(
        Scheme::NuGet,
        &["1.0.0-alpha", "1.0.0-beta.2", "1.0.0", "1.0.0.1", "1.0.1"],
    );
}

#[test]
fn malformed_versions_are_errors_not_panics() {
    let inputs = [
        "",
        "v",
        "1..2",
        "1.2.3.4.5",
        "1.2.3-",
        "1.2.3-+",
        "é",
        "99999999999999999999.0.0",
    ];
    for scheme in [Scheme::SemVer, Scheme::Go, Scheme::NuGet] {
        for input in inputs {
            assert!(
                scheme.parse(input).is_err(),
                "{scheme:?} accepted {input:?}"
            );
        }
    }
    for input in [
        "",
        "a1",
        "1.0+",
        "1.0+ab..c",
        "1.0foo",
        "1!",
        "1.0.post1.post2",
    ] {
        assert!(
            Scheme::Pep440.parse(input).is_err(),
            "pep440 accepted {input:?}"
        );
    }
    for input in ["", "x1", "1..0", "1.0 beta", "1/0"] {
        assert!(
            Scheme::RubyGems.parse(input).is_err(),
            "rubygems accepted {input:?}"
        );
    }
    for input in ["", "1.0 beta", "1/0"] {
        assert!(
            Scheme::Maven.parse(input).is_err(),
            "maven accepted {input:?}"
        );
    }
    for input in ["", "1.x-dev", "1.0-foo", "abc"] {
        assert!(
            Scheme::Composer.parse(input).is_err(),
            "composer accepted {input:?}"
        );
    }
}

#[test]
fn error_message_is_one_line_and_quotes_the_input() {
    let err = Scheme::SemVer.parse("1.x").unwrap_err().to_string();
    assert!(err.contains("`1.x`") && !err.contains('\n'), "{err}");
}
