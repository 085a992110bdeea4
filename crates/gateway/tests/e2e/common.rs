//! A real gateway on 127.0.0.1 in front of the real demo upstream, with the real Cedar
//! policy engine and the identity crate's real token `Verifier`. Tokens are JWTs signed here
//! with a test key the verifier trusts; the sign-in backend is an in-test stand-in for the
//! identity service (one user, one TOTP code), which needs a store.

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall_core::auth::*;
use seawall_core::config::{DeviceConfig, GatewayConfig, RouteConfig, SessionConfig};
use seawall_core::{Clock, SystemClock};
use seawall_gateway::*;
use seawall_identity::{Jwks, RevocationDelta, Verifier};
use seawall_policy::device::PostureVerifier;
use seawall_policy::geo::GeoResolver;
use seawall_policy::risk::{BehaviourTracker, RiskEngine};
use seawall_policy::{PolicyEngine, Zone};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const POLICIES: &str = r#"
@id("admins-all")
permit (principal in Group::"admins", action, resource);

@id("eng-reads-demo")
permit (principal in Group::"eng", action in Action::"read", resource == Route::"demo");

@id("eng-reads-secure")
permit (principal in Group::"eng", action in Action::"read", resource == Route::"secure");

@id("no-delete")
@reason("no_delete")
forbid (principal, action == Action::"DELETE", resource);

@id("secure-fresh-mfa")
@reason("stale_mfa")
@step_up("true")
forbid (principal, action, resource == Route::"secure") when { context.mfa_age > 300 };
"#;

pub const ISSUER: &str = "https://idp.test";

fn test_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[9; 32])
}

/// The identity crate's verifier, trusting the test key.
pub fn verifier() -> Arc<Verifier> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwks: Jwks = serde_json::from_value(serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "test", "alg": "EdDSA",
        "x": b64.encode(test_key().verifying_key().as_bytes())}]}))
    .unwrap();
    let v = Verifier::new(ISSUER, "seawall");
    v.set_jwks(&jwks).unwrap();
    Arc::new(v)
}

/// What a minted token says.
pub struct Claims<'a> {
    pub user: &'a str,
    pub groups: &'a [&'a str],
    /// Seconds since the second factor was used.
    pub mfa_age: i64,
    /// Seconds until expiry (negative: already expired).
    pub expires_in: i64,
    pub session: bool,
    pub sid: &'a str,
}

/// A Seawall access or session token, signed with the test key.
pub fn mint(c: &Claims<'_>) -> String {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = SystemClock.now();
    let (typ, aud) = if c.session {
        ("seawall-session+jwt", "seawall-session")
    } else {
        ("at+jwt", "seawall")
    };
    let header = serde_json::json!({"alg": "EdDSA", "typ": typ, "kid": "test"});
    let iat = now.min(now + c.expires_in - 1);
    let claims = serde_json::json!({"iss": ISSUER, "sub": format!("usr_{}", c.user), "aud": aud,
        "iat": iat, "exp": now + c.expires_in, "jti": format!("jti_{}", rand_suffix()),
        "preferred_username": c.user, "groups": c.groups, "amr": ["pwd", "otp"],
        "auth_time": now - c.mfa_age, "mfa_time": now - c.mfa_age, "sid": c.sid});
    let input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let sig = test_key().sign(input.as_bytes());
    format!("{input}.{}", b64.encode(sig.to_bytes()))
}

/// A session token for `user` with a fresh session id.
pub fn session_token(user: &str, groups: &[&str], mfa_age: i64) -> String {
    let sid = format!("ses_{}", rand_suffix());
    mint(&Claims {
        user,
        groups,
        mfa_age,
        expires_in: 3600,
        session: true,
        sid: &sid,
    })
}

/// The gateway's authenticator: the real verifier.
pub struct Tokens(pub Arc<Verifier>);

impl Authenticate for Tokens {
    fn verify_access(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        self.0.verify_access(token, now)
    }
    fn verify_session(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        self.0.verify_session(token, now)
    }
}

