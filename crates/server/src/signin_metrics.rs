//! Sign-in metrics: every sign-in step, by step and outcome, and every token issued, whether
//! the step came through the API or the gateway's own sign-in pages.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use seawall_core::auth::{
    AuthError, ClientInfo, FactorRequest, PasswordRequest, PendingRequest, RefreshRequest,
    SessionRequest, SignInBackend, SignInStep, StepUpRequest, TotpEnrollment,
};
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: &'static str,
    outcome: String,
}

/// A [`SignInBackend`] that counts what passes through it.
pub struct MeteredSignIn {
    inner: Arc<dyn SignInBackend>,
    steps: Family<StepLabels, Counter>,
    tokens: Counter,
}

impl MeteredSignIn {
    /// Wraps `inner`, registering `signin_steps_total` and `tokens_issued_total`.
    pub fn new(inner: Arc<dyn SignInBackend>, registry: &mut Registry) -> Self {
        let steps = Family::<StepLabels, Counter>::default();
        let tokens = Counter::default();
        registry.register(
            "seawall_signin_steps",
            "Sign-in steps by step and outcome (ok, or the error kind)",
            steps.clone(),
        );
        registry.register(
            "seawall_tokens_issued",
            "Access tokens issued",
            tokens.clone(),
        );
        Self {
            inner,
            steps,
            tokens,
        }
    }

    fn count<T>(&self, step: &'static str, r: &Result<T, AuthError>) {
        let outcome = match r {
            Ok(_) => "ok".to_string(),
            Err(e) => serde_json::to_value(e)
                .ok()
                .and_then(|v| v.get("error")?.as_str().map(str::to_string))
                .unwrap_or_else(|| "error".into()),
        };
        self.steps
            .get_or_create(&StepLabels { step, outcome })
            .inc();
    }

    fn count_step(&self, step: &'static str, r: &Result<SignInStep, AuthError>) {
        self.count(step, r);
        if let Ok(SignInStep::Done(_)) = r {
            self.tokens.inc();
        }
    }
}

#[async_trait::async_trait]
impl SignInBackend for MeteredSignIn {
    async fn password(&self, r: PasswordRequest, c: &ClientInfo) -> Result<SignInStep, AuthError> {
        let out = self.inner.password(r, c).await;
        self.count_step("password", &out);
        out
    }

    async fn second_factor(
        &self,
        r: FactorRequest,
        c: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        let out = self.inner.second_factor(r, c).await;
        self.count_step("factor", &out);
        out
    }

    async fn enroll_totp(
        &self,
        r: PendingRequest,
        c: &ClientInfo,
    ) -> Result<TotpEnrollment, AuthError> {
        let out = self.inner.enroll_totp(r, c).await;
        self.count("enroll", &out);
        out
    }

    async fn confirm_totp(
        &self,
        r: FactorRequest,
        c: &ClientInfo,
    ) -> Result<SignInStep, AuthError> {
        let out = self.inner.confirm_totp(r, c).await;
        self.count_step("enroll_confirm", &out);
        out
    }

    async fn step_up(&self, r: StepUpRequest, c: &ClientInfo) -> Result<SignInStep, AuthError> {
        let out = self.inner.step_up(r, c).await;
        self.count_step("step_up", &out);
        out
    }

    async fn sign_out(&self, r: SessionRequest, c: &ClientInfo) -> Result<(), AuthError> {
        let out = self.inner.sign_out(r, c).await;
        self.count("sign_out", &out);
        out
    }

    async fn refresh(&self, r: RefreshRequest, c: &ClientInfo) -> Result<SignInStep, AuthError> {
        let out = self.inner.refresh(r, c).await;
        self.count_step("refresh", &out);
        out
    }
}
