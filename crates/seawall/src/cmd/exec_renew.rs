//! The lease renewer of `seawall exec`: a thread that renews the lease every third of its TTL
//! while the command runs, for [`super::exec`].
//!
//! A failed renewal is retried every second. The user hears about it on stderr only when it
//! matters: when the lease is about to end without having been renewed, when it has ended,
//! when the server refuses to renew it (a 4xx answer: revoked, not renewable, not allowed), and
//! when it reaches the role's maximum TTL.

use super::exec::{renew, Lease};
use super::vault_client::VaultClient;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How soon a failed renewal is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// A running renewer; [`Renewer::stop`] ends it.
pub struct Renewer {
    stop: Sender<()>,
}

impl Renewer {
    /// Starts renewing `lease` (whose current duration is `lease.duration`) to `ttl`.
    pub fn spawn(client: Arc<VaultClient>, lease: Lease, ttl: u64) -> Self {
        let (stop, stopped) = channel::<()>();
        std::thread::spawn(move || {
            let mut state = State::new(&lease, ttl, Instant::now());
            loop {
                let wait = state.next.saturating_duration_since(Instant::now());
                match stopped.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let timeout = state
                    .interval()
                    .clamp(Duration::from_millis(500), RETRY * 5);
                let result = renew(&client, &lease.id, ttl, timeout);
                // Stopped while the request was out: the command has ended and the lease is
                // being revoked; whatever the answer, it is no news.
                if !matches!(stopped.try_recv(), Err(TryRecvError::Empty)) {
                    return;
                }
                let now = Instant::now();
                let step = match result {
                    Ok(d) => state.renewed(d, now),
                    Err(e) if e.is_transient() => state.failed(&e.to_string(), now),
                    Err(e) => state.refused(&e.to_string(), now),
                };
                if let Some(message) = step.message {
                    eprintln!("seawall exec: {message}");
                }
                if step.finished {
                    return;
                }
            }
        });
        Renewer { stop }
    }

    /// Stops renewing at once, even in the middle of a wait. Does not wait for a request in
    /// flight: revoking the lease must not wait behind a renewal.
    pub fn stop(self) {
        let _ = self.stop.send(());
    }
}

/// What one renewal attempt leads to.
#[derive(Debug, PartialEq)]
struct Step {
    message: Option<String>,
    finished: bool,
}

/// The renewer's schedule and what it has told the user, apart from the network, so that it
/// can be tested with made-up times.
#[derive(Debug)]
struct State {
    id: String,
    ttl: u64,
    /// When the lease ends unless renewed.
    expires: Instant,
    /// The last duration the server granted, in seconds.
    granted: u64,
    next: Instant,
    warned_failing: bool,
    warned_max: bool,
}

impl State {
    fn new(lease: &Lease, ttl: u64, now: Instant) -> Self {
        let mut s = State {
            id: lease.id.clone(),
            ttl,
            expires: now + Duration::from_secs(lease.duration),
            granted: lease.duration,
            next: now,
            warned_failing: false,
            warned_max: false,
        };
        s.next = now + s.interval();
        s
    }

    /// A third of the shorter of the TTL asked for and the TTL granted.
    fn interval(&self) -> Duration {
        let base = self.ttl.min(self.granted.max(1));
        Duration::from_millis(base * 1000 / 3).max(Duration::from_millis(300))
    }

    fn renewed(&mut self, granted: u64, now: Instant) -> Step {
        let mut message = None;
        if self.warned_failing {
            self.warned_failing = false;
            message = Some(format!("lease {} renewed again", self.id));
        }
        if granted == 0 {
            return Step {
                message: Some(format!(
                    "warning: lease {} has reached its maximum TTL and ends now",
                    self.id
                )),
                finished: true,
            };
        }
        self.granted = granted;
        self.expires = now + Duration::from_secs(granted);
        if granted < self.ttl && !self.warned_max {
            self.warned_max = true;
            message = Some(format!(
                "warning: lease {} cannot be renewed past its maximum TTL: it ends in {granted}s",
                self.id
            ));
        }
        self.next = now + self.interval();
        Step {
            message,
            finished: false,
        }
    }

