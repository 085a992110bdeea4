//! Rendering a scan: a table for people, JSON, SARIF 2.1.0 for code-scanning tools, and a
//! CycloneDX 1.6 VEX document.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::ignore::IgnoreRule;
use super::Finding;
use crate::cvss::{CvssVersion, Severity};

/// Everything a report shows.
#[derive(Debug, Clone, Default)]
pub struct ScanOutcome {
    /// What was scanned (the SBOM or source path).
    pub target: String,
    /// How many components were matched.
    pub components: usize,
    /// Findings still reported.
    pub findings: Vec<Finding>,
    /// Findings accepted by the ignore file.
    pub ignored: Vec<(Finding, IgnoreRule)>,
    /// Ignore entries past their expiry date.
    pub expired: Vec<IgnoreRule>,
    /// Components passed over, with the reason.
    pub skipped: Vec<String>,
}

/// The readable table.
pub fn table(outcome: &ScanOutcome) -> String {
    let mut out = String::new();
    let rows: Vec<[String; 6]> = outcome
        .findings
        .iter()
        .map(|f| {
            [
                severity_text(f),
                f.id.clone(),
                f.name.clone(),
                f.version.clone(),
                if f.fixed.is_empty() {
                    "-".into()
                } else {
                    f.fixed.join(", ")
                },
                f.summary
                    .as_deref()
                    .map(|s| truncate(s, 70))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "SEVERITY", "ID", "PACKAGE", "VERSION", "FIXED IN", "SUMMARY",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    if !rows.is_empty() {
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = w.saturating_sub(cell.chars().count()) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary_line(outcome));
    for rule in &outcome.expired {
        let _ = writeln!(
            out,
            "warning: ignore entry `{}` expired on {} and is no longer honoured",
            rule.id, rule.expires
        );
    }
    out
}

/// `N findings in M components (...)`.
pub fn summary_line(outcome: &ScanOutcome) -> String {
    let mut counts = Vec::new();
    for severity in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::None,
    ] {
        let n = outcome
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count();
        if n > 0 {
            let name = if severity == Severity::None {
                "unknown"
            } else {
                severity.as_str()
            };
            counts.push(format!("{n} {name}"));
        }
    }
    let detail = if counts.is_empty() {
        String::new()
    } else {
        format!(" ({})", counts.join(", "))
    };
    format!(
        "{} finding{} in {} component{}{detail}; {} ignored",
        outcome.findings.len(),
        if outcome.findings.len() == 1 { "" } else { "s" },
        outcome.components,
        if outcome.components == 1 { "" } else { "s" },
        outcome.ignored.len(),
    )
}

fn severity_text(f: &Finding) -> String {
    match (&f.cvss, f.severity) {
        (Some(c), s) => format!("{s} {:.1}", c.score),
        (None, Severity::None) => "unknown".into(),
        (None, s) => s.to_string(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let mut t: String = line.chars().take(max.saturating_sub(3)).collect();
        t.push_str("...");
        t
    }
}

/// The JSON report as a value.
pub fn json(outcome: &ScanOutcome) -> Value {
    serde_json::to_value(JsonReport::from(outcome)).unwrap_or(Value::Null)
}

/// Writes the JSON report, pretty-printed, without building it in memory first (a scan of a
/// large SBOM can have 100,000 findings).
pub fn write_json(outcome: &ScanOutcome, out: impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(out, &JsonReport::from(outcome)).map_err(std::io::Error::from)
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    target: &'a str,
    components: usize,
    findings: &'a [Finding],
    ignored: Vec<Value>,
    expired_ignores: Vec<Value>,
    skipped: &'a [String],
}

impl<'a> From<&'a ScanOutcome> for JsonReport<'a> {
    fn from(outcome: &'a ScanOutcome) -> Self {
        let ignored = outcome
            .ignored
            .iter()
            .map(|(f, r)| {
                json!({ "finding": f, "reason": r.reason, "expires": r.expires.to_string() })
            })
            .collect();
        Self {
            target: &outcome.target,
            components: outcome.components,
            findings: &outcome.findings,
            ignored,
            expired_ignores: outcome.expired.iter().map(rule_json).collect(),
            skipped: &outcome.skipped,
        }
    }
}

fn rule_json(r: &IgnoreRule) -> Value {
    json!({
        "id": r.id,
        "reason": r.reason,
        "expires": r.expires.to_string(),
        "package": r.package,
    })
}

/// A SARIF 2.1.0 log: one rule per advisory, one result per finding.
pub fn sarif(outcome: &ScanOutcome) -> Value {
    let mut rule_ids: Vec<&str> = outcome.findings.iter().map(|f| f.id.as_str()).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .filter_map(|id| outcome.findings.iter().find(|f| f.id == *id))
        .map(|f| {
            let text = f.summary.clone().unwrap_or_else(|| f.id.clone());
            let mut rule = json!({
                "id": f.id,
                "name": f.id,
                "shortDescription": { "text": text },
                "fullDescription": { "text": text },
                "defaultConfiguration": { "level": sarif_level(f.severity) },
                "properties": {
                    "tags": ["security", "vulnerability"],
                    "aliases": f.aliases,
                },
            });
            if let Some(url) = &f.url {
                rule["helpUri"] = json!(url);
            }
            if let Some(cvss) = &f.cvss {
                // GitHub code scanning reads this property for its severity column.
                rule["properties"]["security-severity"] = json!(format!("{:.1}", cvss.score));
            }
            rule
        })
        .collect();
    let results: Vec<Value> = outcome
        .findings
        .iter()
        .map(|f| {
            let index = rule_ids.iter().position(|id| *id == f.id).unwrap_or(0);
            let uri = f
                .found_in
                .first()
                .cloned()
                .unwrap_or_else(|| outcome.target.clone());
            let fixed = if f.fixed.is_empty() {
                "no fixed version is known".to_owned()
            } else {
                format!("fixed in {}", f.fixed.join(", "))
            };
            let summary = f.summary.as_deref().unwrap_or("no summary");
            let message = format!(
                "{} {} is affected by {}: {summary}; {fixed}",
                f.name, f.version, f.id
            );
            let print = fingerprint(&format!("{}|{}", f.id, f.purl));
            json!({
                "ruleId": f.id,
                "ruleIndex": index,
                "level": sarif_level(f.severity),
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": uri } },
                    "logicalLocations": [{ "fullyQualifiedName": f.purl, "kind": "package" }],
                }],
                "partialFingerprints": { "seawall/finding/v1": print },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "seawall",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/seawall",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        // Unknown severity is not played down to a note.
        Severity::None => "warning",
        Severity::Low => "note",
    }
}

/// A CycloneDX 1.6 VEX document: the findings as `vulnerabilities`, each `affects` the
/// component by its purl (Seawall's SBOMs use the purl as `bom-ref`). Open findings are
/// `in_triage`; accepted ones `exploitable` with the response `will_not_fix` and the reason.
pub fn vex(outcome: &ScanOutcome) -> Value {
    let open = outcome.findings.iter().map(|f| vulnerability(f, None));
    let accepted = outcome
        .ignored
        .iter()
        .map(|(f, r)| vulnerability(f, Some(r)));
    let vulnerabilities: Vec<Value> = open.chain(accepted).collect();
    let serial = fingerprint(&serde_json::to_string(&vulnerabilities).unwrap_or_default());
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_shape(&serial)),
        "version": 1,
        "metadata": {
            "tools": { "components": [{
                "type": "application",
                "name": "seawall",
                "version": env!("CARGO_PKG_VERSION"),
            }] },
        },
        "vulnerabilities": vulnerabilities,
    })
}

