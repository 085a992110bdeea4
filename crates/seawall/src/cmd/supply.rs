//! `seawall sbom [push]` and `seawall findings`: the supply-chain commands that need the
//! binary's wiring (the offline ones live in the supply crate).

use super::login::authorized_request;
use crate::cli::{AdvisoriesPushArgs, FindingsArgs, SbomCommand, SbomPushArgs, SbomSubcommand};
use anyhow::Context;
use std::io::Read;
use std::process::ExitCode;

pub fn sbom(cmd: SbomCommand) -> anyhow::Result<ExitCode> {
    match (cmd.push, cmd.generate) {
        (Some(SbomSubcommand::Push(args)), _) => push(args),
        (None, Some(args)) => Ok(seawall_supply::cli::sbom::run(&args)),
        (None, None) => anyhow::bail!("`seawall sbom` needs a PATH, or `push FILE`"),
    }
}

fn push(args: SbomPushArgs) -> anyhow::Result<ExitCode> {
    let mut body = Vec::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut body)
            .context("cannot read standard input")?;
    } else {
        body = std::fs::read(&args.file)
            .with_context(|| format!("cannot read `{}`", args.file.display()))?;
    }
    let path = format!(
        "/api/v1/sboms?project={}&version={}",
        encode(&args.project),
        encode(&args.version)
    );
    let answer = authorized_request("POST", &path, Some(&body))?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}

/// Most records sent in one request.
const PUSH_BATCH: usize = 500;

/// Reads OSV records the way `advisories import` does (into a throw-away index, so files,
/// directories and zips are all understood and bad records are reported the same way), then
/// sends them to the control plane in batches.
pub fn push_advisories(args: AdvisoriesPushArgs) -> anyhow::Result<ExitCode> {
    let mut staging = seawall_supply::advisory::AdvisoryIndex::open_in_memory()?;
    let report = staging.import(&args.paths)?;
    for e in &report.errors {
        eprintln!("warning: {e}");
    }
    let ids = report.changed();
    let (mut added, mut updated, mut new_findings) = (0u64, 0u64, 0usize);
    for chunk in ids.chunks(PUSH_BATCH) {
        let mut records = Vec::with_capacity(chunk.len());
        for id in chunk {
            if let Some(r) = staging.record(id)? {
                records.push(r);
            }
        }
        let body = serde_json::to_vec(&records)?;
        let answer = authorized_request("POST", "/api/v1/advisories", Some(&body))?;
        let count = |k: &str| {
            answer
                .get(k)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        added += count("added");
        updated += count("updated");
        if let Some(found) = answer.get("new_findings").and_then(|v| v.as_array()) {
            for f in found {
                println!("new finding: {}", serde_json::to_string(f)?);
            }
            new_findings += found.len();
        }
    }
    println!(
        "{} records read, {added} added and {updated} updated on the server, {new_findings} new findings",
        ids.len()
    );
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub fn findings(args: FindingsArgs) -> anyhow::Result<ExitCode> {
    let path = match &args.project {
        Some(p) => format!("/api/v1/findings?project={}", encode(p)),
        None => "/api/v1/findings".to_string(),
    };
    let answer = authorized_request("GET", &path, None)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = answer.as_array().cloned().unwrap_or_default();
    println!(
        "{:<20} {:<12} {:<22} {:<9} PURL",
        "PROJECT", "VERSION", "ADVISORY", "SEVERITY"
    );
    for r in &rows {
        let field = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        println!(
            "{:<20} {:<12} {:<22} {:<9} {}",
            field("project"),
            field("version"),
            field("advisory_id"),
            field("severity"),
            field("purl")
        );
    }
    // Findings are the answer asked for, not a failure of the command.
    Ok(ExitCode::SUCCESS)
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
