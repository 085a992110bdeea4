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
            // One line: the error and its causes, joined.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("seawall: error: {msg}");
            ExitCode::from(cmd::exit_code_for(&e))
        }
    }
}
