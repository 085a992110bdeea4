//! A real identity service on an in-memory SQLite store, a real audit log and a clock the
//! tests move by hand.

use seawall_audit::AuditLog;
use seawall_core::auth::{
    ClientInfo, FactorKind, FactorRequest, PasswordRequest, PendingRequest, SecretString,
    SignInStep, Tokens,
};
use seawall_core::clock::{ManualClock, SharedClock};
use seawall_core::config::Config;
use seawall_core::event::{EventSink, SecurityEvent};
use seawall_core::seal::{DataKey, Sealer};
use seawall_identity::totp;
use seawall_identity::{AdminContext, IdentityService};
use seawall_store::sqlite::SqliteStore;
use seawall_store::Store;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// 2023-11-14T22:13:00Z, at the start of a TOTP step.
pub const START: i64 = 1_699_999_980;
pub const PASSWORD: &str = "correct horse battery";

/// Collects published events.
#[derive(Default)]
pub struct Events(pub Mutex<Vec<SecurityEvent>>);

impl EventSink for Events {
    fn publish(&self, event: SecurityEvent) {
        self.0.lock().unwrap().push(event);
    }
}

pub struct Harness {
    pub svc: IdentityService,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    pub audit: AuditLog,
    pub sealer: Arc<Sealer>,
    pub events: Arc<Events>,
    pub config: Config,
}

pub fn client() -> ClientInfo {
    client_from("192.0.2.10")
}

pub fn client_from(ip: &str) -> ClientInfo {
    ClientInfo {
        ip: ip.parse::<IpAddr>().unwrap(),
        user_agent: Some("test".into()),
    }
}

pub fn admin() -> AdminContext {
    AdminContext {
        actor: "root".into(),
        source_ip: None,
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(mut config: Config) -> Self {
        config.server.public_url = Some("https://idp.test".into());
        let clock = ManualClock::at(START);
        let shared: SharedClock = Arc::new(clock.clone());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let sealer = Arc::new(Sealer::new(DataKey::generate()));
        let audit = AuditLog::open(store.clone(), &sealer, shared.clone()).unwrap();
        let events = Arc::new(Events::default());
        let svc = IdentityService::new(
            store.clone(),
            sealer.clone(),
            audit.clone(),
            events.clone(),
            shared,
            &config,
        )
        .unwrap();
        Self {
            svc,
            clock,
            store,
            audit,
            sealer,
            events,
            config,
        }
    }

    pub fn now(&self) -> i64 {
        use seawall_core::Clock;
        self.clock.now()
    }

    /// Every audit record written so far, as JSON text.
    pub fn audit_bodies(&self) -> Vec<String> {
        self.audit.flush().unwrap();
        self.store
            .audit_records(0, 100_000)
            .unwrap()
            .into_iter()
            .map(|r| r.body)
            .collect()
    }

    pub fn audit_actions(&self) -> Vec<String> {
        self.audit_bodies()
            .iter()
            .map(|b| {
                let v: serde_json::Value = serde_json::from_str(b).unwrap();
                v["action"].as_str().unwrap().to_string()
            })
            .collect()
    }

    pub fn password(
        &self,
        user: &str,
        password: &str,
    ) -> Result<SignInStep, seawall_core::auth::AuthError> {
        self.svc.sign_in_password(
            &PasswordRequest {
                username: user.into(),
                password: SecretString::new(password),
            },
            &client(),
        )
    }

    /// Creates a user and enrolls TOTP; returns the TOTP seed and the first tokens. The clock
    /// is moved to the next step so the next code is fresh.
    pub fn enrolled(&self, name: &str) -> (Vec<u8>, Tokens) {
        self.svc
            .create_user(&admin(), name, &SecretString::new(PASSWORD))
            .unwrap();
        let SignInStep::Enroll { pending } = self.password(name, PASSWORD).unwrap() else {
            panic!("a new user must be asked to enroll");
        };
        let enrollment = self
            .svc
            .start_totp_enrollment(
                &PendingRequest {
                    pending: pending.clone(),
                },
                &client(),
            )
            .unwrap();
        let seed = data_encoding::BASE32_NOPAD
            .decode(enrollment.secret.expose().as_bytes())
            .unwrap();
        let code = totp::code_at_step(&seed, totp::step_of(self.now()));
        let step = self
            .svc
            .confirm_totp_enrollment(
                &FactorRequest {
                    pending,
                    kind: FactorKind::Totp,
                    code: SecretString::new(code),
                },
                &client(),
            )
            .unwrap();
        let SignInStep::Done(tokens) = step else {
            panic!("confirming enrollment must sign in");
        };
        self.clock.advance(totp::PERIOD);
        (seed, *tokens)
    }

    /// A full sign-in with password and a fresh TOTP code.
    pub fn sign_in(&self, name: &str, seed: &[u8]) -> Tokens {
        let SignInStep::SecondFactor { pending, .. } = self.password(name, PASSWORD).unwrap()
        else {
            panic!("an enrolled user must be asked for a second factor");
        };
        let code = totp::code_at_step(seed, totp::step_of(self.now()));
        let step = self
            .svc
            .sign_in_factor(
                &FactorRequest {
                    pending,
                    kind: FactorKind::Totp,
                    code: SecretString::new(code),
                },
                &client(),
            )
            .unwrap();
        self.clock.advance(totp::PERIOD);
        match step {
            SignInStep::Done(t) => *t,
            other => panic!("unexpected step {other:?}"),
        }
    }
}
