//! Matching components against the advisory index.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::advisory::osv::{CompiledAffected, ComponentVersion, OsvRecord};
use crate::advisory::{AdvisoryIndex, IndexError};
use crate::cvss::{Cvss, Severity};
use crate::model::{Component, Ecosystem};
use crate::version::{normalize_name, Scheme};

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
    index.read(|index| match_in(index, components, only_advisories))
}

fn match_in(
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

    // Each component's version, parsed once.
    let versions: Vec<ComponentVersion> = components
        .iter()
        .map(|c| ComponentVersion::new(Scheme::for_ecosystem(c.ecosystem), &c.version))
        .collect();

    // The advisories to evaluate: for a large SBOM one pass over the package table beats a
    // query per package.
    let candidates: BTreeSet<String> = match only_advisories {
        Some(ids) => ids.iter().cloned().collect(),
        None if by_package.len() > 500 => index
            .package_table()?
            .into_iter()
            .filter(|(ecosystem, name, _)| by_package.contains_key(&(*ecosystem, name.clone())))
            .map(|(_, _, id)| id)
            .collect(),
        None => {
            let mut ids = BTreeSet::new();
            for (ecosystem, name) in by_package.keys() {
                ids.extend(index.advisory_ids_for(*ecosystem, name)?);
            }
            ids
        }
    };

    // Evaluate: which records affect which components. What a finding shows about a record
    // (rating, label, summary, link) is worked out once per record, not once per finding.
    let mut records: Vec<MatchedRecord> = Vec::new();
    let mut fixed_lists: Vec<Vec<String>> = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    for id in &candidates {
        let Some(record) = index.record(id)? else {
            continue;
        };
        if record.is_withdrawn() {
            continue;
        }
        let record_at = records.len();
        let before = hits.len();
        for (ecosystem, name, affected) in record.packages() {
            let Some(targets) = by_package.get(&(ecosystem, name)) else {
                continue;
            };
            let (compiled, _unevaluable) = CompiledAffected::compile(ecosystem, affected);
            let fixed_at = fixed_lists.len();
            let mut used = false;
            for &component in targets {
                let Some(v) = versions.get(component) else {
                    continue;
                };
                if compiled.affects_version(v) {
                    hits.push(Hit {
                        component,
                        record: record_at,
                        fixed: fixed_at,
                    });
                    used = true;
                }
            }
            if used {
                fixed_lists.push(compiled.fixed);
            }
        }
        if hits.len() > before {
            records.push(MatchedRecord::new(record));
        }
    }

    // One finding per component and problem, components in purl order: the matched ones are
    // ranked once, so the findings need no sort by their (long, alike) purl strings.
    let mut matched: Vec<usize> = hits.iter().map(|h| h.component).collect();
    matched.sort_unstable();
    matched.dedup();
    let mut purls: HashMap<usize, String> = HashMap::with_capacity(matched.len());
    for &i in &matched {
        if let Some(c) = components.get(i) {
            purls.insert(i, c.purl.to_string());
        }
    }
    matched.sort_by(|a, b| purls.get(a).cmp(&purls.get(b)));
    let rank: HashMap<usize, usize> = matched.iter().enumerate().map(|(r, &i)| (i, r)).collect();
    hits.sort_by_key(|h| (rank.get(&h.component).copied(), h.component, h.record));

    let mut findings = Vec::new();
    for group in hits.chunk_by(|a, b| a.component == b.component) {
        let Some(first) = group.first() else { continue };
        let Some(component) = components.get(first.component) else {
            continue;
        };
        let Some(purl) = purls.get(&first.component) else {
            continue;
        };
        let start = findings.len();
        for problem in group_by_problem(group, &records) {
            let members: Vec<(&MatchedRecord, &[String])> = problem
                .iter()
                .filter_map(|h| {
                    let record = records.get(h.record)?;
                    Some((
                        record,
                        fixed_lists.get(h.fixed).map_or(&[][..], Vec::as_slice),
                    ))
                })
                .collect();
            findings.extend(finding(component, purl, &members));
        }
        if let Some(own) = findings.get_mut(start..) {
            own.sort_by(|a, b| a.id.cmp(&b.id));
        }
    }
    Ok(findings)
}