/// The stand-in sign-in backend: user `alice`, password `correct horse`, TOTP code `123456`.
pub struct Backend {
    pub verifier: Arc<Verifier>,
}

impl Backend {
    fn done(&self, mfa_age: i64) -> SignInStep {
        self.done_with(mfa_age, None)
    }

    fn done_with(&self, mfa_age: i64, recovery_codes: Option<Vec<SecretString>>) -> SignInStep {
        let session = session_token("alice", &["eng", "staff"], mfa_age);
        SignInStep::Done(Box::new(seawall_core::auth::Tokens {
            session_token: SecretString::new(session),
            access_token: SecretString::new("unused"),
            refresh_token: SecretString::new("unused"),
            expires_in: 300,
            session_expires_in: 3600,
            recovery_codes,
        }))
    }
}

fn rand_suffix() -> String {
    format!("{:x}", rand::random::<u64>())
}

#[async_trait::async_trait]
impl SignInBackend for Backend {
    async fn password(&self, r: PasswordRequest, _: &ClientInfo) -> Result<SignInStep, AuthError> {
        if r.username == "newbie" && r.password.expose() == "first time" {
            return Ok(SignInStep::Enroll {
                pending: SecretString::new("pending-newbie"),
            });
        }
        if r.username == "alice" && r.password.expose() == "correct horse" {
            Ok(SignInStep::SecondFactor {
                pending: SecretString::new("pending-alice"),
                factors: vec![FactorKind::Totp, FactorKind::RecoveryCode],
            })
        } else {
            Err(AuthError::BadCredentials)
        }
    }
    async fn second_factor(
        &self,
        r: FactorRequest,
        _: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        if r.pending.expose() != "pending-alice" {
            return Err(AuthError::PendingExpired);
        }
        if r.code.expose() != "123456" {
            return Err(AuthError::BadCode);
        }
        Ok(self.done(0))
    }
    async fn enroll_totp(
        &self,
        r: PendingRequest,
        _: &ClientInfo,
    ) -> Result<TotpEnrollment, AuthError> {
        if r.pending.expose() != "pending-newbie" {
            return Err(AuthError::PendingExpired);
        }
        Ok(TotpEnrollment {
            uri: SecretString::new(
                "otpauth://totp/Seawall:newbie?secret=JBSWY3DPEHPK3PXP&issuer=Seawall",
            ),
            secret: SecretString::new("JBSWY3DPEHPK3PXP"),
            qr_svg: "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"qr\"></svg>".into(),
        })
    }
    async fn confirm_totp(
        &self,
        r: FactorRequest,
        _: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        if r.pending.expose() != "pending-newbie" {
            return Err(AuthError::PendingExpired);
        }
        if r.code.expose() != "654321" {
            return Err(AuthError::BadCode);
        }
        let codes = vec![
            SecretString::new("aaaa-bbbb"),
            SecretString::new("cccc-dddd"),
        ];
        Ok(self.done_with(0, Some(codes)))
    }
    async fn step_up(&self, r: StepUpRequest, _: &ClientInfo) -> Result<SignInStep, AuthError> {
        self.verifier
            .verify_session(r.session_token.expose(), SystemClock.now())?;
        if r.code.expose() != "123456" {
            return Err(AuthError::BadCode);
        }
        Ok(self.done(0))
    }
    async fn sign_out(&self, r: SessionRequest, _: &ClientInfo) -> Result<(), AuthError> {
        let now = SystemClock.now();
        let p = self
            .verifier
            .verify_session(r.session_token.expose(), now)?;
        let version = self.verifier.revocation_version() + 1;
        let delta: RevocationDelta = serde_json::from_value(serde_json::json!({
            "from_version": version - 1, "version": version, "entries": [{"version": version,
            "kind": "session", "subject": p.session_id.unwrap().as_str(), "revoked_at": now,
            "expires_at": now + 3600}]}))
        .unwrap();
        self.verifier.apply(&delta);
        Ok(())
    }
    async fn refresh(&self, _: RefreshRequest, _: &ClientInfo) -> Result<SignInStep, AuthError> {
        Err(AuthError::Unavailable)
    }
}

