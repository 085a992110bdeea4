//! Storage of SBOMs and of the vulnerability findings matched against them.

use crate::StoreError;
use serde::{Deserialize, Serialize};

/// A stored SBOM, without its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomRow {
    pub id: i64,
    pub project: String,
    pub version: String,
    pub created_at: i64,
    /// The package URLs of its components.
    pub purls: Vec<String>,
}

/// A finding: an advisory that affects a component of a stored SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRow {
    pub project: String,
    pub version: String,
    pub advisory_id: String,
    pub purl: String,
    pub severity: String,
    /// The finding as the matcher reported it (JSON).
    pub detail: serde_json::Value,
    pub found_at: i64,
}

/// SBOMs and findings.
pub trait SupplyRepo {
    /// Stores the SBOM of `project` at `version`, replacing an earlier one of the same version
    /// (and its findings). Returns its id.
    fn sbom_put(
        &self,
        project: &str,
        version: &str,
        purls: &[String],
        document: &str,
        now: i64,
    ) -> Result<i64, StoreError>;

    /// Every stored SBOM.
    fn sboms(&self) -> Result<Vec<SbomRow>, StoreError>;

    /// Records a finding; returns whether it is new.
    fn finding_put(
        &self,
        sbom_id: i64,
        advisory_id: &str,
        purl: &str,
        severity: &str,
        detail: &serde_json::Value,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Findings, of one project or of all, newest first.
    fn findings(&self, project: Option<&str>) -> Result<Vec<FindingRow>, StoreError>;
}
