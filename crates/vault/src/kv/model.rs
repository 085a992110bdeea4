//! What the KV engine stores, and how it is shown in Vault's JSON shape.
//!
//! A secret is one [`KeyMeta`] record (its settings and the list of its versions) plus one
//! record per version holding that version's data, so that a read opens at most two records.
//! Times are kept as Unix milliseconds and shown as RFC 3339 the way Vault's Go encoder writes
//! them; durations are kept as whole seconds and shown as Go duration strings (`3h25m19s`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Versions kept per secret when neither the secret nor the mount sets `max_versions`.
pub(super) const DEFAULT_MAX_VERSIONS: u32 = 10;

/// The mount's settings (`<mount>/config`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Config {
    /// 0 means [`DEFAULT_MAX_VERSIONS`].
    pub max_versions: u32,
    pub cas_required: bool,
    /// Seconds; 0 is off.
    pub delete_version_after: i64,
}

/// One version's bookkeeping (its data is stored separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct VersionMeta {
    /// Unix milliseconds.
    pub created: i64,
    /// When the version is (or was) soft-deleted, Unix milliseconds; a time in the future is
    /// a scheduled deletion from `delete_version_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<i64>,
    /// The data is gone for good.
    #[serde(default)]
    pub destroyed: bool,
}

impl VersionMeta {
    /// Whether the version is soft-deleted at `now` (milliseconds).
    pub fn is_deleted(&self, now: i64) -> bool {
        self.deleted.is_some_and(|t| t <= now)
    }

    /// Whether reads of this version answer with its data at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }
}

/// A secret's metadata (`<mount>/metadata/<path>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct KeyMeta {
    pub created: i64,
    pub updated: i64,
    /// The newest version; 0 while only metadata was written.
    pub current: u64,
    /// Vault's `oldest_version`: 0 until versions were first pruned, then the oldest kept.
    pub oldest: u64,
    /// 0 means the mount's setting.
    pub max_versions: u32,
    pub cas_required: bool,
    /// Seconds; 0 means the mount's setting.
    pub delete_version_after: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<BTreeMap<String, String>>,
    pub versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMeta {
    /// Fresh metadata for a secret first written at `now`.
    pub fn new(now: i64) -> Self {
        Self {
            created: now,
            updated: now,
            current: 0,
            oldest: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            versions: BTreeMap::new(),
        }
    }

    /// How many versions to keep, given the mount's settings.
    pub fn effective_max_versions(&self, config: &Config) -> usize {
        let n = match (self.max_versions, config.max_versions) {
            (0, 0) => DEFAULT_MAX_VERSIONS,
            (0, m) => m,
            (k, _) => k,
        };
        n as usize
    }

    /// Seconds after which a new version is deleted (0: never). The secret's own setting
    /// applies but never beyond the mount's, as Vault documents.
    pub fn effective_delete_after(&self, config: &Config) -> i64 {
        let (k, m) = (self.delete_version_after, config.delete_version_after);
        match (k > 0, m > 0) {
            (true, true) => k.min(m),
            (true, false) => k,
            (false, true) => m,
            (false, false) => 0,
        }
    }

    /// `custom_metadata` as Vault shows it: `null` when never set.
    pub fn custom_json(&self) -> Value {
        match &self.custom_metadata {
            Some(m) => json!(m),
            None => Value::Null,
        }
    }

    /// The body of a `metadata/<path>` read.
    pub fn to_json(&self) -> Value {
        let mut versions = Map::new();
        for (v, vm) in &self.versions {
            versions.insert(
                v.to_string(),
                json!({
                    "created_time": rfc3339(vm.created),
                    "deletion_time": vm.deleted.map(rfc3339).unwrap_or_default(),
                    "destroyed": vm.destroyed,
                }),
            );
        }
        json!({
            "cas_required": self.cas_required,
            "created_time": rfc3339(self.created),
            "current_version": self.current,
            "custom_metadata": self.custom_json(),
            "delete_version_after": go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "oldest_version": self.oldest,
            "updated_time": rfc3339(self.updated),
            "versions": versions,
        })
    }
}

/// The `metadata` block of a data read or write: one version with the secret's custom
/// metadata.
pub(super) fn version_json(version: u64, vm: &VersionMeta, custom: Value) -> Value {
    json!({
        "created_time": rfc3339(vm.created),
        "custom_metadata": custom,
        "deletion_time": vm.deleted.map(rfc3339).unwrap_or_default(),
        "destroyed": vm.destroyed,
        "version": version,
    })
}

/// Unix milliseconds as RFC 3339 in UTC, with the fraction written the way Go's
/// `RFC3339Nano` writes it (nanosecond digits, trailing zeros dropped).
pub(super) fn rfc3339(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let nanos = millis.rem_euclid(1000) * 1_000_000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Year, month, day of the proleptic Gregorian calendar for days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01 so that the leap day ends each 400-year cycle's years.
    let shifted = days + 719_468;
    let cycle = shifted.div_euclid(146_097);
    let day_of_cycle = shifted.rem_euclid(146_097);
    let year_of_cycle =
        (day_of_cycle - day_of_cycle / 1460 + day_of_cycle / 36_524 - day_of_cycle / 146_096) / 365;
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_cycle + cycle * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Whole seconds as a Go duration string: `0s`, `45s`, `1m0s`, `3h25m19s`.
pub(super) fn go_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{sign}{m}m{sec}s")
    } else {
        format!("{sign}{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_like_go() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_521_685_446_945), "2018-03-22T02:24:06.945Z");
        assert_eq!(rfc3339(1_521_685_446_900), "2018-03-22T02:24:06.9Z");
        // A leap day and the end of a century year.
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799_001), "2099-12-31T23:59:59.001Z");
    }

    #[test]
    fn durations_are_go_strings() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(45), "45s");
        assert_eq!(go_duration(60), "1m0s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(12_319), "3h25m19s");
    }

    #[test]
    fn delete_after_never_exceeds_the_mount() {
        let mut meta = KeyMeta::new(0);
        let mut config = Config::default();
        assert_eq!(meta.effective_delete_after(&config), 0);
        config.delete_version_after = 100;
        assert_eq!(meta.effective_delete_after(&config), 100);
        meta.delete_version_after = 500;
        assert_eq!(meta.effective_delete_after(&config), 100);
        meta.delete_version_after = 50;
        assert_eq!(meta.effective_delete_after(&config), 50);
        config.delete_version_after = 0;
        assert_eq!(meta.effective_delete_after(&config), 50);
    }
}