/// Decisions the gateway reported.
#[derive(Default)]
pub struct Recorded(pub Mutex<Vec<DecisionRecord>>);

impl DecisionSink for Recorded {
    fn record(&self, r: DecisionRecord) {
        self.0.lock().unwrap().push(r);
    }
}

pub struct Harness {
    pub gateway: Gateway,
    pub addr: SocketAddr,
    pub upstream: SocketAddr,
    pub decisions: Arc<Recorded>,
    pub authorizer: Arc<PolicyAuthorizer>,
}

pub fn routes(upstream: SocketAddr) -> Vec<RouteConfig> {
    let route = |name: &str, prefix: &str, up: String| RouteConfig {
        name: name.into(),
        host: None,
        path_prefix: prefix.into(),
        upstream: up,
        upstream_ca: None,
        strip_prefix: false,
    };
    vec![
        route("demo", "/", format!("http://{upstream}")),
        route("secure", "/secure", format!("http://{upstream}")),
        // Nothing listens on port 9 of loopback (discard is not run).
        route("down", "/down", "http://127.0.0.1:9".into()),
    ]
}

pub struct Options {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub device_posture_keys: Vec<String>,
    pub metrics: Option<GatewayMetrics>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tls: None,
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            device_posture_keys: Vec::new(),
            metrics: None,
        }
    }
}

pub async fn start() -> Harness {
    start_with(Options::default()).await
}

pub async fn start_with(opts: Options) -> Harness {
    let upstream = demo::spawn_echo("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let verifier = verifier();
    let decisions = Arc::new(Recorded::default());
    let engine = PolicyEngine::from_sources([("test.cedar", POLICIES)]).unwrap();
    let mut cidr = BTreeMap::new();
    cidr.insert("127.0.0.0/8".to_string(), "GB".to_string());
    let authorizer = Arc::new(PolicyAuthorizer::new(
        engine,
        Zone::utc(),
        GeoResolver::from_cidr(&cidr).unwrap(),
        PostureVerifier::new(&opts.device_posture_keys).unwrap(),
        BehaviourTracker::new(RiskEngine::default(), 1000),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway_cfg = GatewayConfig {
        listen: addr,
        tls: opts.tls.is_some(),
        trusted_proxies: opts.trusted_proxies,
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(GatewayParts {
        gateway: gateway_cfg,
        session: SessionConfig::default(),
        device: DeviceConfig::default(),
        routes: routes(upstream),
        public_url: format!("http://{addr}"),
        authenticator: Arc::new(Tokens(verifier.clone())),
        authorizer: authorizer.clone(),
        sign_in: Arc::new(Backend {
            verifier: verifier.clone(),
        }),
        decisions: decisions.clone(),
        assertion_key: None,
        metrics: opts.metrics,
        forward_auth_route: None,
        clock: Arc::new(SystemClock),
    })
    .unwrap();
    tokio::spawn(
        gateway
            .clone()
            .serve(listener, opts.tls, std::future::pending()),
    );
    Harness {
        gateway,
        addr,
        upstream,
        decisions,
        authorizer,
    }
}

impl Harness {
    /// Issues a bearer token for a user.
    pub fn token(&self, user: &str, groups: &[&str], mfa_age: i64) -> String {
        let sid = format!("ses_{}", rand_suffix());
        mint(&Claims {
            user,
            groups,
            mfa_age,
            expires_in: 300,
            session: false,
            sid: &sid,
        })
    }

    /// What the upstream's access log holds.
    pub async fn access_log(&self) -> Vec<serde_json::Value> {
        let r = send(
            &format!("http://{}/__access_log", self.upstream),
            &[],
            "GET",
            "",
        )
        .await;
        serde_json::from_slice(&r.body).unwrap()
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// Sends one request with a plain HTTP/1.1 client.
pub async fn send(url: &str, headers: &[(&str, &str)], method: &str, body: &str) -> Reply {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}
