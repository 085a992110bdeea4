//! Problems found in policy files, located by file, line and column.
//!
//! Cedar reports parse and validation errors with byte spans into the text it was given. A
//! [`Diagnostic`] turns such a span into the 1-based line and column a person looks for in an
//! editor, so that `seawall policy check` prints `file:line:col: error: message` the way
//! compilers do.

use std::fmt;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The policy set is refused.
    Error,
    /// The policy set is accepted, but something is probably not what the author meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem in one policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name, as given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes).
    pub column: usize,
    /// Whether the problem refuses the policy set.
    pub severity: Severity,
    /// What is wrong: lowercase, one line.
    pub message: String,
    /// How to fix it, when known: lowercase, one line.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at byte `offset` of `text` (clamped to the text).
    pub(crate) fn at_offset(
        file: &str,
        text: &str,
        offset: usize,
        severity: Severity,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        let (line, column) = line_column(text, offset);
        Self {
            file: file.to_owned(),
            line,
            column,
            severity,
            message: one_line(&message.into()),
            help: help.map(|h| one_line(&h)),
        }
    }

    /// A diagnostic about a whole file (reported at its first character).
    pub(crate) fn whole_file(file: &str, message: impl Into<String>) -> Self {
        Self::at_offset(file, "", 0, Severity::Error, message, None)
    }

    /// Whether this diagnostic refuses the policy set.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.severity, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// The 1-based line and character column of byte `offset` in `text`.
///
/// An offset past the end points just after the last character; an offset inside a multi-byte
/// character points at that character.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

/// `message` as one line that starts lowercase, without a final period.
fn one_line(message: &str) -> String {
    let joined = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed = joined.strip_suffix('.').unwrap_or(&joined);
    let mut chars = trimmed.chars();
    match chars.next() {
        // Lowercase only a leading capital followed by a lowercase letter ("Unexpected"), so
        // that acronyms and quoted names at the start are kept as written.
        Some(first) if first.is_uppercase() && chars.next().is_some_and(char::is_lowercase) => {
            first
                .to_lowercase()
                .chain(trimmed.chars().skip(1))
                .collect()
        }
        _ => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_lines_and_columns() {
        let text = "ab\ncd\n\nef";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 1), (1, 2));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (4, 1));
        assert_eq!(line_column(text, 8), (4, 2));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "é€x";
        assert_eq!(line_column(text, 5), (1, 3));
        // Inside the two-byte `é`: points at it.
        assert_eq!(line_column(text, 1), (1, 1));
    }

    #[test]
    fn offsets_past_the_end_are_clamped() {
        assert_eq!(line_column("a\nbc", 100), (2, 3));
    }

    #[test]
    fn display_is_compiler_style_with_help_on_its_own_line() {
        let d = Diagnostic::at_offset(
            "a.cedar",
            "x\ny",
            2,
            Severity::Error,
            "Unexpected token `y`.",
            Some("try `z`".into()),
        );
        assert_eq!(
            d.to_string(),
            "a.cedar:2:1: error: unexpected token `y`\n  help: try `z`"
        );
    }

    #[test]
    fn multi_line_messages_are_joined() {
        assert_eq!(one_line("first\n  second"), "first second");
        assert_eq!(one_line("IP is bad"), "IP is bad");
    }
}
