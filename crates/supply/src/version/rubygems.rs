//! RubyGems versions (`Gem::Version`): dot-separated segments, where a run of letters starts a
//! pre-release (`1.0.0.rc1`, `1.0.0-beta`), and a `-` is read as `.pre.`.

use std::cmp::Ordering;

use super::VersionError;

/// A parsed gem version.
#[derive(Debug, Clone)]
pub struct GemVersion {
    segments: Vec<Segment>,
}

/// A segment: letters sort below numbers, which is what makes `1.0.a` a pre-release of `1.0`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Text(String),
    Number(u64),
}

impl GemVersion {
    /// Parses a gem version such as `7.0.4.3` or `1.0.0.rc1`.
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let bad = |reason: &'static str| VersionError::new("rubygems", input, reason);
        let s = input.trim();
        if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad("a gem version starts with a digit"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(bad("only letters, digits, `.` and `-` are allowed"));
        }
        let s = s.replace('-', ".pre.");

        // Each dot-separated part splits further where digits meet letters (`rc1` -> rc, 1).
        let mut segments = Vec::new();
        for part in s.split('.') {
            if part.is_empty() {
                return Err(bad("empty segment"));
            }
            let mut rest = part;
            while let Some(first) = rest.chars().next() {
                let digits = first.is_ascii_digit();
                let end = rest
                    .find(|c: char| c.is_ascii_digit() != digits)
                    .unwrap_or(rest.len());
                let (run, tail) = rest.split_at(end);
                segments.push(if digits {
                    Segment::Number(run.parse().map_err(|_| bad("number too large"))?)
                } else {
                    Segment::Text(run.to_owned())
                });
                rest = tail;
            }
        }
        Ok(Self {
            segments: canonical(segments),
        })
    }

    /// Whether any segment has letters.
    pub fn is_prerelease(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Text(_)))
    }
}

/// Drops zero segments that carry no meaning: trailing ones, and those just before the first
/// letter segment (`1.0.a` == `1.a`), as `Gem::Version#canonical_segments` does.
fn canonical(mut segments: Vec<Segment>) -> Vec<Segment> {
    let first_text = segments.iter().position(|s| matches!(s, Segment::Text(_)));
    let (mut release, mut pre) = match first_text {
        Some(i) => {
            let pre = segments.split_off(i);
            (segments, pre)
        }
        None => (segments, Vec::new()),
    };
    while release.len() > 1 && release.last() == Some(&Segment::Number(0)) {
        release.pop();
    }
    while pre.last() == Some(&Segment::Number(0)) {
        pre.pop();
    }
    release.extend(pre);
    release
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        // Missing segments count as 0, so `1.0` == `1` and `1.a` < `1`.
        let len = self.segments.len().max(other.segments.len());
        let zero = Segment::Number(0);
        (0..len)
            .map(|i| {
                let a = self.segments.get(i).unwrap_or(&zero);
                let b = other.segments.get(i).unwrap_or(&zero);
                a.cmp(b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for GemVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for GemVersion {}
