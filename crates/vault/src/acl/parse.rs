//! Reading a policy document: Vault's HCL or its JSON form.
//!
//! Both forms become a list of path blocks, each a list of `key = value` fields, which one
//! shared step checks: known keys only (`capabilities`, the legacy `policy`, `comment`, the
//! parameter constraints and the wrapping TTLs), known capabilities only, a valid pattern.
//! Every error is one line naming the policy, the path block (and its line in HCL) and what
//! is wrong.

use super::params::parse_param_map;
use super::{cap, pattern, PathRule, Perms, Policy};
use crate::error::VaultError;
use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::{Body, Structure};
use hcl::edit::Span;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Documents larger than this are refused.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;
/// Deepest nesting of brackets accepted (keeps the parsers' recursion bounded).
const MAX_NESTING: usize = 32;

const PATH_KEYS: &str = "capabilities, policy, comment, required_parameters, \
allowed_parameters, denied_parameters, min_wrapping_ttl, max_wrapping_ttl";

/// A path block before validation.
struct RawBlock {
    path: String,
    line: Option<usize>,
    fields: Vec<(String, Value)>,
}

/// Parses a policy document named `name` (lower-cased into [`Policy::name`]). HCL unless the
/// text starts with `{`, which is read as JSON.
pub fn parse_policy(name: &str, text: &str) -> Result<Policy, VaultError> {
    let name = name.to_lowercase();
    let shown = esc(&name);
    let fail = |msg: String| VaultError::invalid(format!("policy \"{shown}\": {msg}"));
    if text.len() > MAX_POLICY_BYTES {
        return Err(fail(format!(
            "the document is larger than {MAX_POLICY_BYTES} bytes"
        )));
    }
    if nesting_depth(text) > MAX_NESTING {
        return Err(fail(format!(
            "brackets are nested deeper than {MAX_NESTING} levels"
        )));
    }
    let blocks = if text.trim_start().starts_with('{') {
        json_blocks(text).map_err(fail)?
    } else {
        hcl_blocks(text).map_err(fail)?
    };
    let rules = blocks
        .into_iter()
        .map(|b| {
            let line = b.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            let path = esc(&b.path);
            rule_from(b).map_err(|msg| fail(format!("path \"{path}\"{line}: {msg}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Policy {
        name,
        raw: text.to_owned(),
        rules,
    })
}

/// Text from the document as it may appear in a one-line error.
fn esc(s: &str) -> String {
    s.escape_debug().to_string()
}

/// The deepest nesting of `[`, `{` and `(` outside quoted strings.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for c in text.chars() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '[' | '{' | '(' => {
                depth += 1;
                max = max.max(depth);
            }
            ']' | '}' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn hcl_blocks(text: &str) -> Result<Vec<RawBlock>, String> {
    let body: Body = text.parse().map_err(|e: hcl::edit::parser::Error| {
        format!(
            "HCL syntax error at line {}, column {}: {}",
            e.location().line(),
            e.location().column(),
            e.message().replace(['\n', '\r'], " ")
        )
    })?;
    let mut out = Vec::new();
    for s in body.iter() {
        let line = s.span().map(|r| line_of(text, r.start));
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        match s {
            Structure::Attribute(a) => {
                let key = esc(a.key.as_str());
                if key != "name" {
                    return Err(format!(
                        "unknown top-level key `{key}`{at}: a policy holds only `path` blocks"
                    ));
                }
            }
            Structure::Block(b) => {
                let ident = esc(b.ident.as_str());
                if ident != "path" {
                    return Err(format!(
                        "unknown block `{ident}`{at}: a policy holds only `path` blocks"
                    ));
                }
                let [label] = b.labels.as_slice() else {
                    return Err(format!("a `path` block{at} needs exactly one quoted path"));
                };
                let path = label.as_str().to_owned();
                let shown = esc(&path);
                let mut fields = Vec::new();
                for inner in b.body.iter() {
                    match inner {
                        Structure::Attribute(a) => {
                            let v = expr_to_json(&a.value).map_err(|m| {
                                format!("path \"{shown}\"{at}: `{}` {m}", esc(a.key.as_str()))
                            })?;
                            fields.push((a.key.as_str().to_owned(), v));
                        }
                        Structure::Block(inner) => {
                            return Err(format!(
                                "path \"{shown}\"{at}: unexpected block `{}` (write `key = value`)",
                                esc(inner.ident.as_str())
                            ))
                        }
                    }
                }
                out.push(RawBlock { path, line, fields });
            }
        }
    }
    Ok(out)
}

/// Converts a literal HCL expression; anything computed is refused.
fn expr_to_json(e: &Expression) -> Result<Value, String> {
    Ok(match e {
        Expression::Null(_) => Value::Null,
        Expression::Bool(b) => Value::Bool(*b.value()),
        Expression::Number(n) => {
            let n = n.value();
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or("holds a number that is out of range")?
            }
        }
        Expression::String(s) => Value::String(s.value().clone()),
        Expression::Array(a) => Value::Array(a.iter().map(expr_to_json).collect::<Result<_, _>>()?),
        Expression::Object(o) => {
            let mut map = Map::new();
            for (k, v) in o.iter() {
                let key = match k {
                    ObjectKey::Ident(i) => i.as_str().to_owned(),
                    ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                    _ => return Err("has a map key that is not a name or a quoted string".into()),
                };
                map.insert(key, expr_to_json(v.expr())?);
            }
            Value::Object(map)
        }
        Expression::Parenthesis(p) => expr_to_json(p.inner())?,
        _ => {
            return Err(
                "must be a literal value (string, number, list or map); expressions and templates are not supported"
                    .into(),
            )
        }
    })
}

fn json_blocks(text: &str) -> Result<Vec<RawBlock>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("JSON syntax error: {e}"))?;
    let Value::Object(top) = v else {
        return Err("a JSON policy must be an object".into());
    };
    let mut out = Vec::new();
    for (key, value) in top {
        match key.as_str() {
            "name" => {}
            "path" => {
                let groups = match value {
                    Value::Object(m) => vec![m],
                    Value::Array(items) => items
                        .into_iter()
                        .map(|i| match i {
                            Value::Object(m) => Ok(m),
                            _ => Err("`path` must be an object of path blocks".to_owned()),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err("`path` must be an object of path blocks".into()),
                };
                for group in groups {
                    for (path, body) in group {
                        let body = match body {
                            Value::Object(m) => m,
                            Value::Array(mut items) if items.len() == 1 => match items.pop() {
                                Some(Value::Object(m)) => m,
                                _ => {
                                    return Err(format!(
                                        "path \"{}\": must be an object",
                                        esc(&path)
                                    ))
                                }
                            },
                            _ => return Err(format!("path \"{}\": must be an object", esc(&path))),
                        };
                        out.push(RawBlock {
                            path,
                            line: None,
                            fields: body.into_iter().collect(),
                        });
                    }
                }
            }
            other => {
                return Err(format!(
                    "unknown top-level key `{}`: a policy holds only `path` blocks",
                    esc(other)
                ))
            }
        }
    }
    Ok(out)
}

/// Checks one block; the error is the part after "path ...:".
fn rule_from(b: RawBlock) -> Result<PathRule, String> {
    let path = b.path.strip_prefix('/').unwrap_or(&b.path).to_owned();
    pattern::validate(&path)?;
    let mut perms = Perms::default();
    let mut seen = HashSet::new();
    for (key, value) in b.fields {
        if !seen.insert(key.clone()) {
            return Err(format!("`{}` is set twice", esc(&key)));
        }
        match key.as_str() {
            "capabilities" => {
                for c in string_list(&value).map_err(|m| format!("`capabilities` {m}"))? {
                    perms.caps |= cap::from_name(&c).ok_or_else(|| {
                        format!(
                            "unknown capability \"{}\" (known: create, read, update, patch, delete, list, sudo, deny)",
                            esc(&c)
                        )
                    })?;
                }
            }
            "policy" => {
                perms.caps |= match value.as_str() {
                    Some("deny") => cap::DENY,
                    Some("read") => cap::READ | cap::LIST,
                    Some("write") => {
                        cap::READ | cap::CREATE | cap::UPDATE | cap::DELETE | cap::LIST
                    }
                    Some("sudo") => {
                        cap::READ | cap::CREATE | cap::UPDATE | cap::DELETE | cap::LIST | cap::SUDO
                    }
                    _ => {
                        return Err(
                            "`policy` must be one of \"deny\", \"read\", \"write\", \"sudo\""
                                .into(),
                        )
                    }
                }
            }
            "comment" => {
                if !value.is_string() {
                    return Err("`comment` must be a string".into());
                }
            }
            "required_parameters" => {
                perms.required_parameters = string_list(&value)
                    .map_err(|m| format!("`required_parameters` {m}"))?
                    .into_iter()
                    .map(|s| s.to_lowercase())
                    .collect();
            }
            "allowed_parameters" => {
                perms.allowed_parameters = Some(
                    parse_param_map(&value).map_err(|m| format!("`allowed_parameters`: {m}"))?,
                );
            }
            "denied_parameters" => {
                perms.denied_parameters =
                    Some(parse_param_map(&value).map_err(|m| format!("`denied_parameters`: {m}"))?);
            }
            "min_wrapping_ttl" => {
                perms.min_wrapping_ttl =
                    Some(duration_secs(&value).map_err(|m| format!("`min_wrapping_ttl` {m}"))?);
            }
            "max_wrapping_ttl" => {
                perms.max_wrapping_ttl =
                    Some(duration_secs(&value).map_err(|m| format!("`max_wrapping_ttl` {m}"))?);
            }
            other => {
                return Err(format!(
                    "unknown key `{}` (allowed: {PATH_KEYS})",
                    esc(other)
                ))
            }
        }
    }
    if perms.caps & cap::DENY != 0 {
        perms.caps = cap::DENY;
    }
    if let (Some(min), Some(max)) = (perms.min_wrapping_ttl, perms.max_wrapping_ttl) {
        if min > max {
            return Err("`min_wrapping_ttl` is greater than `max_wrapping_ttl`".into());
        }
    }
    Ok(PathRule { path, perms })
}

fn string_list(v: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = v else {
        return Err("must be a list of strings".into());
    };
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(str::to_owned)
                .ok_or_else(|| "must be a list of strings".to_owned())
        })
        .collect()
}

/// A duration in seconds: a whole number, or a string such as `"90"`, `"90s"`, `"15m"`,
/// `"1h30m"`, `"7d"`. The error says what is wrong, without the field name.
pub(crate) fn duration_secs(v: &Value) -> Result<i64, String> {
    const MAX: i64 = 100 * 365 * 86_400;
    let secs = match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("must be a whole number of seconds, not {n}"))?,
        Value::String(s) => parse_duration_str(s.trim()).ok_or_else(|| {
            format!(
                "\"{}\" is not a duration (use seconds or e.g. 30s, 15m, 1h)",
                esc(s)
            )
        })?,
        _ => return Err("must be a number of seconds or a duration string".into()),
    };
    if !(0..=MAX).contains(&secs) {
        return Err(format!("{secs} is out of range (0 to {MAX} seconds)"));
    }
    Ok(secs)
}

fn parse_duration_str(s: &str) -> Option<i64> {
    crate::duration::seconds(s)
}
