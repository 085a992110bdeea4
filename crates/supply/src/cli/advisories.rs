//! `seawall advisories import PATH...`: load OSV records into the local advisory index.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::advisory::{AdvisoryIndex, DEFAULT_DB_PATH};

/// Arguments of `seawall advisories import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// OSV files (.json, .yaml), directories of them, or osv.dev `all.zip` exports.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The advisory index to create or update.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_DB_PATH)]
    pub db: PathBuf,
    /// Print the report as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs the import. Exit code 0 when every record was read, 2 when some were skipped (each
/// named on stderr) or the index could not be opened.
pub fn run(args: &ImportArgs) -> ExitCode {
    let mut index = match AdvisoryIndex::open(&args.db) {
        Ok(index) => index,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match index.import(&args.paths) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    for error in &report.errors {
        eprintln!("error: {error}");
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot render the report: {e}"),
        }
    } else {
        let total = index
            .len()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        println!(
            "imported into {}: {} added, {} updated ({} withdrawn), {} unchanged, {} skipped; \
             {} advisories stored",
            args.db.display(),
            report.added.len(),
            report.updated.len(),
            report.withdrawn.len(),
            report.unchanged,
            report.errors.len(),
            total,
        );
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
