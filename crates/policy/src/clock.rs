//! Local time of a request: the `hour` and `weekday` context attributes.
//!
//! Policies such as "office hours only" are written in the organisation's local time, not UTC,
//! so the engine converts the request time into one configured IANA time zone
//! (`policy.timezone`, e.g. `Europe/Paris`). Daylight saving time follows the bundled IANA
//! database, so the conversion does not depend on the host's `/usr/share/zoneinfo`.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// An IANA time zone name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone `{name}`")]
pub struct ZoneError {
    /// The name that was given.
    pub name: String,
}

/// The time zone that `hour` and `weekday` are computed in. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone(TimeZone);

/// The local hour and weekday of a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 to 23.
    pub hour: u8,
    /// `"Mon"` to `"Sun"`.
    pub weekday: &'static str,
}

impl Zone {
    /// The zone named `name` in the IANA database (`UTC`, `Europe/Paris`, `America/New_York`).
    pub fn named(name: &str) -> Result<Self, ZoneError> {
        // jiff also accepts POSIX TZ strings and file paths in some entry points; `get` only
        // looks names up in the database, which is what a configuration value should be.
        TimeZone::get(name).map(Zone).map_err(|_| ZoneError {
            name: name.to_owned(),
        })
    }

    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        Zone(TimeZone::UTC)
    }

    /// The local time at `unix_secs`, or `None` when the moment is outside the years
    /// -9999..=9999 (a broken clock or input).
    pub fn local_time(&self, unix_secs: i64) -> Option<LocalTime> {
        let timestamp = Timestamp::from_second(unix_secs).ok()?;
        let local = self.0.to_datetime(timestamp);
        Some(LocalTime {
            hour: u8::try_from(local.hour()).ok()?,
            weekday: weekday_name(local.weekday()),
        })
    }
}

impl Default for Zone {
    fn default() -> Self {
        Self::utc()
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-07-01T12:30:00Z, a Monday.
    const JULY_1_2024_1230Z: i64 = 1_719_837_000;

    #[test]
    fn utc_hour_and_weekday() {
        let t = Zone::utc().local_time(JULY_1_2024_1230Z).unwrap();
        assert_eq!(
            t,
            LocalTime {
                hour: 12,
                weekday: "Mon"
            }
        );
    }

    #[test]
    fn named_zone_applies_summer_time() {
        // Paris is UTC+2 in July; Tokyo is UTC+9 with no summer time.
        let paris = Zone::named("Europe/Paris").unwrap();
        assert_eq!(paris.local_time(JULY_1_2024_1230Z).unwrap().hour, 14);
        let tokyo = Zone::named("Asia/Tokyo").unwrap();
        assert_eq!(tokyo.local_time(JULY_1_2024_1230Z).unwrap().hour, 21);
        // Paris is UTC+1 in January: 2024-01-01T23:30Z is 00:30 on Tuesday 2 January.
        let t = paris.local_time(1_704_151_800).unwrap();
        assert_eq!(
            t,
            LocalTime {
                hour: 0,
                weekday: "Tue"
            }
        );
    }

    #[test]
    fn unknown_zone_is_a_clear_error() {
        let err = Zone::named("Mars/Olympus_Mons").unwrap_err();
        assert_eq!(err.to_string(), "unknown time zone `Mars/Olympus_Mons`");
        assert!(Zone::named("").is_err());
        assert!(Zone::named("/etc/passwd").is_err());
    }

    #[test]
    fn out_of_range_moment_has_no_local_time() {
        assert_eq!(Zone::utc().local_time(i64::MAX), None);
    }
}
