//! Reader behaviour on real lockfiles (copied from public projects, see
//! `fixtures/lockfiles/README.md`) and on small synthetic ones for the cases that other
//! tools are known to get wrong.

use std::collections::BTreeSet;
use std::path::PathBuf;

use seawall_supply::model::{Component, Relation, Scope, Source};
use seawall_supply::sbom::{generate, SbomOptions, SbomReport, WarningKind};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lockfiles")
        .join(rel)
}

fn sbom(rel: &str) -> SbomReport {
    generate(&fixture(rel), &SbomOptions::default()).unwrap()
}

fn find<'a>(r: &'a SbomReport, name: &str) -> &'a Component {
    r.components
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no component {name}"))
}

fn keys(r: &SbomReport) -> BTreeSet<String> {
    r.components.iter().map(Component::key).collect()
}

/// (key, scope, relation) of every component, to compare two readings.
fn shape(r: &SbomReport) -> BTreeSet<(String, Scope, Relation)> {
    r.components
        .iter()
        .map(|c| (c.key(), c.scope, c.relation))
        .collect()
}

// --- cases from the issue ---------------------------------------------------------------

#[test]
fn pnpm_v5_slash_keys_and_v6_at_keys_give_the_same_components() {
    let v5 = sbom("synthetic/pnpm-v5");
    let v6 = sbom("synthetic/pnpm-v6");
    let v9 = sbom("synthetic/pnpm-v9");
    assert_eq!(v5.components.len(), 5);
    assert_eq!(shape(&v5), shape(&v6));
    assert_eq!(keys(&v5), keys(&v9));
    assert!(v5.warnings.is_empty(), "{:?}", v5.warnings);
    let dom = find(&v6, "react-dom");
    assert_eq!(dom.key(), "pkg:npm/react-dom@18.2.0");
    assert_eq!(dom.relation, Relation::Direct);
    assert_eq!(find(&v9, "@babel/code-frame").scope, Scope::Dev);
    assert_eq!(find(&v9, "js-tokens").relation, Relation::Transitive);
}

#[test]
fn pnpm_lockfile_with_two_yaml_documents_reads_both() {
    let r = sbom("synthetic/pnpm-multidoc");
    let names: BTreeSet<&str> = r.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["@pnpm/config-dep", "loose-envify", "react"])
    );
}

#[test]
fn yarn_classic_with_quoted_keys_and_version_values_reads_normally() {
    let r = sbom("synthetic/yarn-quoted");
    let got: BTreeSet<(String, String)> = r
        .components
        .iter()
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect();
    let want = [
        ("js-tokens", "4.0.0"),
        ("loose-envify", "1.4.0"),
        ("react", "18.2.0"),
    ]
    .map(|(n, v)| (n.to_string(), v.to_string()));
    assert_eq!(got, BTreeSet::from(want));
    assert_eq!(find(&r, "react").relation, Relation::Direct);
    assert_eq!(find(&r, "js-tokens").relation, Relation::Transitive);
}

#[test]
fn yarn_npm_alias_is_the_real_scoped_package() {
    let r = sbom("synthetic/yarn-alias");
    assert_eq!(r.components.len(), 1);
    let c = &r.components[0];
    assert_eq!(c.name, "@scope/real-name");
    assert_eq!(c.version, "0.8.3");
    assert_eq!(c.key(), "pkg:npm/%40scope/real-name@0.8.3");
}

#[test]
fn yarn_git_specifier_is_a_git_sourced_component_not_an_error() {
    let r = sbom("synthetic/yarn-git");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let c = find(&r, "gitpkg");
    assert_eq!(
        c.source,
        Source::Git {
            url: "https://github.com/example-org/gitpkg.git".into(),
            reference: Some("v1.1.0".into()),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        }
    );
    assert_eq!(
        c.key(),
        "pkg:npm/gitpkg@1.1.0?vcs_url=git%2Bhttps://github.com/example-org/gitpkg.git\
         %400123456789abcdef0123456789abcdef01234567"
    );
}

