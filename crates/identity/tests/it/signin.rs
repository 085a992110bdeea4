//! Sign-in: mandatory MFA, TOTP and recovery codes, throttling and lockouts, auditing.

use crate::common::{admin, client, client_from, Harness, PASSWORD};
use seawall_core::auth::{
    AuthError, FactorKind, FactorRequest, PasswordRequest, PendingRequest, SecretString,
    SignInStep, StepUpRequest,
};
use seawall_core::config::{Config, ThrottleConfig};
use seawall_core::event::EventKind;
use seawall_identity::totp;

fn factor(pending: &SecretString, kind: FactorKind, code: &str) -> FactorRequest {
    FactorRequest {
        pending: pending.clone(),
        kind,
        code: SecretString::new(code),
    }
}

fn second_factor_pending(h: &Harness, name: &str) -> SecretString {
    match h.password(name, PASSWORD).unwrap() {
        SignInStep::SecondFactor { pending, .. } => pending,
        other => panic!("unexpected step {other:?}"),
    }
}

#[test]
fn user_without_a_factor_can_only_enroll_and_gets_no_token() {
    let h = Harness::new();
    h.svc
        .create_user(&admin(), "alice", &SecretString::new(PASSWORD))
        .unwrap();
    let SignInStep::Enroll { pending } = h.password("alice", PASSWORD).unwrap() else {
        panic!("expected enroll-only");
    };
    // The enroll-only proof cannot be spent as a second factor, with any code.
    for kind in [FactorKind::Totp, FactorKind::RecoveryCode] {
        let err = h
            .svc
            .sign_in_factor(&factor(&pending, kind, "123456"), &client())
            .unwrap_err();
        assert_eq!(err, AuthError::EnrollmentRequired);
    }
    // Nor confirmed before an enrollment was started.
    let err = h
        .svc
        .confirm_totp_enrollment(&factor(&pending, FactorKind::Totp, "123456"), &client())
        .unwrap_err();
    assert!(matches!(err, AuthError::Malformed(_)), "{err:?}");
    assert!(h.svc.sessions("alice").unwrap().is_empty());
}

#[test]
fn enrollment_yields_standard_totp_uri_and_recovery_codes() {
    let h = Harness::new();
    h.svc
        .create_user(&admin(), "alice", &SecretString::new(PASSWORD))
        .unwrap();
    let SignInStep::Enroll { pending } = h.password("alice", PASSWORD).unwrap() else {
        panic!("expected enroll-only");
    };
    let e = h
        .svc
        .start_totp_enrollment(
            &PendingRequest {
                pending: pending.clone(),
            },
            &client(),
        )
        .unwrap();
    let secret = e.secret.expose();
    assert_eq!(secret.len(), 32);
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
    assert_eq!(
        e.uri.expose(),
        format!(
            "otpauth://totp/Seawall:alice?secret={secret}&issuer=Seawall&algorithm=SHA1\
             &digits=6&period=30"
        )
    );
    assert!(e.qr_svg.contains("<svg"));
    let seed = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let code = totp::code_at_step(&seed, totp::step_of(h.now()));
    let SignInStep::Done(tokens) = h
        .svc
        .confirm_totp_enrollment(&factor(&pending, FactorKind::Totp, &code), &client())
        .unwrap()
    else {
        panic!("expected tokens");
    };
    let codes = tokens.recovery_codes.expect("recovery codes at enrollment");
    assert_eq!(codes.len(), h.config.mfa.recovery_codes);
    let user = h.svc.user("alice").unwrap();
    assert_eq!(user.recovery_codes_left, codes.len());
    assert!(user.factors.iter().all(|f| f.confirmed));
}

