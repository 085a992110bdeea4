//! Tokens: claims, refresh rotation and reuse, revocation, key rotation.

use crate::common::{admin, client, Harness};
use seawall_core::auth::{AuthError, RefreshRequest, SessionRequest, SignInStep, Tokens};
use seawall_core::config::Config;
use seawall_core::event::EventKind;
use seawall_identity::{Jwks, Verifier};

const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;

fn part(token: &str, i: usize) -> serde_json::Value {
    let seg = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&B64.decode(seg.as_bytes()).unwrap()).unwrap()
}

fn refresh(h: &Harness, t: &Tokens) -> Result<Tokens, AuthError> {
    h.svc
        .refresh(
            &RefreshRequest {
                refresh_token: t.refresh_token.clone(),
            },
            &client(),
        )
        .map(|s| match s {
            SignInStep::Done(t) => *t,
            other => panic!("unexpected {other:?}"),
        })
}

/// A verifier as `seawall proxy` has one: only the JWKS document and the revocations.
fn proxy_verifier(h: &Harness) -> Verifier {
    let v = Verifier::new("https://idp.test", "seawall");
    let jwks: Jwks = serde_json::from_value(h.svc.jwks()).unwrap();
    v.set_jwks(&jwks).unwrap();
    v.apply(&h.svc.revocations_since(0).unwrap());
    v
}

