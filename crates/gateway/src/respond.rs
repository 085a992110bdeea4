//! Responses the gateway makes itself, and the one place statuses are chosen for
//! authentication failures.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::redirect::encode_query_value;

/// The body type of every response the gateway sends.
pub type Body = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

/// A body from bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A short plain-text response.
pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("{body}\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A 302 to a gateway page with `rd` set to the path the browser asked for.
pub(crate) fn to_page(page: &str, rd: &str) -> Response<Body> {
    redirect(&format!("/.seawall/{page}?rd={}", encode_query_value(rd)))
}

/// A 302 to a same-origin path.
pub(crate) fn redirect(location: &str) -> Response<Body> {
    let mut r = text(StatusCode::FOUND, "redirecting");
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

/// 401 for a missing or bad credential (RFC 6750 §3).
pub(crate) fn unauthorized(bad_token: bool) -> Response<Body> {
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "unauthorized: sign in or send a bearer token",
    );
    let challenge = if bad_token {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

/// 401 asking an API client for a fresher second factor (RFC 9470 §3).
pub(crate) fn insufficient_authentication() -> Response<Body> {
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "step_up_required: verify your second factor again",
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer error=\"insufficient_user_authentication\", \
             error_description=\"a more recent second factor is required\"",
        ),
    );
    r
}

/// 403 with the reason id.
pub(crate) fn forbidden(reason: &str) -> Response<Body> {
    text(StatusCode::FORBIDDEN, &format!("denied: {reason}"))
}
