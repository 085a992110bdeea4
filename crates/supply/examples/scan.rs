//! A stand-alone `scan` / `advisories import` command for benchmarks and tests, built without
//! the whole `seawall` binary: `scan advisories import PATH... [--db FILE]` and
//! `scan scan SBOM|PATH [OPTIONS]`, the same arguments as `seawall`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use seawall_supply::cli::advisories::{self, ImportArgs};
use seawall_supply::cli::scan::{self, ScanArgs};

#[derive(Parser)]
#[command(name = "scan")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Match an SBOM or a source tree against the imported advisories.
    Scan(ScanArgs),
    /// Manage the advisory index.
    #[command(subcommand)]
    Advisories(Advisories),
}

#[derive(Subcommand)]
enum Advisories {
    /// Import OSV records.
    Import(ImportArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Scan(args) => scan::run(&args),
        Command::Advisories(Advisories::Import(args)) => advisories::run(&args),
    }
}