#[test]
fn access_token_is_an_rfc9068_jwt_with_every_claim() {
    let h = Harness::new();
    h.svc.create_group(&admin(), "ops").unwrap();
    let (seed, _) = h.enrolled("alice");
    h.svc.add_member(&admin(), "ops", "alice").unwrap();
    let t = h.sign_in("alice", &seed);
    let header = part(t.access_token.expose(), 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().unwrap();
    assert!(h.svc.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == kid));
    let c = part(t.access_token.expose(), 1);
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "preferred_username",
        "groups",
        "amr",
        "auth_time",
        "mfa_time",
        "sid",
    ] {
        assert!(c.get(claim).is_some(), "missing {claim} in {c}");
    }
    assert_eq!(c["iss"], "https://idp.test");
    assert_eq!(c["aud"], "seawall");
    assert_eq!(c["client_id"], "seawall");
    assert_eq!(c["groups"], serde_json::json!(["ops"]));
    assert_eq!(c["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    assert_eq!(t.expires_in, 300);
    let p = h
        .svc
        .verifier()
        .verify_access(t.access_token.expose(), h.now())
        .unwrap();
    assert_eq!(p.username, "alice");
    assert_eq!(p.groups, vec!["ops"]);
    assert_eq!(
        Some(p.session_id.unwrap().to_string()),
        c["sid"].as_str().map(String::from)
    );
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let h = Harness::new();
    let (_, first) = h.enrolled("alice");
    let second = refresh(&h, &first).unwrap();
    assert_ne!(second.refresh_token.expose(), first.refresh_token.expose());
    let third = refresh(&h, &second).unwrap();

    // Presenting the first (used) token again: theft detected.
    assert_eq!(refresh(&h, &first).unwrap_err(), AuthError::RefreshReuse);
    // The live token of the family is dead too, and so is the session.
    assert_eq!(refresh(&h, &third).unwrap_err(), AuthError::Revoked);
    let v = h.svc.verifier();
    assert_eq!(
        v.verify_access(third.access_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    assert_eq!(
        v.verify_session(third.session_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    // A gateway process that only syncs revocations sees it too.
    assert_eq!(
        proxy_verifier(&h)
            .verify_access(third.access_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    let events = h.events.0.lock().unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::RefreshTokenReuse { user, .. } if user == "alice")));
    drop(events);
    assert!(h.audit_actions().iter().any(|a| a == "token.refresh.reuse"));
}

#[test]
fn unknown_and_expired_refresh_tokens_are_refused() {
    let mut config = Config::default();
    config.tokens.refresh_ttl_secs = 600;
    let h = Harness::with_config(config);
    let (_, t) = h.enrolled("alice");
    let mut bogus = t.clone();
    bogus.refresh_token = seawall_core::auth::SecretString::new("nope");
    assert_eq!(refresh(&h, &bogus).unwrap_err(), AuthError::InvalidToken);
    h.clock.advance(601);
    assert_eq!(refresh(&h, &t).unwrap_err(), AuthError::Expired);
}

#[test]
fn sign_out_revokes_session_and_access_tokens_everywhere() {
    let h = Harness::new();
    let (_, t) = h.enrolled("alice");
    let proxy = proxy_verifier(&h);
    assert!(proxy
        .verify_access(t.access_token.expose(), h.now())
        .is_ok());
    h.svc
        .sign_out(
            &SessionRequest {
                session_token: t.session_token.clone(),
            },
            &client(),
        )
        .unwrap();
    let v = h.svc.verifier();
    assert_eq!(
        v.verify_session(t.session_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    assert_eq!(
        v.verify_access(t.access_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    // The proxy applies the delta after its version and refuses too.
    proxy.apply(&h.svc.revocations_since(proxy.revocation_version()).unwrap());
    assert_eq!(
        proxy
            .verify_access(t.access_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    assert_eq!(refresh(&h, &t).unwrap_err(), AuthError::Revoked);
    // Signing out twice is fine.
    h.svc
        .sign_out(
            &SessionRequest {
                session_token: t.session_token.clone(),
            },
            &client(),
        )
        .unwrap();
}

#[test]
fn disabled_user_tokens_fail_once_the_revocation_is_applied() {
    let h = Harness::new();
    let (_, t) = h.enrolled("alice");
    let proxy = proxy_verifier(&h);
    let before = proxy.revocation_version();
    h.svc.disable_user(&admin(), "alice").unwrap();
    // Until the proxy syncs, it still accepts; after, it refuses.
    assert!(proxy
        .verify_access(t.access_token.expose(), h.now())
        .is_ok());
    let delta = h.svc.revocations_since(before).unwrap();
    assert!(!delta.entries.is_empty());
    // The delta crosses the wire as JSON.
    let delta = serde_json::from_str(&serde_json::to_string(&delta).unwrap()).unwrap();
    proxy.apply(&delta);
    assert_eq!(
        proxy
            .verify_access(t.access_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    assert_eq!(refresh(&h, &t).unwrap_err(), AuthError::Revoked);
    let set = h.svc.revocation_set().unwrap();
    let alice = h.svc.user("alice").unwrap();
    assert!(set.users.contains_key(alice.id.as_str()));
}

#[test]
fn group_removal_revokes_tokens_and_a_refresh_reflects_it() {
    let h = Harness::new();
    h.svc.create_group(&admin(), "ops").unwrap();
    let (seed, _) = h.enrolled("alice");
    h.svc.add_member(&admin(), "ops", "alice").unwrap();
    let t = h.sign_in("alice", &seed);
    let v = h.svc.verifier();
    assert_eq!(
        v.verify_access(t.access_token.expose(), h.now())
            .unwrap()
            .groups,
        vec!["ops"]
    );
    h.svc.remove_member(&admin(), "ops", "alice").unwrap();
    assert_eq!(
        v.verify_access(t.access_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    h.clock.advance(1);
    let fresh = refresh(&h, &t).unwrap();
    let p = v
        .verify_access(fresh.access_token.expose(), h.now())
        .unwrap();
    assert!(p.groups.is_empty());
}

#[test]
fn revoked_jti_is_refused_and_other_tokens_are_not() {
    let h = Harness::new();
    let (_, t) = h.enrolled("alice");
    let other = refresh(&h, &t).unwrap();
    let jti = part(t.access_token.expose(), 1)["jti"]
        .as_str()
        .unwrap()
        .to_string();
    h.svc.revoke_jti(&admin(), &jti, None).unwrap();
    let v = h.svc.verifier();
    assert_eq!(
        v.verify_access(t.access_token.expose(), h.now())
            .unwrap_err(),
        AuthError::Revoked
    );
    assert!(v
        .verify_access(other.access_token.expose(), h.now())
        .is_ok());
    assert!(h.audit_actions().iter().any(|a| a == "token.revoke"));
}

#[test]
fn key_rotation_keeps_the_old_key_published_until_its_tokens_expire() {
    let mut config = Config::default();
    config.tokens.key_rotation_secs = 3600;
    config.session.ttl_secs = 7200;
    let h = Harness::with_config(config);
    let (_, t) = h.enrolled("alice");
    let old_kid = part(t.access_token.expose(), 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let kids = |h: &Harness| -> Vec<String> {
        h.svc.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kids(&h), vec![old_kid.clone()]);
    assert!(!h.svc.rotate_keys_if_due(h.now()).unwrap());

    h.clock.advance(3600);
    assert!(h.svc.rotate_keys_if_due(h.now()).unwrap());
    let fresh = refresh(&h, &t).unwrap();
    let new_kid = part(fresh.access_token.expose(), 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_kid, old_kid);
    assert_eq!(kids(&h), vec![new_kid.clone(), old_kid.clone()]);
    // The session token signed by the old key still verifies: the old key is published.
    let v = h.svc.verifier();
    assert!(v.verify_session(t.session_token.expose(), h.now()).is_ok());
    assert!(proxy_verifier(&h)
        .verify_session(t.session_token.expose(), h.now())
        .is_ok());

    // Past the old key's last token (rotation + session ttl + leeway + slack), it is gone.
    h.clock.advance(7200 + 30 + 60 + 1);
    h.svc.maintain().unwrap();
    let now_kids = kids(&h);
    assert!(!now_kids.contains(&old_kid), "{now_kids:?}");
    assert!(now_kids.contains(&new_kid));
    assert_eq!(
        v.verify_session(t.session_token.expose(), h.now())
            .unwrap_err(),
        AuthError::InvalidToken
    );
}

#[test]
fn es256_tokens_verify_and_publish_an_ec_jwk() {
    let mut config = Config::default();
    config.tokens.algorithm = "ES256".into();
    let h = Harness::with_config(config);
    let (_, t) = h.enrolled("alice");
    assert_eq!(part(t.access_token.expose(), 0)["alg"], "ES256");
    let jwk = &h.svc.jwks()["keys"][0];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["use"], "sig");
    assert!(proxy_verifier(&h)
        .verify_access(t.access_token.expose(), h.now())
        .is_ok());
}

#[test]
fn changing_the_algorithm_rotates_the_key_and_old_tokens_still_verify() {
    let h = Harness::new();
    let (_, t) = h.enrolled("alice");
    let mut config = h.config.clone();
    config.tokens.algorithm = "ES256".into();
    let svc2 = seawall_identity::IdentityService::new(
        h.store.clone(),
        h.sealer.clone(),
        h.audit.clone(),
        h.events.clone(),
        std::sync::Arc::new(h.clock.clone()),
        &config,
    )
    .unwrap();
    let algs: Vec<String> = svc2.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(algs, vec!["ES256", "EdDSA"]);
    assert!(svc2
        .verifier()
        .verify_access(t.access_token.expose(), h.now())
        .is_ok());
}

#[test]
fn a_different_data_key_cannot_open_the_store() {
    let h = Harness::new();
    let other = seawall_identity::IdentityService::new(
        h.store.clone(),
        std::sync::Arc::new(seawall_core::seal::Sealer::new(
            seawall_core::seal::DataKey::generate(),
        )),
        h.audit.clone(),
        h.events.clone(),
        std::sync::Arc::new(h.clock.clone()),
        &h.config,
    );
    let err = other.unwrap_err().to_string();
    assert!(err.contains("sealed"), "{err}");
}

#[test]
fn openid_configuration_points_at_the_jwks() {
    let h = Harness::new();
    let doc = h.svc.openid_configuration("https://idp.test/");
    assert_eq!(doc["issuer"], "https://idp.test");
    assert_eq!(doc["jwks_uri"], "https://idp.test/.well-known/jwks.json");
    assert!(doc["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "EdDSA"));
    assert!(doc.get("token_endpoint").is_some());
}
