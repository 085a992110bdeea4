//! The gateway's own endpoints under `/.seawall/`: sign-in pages, the assertion JWKS and
//! forward-auth.
//!
//! Sign-in goes password → second factor (or enrollment on first sign-in) → session cookie →
//! back to `rd`. Forms are protected against cross-site posting twice over: a double-submit
//! token (a random value in a `SameSite=Strict` cookie that must equal the form field) and,
//! when the browser sends `Origin`, a same-origin check. The pending sign-in proof lives in an
//! `HttpOnly` cookie scoped to `/.seawall`, never in the page.

mod html;

pub(crate) use html::escape;

use crate::gateway::{ConnInfo, Shared};
use crate::proxy::{client_ip, request_host};
use crate::redirect::{cookie_value, query_param, safe_return_path};
use crate::respond::{self, Body};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use seawall_core::auth::{
    AuthError, ClientInfo, FactorKind, FactorRequest, PasswordRequest, PendingRequest,
    SecretString, SessionRequest, SignInStep, StepUpRequest, Tokens,
};
use std::collections::HashMap;
use std::sync::Arc;

const CSRF_COOKIE: &str = "seawall_csrf";
const PENDING_COOKIE: &str = "seawall_pending";
/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// How long a pending sign-in cookie lives (the backend's own expiry is what counts).
const PENDING_MAX_AGE: u64 = 600;

/// Dispatches a request for a `/.seawall/` path.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let response = match (method, path.as_str()) {
        (Method::GET, "/.seawall/assertion-jwks.json") => {
            respond::json(StatusCode::OK, shared.jwks.clone())
        }
        (_, "/.seawall/auth") => crate::forward_auth::handle(&shared, &conn, &req),
        (Method::GET, "/.seawall/sign-in") => sign_in_page(&shared, &conn, &req),
        (Method::GET, "/.seawall/verify") => verify_page(&shared, &conn, &req),
        (Method::GET, "/.seawall/sign-out") => sign_out_page(&shared, &conn, &req),
        (Method::POST, p) => post(&shared, &conn, req, p.to_string()).await,
        _ => respond::text(StatusCode::NOT_FOUND, "not found"),
    };
    let status = response.status().as_u16();
    shared.metrics.request(".seawall", status);
    response
}

/// A parsed, CSRF-checked form post.
struct Form {
    fields: HashMap<String, String>,
    csrf: String,
    rd: String,
    headers: HeaderMap,
}

impl Form {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    fn kind(&self) -> FactorKind {
        match self.field("kind") {
            "recovery_code" => FactorKind::RecoveryCode,
            _ => FactorKind::Totp,
        }
    }
}

async fn post(
    shared: &Shared,
    conn: &ConnInfo,
    req: Request<Incoming>,
    path: String,
) -> Response<Body> {
    let form = match read_form(req).await {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let client = ClientInfo {
        ip: client_ip(shared, conn.peer.ip(), &form.headers),
        user_agent: form
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    };
    let page = Page {
        shared,
        conn,
        form: &form,
    };
    match path.as_str() {
        "/.seawall/sign-in" => page.password(&client).await,
        "/.seawall/factor" => page.factor(&client).await,
        "/.seawall/enroll/confirm" => page.confirm(&client).await,
        "/.seawall/verify" => page.step_up(&client).await,
        "/.seawall/sign-out" => page.sign_out(&client).await,
        _ => respond::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Reads a urlencoded form, checking size, origin and the CSRF token.
async fn read_form(req: Request<Incoming>) -> Result<Form, Response<Body>> {
    let host = request_host(&req);
    let (parts, body) = req.into_parts();
    if let Some(origin) = parts.headers.get(ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, authority)| crate::routes::host_without_port(authority) == host);
        if !same {
            return Err(respond::text(
                StatusCode::FORBIDDEN,
                "denied: cross_origin_form",
            ));
        }
    }
    let Ok(collected) = Limited::new(body, MAX_FORM_BYTES).collect().await else {
        return Err(respond::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "form too large",
        ));
    };
    let bytes: Bytes = collected.to_bytes();
    let fields: HashMap<String, String> = form_urlencoded::parse(&bytes).into_owned().collect();
    let cookie_csrf = cookie(&parts.headers, CSRF_COOKIE);
    let field_csrf = fields.get("csrf").map_or("", String::as_str);
    let csrf_ok =
        cookie_csrf.is_some_and(|c| constant_time_eq(c.as_bytes(), field_csrf.as_bytes()));
    if !csrf_ok {
        return Err(respond::text(StatusCode::FORBIDDEN, "denied: csrf_token"));
    }
    let rd = fields
        .get("rd")
        .and_then(|r| safe_return_path(r))
        .unwrap_or("/")
        .to_string();
    Ok(Form {
        csrf: field_csrf.to_string(),
        rd,
        fields,
        headers: parts.headers,
    })
}

struct Page<'a> {
    shared: &'a Shared,
    conn: &'a ConnInfo,
    form: &'a Form,
}

