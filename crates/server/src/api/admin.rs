//! Administration over HTTP, for members of the `admins` group.
//!
//! The caller presents an access token (`Authorization: Bearer`); it is verified like any
//! other and must carry the `admins` group. Every change is audited by the identity service
//! with the admin's name and address.

use super::{bad_json, client_info, ApiError, ApiState};
use crate::serve::PeerAddr;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use seawall_core::auth::{AuthError, Principal, SecretString};
use seawall_core::Clock;
use seawall_identity::{AdminContext, IdentityError, IdentityService};
use serde::Deserialize;

/// The group whose members may administer Seawall.
pub const ADMIN_GROUP: &str = "admins";

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{name}", get(show_user))
        .route("/api/v1/users/{name}/disable", post(disable_user))
        .route("/api/v1/users/{name}/enable", post(enable_user))
        .route("/api/v1/users/{name}/reset-mfa", post(reset_mfa))
        .route(
            "/api/v1/users/{name}/groups/{group}",
            put(add_member).delete(remove_member),
        )
        .route("/api/v1/groups", get(list_groups))
        .route("/api/v1/lockouts", get(list_lockouts))
        .route("/api/v1/lockouts/{subject}", delete(clear_lockout))
        .route("/api/v1/tokens/revoke", post(revoke_token))
}

/// An authenticated admin making a request.
struct Admin {
    ctx: AdminContext,
}

/// Checks that the request carries an access token of a member of `admins`.
pub(super) fn require_admin(
    s: &ApiState,
    peer: Option<Extension<PeerAddr>>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    admin(s, peer, headers).map(|_| ())
}

fn admin(
    s: &ApiState,
    peer: Option<Extension<PeerAddr>>,
    headers: &HeaderMap,
) -> Result<Admin, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Auth(AuthError::InvalidToken))?;
    let now = seawall_core::SystemClock.now();
    let principal: Principal = s.identity.verifier().verify_access(token.trim(), now)?;
    if !principal.groups.iter().any(|g| g == ADMIN_GROUP) {
        return Err(ApiError::Forbidden("the `admins` group is required"));
    }
    let client = client_info(&s.config, peer.map(|p| p.0), headers);
    Ok(Admin {
        ctx: AdminContext {
            actor: principal.username,
            source_ip: Some(client.ip),
        },
    })
}

/// Runs a blocking identity call off the async threads.
async fn blocking<T, F>(s: &ApiState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&IdentityService) -> Result<T, IdentityError> + Send + 'static,
{
    let id = s.identity.clone();
    let out = tokio::task::spawn_blocking(move || f(&id))
        .await
        .map_err(|_| ApiError::Internal)??;
    s.changed.notify_waiters();
    Ok(out)
}

type Peer = Option<Extension<PeerAddr>>;
type JsonOut = Result<Json<serde_json::Value>, ApiError>;

fn to_json<T: serde::Serialize>(v: T) -> JsonOut {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|_| ApiError::Internal)
}

async fn list_users(State(s): State<ApiState>, peer: Peer, h: HeaderMap) -> JsonOut {
    admin(&s, peer, &h)?;
    to_json(blocking(&s, |id| id.users()).await?)
}

async fn show_user(
    State(s): State<ApiState>,
    peer: Peer,
    h: HeaderMap,
    Path(name): Path<String>,
) -> JsonOut {
    admin(&s, peer, &h)?;
    to_json(blocking(&s, move |id| id.user(&name)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: SecretString,
    #[serde(default)]
    groups: Vec<String>,
}

async fn create_user(
    State(s): State<ApiState>,
    peer: Peer,
    h: HeaderMap,
    body: Result<Json<NewUser>, JsonRejection>,
) -> JsonOut {
    let a = admin(&s, peer, &h)?;
    let Json(new) = body.map_err(bad_json)?;
    let user = blocking(&s, move |id| {
        // Check every group first, so a bad group name creates nothing.
        for g in &new.groups {
            id.group(g)?;
        }
        let user = id.create_user(&a.ctx, &new.username, &new.password)?;
        for g in &new.groups {
            id.add_member(&a.ctx, g, &user.username)?;
        }
        id.user(&user.username)
    })
    .await?;
    to_json(user)
}

macro_rules! user_action {
    ($name:ident, $method:ident) => {
        async fn $name(
            State(s): State<ApiState>,
            peer: Peer,
            h: HeaderMap,
            Path(name): Path<String>,
        ) -> JsonOut {
            let a = admin(&s, peer, &h)?;
            blocking(&s, move |id| id.$method(&a.ctx, &name)).await?;
            Ok(Json(serde_json::json!({ "ok": true })))
        }
    };
}

user_action!(disable_user, disable_user);
user_action!(enable_user, enable_user);
user_action!(reset_mfa, reset_factors);
user_action!(clear_lockout, clear_lockout);

async fn add_member(
    State(s): State<ApiState>,
    peer: Peer,
    h: HeaderMap,
    Path((name, group)): Path<(String, String)>,
) -> JsonOut {
    let a = admin(&s, peer, &h)?;
    blocking(&s, move |id| {
        if let Err(IdentityError::NoSuchGroup(_)) = id.group(&group) {
            id.create_group(&a.ctx, &group)?;
        }
        id.add_member(&a.ctx, &group, &name)
    })
    .await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

async fn remove_member(
    State(s): State<ApiState>,
    peer: Peer,
    h: HeaderMap,
    Path((name, group)): Path<(String, String)>,
) -> JsonOut {
    let a = admin(&s, peer, &h)?;
    blocking(&s, move |id| id.remove_member(&a.ctx, &group, &name)).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

async fn list_groups(State(s): State<ApiState>, peer: Peer, h: HeaderMap) -> JsonOut {
    admin(&s, peer, &h)?;
    to_json(blocking(&s, |id| id.groups()).await?)
}

async fn list_lockouts(State(s): State<ApiState>, peer: Peer, h: HeaderMap) -> JsonOut {
    admin(&s, peer, &h)?;
    to_json(blocking(&s, |id| id.list_lockouts()).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeToken {
    jti: String,
    #[serde(default)]
    exp: Option<i64>,
}

async fn revoke_token(
    State(s): State<ApiState>,
    peer: Peer,
    h: HeaderMap,
    body: Result<Json<RevokeToken>, JsonRejection>,
) -> JsonOut {
    let a = admin(&s, peer, &h)?;
    let Json(r) = body.map_err(bad_json)?;
    let version = blocking(&s, move |id| id.revoke_jti(&a.ctx, &r.jti, r.exp)).await?;
    Ok(Json(
        serde_json::json!({ "revoked": true, "version": version }),
    ))
}
