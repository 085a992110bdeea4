//! `seawall leases`: listing, renewing and revoking vault leases over the Vault-compatible API,
//! and reconciling a database connection.
//!
//! `list` walks `LIST sys/leases/lookup/<prefix>` and looks every lease up; `list --failing`
//! asks Seawall's own `sys/seawall/leases?failing=true`, which Vault has no equivalent of: the
//! leases whose revocation keeps failing, with their last error (exit code 1 when there are
//! any, for monitoring). `reconcile` is `POST <mount>/reconcile/<connection>`.

use super::vault_client::{encode_path, encode_segment, parse_duration, VaultClient};
use crate::cli::{GlobalArgs, LeasesCommand};
use serde_json::{json, Value};
use std::process::ExitCode;

pub fn run(global: &GlobalArgs, cmd: LeasesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LeasesCommand::List {
            vault,
            prefix,
            failing,
            json,
        } => {
            let prefix = prefix.as_deref().map(check_prefix).transpose()?;
            let client = VaultClient::connect(global, &vault)?;
            if failing {
                list_failing(&client, prefix.as_deref(), json)
            } else {
                list(&client, prefix.as_deref().unwrap_or(""), json)
            }
        }
        LeasesCommand::Revoke { vault, id, prefix } => {
            let client = VaultClient::connect(global, &vault)?;
            match (id, prefix) {
                (Some(id), _) => {
                    check_id(&id)?;
                    client.put("sys/leases/revoke", &json!({ "lease_id": id }))?;
                    println!("revoked {id}");
                }
                (None, Some(p)) => {
                    let p = check_prefix(&p)?;
                    anyhow::ensure!(
                        !p.is_empty(),
                        "--prefix is empty: that would revoke every lease"
                    );
                    client.put(
                        &format!("sys/leases/revoke-prefix/{}", encode_path(&p)),
                        &json!({}),
                    )?;
                    println!("revoked every lease below {p}");
                }
                (None, None) => anyhow::bail!("give a lease id or --prefix PREFIX"),
            }
            Ok(ExitCode::SUCCESS)
        }
        LeasesCommand::Renew {
            vault,
            id,
            increment,
        } => {
            check_id(&id)?;
            let mut body = json!({ "lease_id": id });
            if let Some(inc) = increment {
                let secs = parse_duration(&inc).map_err(|e| anyhow::anyhow!("--increment: {e}"))?;
                body["increment"] = json!(secs);
            }
            let client = VaultClient::connect(global, &vault)?;
            let answer = client.put("sys/leases/renew", &body)?.unwrap_or_default();
            let duration = answer["lease_duration"].as_u64().unwrap_or(0);
            println!("renewed {id}: ends in {}", human_secs(duration));
            Ok(ExitCode::SUCCESS)
        }
        LeasesCommand::Reconcile {
            vault,
            connection,
            mount,
        } => {
            anyhow::ensure!(
                !connection.is_empty() && !connection.contains('/'),
                "connection `{connection}` is not a connection name"
            );
            let mount = check_prefix(&mount)?;
            anyhow::ensure!(!mount.is_empty(), "--mount is empty");
            let client = VaultClient::connect(global, &vault)?;
            let path = format!(
                "{}/reconcile/{}",
                encode_path(mount.trim_end_matches('/')),
                encode_segment(&connection)
            );
            let answer = client.call("POST", &path, Some(&json!({})), None)?;
            Ok(print_reconcile(
                &connection,
                answer.as_ref().map(|a| &a["data"]),
            ))
        }
    }
}

/// A lease id: non-empty, printable, no empty or `..` segments.
fn check_id(id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !id.is_empty()
            && id.chars().all(|c| !c.is_control() && !c.is_whitespace())
            && !id.split('/').any(|s| s.is_empty() || s == "." || s == ".."),
        "`{id}` is not a lease id (like database/creds/ROLE/ID)"
    );
    Ok(())
}

/// A prefix as a folder path: `database/creds/ro` and `database/creds/ro/` are the same.
fn check_prefix(p: &str) -> anyhow::Result<String> {
    let trimmed = p.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    anyhow::ensure!(
        trimmed
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace())
            && !trimmed
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."),
        "`{p}` is not a lease prefix (like database/creds/ROLE/)"
    );
    Ok(format!("{trimmed}/"))
}

/// Every lease id below `prefix` (a folder path ending in `/`, or empty for all).
fn lease_ids(client: &VaultClient, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut folders = vec![prefix.to_string()];
    while let Some(folder) = folders.pop() {
        // `folder` ends with `/` (or is empty, for the root), as Vault lists folders.
        let path = format!("sys/leases/lookup/{}", encode_path(&folder));
        for key in client.list(&path)? {
            if key.ends_with('/') {
                folders.push(format!("{folder}{key}"));
            } else {
                ids.push(format!("{folder}{key}"));
            }
        }
    }
    ids.sort();
    Ok(ids)
}

