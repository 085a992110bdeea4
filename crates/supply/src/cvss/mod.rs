//! CVSS vectors and their base scores: v3.0 and v3.1 (FIRST CVSS v3.1 specification, section 7
//! formulas and Appendix A rounding) and v4.0 (FIRST CVSS v4.0 specification, section 8:
//! macrovector lookup with interpolation by severity distance).
//!
//! Advisories carry vectors, not scores, so the score we show is computed here. A vector we
//! cannot read is an error naming it; it never becomes a guessed score.

mod v3;
mod v4;
mod v4_table;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A CVSS vector that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvssError {
    /// The `CVSS:x.y/` prefix names a version we do not score.
    #[error("unsupported cvss version in `{0}`")]
    UnsupportedVersion(String),
    /// A `metric:value` pair is malformed, unknown, repeated or has a value outside its set.
    #[error("invalid cvss metric `{metric}` in `{vector}`")]
    InvalidMetric {
        /// The offending pair.
        metric: String,
        /// The whole vector, shortened.
        vector: String,
    },
    /// A mandatory base metric is missing.
    #[error("cvss vector `{vector}` lacks the base metric `{metric}`")]
    MissingMetric {
        /// The metric's abbreviation.
        metric: &'static str,
        /// The whole vector, shortened.
        vector: String,
    },
}

/// The CVSS version of a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CvssVersion {
    /// CVSS v3.0.
    #[serde(rename = "3.0")]
    V3_0,
    /// CVSS v3.1.
    #[serde(rename = "3.1")]
    V3_1,
    /// CVSS v4.0.
    #[serde(rename = "4.0")]
    V4_0,
}

/// A parsed vector with its computed base score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// The version the vector declares.
    pub version: CvssVersion,
    /// The vector as given.
    pub vector: String,
    /// The base score (for v4.0: the CVSS-B, -BT or -BTE score the vector's metrics give).
    pub score: f64,
}

impl Cvss {
    /// Parses a vector (`CVSS:3.1/AV:N/...` or `CVSS:4.0/AV:N/...`) and computes its score.
    pub fn parse(vector: &str) -> Result<Self, CvssError> {
        let vector = vector.trim();
        let (version, score) = if let Some(rest) = vector.strip_prefix("CVSS:3.1/") {
            (CvssVersion::V3_1, v3::score(vector, rest, true)?)
        } else if let Some(rest) = vector.strip_prefix("CVSS:3.0/") {
            (CvssVersion::V3_0, v3::score(vector, rest, false)?)
        } else if let Some(rest) = vector.strip_prefix("CVSS:4.0/") {
            (CvssVersion::V4_0, v4::score(vector, rest)?)
        } else {
            return Err(CvssError::UnsupportedVersion(shorten(vector)));
        };
        Ok(Self {
            version,
            vector: vector.to_owned(),
            score,
        })
    }

    /// The qualitative rating of the score.
    pub fn severity(&self) -> Severity {
        Severity::from_score(self.score)
    }
}

/// The qualitative severity scale (CVSS v3.1 section 5, the same in v4.0).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Unknown or 0.0.
    #[default]
    None,
    /// 0.1 to 3.9.
    Low,
    /// 4.0 to 6.9.
    Medium,
    /// 7.0 to 8.9.
    High,
    /// 9.0 to 10.0.
    Critical,
}

impl Severity {
    /// The rating of a score.
    pub fn from_score(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            s if s > 0.0 => Self::Low,
            _ => Self::None,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity name that is not one of the five ratings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity `{0}`, expected low, medium, high or critical")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    /// Reads a rating case-insensitively; `moderate` (GitHub's word) is `medium`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "low" => Ok(Self::Low),
            "medium" | "moderate" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(UnknownSeverity(s.chars().take(40).collect())),
        }
    }
}

/// Splits `AV:N/AC:L/...` into pairs, refusing malformed and repeated metrics.
fn metrics<'a>(
    vector: &str,
    rest: &'a str,
    allowed: &[(&str, &[&str])],
) -> Result<Vec<(&'a str, &'a str)>, CvssError> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for pair in rest.split('/') {
        let invalid = || CvssError::InvalidMetric {
            metric: shorten(pair),
            vector: shorten(vector),
        };
        let (name, value) = pair.split_once(':').ok_or_else(invalid)?;
        let known = allowed
            .iter()
            .find(|(m, _)| *m == name)
            .ok_or_else(invalid)?;
        if !known.1.contains(&value) || seen.iter().any(|(m, _)| *m == name) {
            return Err(invalid());
        }
        seen.push((name, value));
    }
    Ok(seen)
}

fn shorten(s: &str) -> String {
    s.chars().take(120).collect()
}
