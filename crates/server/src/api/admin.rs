//! Administration over HTTP, for members of the `admins` group.

use super::ApiState;
use axum::Router;

pub fn routes() -> Router<ApiState> {
    Router::new()
}
