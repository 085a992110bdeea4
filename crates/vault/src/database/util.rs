//! Small helpers of the database engine: TTL parsing, time formatting, random names and
//! passwords, SQL quoting, and keeping secrets out of error messages.

use crate::error::VaultError;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::Value;

/// Vault's system default and maximum lease TTL (768h), used when a role sets none.
pub(crate) const SYSTEM_MAX_TTL: i64 = 768 * 3600;

/// Parses a TTL field given as seconds (number or digits) or a duration such as `90s`, `15m`,
/// `1h30m`, `2d`. `None` when the field is absent or empty.
pub(crate) fn ttl_field(
    data: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<i64>, VaultError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= 0 => Ok(Some(v)),
            _ => Err(VaultError::invalid(format!(
                "field `{name}` must be a non-negative whole number of seconds"
            ))),
        },
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => parse_duration(s).map(Some).ok_or_else(|| {
            VaultError::invalid(format!(
                "field `{name}`: `{s}` is not a duration (seconds, or e.g. 30s, 15m, 1h30m, 2d)"
            ))
        }),
        Some(_) => Err(VaultError::invalid(format!(
            "field `{name}` must be a duration string or a number of seconds"
        ))),
    }
}

/// `3600`, `90s`, `15m`, `1h30m`, `2d` -> seconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    crate::duration::seconds(s)
}

/// A list-of-strings field; Vault also accepts one string (or a comma-separated one for
/// `allowed_roles`).
pub(crate) fn string_list(
    data: &serde_json::Map<String, Value>,
    name: &str,
    split_commas: bool,
) -> Result<Option<Vec<String>>, VaultError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let items: Vec<String> = if split_commas {
                s.split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()
            } else if s.trim().is_empty() {
                Vec::new()
            } else {
                vec![s.clone()]
            };
            Ok(Some(items))
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(VaultError::invalid(format!(
                    "field `{name}` must be a list of strings"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Some(v.into_iter().filter(|s| !s.trim().is_empty()).collect())),
        Some(_) => Err(VaultError::invalid(format!(
            "field `{name}` must be a list of strings"
        ))),
    }
}

pub(crate) use crate::token::bool_field;

/// `n` random ASCII letters and digits from the OS generator.
pub(crate) fn random_alnum(n: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// `n` random lower-case letters and digits (for role names, which PostgreSQL folds).
pub(crate) fn random_lower(n: usize) -> String {
    const SET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| SET[rng.gen_range(0..SET.len())] as char)
        .collect()
}

/// A new password: 40 letters and digits (about 238 bits).
pub(crate) fn new_password() -> String {
    random_alnum(40)
}

/// A double-quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Replaces every occurrence of the given secrets in `msg` with `***`.
pub(crate) fn scrub(msg: &str, secrets: &[&str]) -> String {
    let mut out = msg.to_owned();
    for s in secrets {
        if s.len() >= 4 {
            out = out.replace(s, "***");
        }
    }
    out
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn parts(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// `2026-12-04 19:00:00+00`: the form PostgreSQL reads for `VALID UNTIL`.
pub(crate) fn pg_timestamp(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}+00")
}

/// `2026-12-04T19:00:00Z` (RFC 3339), as Vault shows times.
pub(crate) fn rfc3339(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = parts(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_vault_writes_them() {
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("2d"), Some(172_800));
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5m3"), None);
    }

    #[test]
    fn times_format_in_utc() {
        assert_eq!(pg_timestamp(0), "1970-01-01 00:00:00+00");
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(pg_timestamp(951_782_400), "2000-02-29 00:00:00+00");
    }

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn passwords_are_long_and_alphanumeric() {
        let p = new_password();
        assert!(p.len() >= 32 && p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(p, new_password());
        assert_eq!(scrub(&format!("near \"{p}\""), &[&p]), "near \"***\"");
    }
}