fn list(client: &VaultClient, prefix: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for id in lease_ids(client, prefix)? {
        // A lease may be revoked between the listing and its lookup.
        match client.put("sys/leases/lookup", &json!({ "lease_id": id })) {
            Ok(answer) => {
                let data = answer.map(|a| a["data"].clone()).unwrap_or(Value::Null);
                if data.is_object() {
                    rows.push(data);
                }
            }
            Err(e) if matches!(e.status(), Some(400 | 404)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        eprintln!("no leases{}", below(prefix));
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                text(&r["id"]),
                time_text(&r["expire_time"]),
                r["ttl"]
                    .as_i64()
                    .map_or_else(String::new, |t| human_secs(t.max(0).unsigned_abs())),
                text(&r["renewable"]),
            ]
        })
        .collect();
    print_table(["LEASE ID", "EXPIRES", "TTL", "RENEWABLE"], &table);
    Ok(ExitCode::SUCCESS)
}

fn list_failing(
    client: &VaultClient,
    prefix: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let answer = client.read("sys/seawall/leases?failing=true")?;
    let leases: Vec<Value> = answer
        .pointer("/data/leases")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| prefix.is_none_or(|p| text(&l["id"]).starts_with(p)))
        // The endpoint is asked for failing leases only; keep to them if it sends more.
        .filter(|l| l["failing"].as_bool().unwrap_or(true))
        .collect();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&leases)?);
    } else if leases.is_empty() {
        eprintln!(
            "no lease whose revocation keeps failing{}",
            below(prefix.unwrap_or(""))
        );
    } else {
        let table: Vec<[String; 5]> = leases
            .iter()
            .map(|l| {
                [
                    text(&l["id"]),
                    text(&l["state"]),
                    text(&l["attempts"]),
                    time_text(&l["expire_time"]),
                    text(&l["last_error"]).replace(['\n', '\r'], " "),
                ]
            })
            .collect();
        print_table(
            ["LEASE ID", "STATE", "ATTEMPTS", "EXPIRED", "LAST ERROR"],
            &table,
        );
    }
    Ok(if leases.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the reconciler did (`{"dropped": [...], "kept": N, "failed": [...]}`). Exit code 1 when
/// some orphan could not be dropped.
fn print_reconcile(connection: &str, data: Option<&Value>) -> ExitCode {
    let data = data.cloned().unwrap_or(Value::Null);
    let names = |k: &str| -> Vec<String> {
        data.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default()
    };
    let (dropped, failed) = (names("dropped"), names("failed"));
    if dropped.is_empty() {
        println!("{connection}: no orphaned role to drop");
    } else {
        println!("{connection}: dropped {} orphaned role(s):", dropped.len());
        for d in &dropped {
            println!("  {d}");
        }
    }
    if let Some(kept) = data.get("kept").and_then(Value::as_u64) {
        println!("{connection}: kept {kept} role(s) with a live lease");
    }
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!(
        "{connection}: could not drop {} role(s); the next run tries again:",
        failed.len()
    );
    for f in &failed {
        println!("  {f}");
    }
    ExitCode::from(1)
}

fn below(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!(" below {prefix}")
    }
}

/// A JSON value as a table cell: strings bare, null empty, the rest as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A time as the server gave it: RFC 3339 text as is, Unix seconds as UTC RFC 3339.
fn time_text(v: &Value) -> String {
    match v.as_i64() {
        Some(secs) => utc(secs),
        None => text(v),
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar, days from the epoch
/// converted with the usual era arithmetic).
fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `90` → `1m30s`.
fn human_secs(s: u64) -> String {
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_folders() {
        assert_eq!(
            check_prefix("database/creds/ro").unwrap(),
            "database/creds/ro/"
        );
        assert_eq!(
            check_prefix("/database/creds/ro/").unwrap(),
            "database/creds/ro/"
        );
        assert_eq!(check_prefix("").unwrap(), "");
        for bad in ["a//b", "a/../b", "a b", "a/\n"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lease_ids_are_checked() {
        assert!(check_id("database/creds/ro/AbC123").is_ok());
        for bad in ["", "a//b", "../x", "a b"] {
            let e = check_id(bad).unwrap_err().to_string();
            assert!(e.contains("not a lease id"), "{e}");
        }
    }

    #[test]
    fn durations_print_compactly() {
        assert_eq!(human_secs(0), "0s");
        assert_eq!(human_secs(90), "1m30s");
        assert_eq!(human_secs(3600), "1h");
        assert_eq!(human_secs(90_061), "1d1h1m1s");
    }

    #[test]
    fn unix_times_print_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_412_345), "2026-12-04T19:25:45Z");
        assert_eq!(
            time_text(&json!("2026-12-04T20:00:00Z")),
            "2026-12-04T20:00:00Z"
        );
    }

    #[test]
    fn cells_are_bare_text() {
        assert_eq!(text(&json!("x")), "x");
        assert_eq!(text(&json!(null)), "");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(text(&json!(true)), "true");
    }
}
