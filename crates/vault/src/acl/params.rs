//! Parameter constraints of a path rule, as Vault's policies have them.
//!
//! - `required_parameters = ["a"]`: a request must carry `a`.
//! - `allowed_parameters = { "a" = [] }`: only listed parameters may be sent; an empty list
//!   allows any value, a list allows only those values (`"x-*"` / `"*-x"` glob on strings);
//!   the key `"*"` with `[]` allows every other parameter too.
//! - `denied_parameters = { "a" = [] }`: `a` may not be sent at all (or not with a listed
//!   value); the key `"*"` denies every parameter. Denial wins over allowance.
//!
//! Parameter names compare lower-case. A request without parameters passes the allow and
//! deny lists (but not `required_parameters`).

use super::Perms;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Parameter name (lower-case) to the values it may (or may not) have; empty: any value.
pub type ParamMap = BTreeMap<String, Vec<Value>>;

/// Reads an `allowed_parameters` / `denied_parameters` value; the error says what is wrong.
pub fn parse_param_map(v: &Value) -> Result<ParamMap, String> {
    let Value::Object(obj) = v else {
        return Err("must be a map of parameter names to lists of values".into());
    };
    let mut out = ParamMap::new();
    for (k, vals) in obj {
        let shown = k.escape_debug();
        let list = match vals {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            _ => return Err(format!("parameter `{shown}` must map to a list of values")),
        };
        if let Some(bad) = list
            .iter()
            .find(|v| matches!(v, Value::Array(_) | Value::Object(_) | Value::Null))
        {
            return Err(format!(
                "parameter `{shown}` has a value that is not a string, number or boolean: {bad}"
            ));
        }
        if k == "*" && !list.is_empty() {
            return Err("the parameter `*` can only be given an empty list".into());
        }
        out.entry(k.to_lowercase()).or_default().extend(list);
    }
    Ok(out)
}

/// Merges the constraints of the same pattern from two policies.
pub fn merge_param_maps(into: &mut Option<ParamMap>, other: &Option<ParamMap>) {
    let Some(other) = other else { return };
    let Some(mine) = into else {
        *into = Some(other.clone());
        return;
    };
    for (k, vals) in other {
        match mine.get_mut(k) {
            None => {
                mine.insert(k.clone(), vals.clone());
            }
            // An empty list already means "any value".
            Some(existing) if existing.is_empty() => {}
            Some(existing) => {
                if vals.is_empty() {
                    existing.clear();
                } else {
                    existing.extend(vals.iter().cloned());
                }
            }
        }
    }
}

/// Whether `data` satisfies the parameter constraints of `perms`.
pub fn check(perms: &Perms, data: &Map<String, Value>) -> bool {
    let keys: Vec<(String, &Value)> = data.iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
    if !perms
        .required_parameters
        .iter()
        .all(|r| keys.iter().any(|(k, _)| k == r))
    {
        return false;
    }
    if keys.is_empty() {
        return true;
    }
    if let Some(denied) = &perms.denied_parameters {
        if denied.contains_key("*") {
            return false;
        }
        for (k, v) in &keys {
            if let Some(vals) = denied.get(k) {
                if vals.is_empty() || value_in_list(v, vals) {
                    return false;
                }
            }
        }
    }
    if let Some(allowed) = &perms.allowed_parameters {
        let any_other = allowed.contains_key("*");
        for (k, v) in &keys {
            match allowed.get(k) {
                None if !any_other => return false,
                Some(vals) if !vals.is_empty() && !value_in_list(v, vals) => return false,
                _ => {}
            }
        }
    }
    true
}

/// Whether a request value is in a constraint list; every element of a list value must be.
fn value_in_list(v: &Value, list: &[Value]) -> bool {
    match v {
        Value::Array(items) => items
            .iter()
            .all(|i| list.iter().any(|a| value_matches(a, i))),
        _ => list.iter().any(|a| value_matches(a, v)),
    }
}

fn value_matches(pattern: &Value, v: &Value) -> bool {
    match (pattern, v) {
        (Value::String(p), Value::String(s)) => glob_match(p, s),
        _ => pattern == v,
    }
}

