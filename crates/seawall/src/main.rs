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