fn vulnerability(f: &Finding, accepted: Option<&IgnoreRule>) -> Value {
    let references: Vec<Value> = f
        .aliases
        .iter()
        .map(|a| json!({ "id": a, "source": source_of(a, None) }))
        .collect();
    let mut v = json!({
        "bom-ref": format!("{}#{}", f.id, f.purl),
        "id": f.id,
        "source": source_of(&f.id, f.url.as_deref()),
        "references": references,
        "affects": [{
            "ref": f.purl,
            "versions": [{ "version": f.version, "status": "affected" }],
        }],
    });
    if let Some(summary) = &f.summary {
        v["description"] = json!(summary);
    }
    if !f.fixed.is_empty() {
        v["recommendation"] = json!(format!("upgrade to {}", f.fixed.join(" or ")));
    }
    let severity = if f.severity == Severity::None {
        "unknown"
    } else {
        f.severity.as_str()
    };
    let mut rating = json!({ "severity": severity });
    if let Some(c) = &f.cvss {
        rating["score"] = json!(c.score);
        rating["vector"] = json!(c.vector);
        rating["method"] = json!(match c.version {
            CvssVersion::V3_0 => "CVSSv3",
            CvssVersion::V3_1 => "CVSSv31",
            CvssVersion::V4_0 => "CVSSv4",
        });
    }
    v["ratings"] = json!([rating]);
    v["analysis"] = match accepted {
        None => json!({ "state": "in_triage" }),
        Some(r) => json!({
            "state": "exploitable",
            "response": ["will_not_fix"],
            "detail": format!("{} (accepted until {})", r.reason, r.expires),
        }),
    };
    v
}

fn source_of(id: &str, url: Option<&str>) -> Value {
    let name = match id.split('-').next().unwrap_or("") {
        "RUSTSEC" => "RustSec",
        "GHSA" => "GitHub",
        "GO" => "Go Vulnerability Database",
        "PYSEC" => "PyPA",
        "CVE" => "NVD",
        _ => "OSV",
    };
    match url {
        Some(url) => json!({ "name": name, "url": url }),
        None => json!({ "name": name }),
    }
}

/// A stable 128-bit hex digest (FNV-1a, twice with different offsets): for fingerprints and
/// the VEX serial number, which must be stable, not secret.
fn fingerprint(text: &str) -> String {
    let mut out = String::new();
    for offset in [0xcbf2_9ce4_8422_2325_u64, 0x8422_2325_cbf2_9ce4_u64] {
        let mut h = offset;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let _ = write!(out, "{h:016x}");
    }
    out
}

fn uuid_shape(hex: &str) -> String {
    let h = |a: usize, b: usize| hex.get(a..b).unwrap_or("0");
    format!(
        "{}-{}-{}-{}-{}",
        h(0, 8),
        h(8, 12),
        h(12, 16),
        h(16, 20),
        h(20, 32)
    )
}