    fn failed(&mut self, error: &str, now: Instant) -> Step {
        if now >= self.expires {
            return Step {
                message: Some(format!(
                    "warning: lease {} ended without being renewed ({error}); the credential \
                     no longer works",
                    self.id
                )),
                finished: true,
            };
        }
        let left = self.expires - now;
        let mut message = None;
        // The regular schedule would renew a third before the end; past that, it is at risk.
        if left <= self.interval() && !self.warned_failing {
            self.warned_failing = true;
            message = Some(format!(
                "warning: cannot renew lease {} ({error}); it ends in {}s unless a retry succeeds",
                self.id,
                left.as_secs()
            ));
        }
        self.next = now + RETRY.min(left);
        Step {
            message,
            finished: false,
        }
    }

    fn refused(&mut self, error: &str, now: Instant) -> Step {
        let left = self.expires.saturating_duration_since(now).as_secs();
        Step {
            message: Some(format!(
                "warning: lease {} can no longer be renewed ({error}); it ends in {left}s",
                self.id
            )),
            finished: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(duration: u64) -> Lease {
        Lease {
            id: "database/creds/ro/abc".into(),
            duration,
            renewable: true,
        }
    }

    #[test]
    fn renews_every_third_of_the_ttl() {
        let t0 = Instant::now();
        let mut s = State::new(&lease(60), 60, t0);
        assert_eq!(s.next - t0, Duration::from_secs(20));
        let t1 = t0 + Duration::from_secs(20);
        assert_eq!(
            s.renewed(60, t1),
            Step {
                message: None,
                finished: false
            }
        );
        assert_eq!(s.next - t1, Duration::from_secs(20));
        assert_eq!(s.expires - t1, Duration::from_secs(60));
    }

    #[test]
    fn failures_are_retried_and_reported_once_when_the_end_is_near() {
        let t0 = Instant::now();
        let mut s = State::new(&lease(6), 6, t0);
        // First failure at 2 s: 4 s left, more than the 2 s interval: quiet retry in 1 s.
        let step = s.failed("unreachable", t0 + Duration::from_secs(2));
        assert_eq!(step.message, None);
        assert!(!step.finished);
        assert_eq!(s.next - t0, Duration::from_secs(3));
        // At 4 s, 2 s left: warn once.
        let step = s.failed("unreachable", t0 + Duration::from_secs(4));
        assert!(step.message.unwrap().contains("ends in 2s"));
        assert!(s.failed("x", t0 + Duration::from_secs(5)).message.is_none());
        // A success after the warning says so.
        let step = s.renewed(6, t0 + Duration::from_millis(5500));
        assert!(step.message.unwrap().contains("renewed again"));
        // Past the end: the lease is gone; stop.
        let step = s.failed("x", t0 + Duration::from_secs(12));
        assert!(step.finished);
        assert!(step.message.unwrap().contains("no longer works"));
    }

    #[test]
    fn a_refusal_or_the_max_ttl_is_reported() {
        let t0 = Instant::now();
        let mut s = State::new(&lease(60), 60, t0);
        let step = s.renewed(30, t0 + Duration::from_secs(20));
        assert!(step
            .message
            .unwrap()
            .contains("maximum TTL: it ends in 30s"));
        assert_eq!(s.next - t0, Duration::from_secs(30));
        assert!(s
            .renewed(10, t0 + Duration::from_secs(30))
            .message
            .is_none());
        assert!(s.renewed(0, t0 + Duration::from_secs(40)).finished);
        let step = s.refused("400 lease not found", t0 + Duration::from_secs(41));
        assert!(step.finished);
        assert!(step.message.unwrap().contains("lease not found"));
    }
}
