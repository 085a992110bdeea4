//! `seawall policy check|schema`.

use super::{load_config, Denied};
use crate::cli::{GlobalArgs, PolicyCommand};
use std::process::ExitCode;

pub fn run(global: &GlobalArgs, cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Schema => {
            println!("{}", seawall_policy::schema::SCHEMA);
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Check { mut paths } => {
            if paths.is_empty() {
                paths.push(load_config(global)?.policy_dir());
            }
            for p in &paths {
                anyhow::ensure!(p.exists(), "`{}` does not exist", p.display());
            }
            let diagnostics = seawall_policy::check(&paths);
            for d in &diagnostics {
                eprintln!("{d}");
            }
            let errors = diagnostics
                .iter()
                .filter(|d| d.severity == seawall_policy::Severity::Error)
                .count();
            if errors > 0 {
                return Err(Denied(format!("{errors} error(s) in the policies")).into());
            }
            println!("policies ok");
            Ok(ExitCode::SUCCESS)
        }
    }
}