impl Page<'_> {
    async fn password(&self, client: &ClientInfo) -> Response<Body> {
        let req = PasswordRequest {
            username: self.form.field("username").chars().take(256).collect(),
            password: SecretString::new(self.form.field("password")),
        };
        let step = self.shared.sign_in.password(req, client).await;
        self.after_step(step, client, "Sign in").await
    }

    async fn factor(&self, client: &ClientInfo) -> Response<Body> {
        let Some(pending) = cookie(&self.form.headers, PENDING_COOKIE) else {
            return self.restart(&AuthError::PendingExpired);
        };
        let req = FactorRequest {
            pending: SecretString::new(pending),
            kind: self.form.kind(),
            code: SecretString::new(self.form.field("code").trim()),
        };
        let step = self.shared.sign_in.second_factor(req, client).await;
        self.after_step(step, client, "Second factor").await
    }

    async fn confirm(&self, client: &ClientInfo) -> Response<Body> {
        let Some(pending) = cookie(&self.form.headers, PENDING_COOKIE) else {
            return self.restart(&AuthError::PendingExpired);
        };
        let req = FactorRequest {
            pending: SecretString::new(pending),
            kind: FactorKind::Totp,
            code: SecretString::new(self.form.field("code").trim()),
        };
        let step = self.shared.sign_in.confirm_totp(req, client).await;
        self.after_step(step, client, "Set up your second factor")
            .await
    }

    async fn step_up(&self, client: &ClientInfo) -> Response<Body> {
        let Some(session) = cookie(&self.form.headers, &self.shared.session.cookie_name) else {
            return respond::to_page("sign-in", &self.form.rd);
        };
        let req = StepUpRequest {
            session_token: SecretString::new(session),
            kind: self.form.kind(),
            code: SecretString::new(self.form.field("code").trim()),
        };
        match self.shared.sign_in.step_up(req, client).await {
            Ok(SignInStep::Done(tokens)) => self.signed_in(&tokens),
            Ok(_) => self.restart(&AuthError::PendingExpired),
            Err(e) => {
                let body = html::code_form("verify", &self.form.csrf, &self.form.rd, true);
                self.html(
                    status_of(&e),
                    "Verify it's you",
                    Some(&e.to_string()),
                    &body,
                    &[],
                )
            }
        }
    }

    async fn sign_out(&self, client: &ClientInfo) -> Response<Body> {
        if let Some(session) = cookie(&self.form.headers, &self.shared.session.cookie_name) {
            let req = SessionRequest {
                session_token: SecretString::new(session),
            };
            if let Err(e) = self.shared.sign_in.sign_out(req, client).await {
                tracing::warn!(client.ip = %client.ip, error = %e, "sign-out failed at the identity provider");
            }
        }
        let mut r = respond::redirect("/.seawall/sign-in");
        let clear = self.cookie_header(&self.shared.session.cookie_name, "", "/", 0, "Lax");
        append_cookie(&mut r, &clear);
        r
    }

    /// Renders the page for where the sign-in now stands.
    async fn after_step(
        &self,
        step: Result<SignInStep, AuthError>,
        client: &ClientInfo,
        title: &str,
    ) -> Response<Body> {
        let (csrf, rd) = (&self.form.csrf, &self.form.rd);
        match step {
            Ok(SignInStep::Done(tokens)) => self.signed_in(&tokens),
            Ok(SignInStep::SecondFactor { pending, factors }) => {
                let recovery = factors.contains(&FactorKind::RecoveryCode);
                let body = html::code_form("factor", csrf, rd, recovery);
                let set = self.pending_cookie(pending.expose());
                self.html(StatusCode::OK, "Second factor", None, &body, &[set])
            }
            Ok(SignInStep::Enroll { pending }) => {
                let req = PendingRequest {
                    pending: pending.clone(),
                };
                match self.shared.sign_in.enroll_totp(req, client).await {
                    Ok(e) => {
                        let body =
                            html::enroll(csrf, rd, &e.qr_svg, e.uri.expose(), e.secret.expose());
                        let set = self.pending_cookie(pending.expose());
                        self.html(
                            StatusCode::OK,
                            "Set up your second factor",
                            None,
                            &body,
                            &[set],
                        )
                    }
                    Err(e) => self.restart(&e),
                }
            }
            Err(e @ (AuthError::PendingExpired | AuthError::EnrollmentRequired)) => {
                self.restart(&e)
            }
            Err(e) if title == "Sign in" => {
                let body = html::sign_in_form(csrf, rd);
                self.html(status_of(&e), title, Some(&e.to_string()), &body, &[])
            }
            Err(e) => {
                let body = if title.starts_with("Set up") {
                    html::code_form("enroll/confirm", csrf, rd, false)
                } else {
                    html::code_form("factor", csrf, rd, true)
                };
                self.html(status_of(&e), title, Some(&e.to_string()), &body, &[])
            }
        }
    }

    /// Sets the session cookie and sends the browser back where it started, or shows the
    /// recovery codes first when a factor was just enrolled.
    fn signed_in(&self, tokens: &Tokens) -> Response<Body> {
        let session = self.cookie_header(
            &self.shared.session.cookie_name,
            tokens.session_token.expose(),
            "/",
            tokens.session_expires_in,
            "Lax",
        );
        let clear_pending = self.cookie_header(PENDING_COOKIE, "", "/.seawall", 0, "Strict");
        let mut r = match &tokens.recovery_codes {
            Some(codes) => {
                let codes: Vec<String> = codes.iter().map(|c| c.expose().to_string()).collect();
                let body = html::recovery_codes(&codes, &self.form.rd);
                self.html(StatusCode::OK, "Recovery codes", None, &body, &[])
            }
            None => respond::redirect(&self.form.rd),
        };
        append_cookie(&mut r, &session);
        append_cookie(&mut r, &clear_pending);
        r
    }

    fn restart(&self, e: &AuthError) -> Response<Body> {
        let body = html::sign_in_form(&self.form.csrf, &self.form.rd);
        let clear = self.cookie_header(PENDING_COOKIE, "", "/.seawall", 0, "Strict");
        self.html(
            status_of(e),
            "Sign in",
            Some(&e.to_string()),
            &body,
            &[clear],
        )
    }

    fn pending_cookie(&self, pending: &str) -> String {
        self.cookie_header(
            PENDING_COOKIE,
            pending,
            "/.seawall",
            PENDING_MAX_AGE,
            "Strict",
        )
    }

    fn cookie_header(
        &self,
        name: &str,
        value: &str,
        path: &str,
        max_age: u64,
        same_site: &str,
    ) -> String {
        cookie_attrs(
            self.shared,
            self.conn,
            name,
            value,
            path,
            max_age,
            same_site,
        )
    }

    fn html(
        &self,
        status: StatusCode,
        title: &str,
        error: Option<&str>,
        body: &str,
        cookies: &[String],
    ) -> Response<Body> {
        html_response(status, title, error, body, cookies)
    }
}

