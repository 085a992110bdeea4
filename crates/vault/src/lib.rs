//! Seawall's secrets vault.
//!
//! Applications get secrets the way they get them from HashiCorp Vault or OpenBao, over the
//! same HTTP API, but every credential is short-lived and tied to a lease: a KV version 2
//! engine, a PostgreSQL engine that creates one database role per application instance and
//! drops it when the lease ends, tokens and AppRole for machines, and Vault's path-based ACL
//! policies. Everything stored passes through the [`barrier`], sealed under the data key.
//!
//! Layout: [`request`] is the HTTP-independent request and response; [`backend`] the trait
//! engines implement; [`core`] runs a request through authentication, the ACL, the engine and
//! the audit log; [`http`] serves it as Vault's `/v1/` API.

pub mod acl;
pub mod approle;
pub mod backend;
pub mod barrier;
pub mod core;
pub mod database;
pub mod duration;
pub mod error;
pub mod http;
pub mod kv;
pub mod lease;
pub mod request;
pub mod shamir;
pub mod sys;
pub mod token;

pub use error::VaultError;
pub use request::{Operation, Request, Response};
