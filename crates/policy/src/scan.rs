//! Where each policy and each of its annotations starts in a file.
//!
//! Cedar's public API keeps the source location of parse and validation errors, but not of a
//! policy or of its annotations. Seawall checks its own annotations (`@id`, `@reason`,
//! `@step_up`), and a diagnostic about one should point at it. This scanner walks a file that
//! Cedar has already parsed, skipping strings and comments, and records the byte offset where
//! each top-level policy starts and where each of its annotations is written.

/// The deepest nesting of brackets accepted in a policy.
pub(crate) const MAX_NESTING: usize = 32;

/// The most operators (`.`, `==`, `&&`, `+`, `if`, ...) accepted in one policy.
pub(crate) const MAX_OPERATORS: usize = 300;

/// Why a file is refused before Cedar parses it, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooComplex {
    /// Byte offset of the bracket or operator over the limit.
    pub(crate) offset: usize,
    /// What is over the limit.
    pub(crate) message: String,
}

/// Refuses text whose expressions would nest too deeply for Cedar.
///
/// Cedar's parser recurses once per level of brackets or `if`, and its evaluator once per
/// operator. Its evaluator and type checker stop at a stack limit, but its parser does not: 200
/// nested parentheses overflow a 2 MiB thread stack in a debug build, which aborts the whole
/// process. Real policies are far below these limits, so text above them is refused before
/// parsing.
pub(crate) fn check_complexity(text: &str) -> Option<TooComplex> {
    let bytes = text.as_bytes();
    let mut depth: usize = 0;
    let mut operators: usize = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let start = i;
        match b {
            b'"' => i = skip_string(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = skip_line(bytes, i),
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(TooComplex {
                        offset: start,
                        message: format!("brackets nest more than {MAX_NESTING} deep"),
                    });
                }
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b';' if depth == 0 => {
                operators = 0;
                i += 1;
            }
            b'.' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b'+' | b'-' | b'*' => {
                // `==`, `!=`, `<=`, `>=`, `&&` and `||` are one operator each.
                i += 1;
                while bytes.get(i).is_some_and(|c| b"=&|".contains(c)) {
                    i += 1;
                }
                operators += 1;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                i = identifier_end(bytes, i);
                let word = text.get(start..i).unwrap_or_default();
                if matches!(word, "if" | "in" | "has" | "like" | "is") {
                    operators += 1;
                }
            }
            _ => i += 1,
        }
        if operators > MAX_OPERATORS {
            return Some(TooComplex {
                offset: start,
                message: format!("a policy has more than {MAX_OPERATORS} operators"),
            });
        }
    }
    None
}

/// The location of one policy in its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PolicySpan {
    /// Byte offset of the policy's first token (its first annotation, or `permit`/`forbid`).
    pub(crate) start: usize,
    /// Each annotation key and the byte offset of its `@`.
    pub(crate) annotations: Vec<(String, usize)>,
}

impl PolicySpan {
    /// The byte offset of annotation `key`, if written.
    pub(crate) fn annotation(&self, key: &str) -> Option<usize> {
        self.annotations
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, offset)| *offset)
    }
}

/// The spans of the policies in `text`, in order.
///
/// A policy ends with a `;` outside any bracket. The text is expected to parse as Cedar; on text
/// that does not, the result is still bounded and never panics, but may be meaningless.
pub(crate) fn policies(text: &str) -> Vec<PolicySpan> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut current: Option<PolicySpan> = None;
    let mut depth: usize = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => i = skip_string(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = skip_line(bytes, i),
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b';' if depth == 0 => {
                spans.extend(current.take());
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                let span = current.get_or_insert_with(|| PolicySpan {
                    start: i,
                    annotations: Vec::new(),
                });
                if b == b'@' && depth == 0 {
                    let key_end = identifier_end(bytes, i + 1);
                    let key = text.get(i + 1..key_end).unwrap_or_default();
                    span.annotations.push((key.to_owned(), i));
                    i = key_end.max(i + 1);
                } else {
                    i += 1;
                }
            }
        }
    }
    spans
}

/// The index just after the string literal that starts at `start` (a `"`).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index of the newline that ends the comment starting at `start`.
fn skip_line(bytes: &[u8], start: usize) -> usize {
    bytes
        .get(start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(bytes.len(), |n| start + n)
}

/// The index just after the identifier starting at `start`.
fn identifier_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_policy_and_its_annotations() {
        let text =
            "// a comment; with @fake\n@id(\"a;b\")\n@reason(\"x\")\npermit(principal, action, \
                    resource) when { context.country == \";\" };\n\nforbid(principal, action, \
                    resource);\n";
        let spans = policies(text);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].start, text.find("@id").unwrap());
        assert_eq!(spans[0].annotation("id"), text.find("@id"));
        assert_eq!(spans[0].annotation("reason"), text.find("@reason"));
        assert_eq!(spans[0].annotation("fake"), None);
        assert_eq!(spans[1].start, text.find("forbid").unwrap());
        assert!(spans[1].annotations.is_empty());
    }

    #[test]
    fn nesting_over_the_limit_is_refused_at_the_bracket() {
        let ok = format!("{}true{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(check_complexity(&ok), None);
        let deep = format!(
            "{}true{}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        let found = check_complexity(&deep).unwrap();
        assert_eq!(found.offset, MAX_NESTING);
    }

    #[test]
    fn operators_are_counted_per_policy_outside_strings() {
        let one = vec!["1"; MAX_OPERATORS + 1].join(" + ");
        assert_eq!(check_complexity(&format!("{one};{one};")), None);
        let over = vec!["1"; MAX_OPERATORS + 2].join(" == ");
        assert!(check_complexity(&over).is_some());
        let ifs = "if true then ".repeat(MAX_OPERATORS + 1);
        assert!(check_complexity(&ifs).is_some());
        let in_string = format!("\"{}\"", "+".repeat(10 * MAX_OPERATORS));
        assert_eq!(check_complexity(&in_string), None);
        let in_comment = format!("// {}\n", "&&".repeat(10 * MAX_OPERATORS));
        assert_eq!(check_complexity(&in_comment), None);
    }

    #[test]
    fn unterminated_input_does_not_panic() {
        for text in ["\"abc", "@", "permit(", "//", "\"\\", "@@@;;)))"] {
            let _ = policies(text);
            let _ = check_complexity(text);
        }
    }
}
