//! `seawall policy check`: every problem, located by file, line and column.

use std::path::PathBuf;

use seawall_policy::{check, Diagnostic, LoadError, PolicyEngine, Severity};

fn diagnostics(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    match PolicyEngine::from_sources(files.iter().copied()) {
        Ok(_) => Vec::new(),
        Err(LoadError::Invalid { diagnostics }) => diagnostics,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn only_error(files: &[(&str, &str)]) -> Diagnostic {
    let all = diagnostics(files);
    let errors: Vec<_> = all.into_iter().filter(Diagnostic::is_error).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

/// The 1-based (line, column) of the first occurrence of `needle` in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
    (line, column)
}

#[test]
fn syntax_error_is_located_at_the_offending_token() {
    let text = "// allow reads\npermit (principal, action, resource)\nwhen { context.hour > };\n";
    let d = only_error(&[("syntax.cedar", text)]);
    assert_eq!(d.file, "syntax.cedar");
    assert_eq!((d.line, d.column), position_of(text, "};"));
    assert_eq!(d.severity, Severity::Error);
    assert!(d.message.starts_with("unexpected token"), "{}", d.message);
    let shown = d.to_string();
    assert!(
        shown.starts_with("syntax.cedar:3:23: error: unexpected token"),
        "{shown}"
    );
}

#[test]
fn missing_semicolon_is_reported_at_end_of_file() {
    let text = "permit (principal, action, resource)";
    let d = only_error(&[("semi.cedar", text)]);
    assert_eq!((d.line, d.column), (1, 37));
}

#[test]
fn columns_after_non_ascii_text_count_characters() {
    let text = "// héllo wörld\npermit (principal, action, resource)\nwhen { \"é\" == };\n";
    let d = only_error(&[("utf8.cedar", text)]);
    assert_eq!((d.line, d.column), (3, 15));
}

#[test]
fn schema_type_error_is_located_in_its_file() {
    let good = "permit (principal, action, resource);\n";
    let text = "@id(\"typo\")\nforbid (principal, action, resource)\nwhen {\n  context.risk.score > \"80\"\n};\n";
    let d = only_error(&[("a.cedar", good), ("b.cedar", text)]);
    assert_eq!(d.file, "b.cedar");
    assert_eq!(d.line, 4, "{d}");
    assert!(
        d.message.contains("typo"),
        "names the policy: {}",
        d.message
    );
}

#[test]
fn unknown_attribute_and_entity_type_are_schema_errors() {
    let attr = "permit (principal, action, resource) when { context.colour == \"red\" };";
    let d = only_error(&[("attr.cedar", attr)]);
    assert_eq!((d.line, d.column), position_of(attr, "context.colour"));
    assert!(d.message.contains("colour"), "{}", d.message);

    let entity = "permit (principal == Robot::\"r2\", action, resource);";
    let d = only_error(&[("entity.cedar", entity)]);
    assert!(d.message.contains("Robot"), "{}", d.message);
}

#[test]
fn unknown_action_is_a_schema_error() {
    let text = "permit (principal, action == Action::\"FETCH\", resource);";
    let d = only_error(&[("action.cedar", text)]);
    assert!(d.message.contains("FETCH"), "{}", d.message);
}

#[test]
fn errors_in_several_files_are_all_reported_and_nothing_loads() {
    let all = diagnostics(&[
        ("1.cedar", "permit (principal, action, resource"),
        ("2.cedar", "permit (principal, action, resource);"),
        (
            "3.cedar",
            "forbid (principal, action, resource) when { context.nope };",
        ),
    ]);
    let files: Vec<&str> = all
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.file.as_str())
        .collect();
    assert_eq!(files, ["1.cedar", "3.cedar"]);
}

#[test]
fn duplicate_policy_ids_are_refused() {
    let a = "@id(\"same\")\npermit (principal, action, resource);";
    let b = "\n\n@id(\"same\")\nforbid (principal, action, resource);";
    let d = only_error(&[("a.cedar", a), ("b.cedar", b)]);
    assert_eq!((d.file.as_str(), d.line, d.column), ("b.cedar", 3, 1));
    assert_eq!(d.message, "policy id `same` is already used in `a.cedar`");
}

#[test]
fn bad_seawall_annotations_are_located() {
    let text =
        "forbid (principal, action, resource)\n;\n@reason(\"Too Risky!\")\nforbid (principal, \
                action, resource);\n  @step_up(\"yes\") forbid (principal, action, resource);\n\
                @step_up(\"true\") permit (principal, action, resource);\n@id(\"has space\") \
                permit (principal, action, resource);";
    let all = diagnostics(&[("ann.cedar", text)]);
    let found: Vec<(usize, usize)> = all.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(found, [(3, 1), (5, 3), (6, 1), (7, 1)], "{all:#?}");
    assert!(
        all[0].message.contains("`@reason(\"Too Risky!\")`"),
        "{}",
        all[0].message
    );
    assert!(all.iter().all(|d| d.help.is_some()));
}

#[test]
fn templates_are_refused() {
    let text = "permit (principal == ?principal, action, resource);";
    let d = only_error(&[("t.cedar", text)]);
    assert_eq!((d.line, d.column), (1, 22));
    assert!(d.message.contains("templates"));
}

#[test]
fn impossible_policy_is_a_warning_that_still_loads() {
    let text = "permit (principal, action, resource) when { 1 == 2 };";
    let engine = PolicyEngine::from_sources([("w.cedar", text)]).unwrap();
    let warnings = engine.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert!(
        warnings[0]
            .to_string()
            .starts_with("w.cedar:1:1: warning: "),
        "{}",
        warnings[0]
    );
}

#[test]
fn check_reads_files_and_directories_and_reports_unreadable_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ok.cedar"),
        "permit (principal, action, resource);",
    )
    .unwrap();
    let bad = dir.path().join("bad.cedar.txt");
    std::fs::write(
        &bad,
        "permit (principal, action, resource) when { context.nope };",
    )
    .unwrap();
    let missing = dir.path().join("missing.cedar");

    assert!(check(&[dir.path().to_owned()]).is_empty());
    let found = check(&[dir.path().to_owned(), bad.clone(), missing.clone()]);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].file, missing.display().to_string());
    assert!(
        found[0].message.starts_with("cannot read policy file"),
        "{}",
        found[0].message
    );
    assert_eq!(found[1].file, bad.display().to_string());
    assert_eq!(found[1].line, 1);
}

