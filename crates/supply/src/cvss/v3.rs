//! CVSS v3.0 and v3.1 base scores (CVSS v3.1 specification, section 7.1 and Appendix A).

use super::{metrics, CvssError};

const ALLOWED: [(&str, &[&str]); 20] = [
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "R"]),
    ("S", &["U", "C"]),
    ("C", &["H", "L", "N"]),
    ("I", &["H", "L", "N"]),
    ("A", &["H", "L", "N"]),
    // Temporal and environmental metrics are accepted but do not change the base score.
    ("E", &["X", "U", "P", "F", "H"]),
    ("RL", &["X", "O", "T", "W", "U"]),
    ("RC", &["X", "U", "R", "C"]),
    ("CR", &["X", "L", "M", "H"]),
    ("IR", &["X", "L", "M", "H"]),
    ("AR", &["X", "L", "M", "H"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "R"]),
    ("MS", &["X", "U", "C"]),
    ("MC", &["X", "H", "L", "N"]),
];

const BASE: [&str; 8] = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"];

/// Computes the base score of a v3 vector; `rest` is the vector after its `CVSS:3.x/` prefix.
pub(super) fn score(vector: &str, rest: &str, v3_1: bool) -> Result<f64, CvssError> {
    // MI and MA share MC's value set; list them here to keep the table above short.
    let mut allowed = ALLOWED.to_vec();
    allowed.push(("MI", &["X", "H", "L", "N"]));
    allowed.push(("MA", &["X", "H", "L", "N"]));
    let pairs = metrics(vector, rest, &allowed)?;
    let get = |name: &'static str| {
        pairs
            .iter()
            .find(|(m, _)| *m == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| CvssError::MissingMetric {
                metric: name,
                vector: vector.chars().take(120).collect(),
            })
    };
    for name in BASE {
        get(name)?;
    }
    let changed = get("S")? == "C";

    // Section 7.4, metric values.
    let cia = |v: &str| -> f64 {
        match v {
            "H" => 0.56,
            "L" => 0.22,
            _ => 0.0,
        }
    };
    let av = match get("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        _ => 0.2,
    };
    let ac = if get("AC")? == "L" { 0.77 } else { 0.44 };
    let pr = match (get("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        (_, false) => 0.27,
        (_, true) => 0.5,
    };
    let ui = if get("UI")? == "N" { 0.85 } else { 0.62 };

    // Section 7.1, base metric equations.
    let iss: f64 = 1.0 - (1.0 - cia(get("C")?)) * (1.0 - cia(get("I")?)) * (1.0 - cia(get("A")?));
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    let raw = if changed {
        1.08 * (impact + exploitability)
    } else {
        impact + exploitability
    };
    Ok(round_up(raw.min(10.0), v3_1))
}

/// Rounds up to one decimal. v3.1 (Appendix A) works in integers to avoid floating-point
/// artefacts such as 4.000000000000001 becoming 4.1; v3.0 used a plain ceiling.
fn round_up(x: f64, v3_1: bool) -> f64 {
    if !v3_1 {
        return (x * 10.0).ceil() / 10.0;
    }
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}
