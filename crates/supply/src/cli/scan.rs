//! `seawall scan SBOM|PATH`: match an SBOM, or a source tree's lockfiles, against the local
//! advisory index and report the findings.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::advisory::{AdvisoryIndex, DEFAULT_DB_PATH};
use crate::cvss::Severity;
use crate::model::Component;
use crate::scan::{self, IgnoreFile, ScanOutcome, MAX_SBOM_BYTES};

/// Output formats of `seawall scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// The findings as JSON.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
    /// A CycloneDX 1.6 VEX document.
    Vex,
}

/// Arguments of `seawall scan`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// A CycloneDX or SPDX JSON SBOM, or a source directory or lockfile to read.
    #[arg(value_name = "SBOM|PATH")]
    pub target: PathBuf,
    /// The advisory index (fill it with `seawall advisories import`).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_DB_PATH)]
    pub db: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit with 1 when a finding is at or above this severity (low, medium, high, critical).
    /// A finding whose severity is unknown counts as reaching any threshold: fail closed.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Accepted findings: TOML or YAML entries with `id`, `reason` and `expires`.
    #[arg(long, value_name = "FILE")]
    pub ignore: Option<PathBuf>,
    /// Write the report to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    match s.parse::<Severity>() {
        Ok(Severity::None) | Err(_) => Err(format!(
            "unknown severity `{s}`, expected low, medium, high or critical"
        )),
        Ok(severity) => Ok(severity),
    }
}

/// Runs the scan. Exit code 0: nothing at or above `--fail-on` (or no `--fail-on`); 1: a
/// finding at or above it; 2: bad input, unreadable SBOM or missing advisory index.
pub fn run(args: &ScanArgs) -> ExitCode {
    match scan(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn scan(args: &ScanArgs) -> Result<ExitCode, String> {
    // The index must exist and hold advisories: a scan against nothing proves nothing.
    if !args.db.is_file() {
        return Err(format!(
            "no advisory index at `{}`\nhelp: run `seawall advisories import PATH` first",
            args.db.display()
        ));
    }
    let index = AdvisoryIndex::open(&args.db).map_err(|e| e.to_string())?;
    if index.is_empty().map_err(|e| e.to_string())? {
        return Err(format!("advisory index `{}` is empty", args.db.display()));
    }

    let ignore = match &args.ignore {
        None => IgnoreFile::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            IgnoreFile::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())?
        }
    };

    let (components, skipped) = read_components(&args.target)?;
    for s in &skipped {
        eprintln!("warning: {s}");
    }

    let findings = scan::match_components(&index, &components, None).map_err(|e| e.to_string())?;
    let today = time::OffsetDateTime::now_utc().date();
    let applied = ignore.apply(findings, today);
    for rule in &applied.expired {
        eprintln!(
            "warning: ignore entry `{}` expired on {} and is no longer honoured",
            rule.id, rule.expires
        );
    }
    let outcome = ScanOutcome {
        target: args.target.display().to_string(),
        components: components.len(),
        findings: applied.kept,
        ignored: applied.ignored,
        expired: applied.expired,
        skipped,
    };

    write_report(args, &outcome)?;
    if args.output.is_some() || args.format != Format::Table {
        eprintln!("{}", scan::summary_line(&outcome));
    }

    let failing = args.fail_on.is_some_and(|threshold| {
        outcome
            .findings
            .iter()
            .any(|f| f.severity >= threshold || f.severity == Severity::None)
    });
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes the report in the chosen format to `--output` or standard output.
fn write_report(args: &ScanArgs, outcome: &ScanOutcome) -> Result<(), String> {
    let (mut out, shown): (Box<dyn Write>, String) = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
            (
                Box::new(BufWriter::with_capacity(1 << 20, file)),
                path.display().to_string(),
            )
        }
        None => (
            Box::new(BufWriter::new(std::io::stdout().lock())),
            "stdout".into(),
        ),
    };
    let written = match args.format {
        Format::Table => out.write_all(scan::table(outcome).as_bytes()),
        Format::Json => scan::write_json(outcome, &mut out).and_then(|()| out.write_all(b"\n")),
        Format::Sarif => out.write_all(pretty(&scan::sarif(outcome)).as_bytes()),
        Format::Vex => out.write_all(pretty(&scan::vex(outcome)).as_bytes()),
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write `{shown}`: {e}"))
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Components from an SBOM document, or from the lockfiles under a path. A `.json` file is
/// read as an SBOM when it is CycloneDX or SPDX, and otherwise handed to the lockfile readers
/// (`package-lock.json`, `packages.lock.json`, ...).
fn read_components(target: &Path) -> Result<(Vec<Component>, Vec<String>), String> {
    let shown = target.display().to_string();
    let meta = std::fs::metadata(target).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let is_json = target
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "json");
    if meta.is_file() && is_json {
        if meta.len() > MAX_SBOM_BYTES {
            return Err(format!("`{shown}` is larger than {MAX_SBOM_BYTES} bytes"));
        }
        let bytes = std::fs::read(target).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        match scan::components_from_sbom(&shown, &bytes) {
            Ok(read) => return Ok((read.components, read.skipped)),
            Err(scan::SbomInputError::Format(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let report = crate::sbom::generate(target, &crate::sbom::SbomOptions::default())
        .map_err(|e| e.to_string())?;
    let skipped = report.warnings.iter().map(ToString::to_string).collect();
    Ok((report.components, skipped))
}