#[test]
fn check_of_the_default_policies_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in seawall_policy::default_policies() {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let found: Vec<Diagnostic> = check(&[PathBuf::from(dir.path())]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn oversized_file_is_refused_without_parsing() {
    let text = format!(
        "// {}\npermit (principal, action, resource);",
        "x".repeat(2 << 20)
    );
    let d = only_error(&[("big.cedar", text.as_str())]);
    assert!(d.message.contains("larger than"), "{}", d.message);
}

#[test]
fn every_message_is_one_lowercase_line() {
    let all = diagnostics(&[
        ("1.cedar", "permit (principal, action, resource"),
        (
            "2.cedar",
            "permit (principal, action, resource) when { context.ip > 1 };",
        ),
        (
            "3.cedar",
            "permit (principal, action, resource) when { \"a\" like 1 };",
        ),
        ("4.cedar", "permit (principal in Group, action, resource);"),
    ]);
    assert!(all.len() >= 4, "{all:#?}");
    for d in &all {
        assert!(
            !d.message.contains('\n') && !d.message.ends_with('.'),
            "{d}"
        );
        let first = d.message.chars().next().unwrap();
        assert!(!first.is_uppercase(), "{d}");
    }
}

#[test]
fn readme_examples_are_valid_policies() {
    let readme = include_str!("../README.md");
    let blocks: Vec<&str> = readme
        .split("```cedar\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 5);
    let files: Vec<(String, &str)> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("readme-{i}.cedar"), *b))
        .collect();
    let engine = PolicyEngine::from_sources(files.iter().map(|(n, t)| (n.as_str(), *t)));
    match engine {
        Ok(engine) => assert!(engine.warnings().is_empty(), "{:?}", engine.warnings()),
        Err(e) => panic!("{e}"),
    }
}
