//! Reading OSV records from files, directories and zip archives into the index.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::index::{AdvisoryIndex, IndexError};
use super::osv::{CompiledAffected, OsvRecord, MAX_RECORD_BYTES};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Ids stored for the first time.
    pub added: Vec<String>,
    /// Ids whose stored record was replaced by a later one.
    pub updated: Vec<String>,
    /// Ids whose new record is withdrawn (also in `added` or `updated`).
    pub withdrawn: Vec<String>,
    /// Records already stored with the same or a later `modified`.
    pub unchanged: usize,
    /// Records and files that were skipped.
    pub errors: Vec<ImportError>,
    /// Records stored with a range that cannot be evaluated (a version its ecosystem's rules
    /// refuse); matching uses the rest of the record.
    pub warnings: Vec<ImportError>,
}

impl ImportReport {
    /// Every id whose stored state changed: what a re-match must evaluate.
    pub fn changed(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.added.iter().chain(&self.updated).cloned().collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// A file or record that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportError {
    /// The file, or `archive.zip!entry`.
    pub source: String,
    /// The record id, when it could be read.
    pub id: Option<String>,
    /// What was wrong, one line.
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{}: record `{id}`: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl AdvisoryIndex {
    /// Imports every OSV record found at `paths`: `.json`, `.yaml` and `.yml` files,
    /// directories (recursively; hidden entries skipped) and `.zip` archives. Bad files and
    /// records are listed in the report and skipped; only a failing index is an error.
    pub fn import<P: AsRef<Path>>(&mut self, paths: &[P]) -> Result<ImportReport, IndexError> {
        let mut report = ImportReport::default();
        self.begin()?;
        for path in paths {
            self.import_path(path.as_ref(), &mut report)?;
        }
        self.commit()?;
        Ok(report)
    }

    /// Imports records already parsed (the server receives them over its API).
    pub fn import_records(
        &mut self,
        records: impl IntoIterator<Item = OsvRecord>,
    ) -> Result<ImportReport, IndexError> {
        let mut report = ImportReport::default();
        self.begin()?;
        for record in records {
            self.store(record, "api", &mut report)?;
        }
        self.commit()?;
        Ok(report)
    }

    fn import_path(&self, path: &Path, report: &mut ImportReport) -> Result<(), IndexError> {
        let shown = path.display().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                report
                    .errors
                    .push(file_error(&shown, &format!("cannot read: {}", io_kind(&e))));
                return Ok(());
            }
        };
        if meta.is_dir() {
            return self.import_dir(path, report);
        }
        match extension(path).as_deref() {
            Some("zip") => self.import_zip(path, report),
            Some("json" | "yaml" | "yml") => match read_limited(File::open(path), meta.len()) {
                Ok(bytes) => self.import_bytes(&shown, path, &bytes, report),
                Err(message) => {
                    report.errors.push(file_error(&shown, &message));
                    Ok(())
                }
            },
            _ => {
                report
                    .errors
                    .push(file_error(&shown, "not a .json, .yaml, .yml or .zip file"));
                Ok(())
            }
        }
    }