/// `*` alone matches anything; a leading and/or trailing `*` globs that end.
fn glob_match(p: &str, s: &str) -> bool {
    if p == "*" {
        return true;
    }
    match (p.strip_prefix('*'), p.strip_suffix('*')) {
        (Some(_), Some(_)) if p.len() >= 2 => s.contains(&p[1..p.len() - 1]),
        (Some(suffix), None) => s.ends_with(suffix),
        (None, Some(prefix)) => s.starts_with(prefix),
        _ => p == s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn perms(v: Value) -> Perms {
        let mut p = Perms::default();
        if let Some(a) = v.get("allowed") {
            p.allowed_parameters = Some(parse_param_map(a).unwrap());
        }
        if let Some(d) = v.get("denied") {
            p.denied_parameters = Some(parse_param_map(d).unwrap());
        }
        if let Some(r) = v.get("required") {
            p.required_parameters = serde_json::from_value(r.clone()).unwrap();
        }
        p
    }

    fn ok(p: &Perms, data: Value) -> bool {
        check(p, data.as_object().unwrap())
    }

    #[test]
    fn allowed_parameters_restrict_names_and_values() {
        let p = perms(json!({"allowed": {"bar": ["zip", "zap"]}}));
        assert!(ok(&p, json!({"bar": "zip"})));
        assert!(!ok(&p, json!({"bar": "zop"})));
        assert!(!ok(&p, json!({"bar": "zip", "other": 1})));
        assert!(ok(&p, json!({"BAR": ["zip", "zap"]})));
        assert!(!ok(&p, json!({"bar": ["zip", "nope"]})));
        let any = perms(json!({"allowed": {"bar": ["zip"], "*": []}}));
        assert!(ok(&any, json!({"bar": "zip", "other": 1})));
        assert!(!ok(&any, json!({"bar": "zop"})));
        let glob = perms(json!({"allowed": {"bar": ["foo-*", "*-end"]}}));
        assert!(ok(&glob, json!({"bar": "foo-1"})));
        assert!(ok(&glob, json!({"bar": "x-end"})));
        assert!(!ok(&glob, json!({"bar": "x-foo-"})));
    }

    #[test]
    fn denied_parameters_win_and_star_denies_all() {
        let p = perms(json!({"allowed": {"bar": []}, "denied": {"bar": ["zip"]}}));
        assert!(ok(&p, json!({"bar": "zap"})));
        assert!(!ok(&p, json!({"bar": "zip"})));
        let all = perms(json!({"denied": {"*": []}}));
        assert!(!ok(&all, json!({"x": 1})));
        assert!(ok(&all, json!({})));
        let name = perms(json!({"denied": {"bar": []}}));
        assert!(ok(&name, json!({"baz": 1})));
        assert!(!ok(&name, json!({"bar": 1})));
    }

    #[test]
    fn required_parameters_must_be_present() {
        let p = perms(json!({"required": ["bar", "baz"]}));
        assert!(ok(&p, json!({"bar": 1, "baz": 2})));
        assert!(!ok(&p, json!({"bar": 1})));
        assert!(!ok(&p, json!({})));
    }

    #[test]
    fn merging_keeps_any_value_and_joins_lists() {
        let mut a = Some(parse_param_map(&json!({"x": ["1"], "y": []})).unwrap());
        let b = Some(parse_param_map(&json!({"x": ["2"], "y": ["3"], "z": []})).unwrap());
        merge_param_maps(&mut a, &b);
        let a = a.unwrap();
        assert_eq!(a["x"], vec![json!("1"), json!("2")]);
        assert!(a["y"].is_empty());
        assert!(a.contains_key("z"));
    }

    #[test]
    fn bad_maps_are_refused() {
        assert!(parse_param_map(&json!(["a"])).is_err());
        assert!(parse_param_map(&json!({"a": "b"})).is_err());
        assert!(parse_param_map(&json!({"*": ["b"]})).is_err());
        assert!(parse_param_map(&json!({"a": [{"x": 1}]})).is_err());
    }
}
