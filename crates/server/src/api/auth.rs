//! `/api/v1/auth/*`: the sign-in steps over HTTP, for `seawall login` and remote gateways.

use super::{bad_json, client_info, ApiError, ApiState};
use crate::serve::PeerAddr;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use seawall_core::auth::{
    FactorRequest, PasswordRequest, PendingRequest, RefreshRequest, SessionRequest, SignInStep,
    StepUpRequest, TotpEnrollment,
};

type Peer = Option<Extension<PeerAddr>>;

macro_rules! step_handler {
    ($name:ident, $req:ty, $method:ident, $out:ty) => {
        pub async fn $name(
            State(s): State<ApiState>,
            peer: Peer,
            headers: HeaderMap,
            body: Result<Json<$req>, JsonRejection>,
        ) -> Result<Json<$out>, ApiError> {
            let Json(req) = body.map_err(bad_json)?;
            let client = client_info(&s.config, peer.map(|p| p.0), &headers);
            Ok(Json(s.sign_in.$method(req, &client).await?))
        }
    };
}

step_handler!(password, PasswordRequest, password, SignInStep);
step_handler!(factor, FactorRequest, second_factor, SignInStep);
step_handler!(enroll_totp, PendingRequest, enroll_totp, TotpEnrollment);
step_handler!(confirm_totp, FactorRequest, confirm_totp, SignInStep);
step_handler!(step_up, StepUpRequest, step_up, SignInStep);
step_handler!(refresh, RefreshRequest, refresh, SignInStep);

pub async fn sign_out(
    State(s): State<ApiState>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Json<SessionRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    let client = client_info(&s.config, peer.map(|p| p.0), &headers);
    s.sign_in.sign_out(req, &client).await?;
    s.changed.notify_waiters();
    Ok(Json(serde_json::json!({ "signed_out": true })))
}
