//! Request fields of the AppRole paths, read the way Vault accepts them, and the address
//! checks of bound CIDR lists.

use crate::error::VaultError;
use ipnet::IpNet;
use rand::RngCore;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Lower-cases and checks a role name: 1 to 128 characters of `a-z 0-9 - _ . @`.
pub fn role_name(name: &str) -> Result<String, VaultError> {
    let n = name.trim().to_lowercase();
    if n.is_empty()
        || n.len() > 128
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err(VaultError::invalid(format!(
            "role name \"{}\" is not valid: use 1 to 128 characters of a-z, 0-9, '-', '_', '.', '@'",
            name.escape_debug()
        )));
    }
    Ok(n)
}

/// A random UUID (version 4), Vault's form for role ids, secret ids and accessors.
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub use crate::token::bool_field;

/// A non-negative integer field (number or numeric string); `None` when absent.
pub fn uint_field(data: &Map<String, Value>, name: &str) -> Result<Option<u32>, VaultError> {
    let bad = || VaultError::invalid(format!("field `{name}` must be a non-negative integer"));
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A duration field (seconds or `"1h"`); `None` when absent.
pub fn duration_opt(data: &Map<String, Value>, name: &str) -> Result<Option<i64>, VaultError> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => crate::token::parse_duration(name, v).map(Some),
    }
}

/// A list of CIDR blocks (JSON list or comma-separated string); each entry is checked and
/// a bare address becomes a /32 or /128 block. `None` when absent.
pub fn cidr_list(data: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, VaultError> {
    let Some(items) = crate::token::string_list(data, name)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|c| {
            parse_cidr(c).map(|n| n.to_string()).ok_or_else(|| {
                VaultError::invalid(format!(
                    "field `{name}`: \"{}\" is not an address or CIDR block",
                    c.escape_debug()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_cidr(c: &str) -> Option<IpNet> {
    c.parse::<IpNet>()
        .map(|n| n.trunc())
        .ok()
        .or_else(|| c.parse::<IpAddr>().ok().map(IpNet::from))
}

/// An IPv4 address written as IPv4-mapped IPv6 is checked as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `addr` is inside one of `cidrs`; an empty list allows any caller, a non-empty one
/// refuses a caller whose address is unknown.
pub fn cidrs_allow(cidrs: &[String], addr: Option<IpAddr>) -> bool {
    if cidrs.is_empty() {
        return true;
    }
    let Some(addr) = addr.map(canonical) else {
        return false;
    };
    cidrs
        .iter()
        .filter_map(|c| parse_cidr(c))
        .any(|net| net.contains(&addr))
}

/// Checks that every block in `inner` lies inside some block of `outer` (when `outer` is
/// not empty): a secret id may narrow its role's CIDR binding, never widen it.
pub fn cidrs_within(inner: &[String], outer: &[String], field: &str) -> Result<(), VaultError> {
    if outer.is_empty() {
        return Ok(());
    }
    let outer: Vec<IpNet> = outer.iter().filter_map(|c| parse_cidr(c)).collect();
    for c in inner {
        let Some(net) = parse_cidr(c) else { continue };
        if !outer.iter().any(|o| o.contains(&net)) {
            return Err(VaultError::invalid(format!(
                "field `{field}`: {c} is not inside the role's bound CIDR blocks"
            )));
        }
    }
    Ok(())
}

/// Secret-id `metadata`: an object of strings, or (as Vault documents it) a JSON string
/// holding one.
pub fn metadata(data: &Map<String, Value>) -> Result<BTreeMap<String, String>, VaultError> {
    let bad = || {
        VaultError::invalid(
            "field `metadata` must be an object of strings (or a JSON string of one)",
        )
    };
    let obj = match data.get("metadata") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(BTreeMap::new()),
        Some(Value::String(s)) => {
            serde_json::from_str::<Map<String, Value>>(s).map_err(|_| bad())?
        }
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad()),
    };
    if obj.len() > 64 {
        return Err(VaultError::invalid(
            "field `metadata` has more than 64 keys",
        ));
    }
    obj.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) if k.len() <= 128 && s.len() <= 512 => Ok((k, s)),
            Value::String(_) => Err(VaultError::invalid(
                "field `metadata`: keys are at most 128 bytes and values at most 512",
            )),
            _ => Err(bad()),
        })
        .collect()
}

/// Vault's answer for a write that carried unknown fields.
pub fn unknown_fields(data: &Map<String, Value>, known: &[&str]) -> Option<String> {
    let unknown: Vec<&str> = data
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    (!unknown.is_empty()).then(|| {
        format!(
            "Endpoint ignored these unrecognized parameters: {}",
            unknown.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cidr_binding_checks_addresses() {
        let cidrs = vec!["10.0.0.0/8".to_owned(), "2001:db8::/32".to_owned()];
        assert!(cidrs_allow(&cidrs, Some("10.1.2.3".parse().unwrap())));
        assert!(cidrs_allow(
            &cidrs,
            Some("::ffff:10.1.2.3".parse().unwrap())
        ));
        assert!(cidrs_allow(&cidrs, Some("2001:db8::1".parse().unwrap())));
        assert!(!cidrs_allow(&cidrs, Some("11.0.0.1".parse().unwrap())));
        assert!(!cidrs_allow(&cidrs, None));
        assert!(cidrs_allow(&[], None));
        assert!(cidrs_within(&["10.1.0.0/16".into()], &cidrs, "cidr_list").is_ok());
        assert!(cidrs_within(&["0.0.0.0/0".into()], &cidrs, "cidr_list").is_err());
    }

    #[test]
    fn fields_parse_as_vault_sends_them() {
        let d = json!({"c": "127.0.0.1, 10.0.0.0/8", "bad": ["10.0.0.0/33"], "n": "5", "b": "true",
                        "metadata": "{\"env\": \"prod\"}"});
        let d = d.as_object().unwrap();
        assert_eq!(
            cidr_list(d, "c").unwrap().unwrap(),
            vec!["127.0.0.1/32", "10.0.0.0/8"]
        );
        assert!(cidr_list(d, "bad")
            .unwrap_err()
            .to_string()
            .contains("10.0.0.0/33"));
        assert_eq!(uint_field(d, "n").unwrap(), Some(5));
        assert_eq!(bool_field(d, "b").unwrap(), Some(true));
        assert_eq!(metadata(d).unwrap()["env"], "prod");
        assert!(metadata(json!({"metadata": {"a": 1}}).as_object().unwrap()).is_err());
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(role_name("My-Role").unwrap() == "my-role");
        assert!(role_name("a/b").is_err());
    }
}
