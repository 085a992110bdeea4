//! Logging set-up: `tracing` to stderr, human-readable or JSON lines.
//!
//! The format and filter come from `--log-format` / `--log-level`, else from the `[log]`
//! section of the configuration (file and `SEAWALL_LOG__*` variables); `SEAWALL_LOG` (a
//! `tracing` filter) overrides the level.

use crate::cli::GlobalArgs;
use seawall_core::config::Config;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(global: &GlobalArgs) {
    // A configuration error is reported by the command itself, with its exit code; here the
    // defaults stand in.
    let log = Config::load(global.config.as_deref())
        .map(|c| c.log)
        .unwrap_or_default();
    let level = global.log_level.clone().unwrap_or(log.level);
    let format = global.log_format.clone().unwrap_or(log.format);
    let filter = EnvFilter::try_from_env("SEAWALL_LOG")
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = cap_libraries_that_log_secrets(filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        let _ = builder.json().flatten_event(true).try_init();
    } else {
        use std::io::IsTerminal;
        let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let _ = builder.with_target(false).with_ansi(ansi).try_init();
    }
}

/// Libraries whose debug output carries secrets: tokio-postgres logs each statement it runs
/// (`CREATE ROLE ... PASSWORD '...'`), ureq logs request headers (`X-Vault-Token`). However
/// verbose the filter, these stay at `info`.
fn cap_libraries_that_log_secrets(mut filter: EnvFilter) -> EnvFilter {
    for target in ["tokio_postgres", "postgres_protocol", "ureq"] {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_that_log_secrets_are_capped_even_at_trace() {
        let f = cap_libraries_that_log_secrets(EnvFilter::new("trace"));
        let text = f.to_string();
        for target in ["tokio_postgres=info", "ureq=info"] {
            assert!(text.contains(target), "{text}");
        }
        let f = cap_libraries_that_log_secrets(EnvFilter::new("tokio_postgres=trace,debug"));
        assert!(!f.to_string().contains("tokio_postgres=trace"), "{f}");
    }
}
