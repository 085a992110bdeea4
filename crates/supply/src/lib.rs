//! Supply-chain security: what a build contains and whether any of it is known to be
//! vulnerable.
//!
//! The pipeline is: source tree or binary -> ecosystem readers -> component graph -> CycloneDX
//! or SPDX document; and advisories (OSV) -> advisory index -> matching with each ecosystem's
//! own version rules -> findings. Everything here works offline; the server stores SBOMs and
//! re-matches them when advisories change.

pub mod advisory;
pub mod cli;
pub mod cvss;
pub mod model;
pub mod purl;
pub mod readers;
pub mod sbom;
pub mod scan;
pub mod version;
