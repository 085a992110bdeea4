//! `seawall sbom PATH`: the command-line face of [`crate::sbom`].
//!
//! Exit codes follow DESIGN.md: 0 when every input was read, 2 when an input was skipped or
//! partly read, or nothing could be read at all (the SBOM of what was read is still written).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::sbom::{self, cyclonedx, spdx, SbomOptions};

/// Arguments of `seawall sbom`.
#[derive(Debug, Clone, clap::Args)]
pub struct SbomArgs {
    /// The folder to scan for lockfiles, or one lockfile.
    pub path: PathBuf,

    /// The document format.
    #[arg(long, value_enum, default_value_t = Format::Cyclonedx)]
    pub format: Format,

    /// The CycloneDX specification version.
    #[arg(long = "spec-version", value_enum, default_value_t = CdxVersion::V1_6)]
    pub spec_version: CdxVersion,

    /// Write the SBOM to this file instead of standard output.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,

    /// Also read lockfiles inside `node_modules` and `vendor` folders.
    #[arg(long)]
    pub include_vendored: bool,

    /// The name of the root component (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,

    /// The version of the root component.
    #[arg(long = "version", id = "root_version", value_name = "VERSION")]
    pub version: Option<String>,
}

/// SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CycloneDX JSON.
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

/// CycloneDX versions we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CdxVersion {
    /// CycloneDX 1.6.
    #[value(name = "1.6")]
    V1_6,
    /// CycloneDX 1.5.
    #[value(name = "1.5")]
    V1_5,
}

/// Runs `seawall sbom`: writes the document, prints one line per warning to standard error.
pub fn run(args: &SbomArgs) -> ExitCode {
    let opts = SbomOptions {
        include_vendored: args.include_vendored,
        name: args.name.clone(),
        version: args.version.clone(),
    };
    let report = match sbom::generate(&args.path, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for w in &report.warnings {
        let _ = writeln!(err, "warning: {w}");
    }

    let text = match args.format {
        Format::Cyclonedx => {
            let spec = match args.spec_version {
                CdxVersion::V1_6 => cyclonedx::SpecVersion::V1_6,
                CdxVersion::V1_5 => cyclonedx::SpecVersion::V1_5,
            };
            cyclonedx::write(&report, spec)
        }
        Format::Spdx => spdx::write(&report),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, text.as_bytes())
            .map_err(|e| format!("cannot write `{}`: {e}", path.display())),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}")),
    };
    if let Err(e) = written {
        let _ = writeln!(err, "error: {e}");
        return ExitCode::from(2);
    }
    let _ = writeln!(
        err,
        "{} components from {} file(s)",
        report.components.len(),
        report.files.len()
    );
    if report.has_skipped() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
