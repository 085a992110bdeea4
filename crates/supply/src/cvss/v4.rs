//! CVSS v4.0 scores (CVSS v4.0 specification, section 8). A vector falls into one of 270
//! macrovectors, classes of equivalent vectors named by six levels EQ1..EQ6. The table gives
//! the score of each macrovector's highest-severity vector; the vector's own score is that,
//! lowered by how far the vector sits below the highest one, in proportion to the gap to the
//! next lower macrovector of each EQ.

use super::v4_table::MACROVECTOR_SCORES;
use super::{metrics, CvssError};

const HLN: &[&str] = &["H", "L", "N"];
const X_HLN: &[&str] = &["X", "H", "L", "N"];
const X_HML: &[&str] = &["X", "H", "M", "L"];

/// Every metric of the v4.0 vector string (specification section 7) with its values.
const ALLOWED: [(&str, &[&str]); 32] = [
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", HLN),
    ("VI", HLN),
    ("VA", HLN),
    ("SC", HLN),
    ("SI", HLN),
    ("SA", HLN),
    ("E", &["X", "A", "P", "U"]),
    ("CR", X_HML),
    ("IR", X_HML),
    ("AR", X_HML),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MAT", &["X", "N", "P"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "P", "A"]),
    ("MVC", X_HLN),
    ("MVI", X_HLN),
    ("MVA", X_HLN),
    ("MSC", X_HLN),
    ("MSI", &["X", "S", "H", "L", "N"]),
    ("MSA", &["X", "S", "H", "L", "N"]),
    ("S", &["X", "N", "P"]),
    ("AU", &["X", "N", "Y"]),
    ("R", &["X", "A", "U", "I"]),
    ("V", &["X", "D", "C"]),
    ("RE", &["X", "L", "M", "H"]),
    ("U", &["X", "Clear", "Green", "Amber", "Red"]),
];

const BASE: [&str; 11] = [
    "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
];

/// The highest-severity vectors of each EQ level (specification section 8.2), as the
/// metric values they fix. EQ3 and EQ6 are scored jointly, indexed `[eq3][eq6]`.
const EQ1_MAX: [&[&str]; 3] = [
    &["AV:N/PR:N/UI:N"],
    &["AV:A/PR:N/UI:N", "AV:N/PR:L/UI:N", "AV:N/PR:N/UI:P"],
    &["AV:P/PR:N/UI:N", "AV:A/PR:L/UI:P"],
];
const EQ2_MAX: [&[&str]; 2] = [&["AC:L/AT:N"], &["AC:H/AT:N", "AC:L/AT:P"]];
const EQ3_EQ6_MAX: [[&[&str]; 2]; 3] = [
    [
        &["VC:H/VI:H/VA:H/CR:H/IR:H/AR:H"],
        &[
            "VC:H/VI:H/VA:L/CR:M/IR:M/AR:H",
            "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M",
        ],
    ],
    [
        &[
            "VC:L/VI:H/VA:H/CR:H/IR:H/AR:H",
            "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H",
        ],
        &[
            "VC:L/VI:H/VA:L/CR:H/IR:M/AR:H",
            "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M",
            "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M",
            "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H",
            "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M",
        ],
    ],
    [&[], &["VC:L/VI:L/VA:L/CR:H/IR:H/AR:H"]],
];
const EQ4_MAX: [&[&str]; 3] = [
    &["SC:H/SI:S/SA:S"],
    &["SC:H/SI:H/SA:H"],
    &["SC:L/SI:L/SA:L"],
];

/// The depth of each EQ level in severity-distance steps (section 8.2), `[eq3][eq6]` for
/// EQ3+EQ6.
const EQ1_DEPTH: [f64; 3] = [1.0, 4.0, 5.0];
const EQ2_DEPTH: [f64; 2] = [1.0, 2.0];
const EQ3_EQ6_DEPTH: [[f64; 2]; 3] = [[7.0, 6.0], [8.0, 8.0], [10.0, 10.0]];
const EQ4_DEPTH: [f64; 3] = [6.0, 5.0, 4.0];
const STEP: f64 = 0.1;

/// Computes the score of a v4.0 vector; `rest` follows the `CVSS:4.0/` prefix.
pub(super) fn score(vector: &str, rest: &str) -> Result<f64, CvssError> {
    let pairs = metrics(vector, rest, &ALLOWED)?;
    for name in BASE {
        if !pairs.iter().any(|(m, _)| *m == name) {
            let vector = vector.chars().take(120).collect();
            return Err(CvssError::MissingMetric {
                metric: name,
                vector,
            });
        }
    }
    let v = Effective { pairs };
    Ok(v.score())
}