/// One advisory range that matched one component.
#[derive(Debug, Clone, Copy)]
struct Hit {
    component: usize,
    record: usize,
    /// Index of the matched entry's fixed versions.
    fixed: usize,
}

/// A matched record with what findings show of it, computed once.
struct MatchedRecord {
    record: OsvRecord,
    cvss: Option<Cvss>,
    severity: Severity,
    label: Option<String>,
    url: Option<String>,
}

impl MatchedRecord {
    fn new(mut record: OsvRecord) -> Self {
        // The long description is not part of a finding; drop it early.
        record.details = None;
        let url = record
            .references
            .iter()
            .find(|r| r.kind == "ADVISORY")
            .or_else(|| record.references.first())
            .map(|r| r.url.clone());
        Self {
            cvss: record.cvss(),
            severity: record.severity_rating(),
            label: record.severity_label(),
            url,
            record,
        }
    }
}

/// Splits one component's hits into problems: two advisories are one problem when one's id is
/// the other's alias or they share an alias.
fn group_by_problem<'h>(hits: &'h [Hit], records: &[MatchedRecord]) -> Vec<Vec<&'h Hit>> {
    if let [only] = hits {
        return vec![vec![only]];
    }
    // Union-find over the hits, joined through any shared id.
    let mut parent: Vec<usize> = (0..hits.len()).collect();
    let mut owner_of: HashMap<&str, usize> = HashMap::new();
    for (slot, hit) in hits.iter().enumerate() {
        let Some(m) = records.get(hit.record) else {
            continue;
        };
        for name in std::iter::once(&m.record.id).chain(&m.record.aliases) {
            match owner_of.get(name.as_str()) {
                Some(&other) => union(&mut parent, slot, other),
                None => {
                    owner_of.insert(name, slot);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<&Hit>> = BTreeMap::new();
    for (slot, hit) in hits.iter().enumerate() {
        groups.entry(find(&mut parent, slot)).or_default().push(hit);
    }
    groups.into_values().collect()
}

fn finding(
    component: &Component,
    purl: &str,
    members: &[(&MatchedRecord, &[String])],
) -> Option<Finding> {
    let mut advisories: Vec<String> = members.iter().map(|(m, _)| m.record.id.clone()).collect();
    advisories.sort();
    advisories.dedup();
    let primary = advisories
        .iter()
        .min_by_key(|id| (id_priority(component.ecosystem, id), (*id).clone()))?
        .clone();
    let lead = members
        .iter()
        .find(|(m, _)| m.record.id == primary)
        .map(|(m, _)| *m)?;

    let mut aliases: BTreeSet<String> = BTreeSet::new();
    let mut fixed: BTreeSet<String> = BTreeSet::new();
    for (m, f) in members {
        aliases.insert(m.record.id.clone());
        aliases.extend(m.record.aliases.iter().cloned());
        fixed.extend(f.iter().cloned());
    }
    aliases.remove(&primary);

    // The strongest evidence of severity among the merged advisories.
    let cvss = members
        .iter()
        .filter_map(|(m, _)| m.cvss.as_ref())
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .cloned();
    let severity = members
        .iter()
        .map(|(m, _)| m.severity)
        .max()
        .unwrap_or_default();
    let severity_label = lead
        .label
        .clone()
        .or_else(|| members.iter().find_map(|(m, _)| m.label.clone()));
    let summary = lead
        .record
        .summary
        .clone()
        .or_else(|| members.iter().find_map(|(m, _)| m.record.summary.clone()));

    Some(Finding {
        id: primary,
        aliases: aliases.into_iter().collect(),
        advisories,
        ecosystem: component.ecosystem,
        name: component.name.clone(),
        version: component.version.clone(),
        purl: purl.to_owned(),
        summary,
        severity,
        cvss,
        severity_label,
        fixed: fixed.into_iter().collect(),
        url: lead.url.clone(),
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