#[test]
fn cargo_v4_git_tag_source_is_read_into_the_purl() {
    let r = sbom("synthetic/cargo-v4-git-tag");
    let c = find(&r, "gitdep");
    assert_eq!(
        c.key(),
        "pkg:cargo/gitdep@0.3.1?vcs_url=git%2Bhttps://github.com/example-org/gitdep.git\
         %409f1c2b3a4d5e6f708192a3b4c5d6e7f801234567"
    );
    let Source::Git { reference, .. } = &c.source else {
        panic!("not git: {:?}", c.source)
    };
    assert_eq!(reference.as_deref(), Some("tag=v0.3.1"));
    // `serde` is only a dev-dependency of the root crate in its Cargo.toml.
    assert_eq!(find(&r, "serde").scope, Scope::Dev);
    assert_eq!(find(&r, "app").relation, Relation::Root);
}

#[test]
fn rust_crate_purls_have_nothing_empty() {
    let r = sbom("ripgrep");
    assert!(r.components.len() > 50);
    for c in &r.components {
        assert!(!c.name.is_empty() && !c.version.is_empty());
        // `+` (build metadata) is percent-encoded, as the purl spec says.
        assert_eq!(
            c.key(),
            format!("pkg:cargo/{}@{}", c.name, c.version.replace('+', "%2B"))
        );
    }
}

// --- real lockfiles -----------------------------------------------------------------------

#[test]
fn ripgrep_workspace_members_are_root_components_and_deps_are_classified() {
    let r = sbom("ripgrep");
    let roots: BTreeSet<&str> = r
        .components
        .iter()
        .filter(|c| c.relation == Relation::Root)
        .map(|c| c.name.as_str())
        .collect();
    for member in [
        "ripgrep",
        "grep-searcher",
        "grep-regex",
        "ignore",
        "globset",
    ] {
        assert!(roots.contains(member), "{member} not a root: {roots:?}");
    }
    assert_eq!(find(&r, "memchr").relation, Relation::Direct);
    assert!(find(&r, "memchr").hashes.iter().all(|h| h.hex.len() == 64));
    assert!(r.components.iter().all(|c| c.relation != Relation::Unknown));
}

#[test]
fn excalidraw_yarn_lock_reads_every_entry_once() {
    let r = sbom("excalidraw");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.components.len() > 1000, "{}", r.components.len());
    let babel = find(&r, "@babel/core");
    assert!(babel.key().starts_with("pkg:npm/%40babel/core@7."));
    assert_eq!(babel.hashes.len(), 1);
}

#[test]
fn vue_pnpm_v9_workspace_lockfile_reads_with_scopes() {
    let r = sbom("vuejs-core");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.components.len() > 300, "{}", r.components.len());
    assert!(r.components.iter().any(|c| c.scope == Scope::Dev));
    assert!(r
        .components
        .iter()
        .any(|c| c.relation == Relation::Transitive));
}

#[test]
fn poetry_lock_uses_groups_for_scope_and_pyproject_for_direct_deps() {
    let r = sbom("poetry");
    assert_eq!(find(&r, "requests").relation, Relation::Direct);
    assert_eq!(find(&r, "requests").scope, Scope::Runtime);
    assert_eq!(find(&r, "pytest").scope, Scope::Dev);
    // The lock writes `backports-tarfile`; PEP 503 keeps one spelling.
    assert!(r.components.iter().all(|c| c.purl.name() == c.name));
}

#[test]
fn cosign_go_mod_keeps_pseudo_versions_and_indirect_marks() {
    let r = sbom("cosign");
    let acr = find(&r, "github.com/chrismellard/docker-credential-acr-env");
    assert_eq!(acr.version, "v0.0.0-20230304212654-82a0ddb27589");
    assert_eq!(acr.relation, Relation::Direct);
    assert_eq!(acr.hashes.len(), 1, "go.sum h1 hash missing");
    assert!(r
        .components
        .iter()
        .any(|c| c.relation == Relation::Transitive));
    assert_eq!(
        find(&r, "github.com/sigstore/cosign/v3").relation,
        Relation::Root
    );
}

#[test]
fn rubygems_org_gemfile_lock_reads_several_remotes_and_checksums() {
    let r = sbom("rubygems.org");
    let avo = find(&r, "avo-pro");
    assert!(
        avo.key()
            .contains("repository_url=https://packager.dev/avo-hq/"),
        "{}",
        avo.key()
    );
    assert_eq!(find(&r, "actioncable").hashes.len(), 1);
    assert_eq!(find(&r, "rails").relation, Relation::Direct);
}