/// Metric values as the equations see them: modified metrics override base ones, and the
/// defaults for `X` (not defined) of section 8.1 apply.
struct Effective<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl Effective<'_> {
    fn raw(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(m, _)| *m == name).map(|(_, v)| *v)
    }

    fn get(&self, name: &str) -> &str {
        match (name, self.raw(name)) {
            ("E", None | Some("X")) => return "A",
            ("CR" | "IR" | "AR", None | Some("X")) => return "H",
            _ => {}
        }
        let modified = self.raw(&format!("M{name}")).filter(|v| *v != "X");
        modified.or_else(|| self.raw(name)).unwrap_or("X")
    }

    fn is(&self, name: &str, value: &str) -> bool {
        self.get(name) == value
    }

    /// The six EQ levels (section 8.2, table 24 onwards).
    fn macrovector(&self) -> [usize; 6] {
        let (av_n, pr_n, ui_n) = (self.is("AV", "N"), self.is("PR", "N"), self.is("UI", "N"));
        let eq1 = if av_n && pr_n && ui_n {
            0
        } else if (av_n || pr_n || ui_n) && !self.is("AV", "P") {
            1
        } else {
            2
        };
        let eq2 = if self.is("AC", "L") && self.is("AT", "N") {
            0
        } else {
            1
        };
        let (vc_h, vi_h, va_h) = (self.is("VC", "H"), self.is("VI", "H"), self.is("VA", "H"));
        let eq3 = if vc_h && vi_h {
            0
        } else if vc_h || vi_h || va_h {
            1
        } else {
            2
        };
        let eq4 = if self.is("SI", "S") || self.is("SA", "S") {
            0
        } else if self.is("SC", "H") || self.is("SI", "H") || self.is("SA", "H") {
            1
        } else {
            2
        };
        let eq5 = match self.get("E") {
            "A" => 0,
            "P" => 1,
            _ => 2,
        };
        let eq6 = if (self.is("CR", "H") && vc_h)
            || (self.is("IR", "H") && vi_h)
            || (self.is("AR", "H") && va_h)
        {
            0
        } else {
            1
        };
        [eq1, eq2, eq3, eq4, eq5, eq6]
    }

    fn score(&self) -> f64 {
        // No impact on any system: 0.0 by definition.
        if ["VC", "VI", "VA", "SC", "SI", "SA"]
            .iter()
            .all(|m| self.is(m, "N"))
        {
            return 0.0;
        }
        let mv = self.macrovector();
        let [eq1, eq2, eq3, eq4, eq5, eq6] = mv;
        let Some(value) = lookup(mv) else { return 0.0 };

        // The score of the next lower macrovector along each EQ, where one exists.
        let lower = |i: usize| {
            let mut next = mv;
            if let Some(slot) = next.get_mut(i) {
                *slot += 1;
            }
            lookup(next)
        };
        let lower_eq3_eq6 = match (eq3, eq6) {
            (0, 0) => max_opt(
                lookup([eq1, eq2, 0, eq4, eq5, 1]),
                lookup([eq1, eq2, 1, eq4, eq5, 0]),
            ),
            (_, 1) => lookup([eq1, eq2, eq3 + 1, eq4, eq5, eq6]),
            _ => lookup([eq1, eq2, eq3, eq4, eq5, eq6 + 1]),
        };

        // How far the vector is below its macrovector's highest-severity vector, per EQ.
        let Some(distances) = self.distances_to_max(mv) else {
            return round1(value);
        };

        let parts = [
            (lower(0), distances[0], depth(&EQ1_DEPTH, eq1)),
            (lower(1), distances[1], depth(&EQ2_DEPTH, eq2)),
            (lower_eq3_eq6, distances[2], eq3_eq6_depth(eq3, eq6)),
            (lower(3), distances[3], depth(&EQ4_DEPTH, eq4)),
            // EQ5 has a single vector per level: it only counts towards the mean.
            (lower(4), 0.0, 1.0),
        ];
        let mut existing = 0.0;
        let mut total = 0.0;
        for (next, distance, depth) in parts {
            let Some(next) = next else { continue };
            let available = value - next;
            if available < 0.0 {
                continue;
            }
            existing += 1.0;
            total += available * (distance / (depth * STEP));
        }
        let mean = if existing > 0.0 {
            total / existing
        } else {
            0.0
        };
        round1((value - mean).clamp(0.0, 10.0))
    }

    /// Sums of severity distances (EQ1, EQ2, EQ3+EQ6, EQ4) from the first highest-severity
    /// vector of the macrovector that the vector does not exceed on any metric.
    fn distances_to_max(&self, mv: [usize; 6]) -> Option<[f64; 4]> {
        let [eq1, eq2, eq3, eq4, _, eq6] = mv;
        let e1 = EQ1_MAX.get(eq1)?;
        let e2 = EQ2_MAX.get(eq2)?;
        let e36 = EQ3_EQ6_MAX.get(eq3)?.get(eq6)?;
        let e4 = EQ4_MAX.get(eq4)?;
        for a in e1.iter() {
            for b in e2.iter() {
                for c in e36.iter() {
                    for d in e4.iter() {
                        let max = [*a, *b, *c, *d].join("/");
                        if let Some(found) = self.distances_from(&max) {
                            return Some(found);
                        }
                    }
                }
            }
        }
        None
    }

    /// Severity distances from one maximal vector, or `None` if the vector exceeds it.
    fn distances_from(&self, max: &str) -> Option<[f64; 4]> {
        let groups: [&[&str]; 4] = [
            &["AV", "PR", "UI"],
            &["AC", "AT"],
            &["VC", "VI", "VA", "CR", "IR", "AR"],
            &["SC", "SI", "SA"],
        ];
        let mut sums = [0.0; 4];
        for (sum, group) in sums.iter_mut().zip(groups) {
            for metric in group {
                let max_value = max
                    .split('/')
                    .find_map(|p| p.strip_prefix(metric).and_then(|r| r.strip_prefix(':')))?;
                let d = level(metric, self.get(metric))? - level(metric, max_value)?;
                if d < 0.0 {
                    return None;
                }
                *sum += d;
            }
        }
        Some(sums)
    }
}

