//! Hostile policy text must give diagnostics, never a crash. These inputs overflowed the stack
//! of Cedar's parser or evaluator before the loader refused them.

use seawall_policy::{Diagnostic, LoadError, PolicyEngine};

fn refused(expr: &str) -> Diagnostic {
    let text = format!("permit (principal, action, resource) when {{ {expr} }};");
    match PolicyEngine::from_sources([("hostile.cedar", text)]) {
        Err(LoadError::Invalid { diagnostics }) => diagnostics.into_iter().next().unwrap(),
        Ok(_) => panic!("loaded: {}", expr.chars().take(80).collect::<String>()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn deep_brackets_are_refused_before_parsing() {
    for (open, close) in [("(", ")"), ("[", "]")] {
        let expr = format!("{}true{}", open.repeat(100_000), close.repeat(100_000));
        let d = refused(&expr);
        assert_eq!((d.line, d.column), (1, 44 + 32), "{d}");
        assert!(d.message.contains("nest"), "{d}");
    }
}

#[test]
fn long_operator_chains_are_refused_before_parsing() {
    let n = 40_000;
    for expr in [
        format!("{} > 0", vec!["1"; n].join(" + ")),
        vec!["context.hour == 1"; n].join(" && "),
        vec!["false"; n].join(" || "),
        format!("context{} == 1", ".a".repeat(n)),
        format!(
            "{}true{}",
            "if true then ".repeat(n),
            " else false".repeat(n)
        ),
    ] {
        let d = refused(&expr);
        assert!(d.message.contains("operators"), "{d}");
    }
}

#[test]
fn policies_within_the_limits_still_load_and_decide() {
    let expr = vec!["context.hour != 25"; 90].join(" && ");
    let text = format!("permit (principal, action, resource) when {{ {expr} }};");
    let engine = PolicyEngine::from_sources([("ok.cedar", text)]).unwrap();
    assert_eq!(engine.policy_count(), 1);
}
