//! Python versions as PEP 440 defines them (<https://peps.python.org/pep-0440/>), with the
//! normalisation rules of its "Normalization" section: case, `-`/`_`/`.` separators, spelling
//! variants (`alpha` = `a`, `c` = `pre` = `preview` = `rc`, `rev` = `r` = `post`), implicit
//! numbers (`1.0a` = `1.0a0`) and implicit post releases (`1.0-1` = `1.0.post1`).

use std::cmp::Ordering;

use super::VersionError;

/// A parsed PEP 440 version. Equality and ordering follow the spec's "Summary of permitted
/// suffixes and relative ordering".
#[derive(Debug, Clone)]
pub struct Pep440 {
    epoch: u64,
    /// Release segment with trailing zeros removed, so `1.0` == `1.0.0`.
    release: Vec<u64>,
    pre: Option<(PreKind, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<LocalPart>,
}

/// Pre-release phases, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PreKind {
    Alpha,
    Beta,
    Rc,
}

/// A local version label part: alphanumeric parts sort below numeric ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Text(String),
    Number(u64),
}

/// The tuple versions are ordered by: epoch, release, pre, post, dev, local.
type SortKey<'a> = (
    u64,
    &'a [u64],
    Bound<(PreKind, u64)>,
    Bound<u64>,
    Bound<u64>,
    &'a [LocalPart],
);

/// Where a version sits in the suffix order, for the comparison key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Bound<T> {
    Below,
    At(T),
    Above,
}

impl Pep440 {
    /// Parses and normalises a PEP 440 version.
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let bad = |reason: &'static str| VersionError::new("pep440", input, reason);
        let lower = input.trim().to_ascii_lowercase();
        let mut cur = Cursor {
            s: lower.as_bytes(),
            at: 0,
        };
        cur.eat(b'v');

        // Epoch: `N!`.
        let mut epoch = 0;
        let mark = cur.at;
        if let Some(n) = cur.number() {
            if cur.eat(b'!') {
                epoch = n;
            } else {
                cur.at = mark;
            }
        }

        // Release: `N(.N)*`.
        let mut release = vec![cur
            .number()
            .ok_or_else(|| bad("expected a release number"))?];
        loop {
            let mark = cur.at;
            if cur.eat(b'.') {
                if let Some(n) = cur.number() {
                    release.push(n);
                    continue;
                }
            }
            cur.at = mark;
            break;
        }
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }

        let pre = cur.pre();
        let post = cur.post();
        let dev = cur.dev();
        let local = if cur.eat(b'+') {
            cur.local()
                .ok_or_else(|| bad("invalid local version label"))?
        } else {
            Vec::new()
        };
        if cur.at != cur.s.len() {
            return Err(bad("unexpected text after the version"));
        }
        Ok(Self {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// Whether this is a pre-release or a development release.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The comparison key. A bare dev release (`1.0.dev1`) sorts before every pre-release of
    /// the same release; a missing pre part sorts after every pre-release; a missing post part
    /// before every post release; a missing dev part after every dev release.
    fn key(&self) -> SortKey<'_> {
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => Bound::Below,
            (None, _, _) => Bound::Above,
            (Some(p), _, _) => Bound::At(p),
        };
        let post = self.post.map_or(Bound::Below, Bound::At);
        let dev = self.dev.map_or(Bound::Above, Bound::At);
        (self.epoch, &self.release, pre, post, dev, &self.local)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self
            .s
            .get(self.at..)
            .is_some_and(|rest| rest.starts_with(word.as_bytes()))
        {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn separator(&mut self) -> bool {
        self.eat(b'.') || self.eat(b'-') || self.eat(b'_')
    }

    fn number(&mut self) -> Option<u64> {
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = self.s.get(start..self.at)?;
        if digits.is_empty() || digits.len() > 19 {
            self.at = start;
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    /// An optional number after an optional separator; implicitly 0.
    fn implicit_number(&mut self) -> u64 {
        let mark = self.at;
        self.separator();
        self.number().unwrap_or_else(|| {
            self.at = mark;
            0
        })
    }

    fn pre(&mut self) -> Option<(PreKind, u64)> {
        let mark = self.at;
        self.separator();
        // Longest spellings first so that `preview` is not read as `pre` + `view`.
        let kinds = [
            ("preview", PreKind::Rc),
            ("alpha", PreKind::Alpha),
            ("beta", PreKind::Beta),
            ("pre", PreKind::Rc),
            ("rc", PreKind::Rc),
            ("a", PreKind::Alpha),
            ("b", PreKind::Beta),
            ("c", PreKind::Rc),
        ];
        for (word, kind) in kinds {
            if self.eat_word(word) {
                return Some((kind, self.implicit_number()));
            }
        }
        self.at = mark;
        None
    }

    fn post(&mut self) -> Option<u64> {
        let mark = self.at;
        // Implicit post release: `1.0-1`.
        if self.eat(b'-') {
            if let Some(n) = self.number() {
                return Some(n);
            }
            self.at = mark;
        }
        self.separator();
        for word in ["post", "rev", "r"] {
            if self.eat_word(word) {
                return Some(self.implicit_number());
            }
        }
        self.at = mark;
        None
    }

    fn dev(&mut self) -> Option<u64> {
        let mark = self.at;
        self.separator();
        if self.eat_word("dev") {
            return Some(self.implicit_number());
        }
        self.at = mark;
        None
    }

    fn local(&mut self) -> Option<Vec<LocalPart>> {
        let rest = std::str::from_utf8(self.s.get(self.at..)?).ok()?;
        self.at = self.s.len();
        rest.split(['.', '-', '_'])
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    None
                } else if part.bytes().all(|b| b.is_ascii_digit()) {
                    part.parse().ok().map(LocalPart::Number)
                } else {
                    Some(LocalPart::Text(part.to_owned()))
                }
            })
            .collect()
    }
}

impl Ord for Pep440 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Pep440 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pep440 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pep440 {}

/// Normalises a PyPI project name as PEP 503 does: lowercase, and runs of `-`, `_`, `.` become
/// one `-`; so `Foo_Bar`, `foo.bar` and `FOO--bar` are one project.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            in_separator = true;
        } else {
            if in_separator && !out.is_empty() {
                out.push('-');
            }
            in_separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}
