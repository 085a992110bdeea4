//! A real gateway on 127.0.0.1 in front of the real demo upstream, with the real Cedar
//! policy engine. Token verification and the sign-in backend are in-test stand-ins for the
//! identity crate: a table of issued tokens, and one user with one TOTP code.

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall_core::auth::*;
use seawall_core::config::{DeviceConfig, GatewayConfig, RouteConfig, SessionConfig};
use seawall_core::ids::{SessionId, UserId};
use seawall_core::{Clock, SystemClock};
use seawall_gateway::*;
use seawall_policy::device::PostureVerifier;
use seawall_policy::geo::GeoResolver;
use seawall_policy::risk::{BehaviourTracker, RiskEngine};
use seawall_policy::{PolicyEngine, Zone};
use std::collections::{BTreeMap, HashMap};
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

/// Tokens the stand-in identity provider has issued.
#[derive(Default)]
pub struct Tokens {
    pub access: Mutex<HashMap<String, Principal>>,
    pub sessions: Mutex<HashMap<String, Principal>>,
}

impl Authenticate for Tokens {
    fn verify_access(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        check(self.access.lock().unwrap().get(token), now)
    }
    fn verify_session(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        check(self.sessions.lock().unwrap().get(token), now)
    }
}

fn check(p: Option<&Principal>, now: i64) -> Result<Principal, AuthError> {
    match p {
        None => Err(AuthError::InvalidToken),
        Some(p) if p.expires_at <= now => Err(AuthError::Expired),
        Some(p) => Ok(p.clone()),
    }
}

pub fn principal(user: &str, groups: &[&str], mfa_age: i64) -> Principal {
    let now = SystemClock.now();
    Principal {
        user_id: UserId::from_stored(format!("usr_{user}")),
        username: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        amr: vec!["pwd".into(), "otp".into()],
        auth_time: now - mfa_age,
        mfa_time: now - mfa_age,
        session_id: Some(SessionId::from_stored(format!("ses_{user}"))),
        token_id: format!("jti_{user}_{mfa_age}"),
        issued_at: now - 10,
        expires_at: now + 300,
    }
}

/// The stand-in sign-in backend: user `alice`, password `correct horse`, TOTP code `123456`.
pub struct Backend {
    pub tokens: Arc<Tokens>,
}

impl Backend {
    fn done(&self, mfa_age: i64) -> SignInStep {
        self.done_with(mfa_age, None)
    }

    fn done_with(&self, mfa_age: i64, recovery_codes: Option<Vec<SecretString>>) -> SignInStep {
        let session = format!("session-{}", rand_suffix());
        let p = principal("alice", &["eng", "staff"], mfa_age);
        self.tokens
            .sessions
            .lock()
            .unwrap()
            .insert(session.clone(), p);
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
        if !self
            .tokens
            .sessions
            .lock()
            .unwrap()
            .contains_key(r.session_token.expose())
        {
            return Err(AuthError::InvalidToken);
        }
        if r.code.expose() != "123456" {
            return Err(AuthError::BadCode);
        }
        Ok(self.done(0))
    }
    async fn sign_out(&self, r: SessionRequest, _: &ClientInfo) -> Result<(), AuthError> {
        self.tokens
            .sessions
            .lock()
            .unwrap()
            .remove(r.session_token.expose());
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
    pub tokens: Arc<Tokens>,
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
    let tokens = Arc::new(Tokens::default());
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
        authenticator: tokens.clone(),
        authorizer: authorizer.clone(),
        sign_in: Arc::new(Backend {
            tokens: tokens.clone(),
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
        tokens,
        decisions,
        authorizer,
    }
}

impl Harness {
    /// Issues a bearer token for a user.
    pub fn token(&self, user: &str, groups: &[&str], mfa_age: i64) -> String {
        let token = format!("tok-{user}-{}", rand_suffix());
        let p = principal(user, groups, mfa_age);
        self.tokens.access.lock().unwrap().insert(token.clone(), p);
        token
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
