//! From policy file texts to one validated Cedar policy set, or to diagnostics.
//!
//! Each file is parsed on its own so that every error points into the file it came from. Each
//! policy is then renamed to its `@id` (or `file:index`), its Seawall annotations are checked,
//! and the whole set is validated against the [schema](crate::schema) in strict mode. One error
//! anywhere refuses the whole set: a half-loaded policy set could allow what the full set forbids.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use cedar_policy::{Effect, Policy, PolicyId, PolicySet, ValidationMode, Validator};

use crate::diagnostic::{Diagnostic, Severity};
use crate::scan::{self, PolicySpan};

/// The largest policy file accepted, in bytes.
pub const MAX_POLICY_FILE_BYTES: usize = 1024 * 1024;

/// The longest `@id` accepted, in characters.
const MAX_ID_CHARS: usize = 128;

/// The longest `@reason` accepted, in bytes.
const MAX_REASON_BYTES: usize = 64;

/// A validated policy set and what the engine precomputes from it.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) policies: PolicySet,
    pub(crate) groups: BTreeSet<String>,
}

/// One parsed file: its policies (already renamed) and where each starts.
struct ParsedFile<'a> {
    name: &'a str,
    text: &'a str,
    policies: Vec<Policy>,
}

/// Parses, checks and validates `sources` (file name, text). Returns the compiled set when there
/// is no error, and every diagnostic (errors and warnings) in file order.
pub(crate) fn compile(sources: &[(String, String)]) -> (Option<Compiled>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut files = Vec::with_capacity(sources.len());
    for (name, text) in sources {
        if let Some(file) = parse_file(name, text, &mut diagnostics) {
            files.push(file);
        }
    }
    check_unique_ids(&files, &mut diagnostics);

    // Files that parsed are validated even when others did not, so that one run reports
    // everything; the set is still refused on any error.
    let mut policies = PolicySet::new();
    for policy in files.iter().flat_map(|f| f.policies.iter()) {
        // A duplicate id was reported above; its second policy is left out of validation.
        let _ = policies.add(policy.clone());
    }
    validate(&policies, &files, &mut diagnostics);
    sort_by_place(sources, &mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    let groups = groups_mentioned(&policies);
    (Some(Compiled { policies, groups }), diagnostics)
}

/// Parses one file and renames and checks its policies. `None` when it does not parse.
fn parse_file<'a>(
    name: &'a str,
    text: &'a str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ParsedFile<'a>> {
    if text.len() > MAX_POLICY_FILE_BYTES {
        diagnostics.push(Diagnostic::whole_file(
            name,
            format!("policy file `{name}` is larger than {MAX_POLICY_FILE_BYTES} bytes"),
        ));
        return None;
    }
    if let Some(too_complex) = scan::check_complexity(text) {
        diagnostics.push(Diagnostic::at_offset(
            name,
            text,
            too_complex.offset,
            Severity::Error,
            too_complex.message,
            Some("split the policy, or use a set: `[\"a\", \"b\"].contains(x)`".into()),
        ));
        return None;
    }
    let set = match PolicySet::from_str(text) {
        Ok(set) => set,
        Err(errors) => {
            for error in errors.iter() {
                diagnostics.push(from_miette(name, text, error, Severity::Error));
            }
            return None;
        }
    };
    let spans = scan::policies(text);
    if set.num_of_templates() > 0 {
        let offset = text.find('?').unwrap_or(0);
        diagnostics.push(Diagnostic::at_offset(
            name,
            text,
            offset,
            Severity::Error,
            "policy templates (`?principal`, `?resource`) are not supported",
            Some("write the entity in place of the slot".into()),
        ));
        return None;
    }

    // Cedar names the n-th policy of a text `policy<n>`.
    let mut policies = Vec::with_capacity(set.num_of_policies());
    for index in 0..set.num_of_policies() {
        let Some(policy) = set.policy(&PolicyId::new(format!("policy{index}"))) else {
            continue;
        };
        let span = spans.get(index).cloned().unwrap_or_default();
        let file = FileRef { name, text };
        if let Some(renamed) = rename_and_check(file, index, policy, &span, diagnostics) {
            policies.push(renamed);
        }
    }
    Some(ParsedFile {
        name,
        text,
        policies,
    })
}

/// A file name and its text, to place diagnostics.
#[derive(Clone, Copy)]
struct FileRef<'a> {
    name: &'a str,
    text: &'a str,
}

impl FileRef<'_> {
    fn error(&self, offset: usize, message: String, help: &str) -> Diagnostic {
        Diagnostic::at_offset(
            self.name,
            self.text,
            offset,
            Severity::Error,
            message,
            Some(help.to_owned()),
        )
    }
}

