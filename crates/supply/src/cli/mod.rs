//! Command-line entry points of the supply crate; the `seawall` binary wires them in as
//! subcommands.

pub mod advisories;
pub mod sbom;
pub mod scan;
