//! Matching components against the advisory index.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::advisory::osv::{CompiledAffected, OsvRecord};
use crate::advisory::{AdvisoryIndex, IndexError};
use crate::cvss::{Cvss, Severity};
use crate::model::{Component, Ecosystem};
use crate::version::normalize_name;

/// One known problem in one component. Advisories that describe the same problem (linked by
/// ids and aliases: a RUSTSEC id and the GHSA and CVE for it) make one finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The advisory id shown for the problem: the ecosystem's own database first (RUSTSEC,
    /// GO, PYSEC), then GHSA, then others.
    pub id: String,
    /// Every other id of the problem, sorted.
    pub aliases: Vec<String>,
    /// The ids of the stored advisories that matched, sorted.
    pub advisories: Vec<String>,
    /// The component's ecosystem.
    pub ecosystem: Ecosystem,
    /// The component's name.
    pub name: String,
    /// The component's version.
    pub version: String,
    /// The component's purl.
    pub purl: String,
    /// The advisory's summary.
    pub summary: Option<String>,
    /// The rating: from the highest CVSS score among the matched advisories, else from a
    /// database label; `none` when neither exists (severity unknown).
    pub severity: Severity,
    /// The vector the rating came from.
    pub cvss: Option<Cvss>,
    /// The database's own label (GitHub's `MODERATE`, RustSec's `informational: unmaintained`).
    pub severity_label: Option<String>,
    /// Versions that fix it, as the advisories name them.
    pub fixed: Vec<String>,
    /// A link to the advisory.
    pub url: Option<String>,
    /// The lockfiles the component was found in, when known.
    pub found_in: Vec<String>,
}

/// Matches `components` against the index. With `only_advisories`, just those advisory ids
/// are evaluated, each against the components it names: the incremental re-match after an
/// import (pass [`crate::advisory::ImportReport::changed`]). Withdrawn advisories match
/// nothing. Findings are sorted by purl, then id.
pub fn match_components(
    index: &AdvisoryIndex,
    components: &[Component],
    only_advisories: Option<&[String]>,
) -> Result<Vec<Finding>, IndexError> {
    // Components by what advisories name them by.
    let mut by_package: HashMap<(Ecosystem, String), Vec<usize>> = HashMap::new();
    for (i, c) in components.iter().enumerate() {
        by_package
            .entry((c.ecosystem, normalize_name(c.ecosystem, &c.name)))
            .or_default()
            .push(i);
    }

    // The advisories to evaluate.
    let candidates: BTreeSet<String> = match only_advisories {
        Some(ids) => ids.iter().cloned().collect(),
        None => {
            let mut ids = BTreeSet::new();
            for (ecosystem, name) in by_package.keys() {
                ids.extend(index.advisory_ids_for(*ecosystem, name)?);
            }
            ids
        }
    };

    // Evaluate: which records affect which components, and with which fixed versions.
    let mut records: Vec<OsvRecord> = Vec::new();
    let mut hits: BTreeMap<usize, Vec<(usize, Vec<String>)>> = BTreeMap::new();
    for id in &candidates {
        let Some(record) = index.record(id)? else {
            continue;
        };
        if record.is_withdrawn() {
            continue;
        }
        let record_at = records.len();
        let mut matched = false;
        for (ecosystem, name, affected) in record.packages() {
            let Some(targets) = by_package.get(&(ecosystem, name)) else {
                continue;
            };
            let (compiled, _unevaluable) = CompiledAffected::compile(ecosystem, affected);
            for &i in targets {
                let Some(component) = components.get(i) else {
                    continue;
                };
                if compiled.affects(&component.version) {
                    hits.entry(i)
                        .or_default()
                        .push((record_at, compiled.fixed.clone()));
                    matched = true;
                }
            }
        }
        if matched {
            records.push(record);
        }
    }

    let mut findings = Vec::new();
    for (i, matched) in hits {
        let Some(component) = components.get(i) else {
            continue;
        };
        findings.extend(group_by_problem(component, &records, &matched));
    }
    findings.sort_by(|a, b| (&a.purl, &a.id).cmp(&(&b.purl, &b.id)));
    Ok(findings)
}