#[test]
fn totp_code_already_used_is_refused_even_inside_its_window() {
    let h = Harness::new();
    let (seed, _) = h.enrolled("alice");
    let code = totp::code_at_step(&seed, totp::step_of(h.now()));
    let pending = second_factor_pending(&h, "alice");
    let ok = h
        .svc
        .sign_in_factor(&factor(&pending, FactorKind::Totp, &code), &client())
        .unwrap();
    assert!(matches!(ok, SignInStep::Done(_)));
    h.clock.advance(5);
    let pending = second_factor_pending(&h, "alice");
    let err = h
        .svc
        .sign_in_factor(&factor(&pending, FactorKind::Totp, &code), &client())
        .unwrap_err();
    assert_eq!(err, AuthError::CodeReused);
    // A code from the step before the used one is refused too.
    let earlier = totp::code_at_step(&seed, totp::step_of(h.now()) - 1);
    let err = h
        .svc
        .sign_in_factor(&factor(&pending, FactorKind::Totp, &earlier), &client())
        .unwrap_err();
    assert_eq!(err, AuthError::CodeReused);
}

#[test]
fn totp_clock_skew_of_one_step_is_accepted_and_two_refused() {
    for (offset, accepted) in [(-2i64, false), (-1, true), (1, true), (2, false)] {
        let h = Harness::new();
        let (seed, _) = h.enrolled("alice");
        // Move well past the enrollment step so earlier steps are not "used".
        h.clock.advance(10 * totp::PERIOD);
        let code = totp::code_at_step(&seed, totp::step_of(h.now()) + offset);
        let pending = second_factor_pending(&h, "alice");
        let got = h
            .svc
            .sign_in_factor(&factor(&pending, FactorKind::Totp, &code), &client());
        assert_eq!(got.is_ok(), accepted, "offset {offset}: {got:?}");
        if !accepted {
            assert_eq!(got.unwrap_err(), AuthError::BadCode);
        }
    }
}

#[test]
fn recovery_code_works_once() {
    let h = Harness::new();
    let (_, tokens) = h.enrolled("alice");
    let code = tokens.recovery_codes.unwrap()[0].clone();
    let pending = second_factor_pending(&h, "alice");
    // Typed in upper case without dashes, it still matches.
    let typed = code.expose().replace('-', "").to_uppercase();
    let step = h
        .svc
        .sign_in_factor(
            &factor(&pending, FactorKind::RecoveryCode, &typed),
            &client(),
        )
        .unwrap();
    let SignInStep::Done(t) = step else { panic!() };
    let p = h
        .svc
        .verifier()
        .verify_access(t.access_token.expose(), h.now())
        .unwrap();
    assert_eq!(p.amr, vec!["pwd", "recovery_code", "mfa"]);
    let pending = second_factor_pending(&h, "alice");
    let err = h
        .svc
        .sign_in_factor(
            &factor(&pending, FactorKind::RecoveryCode, code.expose()),
            &client(),
        )
        .unwrap_err();
    assert_eq!(err, AuthError::BadCode);
    assert_eq!(
        h.svc.user("alice").unwrap().recovery_codes_left,
        h.config.mfa.recovery_codes - 1
    );
}

#[test]
fn pending_proof_expires_after_five_minutes_and_is_single_use() {
    let h = Harness::new();
    let (seed, _) = h.enrolled("alice");
    let pending = second_factor_pending(&h, "alice");
    h.clock.advance(301);
    let code = totp::code_at_step(&seed, totp::step_of(h.now()));
    let err = h
        .svc
        .sign_in_factor(&factor(&pending, FactorKind::Totp, &code), &client())
        .unwrap_err();
    assert_eq!(err, AuthError::PendingExpired);

    let pending = second_factor_pending(&h, "alice");
    h.svc
        .sign_in_factor(&factor(&pending, FactorKind::Totp, &code), &client())
        .unwrap();
    h.clock.advance(totp::PERIOD);
    let next = totp::code_at_step(&seed, totp::step_of(h.now()));
    let err = h
        .svc
        .sign_in_factor(&factor(&pending, FactorKind::Totp, &next), &client())
        .unwrap_err();
    assert_eq!(err, AuthError::PendingExpired);
    let garbage = SecretString::new("not-a-pending-token");
    let err = h
        .svc
        .sign_in_factor(&factor(&garbage, FactorKind::Totp, &next), &client())
        .unwrap_err();
    assert_eq!(err, AuthError::PendingExpired);
}

