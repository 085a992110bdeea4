//! Tests of policy parsing, matching and the policy store.

use super::*;
use crate::barrier::tests::memory_barrier;
use crate::request::{Operation as Op, Request};
use serde_json::json;

fn acl_of(docs: &[&str]) -> Acl {
    let policies: Vec<Policy> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| parse_policy(&format!("p{i}"), d).unwrap())
        .collect();
    Acl::compile(&policies)
}

fn err(text: &str) -> String {
    parse_policy("Team-A", text).unwrap_err().to_string()
}

#[test]
fn hcl_and_json_forms_parse_to_the_same_rules() {
    let hcl = r#"
        # comment
        path "secret/data/app/*" {
          capabilities = ["read", "list"]
        }
        path "/database/creds/readonly" {
          capabilities = ["read"]
          comment = "leading slash is dropped"
        }
    "#;
    let json = r#"{"path": {
        "secret/data/app/*": {"capabilities": ["read", "list"]},
        "database/creds/readonly": {"capabilities": ["read"]}
    }}"#;
    let a = parse_policy("Dev", hcl).unwrap();
    let b = parse_policy("dev", json).unwrap();
    assert_eq!(a.name, "dev");
    let mut ra = a.rules.clone();
    let mut rb = b.rules.clone();
    ra.sort_by(|x, y| x.path.cmp(&y.path));
    rb.sort_by(|x, y| x.path.cmp(&y.path));
    assert_eq!(ra, rb);
    assert_eq!(ra[0].path, "database/creds/readonly");
    assert_eq!(ra[1].perms.caps, cap::READ | cap::LIST);
    // The JSON array form (as HCL 1 wrote it) is accepted too.
    let arr =
        r#"{"path": [{"a/b": {"capabilities": ["read"]}}, {"c": [{"capabilities": ["list"]}]}]}"#;
    assert_eq!(parse_policy("x", arr).unwrap().rules.len(), 2);
}