/// Severity level of a metric value, in steps of 0.1 (section 8.2).
fn level(metric: &str, value: &str) -> Option<f64> {
    let steps: &[(&str, f64)] = match metric {
        "AV" => &[("N", 0.0), ("A", 0.1), ("L", 0.2), ("P", 0.3)],
        "PR" => &[("N", 0.0), ("L", 0.1), ("H", 0.2)],
        "UI" => &[("N", 0.0), ("P", 0.1), ("A", 0.2)],
        "AC" => &[("L", 0.0), ("H", 0.1)],
        "AT" => &[("N", 0.0), ("P", 0.1)],
        "VC" | "VI" | "VA" => &[("H", 0.0), ("L", 0.1), ("N", 0.2)],
        "SC" => &[("H", 0.1), ("L", 0.2), ("N", 0.3)],
        "SI" | "SA" => &[("S", 0.0), ("H", 0.1), ("L", 0.2), ("N", 0.3)],
        "CR" | "IR" | "AR" => &[("H", 0.0), ("M", 0.1), ("L", 0.2)],
        _ => return None,
    };
    steps.iter().find(|(v, _)| *v == value).map(|(_, l)| *l)
}

fn lookup(mv: [usize; 6]) -> Option<f64> {
    let key: String = mv
        .iter()
        .map(|d| char::from(b'0' + (*d as u8).min(9)))
        .collect();
    MACROVECTOR_SCORES
        .binary_search_by(|(k, _)| (*k).cmp(key.as_str()))
        .ok()
        .and_then(|i| MACROVECTOR_SCORES.get(i))
        .map(|(_, s)| *s)
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn depth(table: &[f64], level: usize) -> f64 {
    table.get(level).copied().unwrap_or(1.0)
}

fn eq3_eq6_depth(eq3: usize, eq6: usize) -> f64 {
    EQ3_EQ6_DEPTH
        .get(eq3)
        .and_then(|row| row.get(eq6))
        .copied()
        .unwrap_or(1.0)
}

/// Rounds half up to one decimal; the small epsilon keeps values such as 1.4499999999999993
/// (from 8.6 - 7.15 in floating point) rounding as the decimal arithmetic intends.
fn round1(x: f64) -> f64 {
    ((x + 1e-6) * 10.0).round() / 10.0
}