#[test]
fn koel_composer_lock_reads_packages_and_packages_dev() {
    let text = std::fs::read_to_string(fixture("koel/composer.lock")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let count = |k: &str| json[k].as_array().unwrap().len();
    let r = sbom("koel");
    assert_eq!(
        r.components.len(),
        count("packages") + count("packages-dev")
    );
    let dev = r
        .components
        .iter()
        .filter(|c| c.scope == Scope::Dev)
        .count();
    assert_eq!(dev, count("packages-dev"));
    assert!(find(&r, "laravel/framework")
        .licenses
        .contains(&"MIT".to_string()));
}

#[test]
fn warehouse_requirements_follow_includes_and_report_missing_ones() {
    let r = sbom("warehouse");
    assert!(find(&r, "alembic").hashes.len() >= 2);
    // requirements.txt includes five files the fixture does not hold.
    let missing: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::Skipped)
        .collect();
    assert_eq!(missing.len(), 5, "{:?}", r.warnings);
    assert!(missing.iter().all(|w| w.file.starts_with("requirements/")));
    assert!(r.has_skipped());
}

// --- synthetic edge cases ------------------------------------------------------------------

#[test]
fn npm_v1_reads_nested_copies_aliases_and_git_versions() {
    let r = sbom("synthetic/npm-v1");
    let all = keys(&r);
    assert!(all.contains("pkg:npm/ms@2.0.0") && all.contains("pkg:npm/ms@2.1.3"));
    assert!(all.contains("pkg:npm/left-pad@1.3.0"), "{all:?}");
    let git = find(&r, "gitpkg");
    assert!(matches!(&git.source, Source::Git { commit: Some(c), .. } if c.starts_with("0123")));
    // debug requires ms; the nested 2.0.0 copy wins over the top-level 2.1.3.
    let debug = find(&r, "debug").key();
    let deps: Vec<&str> = r.graph.dependencies_of(&debug).collect();
    assert_eq!(deps, vec!["pkg:npm/ms@2.0.0"]);
    assert_eq!(find(&r, "ms").scope, Scope::Runtime); // 2.0.0 sorts first; 2.1.3 is dev
                                                      // package.json names the direct ones; `is-number` is hoisted to the top level but only
                                                      // `gitpkg` requires it.
    assert_eq!(find(&r, "debug").relation, Relation::Direct);
    assert_eq!(find(&r, "is-number").relation, Relation::Transitive);
}

#[test]
fn npm_v3_reads_workspaces_links_aliases_and_scopes() {
    let r = sbom("synthetic/npm-v3-workspaces");
    let lib = find(&r, "@example/lib");
    assert_eq!(lib.relation, Relation::Root);
    // The alias `strip` installs `strip-ansi`.
    assert!(keys(&r).contains("pkg:npm/strip-ansi@6.0.1"));
    assert!(!r.components.iter().any(|c| c.name == "strip"));
    // The workspace resolves `ansi-regex` to its own nested 4.1.1.
    let deps: BTreeSet<&str> = r.graph.dependencies_of(&lib.key()).collect();
    assert!(deps.contains("pkg:npm/ansi-regex@4.1.1"), "{deps:?}");
    assert_eq!(find(&r, "typescript").scope, Scope::Dev);
    assert_eq!(find(&r, "fsevents").scope, Scope::Optional);
    assert_eq!(find(&r, "react").relation, Relation::Direct);
    assert_eq!(find(&r, "js-tokens").relation, Relation::Transitive);
    assert_eq!(
        find(&r, "typescript").licenses,
        vec!["Apache-2.0".to_string()]
    );
}

#[test]
fn yarn_berry_reads_resolutions_aliases_and_the_workspace() {
    let r = sbom("synthetic/yarn-berry");
    assert_eq!(find(&r, "berry-app").relation, Relation::Root);
    assert!(keys(&r).contains("pkg:npm/strip-ansi@6.0.1"));
    assert_eq!(find(&r, "react").relation, Relation::Direct);
    assert_eq!(find(&r, "js-tokens").relation, Relation::Transitive);
}

#[test]
fn uv_lock_reads_dev_groups_git_sources_and_normalised_names() {
    let r = sbom("synthetic/uv");
    assert_eq!(find(&r, "demo").relation, Relation::Root);
    assert_eq!(find(&r, "pytest").scope, Scope::Dev);
    assert_eq!(find(&r, "iniconfig").scope, Scope::Dev);
    assert_eq!(find(&r, "certifi").scope, Scope::Runtime);
    let te = find(&r, "typing-extensions");
    assert_eq!(te.relation, Relation::Transitive);
    assert!(matches!(&te.source, Source::Git { commit: Some(c), .. } if c.starts_with("e1250ff")));
}

