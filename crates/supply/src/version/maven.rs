//! Maven versions, ordered as Maven's "Version Order Specification" (the `ComparableVersion`
//! rules) says: the version splits into numbers and qualifiers at `.`, `-` and digit/letter
//! boundaries; a `-` or a boundary starts a nested list; trailing "null" items (`0`, `""`,
//! `final`, `ga`, `release`) are dropped; and qualifiers order as
//! `alpha` < `beta` < `milestone` < `rc` = `cr` < `snapshot` < `""` = `final` = `ga` < `sp`,
//! with any other qualifier after those, alphabetically.
//!
//! One consequence matters for advisories: a vendor rebuild such as `4.1.108.Final-redhat-00001`
//! is `4.1.108-redhat-1`, which sorts *above* `4.1.108.Final`, because `redhat` is an unknown
//! qualifier and unknown qualifiers follow the release.

use std::cmp::Ordering;

use super::VersionError;

/// A parsed Maven version.
#[derive(Debug, Clone)]
pub struct MavenVersion {
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    /// A number, as its decimal digits without leading zeros (Maven allows any size).
    Int(String),
    /// A qualifier, lowercased and with its aliases resolved.
    Str(String),
    /// A sub-list started by `-` or a digit/letter boundary.
    List(Vec<Item>),
}

/// The well-known qualifiers, in order; `""` is the release itself.
const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The position of the release (`""`) in [`QUALIFIERS`].
const RELEASE_INDEX: &str = "5";

impl MavenVersion {
    /// Parses a Maven version. Every string is a Maven version, but an empty one, or one with
    /// characters outside letters, digits, `.`, `-`, `_` and `+`, is refused as unlikely input.
    pub fn parse(input: &str) -> Result<Self, VersionError> {
        let s = input.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(VersionError::new("maven", input, "empty version"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
        {
            return Err(VersionError::new("maven", input, "unexpected character"));
        }
        Ok(Self {
            items: tokenize(&s),
        })
    }
}

/// Splits a lowercased version into nested lists: `levels[k + 1]` is the last item of
/// `levels[k]` once folded.
fn tokenize(s: &str) -> Vec<Item> {
    let mut levels: Vec<Vec<Item>> = vec![Vec::new()];
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut is_digit = false;
    for (i, &c) in bytes.iter().enumerate() {
        let token = s.get(start..i).unwrap_or("");
        let current = levels.len() - 1;
        if c == b'.' || c == b'-' {
            let item = if token.is_empty() {
                Item::Int(String::new())
            } else {
                item(token, is_digit, false)
            };
            if let Some(level) = levels.get_mut(current) {
                level.push(item);
            }
            start = i + 1;
            if c == b'-' {
                levels.push(Vec::new());
            }
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                if let Some(level) = levels.get_mut(current) {
                    level.push(item(token, false, true));
                }
                start = i;
                levels.push(Vec::new());
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                if let Some(level) = levels.get_mut(current) {
                    level.push(item(token, true, false));
                }
                start = i;
                levels.push(Vec::new());
            }
            is_digit = false;
        }
    }
    if let Some(rest) = s.get(start..).filter(|r| !r.is_empty()) {
        if let Some(level) = levels.last_mut() {
            level.push(item(rest, is_digit, false));
        }
    }

    // Fold the levels from the deepest up, normalising each list as it closes.
    let mut folded: Option<Vec<Item>> = None;
    while let Some(mut level) = levels.pop() {
        if let Some(child) = folded.take() {
            level.push(Item::List(child));
        }
        normalize(&mut level);
        folded = Some(level);
    }
    folded.unwrap_or_default()
}

fn item(token: &str, is_digit: bool, followed_by_digit: bool) -> Item {
    if is_digit {
        return Item::Int(token.trim_start_matches('0').to_owned());
    }
    let token = match token {
        "a" if followed_by_digit => "alpha",
        "b" if followed_by_digit => "beta",
        "m" if followed_by_digit => "milestone",
        "ga" | "final" | "release" => "",
        "cr" => "rc",
        other => other,
    };
    Item::Str(token.to_owned())
}

/// Drops trailing null items, looking through nested lists at the end.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        let Some(last) = list.get(i) else { break };
        if last.is_null() {
            list.remove(i);
        } else if !matches!(last, Item::List(_)) {
            break;
        }
    }
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Int(digits) => digits.is_empty(),
            Item::Str(s) => s.is_empty(),
            Item::List(items) => items.is_empty(),
        }
    }

    /// Compares this item with an absent one (the other version is shorter).
    fn cmp_null(&self) -> Ordering {
        match self {
            Item::Int(digits) => {
                if digits.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            Item::Str(s) => comparable_qualifier(s).as_str().cmp(RELEASE_INDEX),
            Item::List(items) => items.first().map_or(Ordering::Equal, Item::cmp_null),
        }
    }

    fn cmp_item(&self, other: &Item) -> Ordering {
        match (self, other) {
            (Item::Int(a), Item::Int(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            (Item::Int(_), _) => Ordering::Greater,
            (Item::Str(_), Item::Int(_)) => Ordering::Less,
            (Item::Str(a), Item::Str(b)) => comparable_qualifier(a).cmp(&comparable_qualifier(b)),
            (Item::Str(_), Item::List(_)) => Ordering::Less,
            (Item::List(_), Item::Int(_)) => Ordering::Less,
            (Item::List(_), Item::Str(_)) => Ordering::Greater,
            (Item::List(a), Item::List(b)) => cmp_lists(a, b),
        }
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => x.cmp_item(y),
            (Some(x), None) => x.cmp_null(),
            (None, Some(y)) => y.cmp_null().reverse(),
            (None, None) => Ordering::Equal,
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Known qualifiers become their position; others follow them, alphabetically.
fn comparable_qualifier(s: &str) -> String {
    match QUALIFIERS.iter().position(|q| *q == s) {
        Some(i) => i.to_string(),
        None => format!("{}-{s}", QUALIFIERS.len()),
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MavenVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MavenVersion {}
