//! Integration tests of the identity service: real SQLite store, real audit log, manual clock.

mod common;
mod signin;
mod tokens;
mod verifier;
