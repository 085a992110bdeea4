//! A gateway for benchmarks: the real [`Gateway`] with the identity crate's token
//! [`Verifier`] and the Cedar [`PolicyAuthorizer`], on plain HTTP, in front of one upstream.
//!
//! It signs one access token with a fixed test key (never use it anywhere else), prints it on
//! the first line of standard output and serves until killed.
//!
//! ```text
//! cargo run --release -p seawall-gateway --example bench_gateway -- 127.0.0.1:18083 http://127.0.0.1:18081
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::Signer;
use seawall_core::auth::{AuthError, Principal};
use seawall_core::config::{DeviceConfig, GatewayConfig, RouteConfig, SessionConfig};
use seawall_core::{Clock, SystemClock};
use seawall_gateway::policy::PolicyAuthorizer;
use seawall_gateway::{AssertionKey, Authenticate, Gateway, GatewayParts, NoAudit};
use seawall_identity::{Jwk, Jwks, Verifier};
use seawall_policy::device::PostureVerifier;
use seawall_policy::geo::GeoResolver;
use seawall_policy::risk::{BehaviourTracker, RiskEngine};
use seawall_policy::{PolicyEngine, Zone};
use std::sync::Arc;

const ISSUER: &str = "https://bench.seawall.invalid";
/// A fixed, published test key: tokens it signs are worthless outside this benchmark.
const TEST_TOKEN_KEY: [u8; 32] = [0x42; 32];

/// Every request is decided by these policies, with its full context.
const POLICIES: &str = r#"
@id("bench-read")
permit (principal in Group::"eng", action in Action::"read", resource == Route::"bench")
when { context.risk.score < 90 && context.device.posture != "noncompliant" };

@id("bench-no-admin")
@reason("admin_path")
forbid (principal, action, resource) when { resource.path like "/admin*" };
"#;

struct Tokens(Verifier);

impl Authenticate for Tokens {
    fn verify_access(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        self.0.verify_access(token, now)
    }
    fn verify_session(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        self.0.verify_session(token, now)
    }
}

fn access_token(now: i64) -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&TEST_TOKEN_KEY);
    let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "bench"});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "usr_bench", "aud": "seawall", "client_id": "seawall",
        "iat": now, "exp": now + 3000, "jti": "bench-token", "preferred_username": "bench",
        "groups": ["eng", "staff"], "amr": ["pwd", "otp", "mfa"], "auth_time": now,
        "mfa_time": now, "sid": "ses_bench",
    });
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig.to_bytes()))
}

fn verifier() -> Verifier {
    let key = ed25519_dalek::SigningKey::from_bytes(&TEST_TOKEN_KEY);
    let verifier = Verifier::new(ISSUER, "seawall");
    let jwks = Jwks {
        keys: vec![Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(B64.encode(key.verifying_key().as_bytes())),
            y: None,
            kid: "bench".into(),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }],
    };
    verifier
        .set_jwks(&jwks)
        .expect("the bench key is a valid jwk");
    verifier
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18083".into());
    let upstream = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18081".into());

    let engine = PolicyEngine::from_sources([("bench.cedar", POLICIES)]).expect("bench policies");
    let authorizer = PolicyAuthorizer::new(
        engine,
        Zone::utc(),
        GeoResolver::from_cidr(&Default::default()).expect("empty cidr table"),
        PostureVerifier::default(),
        BehaviourTracker::new(RiskEngine::default(), 1000),
    );
    if listen == "--measure" {
        measure(&authorizer);
        return;
    }
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    let gateway = Gateway::new(GatewayParts {
        gateway: GatewayConfig {
            listen: listener.local_addr().expect("local addr"),
            tls: false,
            ..GatewayConfig::default()
        },
        session: SessionConfig::default(),
        device: DeviceConfig::default(),
        routes: vec![RouteConfig {
            name: "bench".into(),
            host: None,
            path_prefix: "/".into(),
            upstream,
            upstream_ca: None,
            strip_prefix: false,
        }],
        public_url: format!("http://{listen}"),
        authenticator: Arc::new(Tokens(verifier())),
        authorizer: Arc::new(authorizer),
        sign_in: Arc::new(NoSignIn),
        decisions: Arc::new(NoAudit),
        assertion_key: Some(AssertionKey::from_bytes(&[0x17; 32])),
        metrics: None,
        forward_auth_route: None,
        clock: Arc::new(SystemClock),
    })
    .expect("gateway");
    println!("{}", access_token(SystemClock.now()));
    gateway
        .serve(listener, None, std::future::pending())
        .await
        .expect("serve");
}

