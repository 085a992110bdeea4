//! Checking what a KV request carries: secret paths, query parameters and body fields.
//!
//! Vault's field types are lenient (a number may come as a JSON number or as a string, a list
//! of versions as `[1, 2]` or `"1,2"`); these accept the same spellings and refuse anything
//! else with one line naming the field. Values that may be secret are never echoed back.

use crate::error::VaultError;
use crate::request::Request;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest secret path accepted, in bytes.
pub(super) const MAX_PATH: usize = 1024;
/// Longest path segment accepted, in bytes.
pub(super) const MAX_SEGMENT: usize = 255;
/// Vault's limits on `custom_metadata`.
pub(super) const MAX_CUSTOM_KEYS: usize = 64;
pub(super) const MAX_CUSTOM_KEY_LEN: usize = 128;
pub(super) const MAX_CUSTOM_VALUE_LEN: usize = 512;

fn invalid(msg: impl Into<String>) -> VaultError {
    VaultError::invalid(msg)
}

/// A user-supplied value shortened for an error message (paths and parameters, never data).
fn shown(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Checks a secret path below `data/`, `metadata/`, ...: not empty, no empty, `.` or `..`
/// segments, no control characters, within the length limits.
pub(super) fn secret_path(path: &str) -> Result<&str, VaultError> {
    if path.is_empty() {
        return Err(invalid("the secret path is empty"));
    }
    if path.len() > MAX_PATH {
        return Err(invalid(format!(
            "the secret path is {} bytes long, more than the {MAX_PATH} allowed",
            path.len()
        )));
    }
    if path.chars().any(char::is_control) {
        return Err(invalid(format!(
            "the secret path `{}` contains a control character",
            shown(&path.escape_debug().to_string())
        )));
    }
    for seg in path.split('/') {
        if seg.is_empty() {
            return Err(invalid(format!(
                "the secret path `{}` has an empty segment (a leading, trailing or double `/`)",
                shown(path)
            )));
        }
        if seg == "." || seg == ".." {
            return Err(invalid(format!(
                "the secret path `{}` may not contain a `.` or `..` segment",
                shown(path)
            )));
        }
        if seg.len() > MAX_SEGMENT {
            return Err(invalid(format!(
                "a segment of the secret path `{}` is {} bytes long, more than the {MAX_SEGMENT} allowed",
                shown(path),
                seg.len()
            )));
        }
    }
    Ok(path)
}

/// A body field, with JSON `null` treated as absent.
pub(super) fn field<'a>(req: &'a Request, name: &str) -> Option<&'a Value> {
    req.data.get(name).filter(|v| !v.is_null())
}

/// A warning naming body fields the endpoint does not know, as Vault gives one.
pub(super) fn unknown_fields(req: &Request, known: &[&str]) -> Vec<String> {
    let unknown: Vec<&str> = req
        .data
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "Endpoint ignored these unrecognized parameters: [{}]",
            unknown.join(" ")
        )]
    }
}

/// A non-negative whole number from a JSON number or a string of digits.
fn whole_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// A query parameter or body field holding a non-negative whole number; 0 when absent.
pub(super) fn uint_param(req: &Request, name: &str) -> Result<u64, VaultError> {
    let Some(raw) = req.param(name) else {
        return Ok(0);
    };
    if raw.is_empty() {
        return Ok(0);
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "parameter `{name}` must be a non-negative whole number, not `{}`",
            shown(&raw)
        )));
    }
    raw.parse().map_err(|_| {
        invalid(format!(
            "parameter `{name}` is too large: `{}`",
            shown(&raw)
        ))
    })
}

/// A body field holding a count that fits Vault's 32-bit settings.
pub(super) fn uint32_field(v: &Value, name: &str) -> Result<u32, VaultError> {
    whole_number(v)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            invalid(format!(
                "field `{name}` must be a whole number from 0 to {}",
                u32::MAX
            ))
        })
}

/// A body field holding a boolean (`true`/`false`, also as strings).
pub(super) fn bool_field(v: &Value, name: &str) -> Result<bool, VaultError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(invalid(format!("field `{name}` must be true or false"))),
    }
}

/// A body field holding a duration: seconds as a number or digit string, or a Go duration
/// string (`90s`, `1h30m`, `1.5h`, `2d`). Sub-second parts are dropped; negative is refused.
pub(super) fn duration_field(v: &Value, name: &str) -> Result<i64, VaultError> {
    let bad = || {
        invalid(format!(
            "field `{name}` must be a duration such as `3h25m19s` or a number of seconds"
        ))
    };
    let negative = || invalid(format!("field `{name}` may not be negative"));
    match v {
        Value::Number(n) => {
            if let Some(s) = n.as_i64() {
                return if s < 0 { Err(negative()) } else { Ok(s) };
            }
            match n.as_f64() {
                Some(f) if f < 0.0 => Err(negative()),
                Some(f) if f.is_finite() && f < i64::MAX as f64 => Ok(f as i64),
                _ => Err(bad()),
            }
        }
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(0);
            }
            if let Some(rest) = s.strip_prefix('-') {
                return match parse_go_duration(rest) {
                    Some(0) => Ok(0),
                    Some(_) => Err(negative()),
                    None => Err(bad()),
                };
            }
            parse_go_duration(s.strip_prefix('+').unwrap_or(s)).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// Seconds in a Go duration string without a sign, or plain digits as seconds.
fn parse_go_duration(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let mut nanos: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        nanos += number * scale;
    }
    let secs = (nanos / 1e9).floor();
    (secs.is_finite() && secs < i64::MAX as f64).then_some(secs as i64)
}

