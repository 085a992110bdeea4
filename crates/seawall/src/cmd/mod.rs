//! One module per subcommand, and the mapping from outcomes to exit codes.

mod audit_log;
mod exec;
mod exec_child;
mod exec_renew;
mod leases;
mod login;
mod operator;
mod policy;
mod supply;
mod up;
mod user;
mod vault_client;

use crate::cli::{Cli, Command, GlobalArgs};
use anyhow::Context;
use seawall_core::config::Config;
use std::process::ExitCode;

/// An outcome that is not an error but must exit 1: a denial, a finding, a broken chain.
#[derive(Debug)]
pub struct Denied(pub String);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Denied {}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::AuditLog(c) => audit_log::run(&cli.global, c),
        Command::Up(a) => up::up(&cli.global, a),
        Command::Server => up::server(&cli.global),
        Command::Proxy => up::proxy(&cli.global),
        Command::User(c) => user::run(&cli.global, c),
        Command::Login(a) => {
            let data_dir = load_config(&cli.global)?.data_dir();
            login::login(a, &data_dir)
        }
        Command::Token(a) => login::token(a),
        Command::Sbom(c) => supply::sbom(c),
        Command::Findings(a) => supply::findings(a),
        Command::Scan(mut a) => {
            a.db = advisory_db(&cli.global, a.db)?;
            Ok(seawall_supply::cli::scan::run(&a))
        }
        Command::Advisories(crate::cli::AdvisoriesCommand::Import(mut a)) => {
            a.db = advisory_db(&cli.global, a.db)?;
            Ok(seawall_supply::cli::advisories::run(&a))
        }
        Command::Advisories(crate::cli::AdvisoriesCommand::Push(a)) => supply::push_advisories(a),
        Command::Policy(c) => policy::run(&cli.global, c),
        Command::Exec(a) => exec::run(&cli.global, a),
        Command::Leases(c) => leases::run(&cli.global, c),
        Command::Operator(c) => operator::run(&cli.global, c),
    }
}

/// The advisory index: `--db` when given, else `advisories.db` in the data directory (which
/// is where `seawall up` keeps its own).
fn advisory_db(global: &GlobalArgs, db: std::path::PathBuf) -> anyhow::Result<std::path::PathBuf> {
    if db.as_os_str() != seawall_supply::advisory::DEFAULT_DB_PATH {
        return Ok(db);
    }
    Ok(load_config(global)?.data_dir().join("advisories.db"))
}

/// The exit code for an error: 1 for a denial, 2 for everything else (bad usage, unreadable
/// input, a service that cannot start).
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<Denied>().is_some() {
        1
    } else {
        2
    }
}

/// Loads the configuration, applying `--data-dir` over the file and environment.
pub fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(global.config.as_deref()).map_err(anyhow::Error::new)?;
    if let Some(d) = &global.data_dir {
        config.data_dir = Some(d.clone());
    }
    if let Some(f) = &global.log_format {
        config.log.format = f.clone();
    }
    Ok(config)
}

/// Opens the local store for commands that only read non-secret data.
pub fn open_store(config: &Config) -> anyhow::Result<seawall_store::sqlite::SqliteStore> {
    let path = config.data_dir().join("seawall.db");
    anyhow::ensure!(
        path.exists(),
        "data directory `{}` has no store; run `seawall up` first or pass --data-dir",
        config.data_dir().display()
    );
    seawall_store::sqlite::SqliteStore::open(&path)
        .with_context(|| format!("cannot open `{}`", path.display()))
}