fn throttled_config() -> Config {
    Config {
        throttle: ThrottleConfig {
            free_failures: 2,
            base_delay_ms: 1000,
            max_delay_secs: 8,
        },
        ..Config::default()
    }
}

#[test]
fn failures_back_off_exponentially_then_lock_out() {
    let h = Harness::with_config(throttled_config());
    h.enrolled("alice");
    let mut waits = Vec::new();
    for _ in 0..7 {
        assert_eq!(
            h.password("alice", "wrong password").unwrap_err(),
            AuthError::BadCredentials
        );
        match h.password("alice", "wrong password") {
            Err(AuthError::Throttled { retry_after }) => {
                waits.push(retry_after);
                h.clock.advance(i64::try_from(retry_after).unwrap());
            }
            Err(AuthError::BadCredentials) => {
                waits.push(0);
                // That attempt counted as a failure too; undo nothing, keep counting.
                continue;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Free failures first, then 1 s, 2 s, 4 s and the 8 s maximum.
    assert!(
        waits.contains(&1) && waits.contains(&2) && waits.contains(&4),
        "{waits:?}"
    );
    assert_eq!(*waits.last().unwrap(), 8, "{waits:?}");

    let events = h.events.0.lock().unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Lockout { subject, .. } if subject == "user:alice")));
    drop(events);
    assert!(h.audit_actions().iter().any(|a| a == "signin.lockout"));
}

#[test]
fn even_the_right_password_is_refused_while_throttled_and_admin_can_clear_it() {
    let h = Harness::with_config(throttled_config());
    h.enrolled("alice");
    for _ in 0..3 {
        let _ = h.password("alice", "wrong password");
    }
    assert!(matches!(
        h.password("alice", PASSWORD),
        Err(AuthError::Throttled { .. })
    ));
    let lockouts = h.svc.list_lockouts().unwrap();
    assert_eq!(lockouts.len(), 1, "{lockouts:?}");
    assert_eq!(lockouts[0].subject, "user:alice");
    h.svc.clear_lockout(&admin(), "alice").unwrap();
    assert!(h.svc.list_lockouts().unwrap().is_empty());
    assert!(matches!(
        h.password("alice", PASSWORD),
        Ok(SignInStep::SecondFactor { .. })
    ));
    assert!(h.svc.clear_lockout(&admin(), "alice").is_err());
}

#[test]
fn unknown_user_names_are_throttled_and_answered_like_known_ones() {
    let h = Harness::with_config(throttled_config());
    h.enrolled("alice");
    let mut answers = Vec::new();
    for name in ["alice", "nobody"] {
        let mut seq = Vec::new();
        for _ in 0..4 {
            let start = std::time::Instant::now();
            let r = h.password(name, "wrong password");
            seq.push((format!("{:?}", r.map(|_| ())), start.elapsed()));
        }
        answers.push(seq);
    }
    let shapes: Vec<Vec<String>> = answers
        .iter()
        .map(|s| s.iter().map(|(r, _)| r.clone()).collect())
        .collect();
    assert_eq!(shapes[0], shapes[1]);
    assert!(
        shapes[1].last().unwrap().contains("Throttled"),
        "{shapes:?}"
    );
    let timings: Vec<Vec<_>> = answers
        .iter()
        .map(|s| s.iter().map(|(_, d)| *d).collect())
        .collect();
    println!(
        "wrong password, known name: {:?}; unknown name: {:?}",
        timings[0], timings[1]
    );
    // Names that could never exist go the same way.
    assert_eq!(
        h.password("not a valid name!", "x").unwrap_err(),
        AuthError::BadCredentials
    );
}