#[test]
fn pipfile_lock_reads_default_and_develop() {
    let r = sbom("synthetic/pipfile");
    assert_eq!(find(&r, "flask").version, "3.0.3");
    assert_eq!(find(&r, "pytest").scope, Scope::Dev);
    assert!(matches!(find(&r, "gitdep").source, Source::Git { .. }));
}

#[test]
fn go_mod_applies_replace_and_keeps_incompatible_versions() {
    let r = sbom("synthetic/go-replace");
    assert_eq!(find(&r, "golang.org/x/net").version, "v0.23.0");
    assert_eq!(
        find(&r, "github.com/docker/docker").key(),
        "pkg:golang/github.com/docker/docker@v24.0.9%2Bincompatible"
    );
    assert_eq!(
        find(&r, "github.com/docker/docker").relation,
        Relation::Transitive
    );
    assert_eq!(
        find(&r, "example.com/local").source,
        Source::Path {
            path: "../local".into()
        }
    );
    assert_eq!(find(&r, "github.com/gorilla/mux").hashes.len(), 1);
}

#[test]
fn gemfile_lock_reads_git_path_and_gem_sections() {
    let r = sbom("synthetic/gem-sources");
    assert!(
        matches!(&find(&r, "gitgem").source, Source::Git { reference: Some(t), .. } if t == "v2.0.0")
    );
    assert!(matches!(
        find(&r, "local_engine").source,
        Source::Path { .. }
    ));
    assert_eq!(find(&r, "nokogiri").hashes.len(), 1);
    assert_eq!(find(&r, "racc").relation, Relation::Transitive);
}

#[test]
fn nuget_lock_reads_content_hashes() {
    let r = sbom("synthetic/nuget");
    assert_eq!(find(&r, "System.Memory").relation, Relation::Transitive);
    assert_eq!(find(&r, "Serilog").hashes[0].hex.len(), 128);
}

#[test]
fn cargo_v1_reads_checksums_from_metadata_and_both_versions() {
    let r = sbom("synthetic/cargo-v1");
    let itoa: Vec<&Component> = r.components.iter().filter(|c| c.name == "itoa").collect();
    assert_eq!(itoa.len(), 2);
    assert!(itoa.iter().all(|c| c.hashes.len() == 1));
}

#[test]
fn requirements_use_constraints_includes_and_report_unpinned() {
    let r = sbom("synthetic/requirements-constraints");
    assert_eq!(find(&r, "requests").version, "2.31.0");
    assert_eq!(find(&r, "pytest").version, "8.3.3");
    assert_eq!(find(&r, "django").hashes.len(), 1);
    let unpinned: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::Partial)
        .collect();
    assert!(
        unpinned
            .iter()
            .any(|w| w.message.contains("`urllib3`") && w.line == Some(7)),
        "{unpinned:?}"
    );
}

#[test]
fn unreadable_lockfile_is_reported_with_file_and_line_and_others_still_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::copy(
        fixture("synthetic/broken-cargo/Cargo.lock"),
        dir.path().join("a/Cargo.lock"),
    )
    .unwrap();
    std::fs::copy(
        fixture("synthetic/yarn-alias/yarn.lock"),
        dir.path().join("b/yarn.lock"),
    )
    .unwrap();
    let r = generate(dir.path(), &SbomOptions::default()).unwrap();
    assert_eq!(r.components.len(), 1);
    assert_eq!(r.warnings.len(), 1);
    let w = &r.warnings[0];
    assert_eq!(
        (w.file.as_str(), w.line, w.kind),
        ("a/Cargo.lock", Some(5), WarningKind::Skipped)
    );
    assert!(
        w.to_string()
            .starts_with("a/Cargo.lock:5: skipped: invalid TOML"),
        "{w}"
    );
    assert!(r.has_skipped());
}

#[test]
fn recognised_lockfile_without_packages_is_reported() {
    let r = sbom("synthetic/empty-npm");
    assert!(r.components.is_empty());
    assert_eq!(r.warnings[0].kind, WarningKind::Empty);
    assert!(!r.has_skipped());
}

