//! `seawall up` and `seawall server`.

use super::load_config;
use crate::cli::{GlobalArgs, UpArgs};
use seawall_server::run::{run, run_proxy, UpOptions};
use std::process::ExitCode;

pub fn up(global: &GlobalArgs, args: UpArgs) -> anyhow::Result<ExitCode> {
    start(
        global,
        UpOptions {
            demo: args.demo,
            gateway: true,
        },
    )
}

pub fn server(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    start(
        global,
        UpOptions {
            demo: false,
            gateway: false,
        },
    )
}

fn start(global: &GlobalArgs, opts: UpOptions) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(config, opts))?;
    Ok(ExitCode::SUCCESS)
}

pub fn proxy(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_proxy(config))?;
    Ok(ExitCode::SUCCESS)
}
