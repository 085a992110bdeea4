//! The gateway end to end: a real listener on 127.0.0.1, the real demo upstream, the real
//! Cedar policy engine, and real HTTP, WebSocket and TLS clients.

mod common;
mod device;
mod flows;
mod nginx;
mod proxy;
mod remote;
