//! `seawall audit-log verify|export`.

use super::{load_config, open_store, Denied};
use crate::cli::{AuditLogCommand, GlobalArgs};
use anyhow::Context;
use seawall_audit::{check_head, read_head, verify, VerifyReport};
use seawall_core::SystemClock;
use seawall_server::Bootstrap;
use seawall_store::AuditRepo;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

const PAGE: usize = 10_000;

pub fn run(global: &GlobalArgs, cmd: AuditLogCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditLogCommand::Verify { file: Some(path) } => {
            let f = std::fs::File::open(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(f).lines() {
                let line = line.with_context(|| format!("cannot read `{}`", path.display()))?;
                // Blank lines (a trailing newline added by an editor) carry no record.
                if !line.trim().is_empty() {
                    lines.push(line);
                }
            }
            report(&path.display().to_string(), verify(&lines))
        }
        AuditLogCommand::Verify { file: None } => {
            let config = load_config(global)?;
            open_store(&config)?;
            let source = config.data_dir().display().to_string();
            // The head record's MAC needs the audit key, sealed under the root key.
            let state = Bootstrap::open(config, Arc::new(SystemClock))?;
            let head = read_head(state.store.as_ref())?;
            let bodies = all_bodies(state.store.as_ref())?;
            let result = verify(&bodies);
            if result.first_break.is_none() {
                let problem = check_head(
                    state.store.as_ref(),
                    &state.sealer,
                    head,
                    result.records,
                    &result.head,
                )?;
                if let Some(problem) = problem {
                    return Err(Denied(format!("audit log `{source}` is broken: {problem}")).into());
                }
            }
            report(&source, result)
        }
        AuditLogCommand::Export { output, after } => {
            let config = load_config(global)?;
            let store = open_store(&config)?;
            let mut out: Box<dyn Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot write `{}`", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut cursor = after;
            loop {
                let page = store.audit_records(cursor, PAGE)?;
                let Some(last) = page.last() else { break };
                cursor = last.seq;
                for r in &page {
                    writeln!(out, "{}", r.body)?;
                }
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn all_bodies(store: &(impl AuditRepo + ?Sized)) -> anyhow::Result<Vec<String>> {
    let mut bodies = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store.audit_records(cursor, PAGE)?;
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        bodies.extend(page.into_iter().map(|r| r.body));
    }
    Ok(bodies)
}

fn report(source: &str, r: VerifyReport) -> anyhow::Result<ExitCode> {
    match r.first_break {
        None => {
            println!(
                "audit log `{source}`: {} records, chain intact, head {}",
                r.records, r.head
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(b) => Err(Denied(format!(
            "audit log `{source}` is broken at record {} (position {}): {}",
            b.seq.map_or_else(|| "?".into(), |s| s.to_string()),
            b.position,
            b.message
        ))
        .into()),
    }
}
