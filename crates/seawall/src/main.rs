//! The `seawall` binary: argument parsing and wiring only.
//!
//! Every subcommand lives in [`cmd`]; this file parses arguments, sets up logging and turns the
//! outcome into an exit code in one place: 0 success, 1 findings or denial, 2 bad usage or
//! unreadable input.

mod cli;
mod cmd;
mod logging;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = cli::Cli::parse();
    logging::init(&cli.global);
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("seawall: error: {}", one_line(&e));
            ExitCode::from(cmd::exit_code_for(&e))
        }
    }
}

/// The error and its causes on one line. Many errors already quote their cause in their own
/// message; a cause whose text is already there is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg.replace(['\n', '\r'], " ")
}

/// `seawall user list | head` must end quietly when `head` stops reading. Rust ignores SIGPIPE,
/// so the standard library's `println!` panics on the broken pipe instead; this hook turns that
/// one panic into the exit a shell expects from a command whose reader went away (128 + 13),
/// and leaves every other panic to the default hook.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
