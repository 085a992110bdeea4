//! License strings from lockfiles, classified for the writers: a known SPDX identifier, an
//! SPDX expression made only of known identifiers, or free text.
//!
//! The list below is the subset of the SPDX license list that lockfiles commonly name; an
//! identifier outside it is written as free text (CycloneDX) or `NOASSERTION` with the text
//! in a comment (SPDX), never as an identifier a validator would reject.

/// SPDX license identifiers we emit as identifiers.
const KNOWN_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AFL-3.0",
    "AGPL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.1",
    "Apache-2.0",
    "Artistic-2.0",
    "BlueOak-1.0.0",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSL-1.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "CDDL-1.1",
    "EPL-1.0",
    "EPL-2.0",
    "EUPL-1.2",
    "GPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.0",
    "LGPL-2.1",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MIT-0",
    "MPL-1.1",
    "MPL-2.0",
    "MS-PL",
    "NCSA",
    "OFL-1.1",
    "OpenSSL",
    "PHP-3.01",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "Ruby",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "Unlicense",
    "UPL-1.0",
    "W3C",
    "WTFPL",
    "X11",
    "Zlib",
    "ZPL-2.1",
];

/// Exceptions allowed after `WITH`.
const KNOWN_EXCEPTIONS: &[&str] = &["LLVM-exception", "Classpath-exception-2.0"];

/// How a license string can be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum License {
    /// One SPDX identifier, in its canonical case.
    Id(&'static str),
    /// An SPDX expression of known identifiers (`MIT OR Apache-2.0`).
    Expression(String),
    /// Anything else, kept as written.
    Text(String),
}

pub(crate) fn classify(s: &str) -> License {
    let s = s.trim();
    if let Some(id) = known_id(s) {
        return License::Id(id);
    }
    // Old npm style `(MIT OR Apache-2.0)` and slashes (`MIT/Apache-2.0`, Cargo's old form).
    let normalised = s.replace('/', " OR ");
    let tokens: Vec<&str> = normalised
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|t| !t.is_empty())
        .collect();
    let mut expect_exception = false;
    let mut rebuilt = Vec::new();
    for t in &tokens {
        if expect_exception {
            if !KNOWN_EXCEPTIONS.contains(t) {
                return License::Text(s.to_string());
            }
            expect_exception = false;
            continue;
        }
        match *t {
            "OR" | "AND" | "or" | "and" => {}
            "WITH" => expect_exception = true,
            id => {
                let Some(id) = known_id(id) else {
                    return License::Text(s.to_string());
                };
                rebuilt.push(id);
            }
        }
    }
    if rebuilt.is_empty() || !balanced(&normalised) {
        return License::Text(s.to_string());
    }
    let expr = normalised
        .split_whitespace()
        .map(|w| match w {
            "or" => "OR".to_string(),
            "and" => "AND".to_string(),
            other => {
                let inner = other.trim_matches(|c| c == '(' || c == ')');
                match known_id(inner) {
                    Some(id) => other.replace(inner, id),
                    None => other.to_string(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    License::Expression(expr)
}

fn known_id(s: &str) -> Option<&'static str> {
    KNOWN_IDS
        .iter()
        .copied()
        .find(|id| id.eq_ignore_ascii_case(s))
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_are_classified() {
        assert_eq!(classify("mit"), License::Id("MIT"));
        assert_eq!(
            classify("(MIT OR Apache-2.0)"),
            License::Expression("(MIT OR Apache-2.0)".into())
        );
        assert_eq!(
            classify("MIT/Apache-2.0"),
            License::Expression("MIT OR Apache-2.0".into())
        );
        assert_eq!(
            classify("SEE LICENSE IN x"),
            License::Text("SEE LICENSE IN x".into())
        );
        assert_eq!(classify("(MIT"), License::Text("(MIT".into()));
        assert_eq!(
            classify("Apache-2.0 WITH LLVM-exception"),
            License::Expression("Apache-2.0 WITH LLVM-exception".into())
        );
    }
}