    fn import_dir(&self, dir: &Path, report: &mut ImportReport) -> Result<(), IndexError> {
        let shown = dir.display().to_string();
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(e) => {
                report
                    .errors
                    .push(file_error(&shown, &format!("cannot list: {}", io_kind(&e))));
                return Ok(());
            }
        };
        entries.sort();
        for entry in entries {
            let hidden = entry
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            // Inside directories only advisory-shaped files are read; READMEs and licences are
            // expected company.
            let wanted = entry.is_dir()
                || matches!(
                    extension(&entry).as_deref(),
                    Some("json" | "yaml" | "yml" | "zip")
                );
            if wanted {
                self.import_path(&entry, report)?;
            }
        }
        Ok(())
    }

    fn import_zip(&self, path: &Path, report: &mut ImportReport) -> Result<(), IndexError> {
        let shown = path.display().to_string();
        let archive = File::open(path)
            .map_err(|e| io_kind(&e))
            .and_then(|f| zip::ZipArchive::new(f).map_err(|e| e.to_string()));
        let mut archive = match archive {
            Ok(a) => a,
            Err(message) => {
                report
                    .errors
                    .push(file_error(&shown, &format!("cannot read zip: {message}")));
                return Ok(());
            }
        };
        for i in 0..archive.len() {
            let (name, bytes) = match archive.by_index(i) {
                Ok(mut entry) => {
                    let name = entry
                        .name()
                        .map_or_else(|_| format!("#{i}"), |n| n.into_owned());
                    let wanted = !entry.is_dir()
                        && matches!(
                            extension(Path::new(&name)).as_deref(),
                            Some("json" | "yaml" | "yml")
                        );
                    if !wanted {
                        continue;
                    }
                    let size = entry.size();
                    (name, read_limited(Ok(&mut entry), size))
                }
                Err(e) => (format!("#{i}"), Err(format!("cannot read entry: {e}"))),
            };
            let source = format!("{shown}!{name}");
            match bytes {
                Ok(bytes) => self.import_bytes(&source, Path::new(&name), &bytes, report)?,
                Err(message) => report.errors.push(file_error(&source, &message)),
            }
        }
        Ok(())
    }

    fn import_bytes(
        &self,
        source: &str,
        name: &Path,
        bytes: &[u8],
        report: &mut ImportReport,
    ) -> Result<(), IndexError> {
        let parsed = match extension(name).as_deref() {
            Some("yaml" | "yml") => OsvRecord::from_yaml(bytes),
            _ => OsvRecord::from_json(bytes),
        };
        match parsed {
            Ok(record) => self.store(record, source, report),
            Err(e) => {
                let id = sniff_id(bytes);
                report.errors.push(ImportError {
                    source: source.to_owned(),
                    id,
                    message: e.to_string(),
                });
                Ok(())
            }
        }
    }

    /// Stores a record unless the index already has it at the same or a later `modified`.
    fn store(
        &self,
        record: OsvRecord,
        source: &str,
        report: &mut ImportReport,
    ) -> Result<(), IndexError> {
        let previous = self.stamp(&record.id)?;
        if let Some(previous) = &previous {
            if !is_later(&record.modified, &previous.modified) {
                report.unchanged += 1;
                return Ok(());
            }
        }
        // A range we cannot evaluate is kept out of matching; say so rather than stay quiet.
        for (ecosystem, _, affected) in record.packages() {
            for e in CompiledAffected::compile(ecosystem, affected).1 {
                report.warnings.push(ImportError {
                    source: source.to_owned(),
                    id: Some(record.id.clone()),
                    message: format!("range not evaluated: {e}"),
                });
            }
        }
        self.put(&record)?;
        if record.is_withdrawn() {
            report.withdrawn.push(record.id.clone());
        }
        if previous.is_some() {
            report.updated.push(record.id);
        } else {
            report.added.push(record.id);
        }
        Ok(())
    }
}

/// Whether timestamp `a` is later than `b`; RFC 3339 when both parse, text order otherwise.
fn is_later(a: &str, b: &str) -> bool {
    match (
        OffsetDateTime::parse(a.trim(), &Rfc3339),
        OffsetDateTime::parse(b.trim(), &Rfc3339),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => a.trim() > b.trim(),
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Reads at most [`MAX_RECORD_BYTES`]; a larger input is an error, not a truncated record.
fn read_limited<R: Read>(reader: std::io::Result<R>, declared: u64) -> Result<Vec<u8>, String> {
    let limit = MAX_RECORD_BYTES as u64;
    if declared > limit {
        return Err(format!("{declared} bytes, over the {limit}-byte limit"));
    }
    let reader = reader.map_err(|e| format!("cannot read: {}", io_kind(&e)))?;
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {}", io_kind(&e)))?;
    if bytes.len() as u64 > limit {
        return Err(format!("over the {limit}-byte limit"));
    }
    Ok(bytes)
}

fn io_kind(e: &std::io::Error) -> String {
    e.to_string().to_lowercase()
}

fn file_error(source: &str, message: &str) -> ImportError {
    ImportError {
        source: source.to_owned(),
        id: None,
        message: message.to_owned(),
    }
}

/// Best-effort id of a record that failed to parse, so the error can name it.
fn sniff_id(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .ok()
        .or_else(|| serde_yaml::from_slice(bytes).ok())?;
    let id = value.get("id")?.as_str()?;
    Some(id.chars().take(100).collect())
}