#[test]
fn parameters_and_wrapping_ttls_are_read_and_checked() {
    let p = parse_policy(
        "p",
        r#"path "secret/foo" {
            capabilities = ["create", "update"]
            required_parameters = ["Bar"]
            allowed_parameters = { "bar" = ["zip", "zap"], "*" = [] }
            denied_parameters = { baz = [] }
            min_wrapping_ttl = "1s"
            max_wrapping_ttl = 90
        }"#,
    )
    .unwrap();
    let perms = &p.rules[0].perms;
    assert_eq!(perms.required_parameters, vec!["bar"]);
    assert_eq!(perms.min_wrapping_ttl, Some(1));
    assert_eq!(perms.max_wrapping_ttl, Some(90));
    let acl = Acl::compile([&p]);
    let data = |v: serde_json::Value| v.as_object().unwrap().clone();
    assert!(acl.allows_request(
        "secret/foo",
        Op::Create,
        &data(json!({"bar": "zip", "q": 1}))
    ));
    assert!(!acl.allows_request("secret/foo", Op::Create, &data(json!({"bar": "nope"}))));
    assert!(!acl.allows_request(
        "secret/foo",
        Op::Create,
        &data(json!({"bar": "zip", "baz": 1}))
    ));
    assert!(!acl.allows_request("secret/foo", Op::Create, &data(json!({"q": 1}))));
    assert!(!acl.allows_request("secret/foo", Op::Read, &data(json!({}))));

    assert!(err(r#"path "a" {
        min_wrapping_ttl = "1h"
        max_wrapping_ttl = "1m"
    }"#)
    .contains("greater than"));
    assert!(err(r#"path "a" { max_wrapping_ttl = "soon" }"#).contains("not a duration"));
}

#[test]
fn errors_are_one_line_and_name_policy_path_and_line() {
    let e = err("path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n\npath \"kv/x\" {\n  capabilities = [\"raed\"]\n}\n");
    assert_eq!(
        e,
        "policy \"team-a\": path \"kv/x\" (line 5): unknown capability \"raed\" (known: create, read, update, patch, delete, list, sudo, deny)"
    );
    let e = err("path \"kv/x\" {\n capabilites = [\"read\"]\n}");
    assert!(
        e.starts_with("policy \"team-a\": path \"kv/x\" (line 1): unknown key `capabilites`"),
        "{e}"
    );
    assert!(err("foo = 1").contains("unknown top-level key `foo`"));
    assert!(err("name = \"x\"\nrule \"a\" {}").contains("unknown block `rule` (line 2)"));
    assert!(err("path \"a\" \"b\" {}").contains("exactly one quoted path"));
    assert!(err("path {}").contains("exactly one quoted path"));
    assert!(err("path \"a/*/b\" { capabilities = [\"read\"] }").contains("last character"));
    assert!(err("path \"a\" { capabilities = \"read\" }").contains("list of strings"));
    assert!(err("path \"a\" { capabilities = [1] }").contains("list of strings"));
    assert!(err("path \"a\" { capabilities = [var.x] }").contains("literal"));
    let e = err("path \"a\" {\n capabilities = [\"read\"]\n capabilities = [\"list\"]\n}");
    assert!(
        e.contains("line 3") && e.contains("redefined attribute"),
        "{e}"
    );
    assert!(err("path \"a\" { policy = \"admin\" }").contains("`policy` must be one of"));
    assert!(err("path \"a\" {\n  nested {\n  }\n}").contains("unexpected block `nested`"));
    let e = err("path \"a\" {\n  capabilities = [\"read\"\n");
    assert!(
        e.starts_with("policy \"team-a\": HCL syntax error at line"),
        "{e}"
    );
    let e = err("{\"path\": {\"a\": {\"capabilities\": [\"read\"]}");
    assert!(e.starts_with("policy \"team-a\": JSON syntax error"), "{e}");
    assert!(err("{\"path\": {\"a\": {\"capabilities\": [\"nope\"]}}}")
        .contains("path \"a\": unknown capability"));
    assert!(err("{\"paths\": {}}").contains("unknown top-level key `paths`"));
    assert!(err(&"[".repeat(100)).contains("nested deeper"));
    for e in [
        err("path \"a\" {\n  capabilities = [\"read\"\n"),
        err("path \"a\n\" {}"),
        err("{\n\"x\":\n"),
    ] {
        assert!(!e.contains('\n'), "{e:?}");
    }
}

#[test]
fn legacy_policy_field_maps_to_capabilities() {
    let acl = acl_of(&[r#"path "secret/*" { policy = "write" }
                        path "sys/*" { policy = "deny" }"#]);
    assert!(acl.allows("secret/x", Op::Update));
    assert!(acl.allows("secret/x", Op::List));
    assert!(!acl.allows("secret/x", Op::Patch));
    assert!(!acl.allows("sys/mounts", Op::Read));
}

#[test]
fn exact_beats_glob_and_deny_wins_on_its_rule() {
    let acl = acl_of(&[r#"
        path "secret/*" { capabilities = ["create", "read", "update"] }
        path "secret/super-secret" { capabilities = ["deny"] }
        path "secret/foo" { capabilities = ["read", "sudo"] }
    "#]);
    assert!(acl.allows("secret/bar", Op::Update));
    assert!(!acl.allows("secret/super-secret", Op::Read));
    assert!(acl.allows("secret/foo", Op::Read));
    // The exact rule applies alone: no `update` from the glob.
    assert!(!acl.allows("secret/foo", Op::Update));
    assert!(acl.allows_sudo("secret/foo"));
    assert!(!acl.allows_sudo("secret/bar"));
    assert_eq!(acl.capabilities("secret/foo"), vec!["read", "sudo"]);
    assert_eq!(acl.capabilities("secret/super-secret"), vec!["deny"]);
    assert_eq!(acl.capabilities("other/x"), vec!["deny"]);
}

#[test]
fn deny_in_any_policy_overrides_the_same_pattern_everywhere() {
    let acl = acl_of(&[
        r#"path "secret/data/app/*" { capabilities = ["read", "sudo"] }"#,
        r#"path "secret/data/app/*" { capabilities = ["deny"] }"#,
        r#"path "secret/data/app/*" { capabilities = ["update"] }"#,
    ]);
    assert!(!acl.allows("secret/data/app/x", Op::Read));
    assert!(!acl.allows("secret/data/app/x", Op::Update));
    assert!(!acl.allows_sudo("secret/data/app/x"));
    // Without the deny, the same pattern's capabilities add up across policies.
    let acl = acl_of(&[
        r#"path "secret/data/app/*" { capabilities = ["read"] }"#,
        r#"path "secret/data/app/*" { capabilities = ["update"] }"#,
    ]);
    assert!(acl.allows("secret/data/app/x", Op::Read));
    assert!(acl.allows("secret/data/app/x", Op::Update));
}

#[test]
fn most_specific_pattern_applies_as_vaults_docs_order() {
    // Documented example: `secret/*` wins over `secret/+/+/foo/*`.
    let acl = acl_of(&[
        r#"path "secret/*" { capabilities = ["read"] }"#,
        r#"path "secret/+/+/foo/*" { capabilities = ["update"] }"#,
    ]);
    assert!(acl.allows("secret/a/b/foo/c", Op::Read));
    assert!(!acl.allows("secret/a/b/foo/c", Op::Update));
    // A later first wildcard wins; a longer prefix wins.
    let acl = acl_of(&[r#"
        path "secret/*" { capabilities = ["read"] }
        path "secret/app/*" { capabilities = ["update"] }
        path "secret/app/+/db" { capabilities = ["delete"] }
        path "secret/+/prod/db" { capabilities = ["patch"] }
    "#]);
    assert!(acl.allows("secret/other", Op::Read));
    assert!(acl.allows("secret/app/x", Op::Update));
    assert!(!acl.allows("secret/app/x", Op::Read));
    assert!(acl.allows("secret/app/prod/db", Op::Delete));
    assert!(!acl.allows("secret/app/prod/db", Op::Update));
    assert!(acl.allows("secret/web/prod/db", Op::Patch));
    assert!(!acl.allows("secret/web/prod/db", Op::Read));
    // Not ending in `*` wins over a glob with the same first wildcard.
    let acl = acl_of(&[r#"
        path "kv/+/config" { capabilities = ["read"] }
        path "kv/+/config*" { capabilities = ["deny"] }
    "#]);
    assert!(acl.allows("kv/a/config", Op::Read));
    assert!(!acl.allows("kv/a/configs", Op::Read));
}

#[test]
fn plus_matches_exactly_one_segment() {
    let acl = acl_of(&[r#"path "secret/+/teamb" { capabilities = ["read"] }"#]);
    assert!(acl.allows("secret/a/teamb", Op::Read));
    assert!(!acl.allows("secret/a/b/teamb", Op::Read));
    assert!(!acl.allows("secret/teamb", Op::Read));
}

#[test]
fn list_checks_the_path_with_and_without_trailing_slash() {
    let acl = acl_of(&[r#"
        path "secret/metadata/" { capabilities = ["list"] }
        path "kv/metadata/app" { capabilities = ["list"] }
        path "db/roles/*" { capabilities = ["list"] }
    "#]);
    assert!(acl.allows("secret/metadata", Op::List));
    assert!(acl.allows("secret/metadata/", Op::List));
    assert!(!acl.allows("secret/metadata/x", Op::List));
    assert!(acl.allows("kv/metadata/app", Op::List));
    assert!(acl.allows("db/roles", Op::List));
    assert!(!acl.allows("db/roles", Op::Read));
}

#[test]
fn root_acl_grants_everything_with_sudo() {
    let root = Acl::root();
    assert!(root.allows("sys/anything", Op::Delete));
    assert!(root.allows_sudo("sys/audit"));
    assert_eq!(root.capabilities("x"), vec!["root"]);
}

fn store() -> Arc<PolicyStore> {
    PolicyStore::open(memory_barrier()).unwrap()
}

use std::sync::Arc;

#[test]
fn default_policy_grants_token_self_service_but_no_secrets() {
    let s = store();
    let acl = s.acl(&["default".into()]);
    assert!(acl.allows("auth/token/lookup-self", Op::Read));
    assert!(acl.allows("auth/token/renew-self", Op::Update));
    assert!(acl.allows("sys/leases/renew", Op::Update));
    assert!(acl.allows("sys/capabilities-self", Op::Update));
    assert!(acl.allows("sys/internal/ui/mounts/secret", Op::Read));
    assert!(!acl.allows("secret/data/app", Op::Read));
    assert!(!acl.allows("auth/token/create", Op::Update));
    assert!(!acl.allows("sys/policy/default", Op::Update));
    assert!(!acl.allows_sudo("auth/token/lookup-self"));
}

#[test]
fn acl_cache_is_invalidated_by_writes_and_deletes() {
    let s = store();
    let names = vec!["App".to_owned(), "default".to_owned()];
    assert!(!s.acl(&names).allows("secret/data/app", Op::Read));
    s.set(
        "app",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    )
    .unwrap();
    assert!(s.acl(&names).allows("secret/data/app", Op::Read));
    s.set(
        "APP",
        r#"path "secret/data/app" { capabilities = ["deny"] }"#,
    )
    .unwrap();
    assert!(!s.acl(&names).allows("secret/data/app", Op::Read));
    s.set(
        "app",
        r#"path "secret/data/app" { capabilities = ["read"] }"#,
    )
    .unwrap();
    s.delete("app").unwrap();
    assert!(!s.acl(&names).allows("secret/data/app", Op::Read));
    assert!(s.acl(&["Root".into()]).is_root());
}

#[test]
fn builtins_are_protected_and_bad_input_changes_nothing() {
    let s = store();
    let good = r#"path "a/*" { capabilities = ["read"] }"#;
    s.set("team", good).unwrap();
    let before = s.names();
    assert!(s
        .set("root", good)
        .unwrap_err()
        .to_string()
        .contains("root"));
    assert!(s.delete("root").is_err());
    assert_eq!(
        s.delete("Default").unwrap_err().to_string(),
        "cannot delete the default policy"
    );
    assert!(s
        .set("team", r#"path "a/*" { capabilities = ["nope"] }"#)
        .is_err());
    assert!(s
        .set("bad/name", good)
        .unwrap_err()
        .to_string()
        .contains("not valid"));
    assert!(s.set("team", "   ").is_err());
    assert_eq!(s.names(), before);
    assert_eq!(s.get("team").unwrap().raw, good);
    assert!(s.acl(&["team".into()]).allows("a/b", Op::Read));
    // The default policy may be edited.
    s.set("default", r#"path "x" { capabilities = ["read"] }"#)
        .unwrap();
    assert!(s.acl(&["default".into()]).allows("x", Op::Read));
}

#[test]
fn policies_survive_reopening() {
    let barrier = memory_barrier();
    let s = PolicyStore::open(barrier.clone()).unwrap();
    s.set("ops", r#"path "sys/*" { capabilities = ["sudo", "read"] }"#)
        .unwrap();
    s.set("default", r#"path "only/this" { capabilities = ["read"] }"#)
        .unwrap();
    drop(s);
    let s = PolicyStore::open(barrier).unwrap();
    assert_eq!(s.names(), vec!["default", "ops", "root"]);
    assert!(s.acl(&["ops".into()]).allows_sudo("sys/audit"));
    assert!(s.acl(&["default".into()]).allows("only/this", Op::Read));
    assert!(!s
        .acl(&["default".into()])
        .allows("auth/token/lookup-self", Op::Read));
}

fn sys(
    s: &PolicyStore,
    op: Op,
    rel: &str,
    body: serde_json::Value,
) -> Result<Response, VaultError> {
    let req = Request::new(op, "sys/", rel).with_data(body);
    s.handle_sys(&req, rel)
}

use crate::error::VaultError;
use crate::request::Response;

#[test]
fn sys_policy_api_has_vaults_shapes() {
    let s = store();
    let doc = "path \"secret/*\" {\n  capabilities = [\"read\"]\n}\n";
    // Legacy endpoint takes `policy` (or `rules`) and reads back `rules`.
    assert_eq!(
        sys(&s, Op::Update, "policy/Dev", json!({"policy": doc}))
            .unwrap()
            .status,
        204
    );
    let r = sys(&s, Op::Read, "policy/dev", json!({})).unwrap();
    assert_eq!(r.data.unwrap(), json!({"name": "dev", "rules": doc}));
    sys(&s, Op::Update, "policy/ops", json!({"rules": doc})).unwrap();
    let r = sys(&s, Op::Read, "policy", json!({}))
        .unwrap()
        .data
        .unwrap();
    assert_eq!(r["policies"], json!(["default", "dev", "ops", "root"]));
    assert_eq!(r["keys"], r["policies"]);
    // The ACL endpoint reads back `policy`, and accepts a base64 document.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc);
    sys(&s, Op::Create, "policies/acl/b64", json!({"policy": b64})).unwrap();
    let r = sys(&s, Op::Read, "policies/acl/b64", json!({})).unwrap();
    assert_eq!(r.data.unwrap(), json!({"name": "b64", "policy": doc}));
    let r = sys(&s, Op::List, "policies/acl", json!({}))
        .unwrap()
        .data
        .unwrap();
    assert_eq!(r, json!({"keys": ["b64", "default", "dev", "ops", "root"]}));
    let r = sys(&s, Op::Read, "policies/acl/root", json!({})).unwrap();
    assert_eq!(r.data.unwrap(), json!({"name": "root", "policy": ""}));
    // Missing, malformed and forbidden.
    assert_eq!(
        sys(&s, Op::Read, "policy/nope", json!({}))
            .unwrap_err()
            .status(),
        404
    );
    let e = sys(&s, Op::Update, "policies/acl/dev", json!({})).unwrap_err();
    assert!(e.to_string().contains("field `policy`"));
    let e = sys(
        &s,
        Op::Update,
        "policies/acl/dev",
        json!({"policy": "path \"x\" { bad = 1 }"}),
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(s.get("dev").unwrap().raw, doc);
    assert_eq!(
        sys(&s, Op::Delete, "policies/acl/default", json!({}))
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        sys(&s, Op::Patch, "policy/dev", json!({}))
            .unwrap_err()
            .status(),
        405
    );
    // Delete, then gone; deleting again is fine.
    assert_eq!(
        sys(&s, Op::Delete, "policy/dev", json!({})).unwrap().status,
        204
    );
    assert_eq!(
        sys(&s, Op::Delete, "policy/dev", json!({})).unwrap().status,
        204
    );
    assert!(s.get("dev").is_none());
}

#[test]
fn edge_inputs_do_not_panic() {
    for text in [
        "",
        "\n",
        " ",
        "{",
        "}",
        "[",
        "\"",
        "path",
        "path \"a\" {",
        "path \"\" {\n}\n",
        "#",
        "/*",
        "\u{0}",
        "é",
        "path \"é\" {\n capabilities = [\"é\"]\n}",
        "{}",
        "[]",
        "null",
        "{\"path\": null}",
        "path \"a\" {\n capabilities = [\"read\"]\n}\u{0}",
        "<<EOF\nx\nEOF",
    ] {
        match parse_policy("edge", text) {
            Ok(p) => assert!(p.rules.iter().all(|r| !r.path.is_empty())),
            Err(e) => assert!(!e.to_string().contains('\n'), "{e:?}"),
        }
    }
    assert!(parse_policy("x", "").unwrap().rules.is_empty());
}

#[test]
fn mutated_documents_give_a_policy_or_a_one_line_error() {
    use rand::{Rng, SeedableRng};
    let seeds = [
        std::include_str!("default.hcl").to_owned(),
        "path \"secret/+/x*\" {\n  capabilities = [\"read\", \"list\"]\n  allowed_parameters = { \"a\" = [\"b*\"], \"*\" = [] }\n  min_wrapping_ttl = \"1h\"\n}\n".to_owned(),
        "{\"path\": {\"a/*\": {\"capabilities\": [\"deny\"], \"denied_parameters\": {\"x\": [1]}}}}".to_owned(),
    ];
    let alphabet: Vec<char> = "{}[]()\"=,#/*+\\\n $%<>.:-_a1é\u{0}".chars().collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5ea_3a11);
    let (mut parsed, mut refused) = (0, 0);
    for i in 0..3000 {
        let mut chars: Vec<char> = seeds[i % seeds.len()].chars().collect();
        for _ in 0..rng.gen_range(1..6) {
            let at = rng.gen_range(0..=chars.len());
            match rng.gen_range(0..3) {
                0 => chars.insert(at, alphabet[rng.gen_range(0..alphabet.len())]),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => {
                    let end = (at + rng.gen_range(0..20)).min(chars.len());
                    let piece: Vec<char> = chars[at..end].to_vec();
                    chars.splice(at..at, piece);
                }
            }
        }
        let text: String = chars.into_iter().collect();
        match parse_policy("fuzz", &text) {
            Ok(p) => {
                parsed += 1;
                let acl = Acl::compile([&p]);
                for r in &p.rules {
                    let _ = acl.allows(&r.path, Op::List);
                    let _ = acl.capabilities(&r.path);
                }
            }
            Err(e) => {
                refused += 1;
                let msg = e.to_string();
                assert!(
                    !msg.contains('\n') && msg.starts_with("policy \"fuzz\": "),
                    "{msg:?}"
                );
            }
        }
    }
    // Both outcomes must have been exercised for the test to mean something.
    assert!(
        parsed > 100 && refused > 100,
        "parsed {parsed}, refused {refused}"
    );
}