#[test]
fn address_throttle_spans_user_names() {
    let h = Harness::with_config(throttled_config());
    // Ten free failures per address (five times a name's two), spread over many names.
    let mut throttled = false;
    for i in 0..12 {
        let r = h.svc.sign_in_password(
            &PasswordRequest {
                username: format!("user{i}"),
                password: SecretString::new("wrong password"),
            },
            &client_from("198.51.100.7"),
        );
        throttled |= matches!(r, Err(AuthError::Throttled { .. }));
    }
    assert!(throttled);
    assert!(h
        .svc
        .list_lockouts()
        .unwrap()
        .iter()
        .any(|l| l.subject == "ip:198.51.100.7"));
}

#[test]
fn disabled_user_cannot_sign_in() {
    let h = Harness::new();
    h.enrolled("alice");
    h.svc.disable_user(&admin(), "alice").unwrap();
    assert_eq!(
        h.password("alice", PASSWORD).unwrap_err(),
        AuthError::BadCredentials
    );
    h.svc.enable_user(&admin(), "alice").unwrap();
    assert!(h.password("alice", PASSWORD).is_ok());
}

#[test]
fn step_up_renews_mfa_time() {
    let h = Harness::new();
    let (seed, tokens) = h.enrolled("alice");
    let v = h.svc.verifier();
    let before = v
        .verify_session(tokens.session_token.expose(), h.now())
        .unwrap();
    h.clock.advance(600);
    let code = totp::code_at_step(&seed, totp::step_of(h.now()));
    let SignInStep::Done(fresh) = h
        .svc
        .step_up_session(
            &StepUpRequest {
                session_token: tokens.session_token.clone(),
                kind: FactorKind::Totp,
                code: SecretString::new(code.clone()),
            },
            &client(),
        )
        .unwrap()
    else {
        panic!()
    };
    let after = v
        .verify_session(fresh.session_token.expose(), h.now())
        .unwrap();
    assert_eq!(after.session_id, before.session_id);
    assert_eq!(after.mfa_time, h.now());
    assert!(after.mfa_time >= before.mfa_time + 600);
    // The same code again is refused.
    let err = h
        .svc
        .step_up_session(
            &StepUpRequest {
                session_token: fresh.session_token.clone(),
                kind: FactorKind::Totp,
                code: SecretString::new(code),
            },
            &client(),
        )
        .unwrap_err();
    assert_eq!(err, AuthError::CodeReused);
}

#[test]
fn every_step_is_audited_and_no_secret_reaches_the_audit_log() {
    let h = Harness::new();
    let (seed, tokens) = h.enrolled("alice");
    let _ = h.password("alice", "wrong password");
    let _ = h.password("mallory-typed-a-password", "x");
    let t2 = h.sign_in("alice", &seed);
    let _ = h.svc.refresh(
        &seawall_core::auth::RefreshRequest {
            refresh_token: t2.refresh_token.clone(),
        },
        &client(),
    );
    let actions = h.audit_actions();
    for want in [
        "user.create",
        "signin.password",
        "factor.enroll.start",
        "factor.enroll",
        "factor.recovery_codes.issue",
        "token.issue",
        "signin.factor",
        "token.refresh",
        "keys.rotate",
    ] {
        assert!(
            actions.iter().any(|a| a == want),
            "missing {want} in {actions:?}"
        );
    }
    let all = h.audit_bodies().join("\n");
    let mut secrets = vec![
        PASSWORD.to_string(),
        tokens.access_token.expose().to_string(),
        tokens.session_token.expose().to_string(),
        tokens.refresh_token.expose().to_string(),
        t2.refresh_token.expose().to_string(),
        data_encoding::BASE32_NOPAD.encode(&seed),
        "mallory-typed-a-password".into(),
    ];
    secrets.extend(
        tokens
            .recovery_codes
            .unwrap()
            .iter()
            .map(|c| c.expose().to_string()),
    );
    for s in secrets {
        assert!(!all.contains(&s), "audit log contains a secret");
    }
    assert!(all.contains("\"outcome\":\"failure\""));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let h = Harness::new();
    let (seed, tokens) = h.enrolled("alice");
    let pending = second_factor_pending(&h, "alice");
    let dbg = format!(
        "{tokens:?} {pending:?} {:?} {:?} {:?}",
        h.svc,
        h.svc.verifier(),
        h.svc.user("alice").unwrap()
    );
    for secret in [
        tokens.access_token.expose(),
        tokens.session_token.expose(),
        tokens.refresh_token.expose(),
        pending.expose(),
        &data_encoding::BASE32_NOPAD.encode(&seed),
        PASSWORD,
    ] {
        assert!(!dbg.contains(secret), "debug output leaks a secret");
    }
    for c in tokens.recovery_codes.unwrap() {
        assert!(!dbg.contains(c.expose()));
    }
}

