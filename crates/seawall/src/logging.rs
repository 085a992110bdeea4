//! Logging set-up: `tracing` to stderr, human-readable or JSON lines.

use crate::cli::GlobalArgs;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `SEAWALL_LOG` (a `tracing` filter) overrides `--log-level`.
pub fn init(global: &GlobalArgs) {
    let filter = EnvFilter::try_from_env("SEAWALL_LOG")
        .unwrap_or_else(|_| EnvFilter::new(global.log_level.as_deref().unwrap_or("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if global.log_format.as_deref() == Some("json") {
        let _ = builder.json().flatten_event(true).try_init();
    } else {
        let _ = builder.with_target(false).try_init();
    }
}
