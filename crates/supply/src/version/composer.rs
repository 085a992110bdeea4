//! Composer (Packagist) versions: up to four numeric parts and a stability suffix
//! (`1.2.3-beta2`, `v2.0.0-RC1`, `1.0.0-patch1`), ordered as Composer normalises and compares
//! them: `dev` < `alpha` < `beta` < `RC` < stable < `patch`. Branch names (`dev-main`,
//! `1.x-dev`) name no single version and are refused.

use super::VersionError;

/// A parsed Composer version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ComposerVersion {
    /// Numeric parts, padded to four, trailing zeros beyond that removed.
    release: Vec<u64>,
    stability: Stability,
    /// Numbers after the stability word (`beta2` -> [2]).
    numbers: Vec<u64>,
    /// A trailing `-dev` on a tagged pre-release sorts before that pre-release.
    not_dev: bool,
}

/// Stability levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stability {
    Dev,
    Alpha,
    Beta,
    Rc,
    Stable,
    Patch,
}

impl ComposerVersion {
    /// Parses a Composer version.
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let bad = |reason: &'static str| VersionError::new("composer", input, reason);
        let lower = input.trim().to_ascii_lowercase();
        let s = lower.strip_prefix('v').unwrap_or(&lower);
        if s.starts_with("dev-") || s.contains(".x") || s.contains('*') {
            return Err(bad("a branch names no single version"));
        }

        // Numeric release: digits and dots up to the first other character.
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (head, tail) = s.split_at(end);
        let head = head.trim_end_matches('.');
        let mut release = head
            .split('.')
            .map(|p| {
                p.parse::<u64>()
                    .map_err(|_| bad("expected numbers separated by `.`"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        while release.len() < 4 {
            release.push(0);
        }
        while release.len() > 4 && release.last() == Some(&0) {
            release.pop();
        }

        // Stability suffix, optionally followed by numbers and a final `-dev`.
        let mut rest = tail.trim_start_matches(['-', '_', '.']);
        let mut not_dev = true;
        if let Some(r) = rest.strip_suffix("dev") {
            rest = r.trim_end_matches(['-', '.', '_']);
            not_dev = false;
        }
        let words = [
            ("stable", Stability::Stable),
            ("alpha", Stability::Alpha),
            ("beta", Stability::Beta),
            ("patch", Stability::Patch),
            ("rc", Stability::Rc),
            ("pl", Stability::Patch),
            ("a", Stability::Alpha),
            ("b", Stability::Beta),
            ("p", Stability::Patch),
        ];
        let mut stability = if not_dev {
            Stability::Stable
        } else {
            Stability::Dev
        };
        if !rest.is_empty() {
            let (word, kind) = words
                .iter()
                .find(|(w, _)| rest.starts_with(w))
                .ok_or_else(|| bad("unknown stability suffix"))?;
            stability = *kind;
            rest = rest.get(word.len()..).unwrap_or("");
        }
        let numbers = rest
            .split(['.', '-'])
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<u64>()
                    .map_err(|_| bad("unexpected text after the stability"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if stability == Stability::Dev {
            not_dev = true;
        }
        Ok(Self {
            release,
            stability,
            numbers,
            not_dev,
        })
    }

    /// Whether this is below stable.
    pub fn is_prerelease(&self) -> bool {
        self.stability < Stability::Stable || !self.not_dev
    }
}