#[test]
fn admin_surface_validates_names_and_reports_conflicts() {
    let h = Harness::new();
    let ctx = admin();
    let err = h
        .svc
        .create_user(&ctx, "Bad Name", &SecretString::new(PASSWORD))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`Bad Name`") && !err.contains('\n'), "{err}");
    assert!(h
        .svc
        .create_user(&ctx, "bob", &SecretString::new("short"))
        .is_err());
    h.svc
        .create_user(&ctx, "Bob", &SecretString::new(PASSWORD))
        .unwrap();
    let err = h
        .svc
        .create_user(&ctx, "bob", &SecretString::new(PASSWORD))
        .unwrap_err();
    assert_eq!(err.status(), 409);
    h.svc.create_group(&ctx, "ops").unwrap();
    h.svc.add_member(&ctx, "ops", "bob").unwrap();
    assert_eq!(h.svc.group("ops").unwrap().members, vec!["bob"]);
    assert_eq!(h.svc.user("bob").unwrap().groups, vec!["ops"]);
    assert_eq!(h.svc.groups().unwrap().len(), 1);
    assert_eq!(h.svc.users().unwrap().len(), 1);
    assert_eq!(
        h.svc
            .add_member(&ctx, "ops", "nobody")
            .unwrap_err()
            .status(),
        404
    );
    h.svc.remove_member(&ctx, "ops", "bob").unwrap();
    h.svc.delete_group(&ctx, "ops").unwrap();
    assert_eq!(h.svc.group("ops").unwrap_err().status(), 404);
    let actions = h.audit_actions();
    for want in [
        "group.create",
        "group.member.add",
        "group.member.remove",
        "group.delete",
    ] {
        assert!(actions.iter().any(|a| a == want), "missing {want}");
    }
}

#[test]
fn admin_password_set_changes_the_password() {
    let h = Harness::new();
    let (_, tokens) = h.enrolled("alice");
    h.svc
        .set_password(&admin(), "alice", &SecretString::new("a new passphrase"))
        .unwrap();
    assert_eq!(
        h.password("alice", PASSWORD).unwrap_err(),
        AuthError::BadCredentials
    );
    assert!(h.password("alice", "a new passphrase").is_ok());
    let err = h
        .svc
        .verifier()
        .verify_access(tokens.access_token.expose(), h.now())
        .unwrap_err();
    assert_eq!(err, AuthError::Revoked);
}

#[test]
fn reset_factors_sends_the_user_back_to_enrollment() {
    let h = Harness::new();
    h.enrolled("alice");
    h.svc.reset_factors(&admin(), "alice").unwrap();
    assert!(matches!(
        h.password("alice", PASSWORD).unwrap(),
        SignInStep::Enroll { .. }
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn sign_in_backend_runs_the_steps_off_the_async_thread() {
    use seawall_core::auth::SignInBackend;
    let h = Harness::new();
    h.svc
        .create_user(&admin(), "alice", &SecretString::new(PASSWORD))
        .unwrap();
    let backend: &dyn SignInBackend = &h.svc;
    let step = backend
        .password(
            PasswordRequest {
                username: "alice".into(),
                password: SecretString::new(PASSWORD),
            },
            &client(),
        )
        .await
        .unwrap();
    assert!(matches!(step, SignInStep::Enroll { .. }));
}
