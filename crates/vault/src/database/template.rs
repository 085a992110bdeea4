//! Statement templates: `{{name}}`, `{{username}}` (Vault's alias), `{{password}}`,
//! `{{expiration}}`, checked when a role is written and filled in when it is used.

use crate::error::VaultError;

/// The placeholders a statement may use.
pub(crate) const PLACEHOLDERS: [&str; 4] = ["name", "username", "password", "expiration"];

/// Values to fill in.
pub(crate) struct Values<'a> {
    pub name: &'a str,
    pub password: &'a str,
    pub expiration: &'a str,
}

/// One piece of a parsed template.
enum Part<'a> {
    Text(&'a str),
    Hole(&'a str),
}

fn parse(stmt: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = stmt;
    loop {
        let open = rest.find("{{");
        let close = rest.find("}}");
        match (open, close) {
            (None, None) => {
                if !rest.is_empty() {
                    parts.push(Part::Text(rest));
                }
                return Ok(parts);
            }
            (None, Some(_)) => return Err("`}}` without a matching `{{`".into()),
            (Some(o), Some(c)) if c < o => return Err("`}}` without a matching `{{`".into()),
            (Some(_), None) => return Err("`{{` is never closed with `}}`".into()),
            (Some(o), Some(_)) => {
                if o > 0 {
                    parts.push(Part::Text(&rest[..o]));
                }
                let after = &rest[o + 2..];
                let end = after.find("}}").ok_or("`{{` is never closed with `}}`")?;
                let inner = &after[..end];
                if inner.contains("{{") {
                    return Err("`{{` is never closed with `}}`".into());
                }
                let key = inner.trim();
                if !PLACEHOLDERS.contains(&key) {
                    return Err(format!(
                        "unknown placeholder `{{{{{inner}}}}}` (allowed: {{{{name}}}}, {{{{username}}}}, {{{{password}}}}, {{{{expiration}}}})"
                    ));
                }
                parts.push(Part::Hole(key));
                rest = &after[end + 2..];
            }
        }
    }
}

/// Checks every statement of a field; `field` names it in the error.
pub(crate) fn check(field: &str, stmts: &[String]) -> Result<(), VaultError> {
    for (i, s) in stmts.iter().enumerate() {
        parse(s).map_err(|e| VaultError::invalid(format!("{field}[{i}]: {e}")))?;
    }
    Ok(())
}

/// Whether any statement uses `{{name}}` or `{{username}}`.
pub(crate) fn uses_name(stmts: &[String]) -> bool {
    stmts.iter().any(|s| {
        parse(s)
            .map(|p| {
                p.iter()
                    .any(|x| matches!(x, Part::Hole("name" | "username")))
            })
            .unwrap_or(false)
    })
}

/// Fills in a statement that passed [`check`].
pub(crate) fn render(stmt: &str, v: &Values<'_>) -> Result<String, VaultError> {
    let parts = parse(stmt).map_err(|e| VaultError::Internal(format!("stored template: {e}")))?;
    let mut out = String::with_capacity(stmt.len() + 64);
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Hole("name" | "username") => out.push_str(v.name),
            Part::Hole("password") => out.push_str(v.password),
            Part::Hole(_) => out.push_str(v.expiration),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Vec<String> {
        vec![x.to_owned()]
    }

    #[test]
    fn placeholders_are_filled_in() {
        let v = Values {
            name: "u1",
            password: "pw",
            expiration: "2030-01-01 00:00:00+00",
        };
        let out = render(
            r#"CREATE ROLE "{{name}}" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{ expiration }}'; GRANT r TO "{{username}}";"#,
            &v,
        )
        .unwrap();
        assert_eq!(
            out,
            r#"CREATE ROLE "u1" LOGIN PASSWORD 'pw' VALID UNTIL '2030-01-01 00:00:00+00'; GRANT r TO "u1";"#
        );
    }

    #[test]
    fn malformed_templates_are_refused_with_the_reason() {
        let e = check("creation_statements", &s("CREATE ROLE {{nme}}")).unwrap_err();
        assert!(
            e.to_string().contains("unknown placeholder `{{nme}}`"),
            "{e}"
        );
        let e = check("creation_statements", &s("CREATE ROLE {{name")).unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
        let e = check("creation_statements", &s("CREATE ROLE name}}")).unwrap_err();
        assert!(e.to_string().contains("without a matching"), "{e}");
        let e = check("x", &s("{{ {{name}} }}")).unwrap_err();
        assert!(e.to_string().starts_with("x[0]:"), "{e}");
        assert!(check("x", &s("SELECT '{\"a\": 1}'::jsonb")).is_ok());
    }

    #[test]
    fn name_use_is_detected() {
        assert!(uses_name(&s("CREATE ROLE \"{{username}}\"")));
        assert!(!uses_name(&s("CREATE ROLE x PASSWORD '{{password}}'")));
    }
}