/// Gives `policy` its Seawall id and checks its `@id`, `@reason` and `@step_up` annotations.
fn rename_and_check(
    file: FileRef<'_>,
    index: usize,
    policy: &Policy,
    span: &PolicySpan,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Policy> {
    let before = diagnostics.len();
    let at = |key: &str| span.annotation(key).unwrap_or(span.start);

    let id = match policy.annotation("id") {
        Some(id) if !valid_id(id) => {
            diagnostics.push(file.error(
                at("id"),
                format!("`@id(\"{id}\")` is not a valid policy id"),
                "use 1 to 128 characters without spaces or control characters",
            ));
            None
        }
        Some(id) => Some(id.to_owned()),
        None => Some(format!("{}:{index}", file.name)),
    };
    if let Some(reason) = policy.annotation("reason") {
        if !valid_reason(reason) {
            diagnostics.push(file.error(
                at("reason"),
                format!("`@reason(\"{reason}\")` is not a valid reason id"),
                "use 1 to 64 characters among lowercase ascii letters, digits and `_`",
            ));
        }
    }
    match policy.annotation("step_up") {
        Some("true") if policy.effect() == Effect::Permit => diagnostics.push(file.error(
            at("step_up"),
            "`@step_up` on a permit policy has no effect".into(),
            "put `@step_up(\"true\")` on the forbid policy that asks for a fresh second factor",
        )),
        Some("true") | Some("false") | None => {}
        Some(other) => diagnostics.push(file.error(
            at("step_up"),
            format!("`@step_up(\"{other}\")` must be `\"true\"` or `\"false\"`"),
            "write `@step_up(\"true\")`",
        )),
    }
    let id = id?;
    (diagnostics.len() == before).then(|| policy.new_id(PolicyId::new(id)))
}

/// Reports an `@id` used by more than one policy.
fn check_unique_ids(files: &[ParsedFile<'_>], diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for file in files {
        let spans = scan::policies(file.text);
        for (index, policy) in file.policies.iter().enumerate() {
            let id = policy.id().as_ref();
            match seen.get(id) {
                Some(first) => {
                    let offset = spans
                        .get(index)
                        .map_or(0, |s| s.annotation("id").unwrap_or(s.start));
                    diagnostics.push(Diagnostic::at_offset(
                        file.name,
                        file.text,
                        offset,
                        Severity::Error,
                        format!("policy id `{id}` is already used in `{first}`"),
                        Some("give each policy its own `@id`".into()),
                    ));
                }
                None => {
                    seen.insert(id, file.name);
                }
            }
        }
    }
}

/// Validates the whole set against the schema, placing each problem in its file.
fn validate(policies: &PolicySet, files: &[ParsedFile<'_>], diagnostics: &mut Vec<Diagnostic>) {
    let mut origin: HashMap<&str, (&str, &str)> = HashMap::new();
    for file in files {
        for policy in &file.policies {
            origin.insert(AsRef::<str>::as_ref(policy.id()), (file.name, file.text));
        }
    }
    let validator = Validator::new(crate::schema::schema().clone());
    let result = validator.validate(policies, ValidationMode::Strict);
    let place = |id: &PolicyId| {
        origin
            .get(AsRef::<str>::as_ref(id))
            .copied()
            .unwrap_or(("<policy set>", ""))
    };
    let mut found = Vec::new();
    for error in result.validation_errors() {
        let (name, text) = place(error.policy_id());
        found.push(from_miette(name, text, error, Severity::Error));
    }
    for warning in result.validation_warnings() {
        let (name, text) = place(warning.policy_id());
        found.push(from_miette(name, text, warning, Severity::Warning));
    }
    diagnostics.extend(merge_per_action(found));
}

/// Sorts `diagnostics` by file (in the order given), line and column.
fn sort_by_place(sources: &[(String, String)], diagnostics: &mut [Diagnostic]) {
    let file_index = |name: &str| {
        sources
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or(usize::MAX)
    };
    diagnostics.sort_by_key(|d| (file_index(&d.file), d.line, d.column));
}

/// Merges the copies of one problem that Cedar reports once per action.
///
/// The validator type-checks a policy once for each action it may apply to, so a typo in a
/// policy about every method is reported nine times, differing only in `for Action::"GET"`.
/// Copies at the same place are merged into one diagnostic without the action.
fn merge_per_action(found: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut merged: Vec<(Diagnostic, String, usize)> = Vec::new();
    for diagnostic in found {
        let general = without_action(&diagnostic.message);
        let same = merged.iter_mut().find(|(d, g, _)| {
            (&d.file, d.line, d.column, d.severity)
                == (
                    &diagnostic.file,
                    diagnostic.line,
                    diagnostic.column,
                    diagnostic.severity,
                )
                && *g == general
        });
        match same {
            Some((_, _, copies)) => *copies += 1,
            None => merged.push((diagnostic, general, 1)),
        }
    }
    merged
        .into_iter()
        .map(|(mut d, general, copies)| {
            if copies > 1 {
                d.message = general;
            }
            d
        })
        .collect()
}

/// `message` without its ` for Action::"..."` phrases.
fn without_action(message: &str) -> String {
    const PHRASE: &str = " for Action::\"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(PHRASE) {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + PHRASE.len()..).unwrap_or_default();
        rest = match after.find('"') {
            Some(end) => after.get(end + 1..).unwrap_or_default(),
            None => after,
        };
    }
    out.push_str(rest);
    out
}

/// A Cedar error (which carries byte spans as miette labels) as a [`Diagnostic`].
fn from_miette(
    name: &str,
    text: &str,
    error: &(impl miette::Diagnostic + ?Sized),
    severity: Severity,
) -> Diagnostic {
    let offset = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map_or(0, |label| label.offset());
    let help = error.help().map(|h| h.to_string());
    Diagnostic::at_offset(name, text, offset, severity, error.to_string(), help)
}

/// The ids of every `Group` entity the policies name.
fn groups_mentioned(policies: &PolicySet) -> BTreeSet<String> {
    policies
        .policies()
        .flat_map(Policy::entity_literals)
        .filter(|uid| uid.type_name().to_string() == crate::schema::GROUP)
        .map(|uid| uid.id().unescaped().to_owned())
        .collect()
}

fn valid_id(id: &str) -> bool {
    let chars = id.chars().count();
    (1..=MAX_ID_CHARS).contains(&chars) && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn valid_reason(reason: &str) -> bool {
    (1..=MAX_REASON_BYTES).contains(&reason.len())
        && reason
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_phrases_are_removed_from_messages() {
        assert_eq!(
            without_action("attribute `x` in context for Action::\"GET\" not found"),
            "attribute `x` in context not found"
        );
        assert_eq!(without_action("no action here"), "no action here");
        assert_eq!(without_action("broken for Action::\"GET"), "brokenGET");
    }
}