/// Prints the cost of each per-request step, for finding where time goes.
fn measure(authorizer: &PolicyAuthorizer) {
    use seawall_gateway::Authorize;
    let now = SystemClock.now();
    let verifier = Tokens(verifier());
    let token = access_token(now);
    let n = 20_000u32;
    let t = std::time::Instant::now();
    let mut principal = None;
    for _ in 0..n {
        principal = Some(verifier.verify_access(&token, now).expect("token"));
    }
    println!("verify_access (cached): {:?}", t.elapsed() / n);
    let principal = principal.expect("principal");
    let request = seawall_gateway::AccessRequest {
        principal: &principal,
        method: "GET",
        route: "bench",
        host: "127.0.0.1",
        path: "/",
        ip: "127.0.0.1".parse().expect("ip"),
        now,
        device_cert: None,
        posture_assertion: None,
    };
    let t = std::time::Instant::now();
    for _ in 0..n {
        let d = authorizer.decide(&request);
        assert_eq!(d.verdict, seawall_gateway::Verdict::Allow, "{d:?}");
    }
    println!("decide: {:?}", t.elapsed() / n);
    let signer =
        seawall_gateway::AssertionSigner::new(AssertionKey::from_bytes(&[1; 32]), "x", 120);
    let t = std::time::Instant::now();
    for _ in 0..n {
        let _ = signer.sign(&principal, "bench", &["eng".to_string()], now, now + 60);
    }
    println!("assertion sign: {:?}", t.elapsed() / n);
    let t = std::time::Instant::now();
    for _ in 0..n {
        let _ = signer.assertion(&principal, "bench", &["eng".to_string()], now);
    }
    println!("assertion cached: {:?}", t.elapsed() / n);
}

/// The benchmark signs nobody in.
struct NoSignIn;

#[async_trait::async_trait]
impl seawall_core::auth::SignInBackend for NoSignIn {
    async fn password(
        &self,
        _: seawall_core::auth::PasswordRequest,
        _: &seawall_core::auth::ClientInfo,
    ) -> Result<seawall_core::auth::SignInStep, AuthError> {
        Err(AuthError::Unavailable)
    }
    async fn second_factor(
        &self,
        _: seawall_core::auth::FactorRequest,
        _: &seawall_core::auth::ClientInfo,
    ) -> Result<seawall_core::auth::SignInStep, AuthError> {
        Err(AuthError::Unavailable)
    }
    async fn enroll_totp(
        &self,
        _: seawall_core::auth::PendingRequest,
        _: &seawall_core::auth::ClientInfo,
    ) -> Result<seawall_core::auth::TotpEnrollment, AuthError> {
        Err(AuthError::Unavailable)
    }
    async fn confirm_totp(
        &self,
        _: seawall_core::auth::FactorRequest,
        _: &seawall_core::auth::ClientInfo,
    ) -> Result<seawall_core::auth::SignInStep, AuthError> {
        Err(AuthError::Unavailable)
    }
    async fn step_up(
        &self,
        _: seawall_core::auth::StepUpRequest,
        _: &seawall_core::auth::ClientInfo,
    ) -> Result<seawall_core::auth::SignInStep, AuthError> {
        Err(AuthError::Unavailable)
    }
    async fn sign_out(
        &self,
        _: seawall_core::auth::SessionRequest,
        _: &seawall_core::auth::ClientInfo,
    ) -> Result<(), AuthError> {
        Err(AuthError::Unavailable)
    }
    async fn refresh(
        &self,
        _: seawall_core::auth::RefreshRequest,
        _: &seawall_core::auth::ClientInfo,
    ) -> Result<seawall_core::auth::SignInStep, AuthError> {
        Err(AuthError::Unavailable)
    }
}