/// `options.cas` of a data write: `None` when not given.
pub(super) fn cas_option(req: &Request) -> Result<Option<u64>, VaultError> {
    let Some(options) = field(req, "options") else {
        return Ok(None);
    };
    let Value::Object(options) = options else {
        return Err(invalid("field `options` must be a JSON object"));
    };
    match options.get("cas") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => whole_number(v).map(Some).ok_or_else(|| {
            invalid("field `options.cas` must be a non-negative whole number (a version)")
        }),
    }
}

/// The `data` object of a data write or patch.
pub(super) fn data_object(req: &Request) -> Result<&Map<String, Value>, VaultError> {
    match field(req, "data") {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(invalid(
            "field `data` must be a JSON object of the secret's keys and values",
        )),
        None => Err(invalid("field `data` is required (no data provided)")),
    }
}

/// The `versions` list of `delete/`, `undelete/` and `destroy/`: `[1, 2]`, `["1","2"]`,
/// `"1,2"` or a single number. At least one is required.
pub(super) fn versions_field(req: &Request) -> Result<Vec<u64>, VaultError> {
    let bad = || invalid("field `versions` must be a list of version numbers, such as [1, 2]");
    let mut out = Vec::new();
    match field(req, "versions") {
        None => {}
        Some(Value::Array(items)) => {
            for item in items {
                out.push(whole_number(item).ok_or_else(bad)?);
            }
        }
        Some(Value::String(s)) => {
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                out.push(whole_number(&Value::String(part.to_owned())).ok_or_else(bad)?);
            }
        }
        Some(v @ Value::Number(_)) => out.push(whole_number(v).ok_or_else(bad)?),
        Some(_) => return Err(bad()),
    }
    if out.is_empty() {
        return Err(invalid(
            "field `versions` is required: the version numbers to act on",
        ));
    }
    Ok(out)
}

/// Checks `custom_metadata` against Vault's limits.
pub(super) fn check_custom(m: &BTreeMap<String, String>) -> Result<(), VaultError> {
    if m.len() > MAX_CUSTOM_KEYS {
        return Err(invalid(format!(
            "field `custom_metadata` has {} keys, more than the {MAX_CUSTOM_KEYS} allowed",
            m.len()
        )));
    }
    for (k, v) in m {
        if k.is_empty() {
            return Err(invalid("field `custom_metadata` has an empty key"));
        }
        if k.len() > MAX_CUSTOM_KEY_LEN {
            return Err(invalid(format!(
                "key `{}` of field `custom_metadata` is longer than {MAX_CUSTOM_KEY_LEN} bytes",
                shown(k)
            )));
        }
        if v.len() > MAX_CUSTOM_VALUE_LEN {
            return Err(invalid(format!(
                "the value of `custom_metadata.{}` is longer than {MAX_CUSTOM_VALUE_LEN} bytes",
                shown(k)
            )));
        }
    }
    Ok(())
}

/// `custom_metadata` of a metadata write: an object of strings, replacing what was there.
pub(super) fn custom_field(v: &Value) -> Result<BTreeMap<String, String>, VaultError> {
    let Value::Object(obj) = v else {
        return Err(invalid(
            "field `custom_metadata` must be a JSON object of string values",
        ));
    };
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let Value::String(s) = v else {
            return Err(invalid(format!(
                "`custom_metadata.{}` must be a string",
                shown(k)
            )));
        };
        out.insert(k.clone(), s.clone());
    }
    check_custom(&out)?;
    Ok(out)
}

/// Applies a JSON merge patch (RFC 7396) to `custom_metadata`: strings set, `null` removes.
pub(super) fn patch_custom(
    current: Option<BTreeMap<String, String>>,
    patch: &Value,
) -> Result<BTreeMap<String, String>, VaultError> {
    let Value::Object(obj) = patch else {
        return Err(invalid(
            "field `custom_metadata` must be a JSON object of string values (null removes a key)",
        ));
    };
    let mut out = current.unwrap_or_default();
    for (k, v) in obj {
        match v {
            Value::Null => {
                out.remove(k);
            }
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            _ => {
                return Err(invalid(format!(
                    "`custom_metadata.{}` must be a string or null",
                    shown(k)
                )))
            }
        }
    }
    check_custom(&out)?;
    Ok(out)
}

/// Applies a JSON merge patch (RFC 7396) to `target`: objects merge key by key, `null`
/// removes a key, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        merge_patch_map(map, changes);
    }
}

/// [`merge_patch`] of an object onto an object (the secret's data).
pub(super) fn merge_patch_map(map: &mut Map<String, Value>, changes: &Map<String, Value>) {
    for (k, v) in changes {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The shape of `data` with every leaf replaced by `null`; `depth` > 0 stops that many
/// levels down (Vault's `subkeys` endpoint).
pub(super) fn subkeys(data: &Map<String, Value>, depth: u64) -> Value {
    fn walk(map: &Map<String, Value>, depth: u64, level: u64) -> Value {
        let mut out = Map::new();
        for (k, v) in map {
            let inner = match v {
                Value::Object(m) if !m.is_empty() && (depth == 0 || level < depth) => {
                    walk(m, depth, level + 1)
                }
                _ => Value::Null,
            };
            out.insert(k.clone(), inner);
        }
        Value::Object(out)
    }
    walk(data, depth, 1)
}
