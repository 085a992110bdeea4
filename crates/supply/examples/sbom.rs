//! A stand-alone `sbom` command for tests and benchmarks before the `seawall` binary wires
//! [`seawall_supply::cli::sbom`] in: `sbom [sbom] PATH [OPTIONS]`.

use std::process::ExitCode;

use clap::Parser;
use seawall_supply::cli::sbom::{run, SbomArgs};

#[derive(Parser)]
#[command(name = "sbom")]
struct Cli {
    #[command(flatten)]
    args: SbomArgs,
}

fn main() -> ExitCode {
    // Accept `sbom sbom PATH` too, so that tests can call this like `seawall sbom PATH`.
    let mut argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("sbom") {
        argv.remove(1);
    }
    run(&Cli::parse_from(argv).args)
}