fn sign_in_page(shared: &Shared, conn: &ConnInfo, req: &Request<Incoming>) -> Response<Body> {
    let rd = rd_from_query(req);
    let (csrf, set) = csrf_token(shared, conn, req.headers());
    html_response(
        StatusCode::OK,
        "Sign in",
        None,
        &html::sign_in_form(&csrf, &rd),
        &set,
    )
}

fn verify_page(shared: &Shared, conn: &ConnInfo, req: &Request<Incoming>) -> Response<Body> {
    let rd = rd_from_query(req);
    if cookie(req.headers(), &shared.session.cookie_name).is_none() {
        return respond::to_page("sign-in", &rd);
    }
    let (csrf, set) = csrf_token(shared, conn, req.headers());
    let body = html::code_form("verify", &csrf, &rd, true);
    html_response(StatusCode::OK, "Verify it's you", None, &body, &set)
}

fn sign_out_page(shared: &Shared, conn: &ConnInfo, req: &Request<Incoming>) -> Response<Body> {
    let (csrf, set) = csrf_token(shared, conn, req.headers());
    html_response(
        StatusCode::OK,
        "Sign out",
        None,
        &html::sign_out_form(&csrf),
        &set,
    )
}

fn rd_from_query(req: &Request<Incoming>) -> String {
    req.uri()
        .query()
        .and_then(|q| query_param(q, "rd"))
        .filter(|rd| safe_return_path(rd).is_some())
        .unwrap_or_else(|| "/".to_string())
}

/// The CSRF token already in the browser's cookie, or a new one with its `Set-Cookie`.
fn csrf_token(shared: &Shared, conn: &ConnInfo, headers: &HeaderMap) -> (String, Vec<String>) {
    if let Some(existing) = cookie(headers, CSRF_COOKIE).filter(|c| c.len() == 22) {
        return (existing.to_string(), Vec::new());
    }
    let token = crate::assertion::random_id();
    let set = cookie_attrs(
        shared,
        conn,
        CSRF_COOKIE,
        &token,
        "/.seawall",
        3600,
        "Strict",
    );
    (token, vec![set])
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie_value(v, name))
}

/// A `Set-Cookie` value: `HttpOnly` always, `Secure` when the browser reaches us over TLS.
fn cookie_attrs(
    shared: &Shared,
    conn: &ConnInfo,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    same_site: &str,
) -> String {
    let secure = conn.tls
        || shared
            .cfg
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
    format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn append_cookie(r: &mut Response<Body>, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(SET_COOKIE, v);
    }
}

fn html_response(
    status: StatusCode,
    title: &str,
    error: Option<&str>,
    body: &str,
    cookies: &[String],
) -> Response<Body> {
    let mut r = Response::new(respond::full(html::page(title, error, body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` with
    // the sign-in form's POST (Fetch, "serializing a request origin"), which the origin check
    // must refuse; other sites still receive no referrer.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(csp) = HeaderValue::from_str(&html::CSP) {
        h.insert("content-security-policy", csp);
    }
    for c in cookies {
        append_cookie(&mut r, c);
    }
    r
}

fn status_of(e: &AuthError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
