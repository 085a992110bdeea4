//! `seawall user ...`: local administration of users and groups on the data directory.
//!
//! These commands open the store directly (they need the root key file), so they work whether
//! or not `seawall up` is running; a running server picks up revocations within a second.

use super::load_config;
use crate::cli::{GlobalArgs, GroupCommand, UserCommand};
use anyhow::Context;
use seawall_core::auth::SecretString;
use seawall_core::event::NullSink;
use seawall_core::SystemClock;
use seawall_identity::{AdminContext, IdentityError, IdentityService};
use seawall_server::Bootstrap;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(global: &GlobalArgs, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    // A mistyped --data-dir must not quietly create a new installation with a new root key.
    if !matches!(cmd, UserCommand::Add { .. }) {
        super::open_store(&config)?;
    }
    let state = Bootstrap::open(config, Arc::new(SystemClock))?;
    let identity = IdentityService::new(
        state.store.clone(),
        state.sealer.clone(),
        state.audit.clone(),
        Arc::new(NullSink),
        state.clock.clone(),
        &state.config,
    )?;
    let ctx = AdminContext::cli();
    let result = act(&identity, &ctx, cmd);
    // Whatever happened, the audit records of what was done must reach the store.
    state.audit.flush()?;
    result
}

fn act(id: &IdentityService, ctx: &AdminContext, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add {
            name,
            groups,
            password_stdin,
        } => {
            let password = read_password(password_stdin, &format!("password for {name}: "))?;
            let user = id.create_user(ctx, &name, &password)?;
            for g in &groups {
                ensure_group(id, ctx, g)?;
                id.add_member(ctx, g, &user.username)?;
            }
            println!(
                "created user `{}`; they enroll a second factor at their first sign-in",
                user.username
            );
        }
        UserCommand::List { json } => {
            let users = id.users()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!("{:<24} {:<9} {:<6} GROUPS", "USER", "STATE", "MFA");
                for u in users {
                    let state = if u.disabled { "disabled" } else { "active" };
                    let mfa = if u.factors.iter().any(|f| f.confirmed) {
                        "yes"
                    } else {
                        "no"
                    };
                    println!(
                        "{:<24} {:<9} {:<6} {}",
                        u.username,
                        state,
                        mfa,
                        u.groups.join(",")
                    );
                }
            }
        }
        UserCommand::Disable { name } => {
            id.disable_user(ctx, &name)?;
            println!("disabled `{name}`; their tokens are revoked");
        }
        UserCommand::Enable { name } => {
            id.enable_user(ctx, &name)?;
            println!("enabled `{name}`");
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin, &format!("new password for {name}: "))?;
            id.set_password(ctx, &name, &password)?;
            println!("password of `{name}` set; their sessions were ended");
        }
        UserCommand::ResetMfa { name } => {
            id.reset_factors(ctx, &name)?;
            println!("second factors of `{name}` removed; they enroll again at next sign-in");
        }
        UserCommand::Group(GroupCommand::Add { user, group }) => {
            ensure_group(id, ctx, &group)?;
            id.add_member(ctx, &group, &user)?;
            println!("added `{user}` to `{group}`");
        }
        UserCommand::Group(GroupCommand::Remove { user, group }) => {
            id.remove_member(ctx, &group, &user)?;
            println!("removed `{user}` from `{group}`; their current tokens are revoked");
        }
        UserCommand::Lockouts {
            clear: Some(subject),
        } => {
            id.clear_lockout(ctx, &subject)?;
            println!("cleared lockout of `{subject}`");
        }
        UserCommand::Lockouts { clear: None } => {
            let now = seawall_core::Clock::now(&SystemClock);
            println!(
                "{:<40} {:>8} {:>10} LOCKED",
                "SUBJECT", "FAILURES", "RETRY IN"
            );
            for l in id.list_lockouts()? {
                let wait = (l.until - now).max(0);
                println!(
                    "{:<40} {:>8} {:>9}s {}",
                    l.subject, l.failures, wait, l.locked_out
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ensure_group(id: &IdentityService, ctx: &AdminContext, name: &str) -> anyhow::Result<()> {
    match id.group(name) {
        Ok(_) => Ok(()),
        Err(IdentityError::NoSuchGroup(_)) => {
            id.create_group(ctx, name)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads a password from stdin's first line, or prompts for it twice on the terminal.
pub fn read_password(from_stdin: bool, prompt: &str) -> anyhow::Result<SecretString> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        anyhow::ensure!(!pw.is_empty(), "standard input holds no password");
        return Ok(SecretString::new(pw));
    }
    let first = rpassword::prompt_password(prompt).context("cannot read the password")?;
    let again = rpassword::prompt_password("again: ").context("cannot read the password")?;
    anyhow::ensure!(first == again, "the two passwords differ");
    Ok(SecretString::new(first))
}
