//! Scanning: components (from an SBOM, or from a source tree through the SBOM readers) are
//! matched against the advisory index with each ecosystem's version rules, accepted findings
//! are set aside by the ignore file, and the rest is reported.

mod ignore;
mod input;
mod matcher;
mod report;

pub use ignore::{Applied, IgnoreError, IgnoreFile, IgnoreRule};
pub use input::{
    component_from_purl, components_from_sbom, SbomComponents, SbomInputError, MAX_SBOM_BYTES,
};
pub use matcher::{match_components, Finding};
pub use report::{json, sarif, summary_line, table, vex, write_json, ScanOutcome};
