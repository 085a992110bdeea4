//! Advisories: OSV records, imported from files, directories and osv.dev's `all.zip` exports
//! into a local SQLite index that the matcher reads.
//!
//! Import is incremental: a record replaces the stored one only when its `modified` time is
//! later, and the [`ImportReport`] lists the ids that changed, so a server can re-match only
//! those. A withdrawn record stays in the index, marked, and affects nothing.

mod import;
mod index;
pub mod osv;

pub use import::{ImportError, ImportReport};
pub use index::{AdvisoryIndex, IndexError, DEFAULT_DB_PATH};
pub use osv::{OsvError, OsvRecord};
