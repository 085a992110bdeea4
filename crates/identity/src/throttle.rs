//! Sign-in throttling: exponential backoff per user name and per source address.
//!
//! After `free_failures` failures, each further failure blocks the subject for
//! `base_delay_ms`, doubling every time, up to `max_delay_secs`; reaching the maximum is a
//! lockout. A subject that stays quiet for a whole maximum delay after its block ends starts
//! again from zero; a successful sign-in clears the user name (never the address, so one valid
//! account cannot reset an address that is guessing at others). An address gets five times the
//! free failures of a user name, because many people can sit behind one address.
//!
//! This module computes; the service stores the rows atomically and reports lockouts.

use seawall_core::config::ThrottleConfig;
use seawall_store::identity::ThrottleRow;
use std::net::IpAddr;

/// How many times more free failures an address gets than a user name.
const ADDRESS_FACTOR: u32 = 5;

/// The throttle subject of a user name.
pub(crate) fn user_subject(username: &str) -> String {
    format!("user:{username}")
}

/// The throttle subject of a source address.
pub(crate) fn ip_subject(ip: IpAddr) -> String {
    format!("ip:{ip}")
}

fn free_failures(subject: &str, cfg: &ThrottleConfig) -> u32 {
    if subject.starts_with("ip:") {
        cfg.free_failures.saturating_mul(ADDRESS_FACTOR)
    } else {
        cfg.free_failures
    }
}

/// The block after the `failures`-th failure, in milliseconds.
pub(crate) fn delay_ms(subject: &str, failures: u32, cfg: &ThrottleConfig) -> i64 {
    let max = i64::try_from(cfg.max_delay_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let free = free_failures(subject, cfg);
    if failures <= free {
        return 0;
    }
    let doublings = failures - free - 1;
    let base = i64::try_from(cfg.base_delay_ms).unwrap_or(i64::MAX);
    let delay = match 1i64.checked_shl(doublings) {
        Some(factor) if doublings < 62 => base.saturating_mul(factor),
        _ => i64::MAX,
    };
    delay.min(max)
}

/// The row after one more failure at `now_ms`.
pub(crate) fn after_failure(
    prev: Option<&ThrottleRow>,
    subject: &str,
    now_ms: i64,
    cfg: &ThrottleConfig,
) -> ThrottleRow {
    let max_ms = i64::try_from(cfg.max_delay_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let failures = match prev {
        Some(p)
            if now_ms
                <= p.blocked_until_ms
                    .max(p.last_failure_ms)
                    .saturating_add(max_ms) =>
        {
            p.failures.saturating_add(1)
        }
        _ => 1,
    };
    let delay = delay_ms(subject, failures, cfg);
    ThrottleRow {
        subject: subject.to_string(),
        failures,
        last_failure_ms: now_ms,
        blocked_until_ms: now_ms.saturating_add(delay),
        locked_out: max_ms > 0 && delay >= max_ms,
    }
}

/// Seconds until `row` lets the subject try again, if it is blocked at `now_ms`.
pub(crate) fn retry_after(row: &ThrottleRow, now_ms: i64) -> Option<u64> {
    let wait = row.blocked_until_ms.saturating_sub(now_ms);
    if wait <= 0 {
        return None;
    }
    u64::try_from((wait + 999) / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            free_failures: 3,
            base_delay_ms: 1000,
            max_delay_secs: 60,
        }
    }

    #[test]
    fn backoff_starts_after_free_failures_and_doubles_to_the_maximum() {
        let got: Vec<i64> = (1..=11).map(|f| delay_ms("user:a", f, &cfg())).collect();
        assert_eq!(
            got,
            vec![0, 0, 0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
        );
        assert_eq!(delay_ms("user:a", u32::MAX, &cfg()), 60000);
    }

    #[test]
    fn an_address_gets_more_free_failures_than_a_name() {
        assert_eq!(delay_ms("ip:127.0.0.1", 15, &cfg()), 0);
        assert_eq!(delay_ms("ip:127.0.0.1", 16, &cfg()), 1000);
    }

    #[test]
    fn reaching_the_maximum_is_a_lockout_and_quiet_time_resets() {
        let mut row = None;
        let mut now = 0;
        for _ in 0..10 {
            let next = after_failure(row.as_ref(), "user:a", now, &cfg());
            now = next.blocked_until_ms;
            row = Some(next);
        }
        let row = row.unwrap();
        assert!(row.locked_out);
        assert_eq!(retry_after(&row, row.blocked_until_ms - 60_000), Some(60));
        assert_eq!(retry_after(&row, row.blocked_until_ms), None);
        let later = row.blocked_until_ms + 60_001;
        assert_eq!(
            after_failure(Some(&row), "user:a", later, &cfg()).failures,
            1
        );
    }
}