#[test]
fn node_modules_and_gitignored_trees_are_skipped_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("node_modules/x");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::create_dir_all(dir.path().join("ignored")).unwrap();
    std::fs::write(dir.path().join(".gitignore"), "ignored/\n").unwrap();
    let lock = fixture("synthetic/yarn-alias/yarn.lock");
    std::fs::copy(&lock, dir.path().join("yarn.lock")).unwrap();
    std::fs::copy(
        fixture("synthetic/cargo-v1/Cargo.lock"),
        nested.join("Cargo.lock"),
    )
    .unwrap();
    std::fs::copy(
        fixture("synthetic/cargo-v1/Cargo.lock"),
        dir.path().join("ignored/Cargo.lock"),
    )
    .unwrap();

    let r = generate(dir.path(), &SbomOptions::default()).unwrap();
    assert_eq!(r.files, vec!["yarn.lock"]);
    let opts = SbomOptions {
        include_vendored: true,
        ..SbomOptions::default()
    };
    let r = generate(dir.path(), &opts).unwrap();
    assert_eq!(r.files, vec!["node_modules/x/Cargo.lock", "yarn.lock"]);
}

#[test]
fn a_folder_without_lockfiles_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = generate(dir.path(), &SbomOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no lockfile or manifest found under"),
        "{err}"
    );
}

// --- executables ---------------------------------------------------------------------------

fn binary_fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/binaries")
        .join(rel)
}

#[test]
fn cargo_auditable_binary_lists_its_crates_and_their_graph() {
    let r = generate(
        &binary_fixture("audhello/audhello"),
        &SbomOptions::default(),
    )
    .unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let got = keys(&r);
    let want = [
        "pkg:cargo/audhello@0.2.0",
        "pkg:cargo/itoa@1.0.19",
        "pkg:cargo/memchr@2.8.3",
    ];
    assert_eq!(got, want.iter().map(|s| s.to_string()).collect());
    assert_eq!(find(&r, "audhello").relation, Relation::Root);
    assert_eq!(find(&r, "memchr").relation, Relation::Direct);
    let deps: BTreeSet<&str> = r
        .graph
        .dependencies_of("pkg:cargo/audhello@0.2.0")
        .collect();
    assert_eq!(
        deps,
        BTreeSet::from(["pkg:cargo/itoa@1.0.19", "pkg:cargo/memchr@2.8.3"])
    );
}

#[test]
fn executables_are_found_in_a_folder_walk_and_other_files_are_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(binary_fixture("audhello/audhello"), dir.path().join("tool")).unwrap();
    std::fs::write(dir.path().join("notes.bin"), b"\x7fELF but not executable").unwrap();
    let r = generate(dir.path(), &SbomOptions::default()).unwrap();
    assert_eq!(r.files, vec!["tool"]);
    assert_eq!(r.components.len(), 3);
}

#[test]
fn an_executable_without_a_dependency_list_is_reported_as_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain");
    std::fs::write(&path, b"\x7fELF\x02\x01\x01 truncated").unwrap();
    let r = generate(&path, &SbomOptions::default()).unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].kind, WarningKind::Skipped);
    assert!(
        r.warnings[0].message.contains("cargo-auditable or Go"),
        "{}",
        r.warnings[0]
    );
}

#[test]
fn every_workspace_members_dev_dependencies_get_dev_scope() {
    let dir = tempfile::tempdir().unwrap();
    let reg = "source = \"registry+https://github.com/rust-lang/crates.io-index\"";
    let lock = format!(
        "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"0.1.0\"\ndependencies = [\"x\", \"y\"]\n\n\
         [[package]]\nname = \"b\"\nversion = \"0.1.0\"\ndependencies = [\"x\"]\n\n\
         [[package]]\nname = \"x\"\nversion = \"1.0.0\"\n{reg}\n\n\
         [[package]]\nname = \"y\"\nversion = \"1.0.0\"\n{reg}\n"
    );
    std::fs::write(dir.path().join("Cargo.lock"), lock).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[workspace]\nmembers = [\"a\", \"b\"]\n",
    )
    .unwrap();
    for (name, manifest) in [
        (
            "a",
            "[package]\nname = \"a\"\n[dependencies]\ny = \"1\"\n[dev-dependencies]\nx = \"1\"\n",
        ),
        (
            "b",
            "[package]\nname = \"b\"\n[dev-dependencies]\nx = \"1\"\n",
        ),
    ] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("Cargo.toml"), manifest).unwrap();
    }
    let r = generate(dir.path(), &SbomOptions::default()).unwrap();
    assert_eq!(find(&r, "x").scope, Scope::Dev);
    assert_eq!(find(&r, "y").scope, Scope::Runtime);
}