/// Merges the advisories that matched one component into one finding per problem: two
/// advisories are one problem when one's id is the other's alias or they share an alias.
fn group_by_problem(
    component: &Component,
    records: &[OsvRecord],
    matched: &[(usize, Vec<String>)],
) -> Vec<Finding> {
    // Union-find over the matched records, joined through any shared id.
    let mut parent: Vec<usize> = (0..matched.len()).collect();
    let mut owner_of: HashMap<&str, usize> = HashMap::new();
    for (slot, (r, _)) in matched.iter().enumerate() {
        let Some(record) = records.get(*r) else {
            continue;
        };
        for name in std::iter::once(&record.id).chain(&record.aliases) {
            match owner_of.get(name.as_str()) {
                Some(&other) => union(&mut parent, slot, other),
                None => {
                    owner_of.insert(name, slot);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for slot in 0..matched.len() {
        groups
            .entry(find(&mut parent, slot))
            .or_default()
            .push(slot);
    }

    groups
        .values()
        .filter_map(|slots| {
            let members: Vec<(&OsvRecord, &Vec<String>)> = slots
                .iter()
                .filter_map(|s| matched.get(*s))
                .filter_map(|(r, fixed)| records.get(*r).map(|rec| (rec, fixed)))
                .collect();
            finding(component, &members)
        })
        .collect()
}

fn finding(component: &Component, members: &[(&OsvRecord, &Vec<String>)]) -> Option<Finding> {
    let mut advisories: Vec<String> = members.iter().map(|(r, _)| r.id.clone()).collect();
    advisories.sort();
    advisories.dedup();
    let primary = advisories
        .iter()
        .min_by_key(|id| (id_priority(component.ecosystem, id), (*id).clone()))?
        .clone();
    let lead = members
        .iter()
        .find(|(r, _)| r.id == primary)
        .map(|(r, _)| *r)?;

    let mut aliases: BTreeSet<String> = BTreeSet::new();
    for (r, _) in members {
        aliases.insert(r.id.clone());
        aliases.extend(r.aliases.iter().cloned());
    }
    aliases.remove(&primary);

    let mut fixed: BTreeSet<String> = BTreeSet::new();
    for (_, f) in members {
        fixed.extend(f.iter().cloned());
    }

    // The strongest evidence of severity among the merged advisories.
    let cvss = members
        .iter()
        .filter_map(|(r, _)| r.cvss())
        .max_by(|a, b| a.score.total_cmp(&b.score));
    let severity = members
        .iter()
        .map(|(r, _)| r.severity_rating())
        .max()
        .unwrap_or_default();
    let severity_label = members.iter().find_map(|(r, _)| r.severity_label());
    let summary = lead
        .summary
        .clone()
        .or_else(|| members.iter().find_map(|(r, _)| r.summary.clone()));
    let url = lead
        .references
        .iter()
        .find(|r| r.kind == "ADVISORY")
        .or_else(|| lead.references.first())
        .map(|r| r.url.clone());

    Some(Finding {
        id: primary,
        aliases: aliases.into_iter().collect(),
        advisories,
        ecosystem: component.ecosystem,
        name: component.name.clone(),
        version: component.version.clone(),
        purl: component.purl.to_string(),
        summary,
        severity,
        cvss,
        severity_label,
        fixed: fixed.into_iter().collect(),
        url,
        found_in: component.found_in.iter().cloned().collect(),
    })
}

/// Which id to show for a problem: the ecosystem's own database, then GitHub's, then others.
fn id_priority(ecosystem: Ecosystem, id: &str) -> u8 {
    let native = match ecosystem {
        Ecosystem::Cargo => "RUSTSEC-",
        Ecosystem::Go => "GO-",
        Ecosystem::PyPI => "PYSEC-",
        _ => "GHSA-",
    };
    if id.starts_with(native) {
        0
    } else if id.starts_with("GHSA-") {
        1
    } else if id.starts_with("CVE-") {
        3
    } else {
        2
    }
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while let Some(&p) = parent.get(x) {
        if p == x {
            break;
        }
        let grand = parent.get(p).copied().unwrap_or(p);
        if let Some(slot) = parent.get_mut(x) {
            *slot = grand;
        }
        x = p;
    }
    x
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        if let Some(slot) = parent.get_mut(ra.max(rb)) {
            *slot = ra.min(rb);
        }
    }
}
