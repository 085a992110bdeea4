//! Reading the fields of token requests the way Vault accepts them (durations as `"1h"` or
//! seconds, policies as a list or a comma-separated string), and writing times as RFC 3339.

use crate::error::VaultError;
use serde_json::Value;
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Unix seconds as RFC 3339 in UTC (`2026-12-04T18:52:59Z`).
pub fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses a Vault duration: integer seconds, or a number with unit `s`, `m`, `h` or `d`
/// (`"90s"`, `"15m"`, `"768h"`, `"1h30m"`). `field` names the input in errors.
pub fn parse_duration(field: &str, value: &Value) -> Result<i64, VaultError> {
    let bad = || {
        VaultError::invalid(format!(
            "field `{field}` must be a duration such as 3600, \"60m\" or \"1h\""
        ))
    };
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_i64().filter(|v| *v >= 0).ok_or_else(bad),
        Value::String(s) => parse_duration_str(s.trim()).ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn parse_duration_str(s: &str) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    crate::duration::seconds(s)
}

/// An optional duration field of a request body.
pub fn duration_field(
    data: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<i64, VaultError> {
    data.get(name).map_or(Ok(0), |v| parse_duration(name, v))
}

/// A list of strings given as a JSON array or a comma-separated string.
pub fn string_list(
    data: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, VaultError> {
    let bad = || VaultError::invalid(format!("field `{name}` must be a list of strings"));
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_owned()).ok_or_else(bad))
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

/// A boolean field (JSON bool, or the strings `true`/`false`).
pub fn bool_field(
    data: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<bool>, VaultError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(VaultError::invalid(format!(
            "field `{name}` must be true or false"
        ))),
    }
}

/// A non-negative integer field (number or numeric string).
pub fn uint_field(data: &serde_json::Map<String, Value>, name: &str) -> Result<u32, VaultError> {
    let bad = || VaultError::invalid(format!("field `{name}` must be a non-negative integer"));
    match data.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A map of string to string (`meta`).
pub fn string_map(
    data: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<BTreeMap<String, String>, VaultError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(VaultError::invalid(format!(
                    "field `{name}.{k}` must be a string"
                ))),
            })
            .collect(),
        Some(_) => Err(VaultError::invalid(format!(
            "field `{name}` must be an object of strings"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_parse_as_vault_accepts_them() {
        assert_eq!(parse_duration("ttl", &json!(90)).unwrap(), 90);
        assert_eq!(parse_duration("ttl", &json!("90")).unwrap(), 90);
        assert_eq!(parse_duration("ttl", &json!("15m")).unwrap(), 900);
        assert_eq!(parse_duration("ttl", &json!("1h30m")).unwrap(), 5400);
        assert_eq!(parse_duration("ttl", &json!("768h")).unwrap(), 768 * 3600);
        assert_eq!(parse_duration("ttl", &json!("2d")).unwrap(), 172_800);
        let e = parse_duration("ttl", &json!("1x")).unwrap_err().to_string();
        assert!(e.contains("`ttl`"), "{e}");
        assert!(parse_duration("ttl", &json!(-1)).is_err());
        assert!(parse_duration("ttl", &json!("h")).is_err());
    }

    #[test]
    fn times_format_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn policies_accept_lists_and_comma_strings() {
        let m = json!({"a": "x, y,,z", "b": ["p", "q"], "c": 3});
        let m = m.as_object().unwrap();
        assert_eq!(string_list(m, "a").unwrap().unwrap(), ["x", "y", "z"]);
        assert_eq!(string_list(m, "b").unwrap().unwrap(), ["p", "q"]);
        assert!(string_list(m, "c").is_err());
        assert!(string_list(m, "d").unwrap().is_none());
    }
}
