//! The command `seawall exec` runs: spawning it, forwarding signals to it, and waiting for its
//! end, for [`super::exec`].
//!
//! Handlers for the forwarded signals are installed (with `signal-hook`) before anything else
//! happens, so `seawall exec` never dies of them and never misses one; a forwarder thread
//! passes each on to the command. Signals the kernel sends itself (Ctrl-C, a terminal resize or
//! hang-up) already reach the whole foreground process group, the command included, and are
//! not sent a second time. Nothing is blocked or ignored, so the command starts with the
//! default handling of every signal.
//!
//! The forwarder never signals a process id that may have been reused: the child is first
//! waited for without being reaped (`WNOWAIT`), the forwarder is told to stop, and only then is
//! the child reaped.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitCode, ExitStatus};
use std::sync::{Arc, Mutex};

/// Signals sent to `seawall exec` that are passed on to the command.
const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Signals that, arriving before the command starts, mean it should not start at all.
const STOPPING: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// The forwarded signals, caught: they are recorded here instead of acting on `seawall exec`.
pub struct Signals {
    caught: SignalsInfo<WithOrigin>,
}

/// Installs the handlers. From here on, the forwarded signals no longer end `seawall exec`.
pub fn catch_forwarded_signals() -> anyhow::Result<Signals> {
    let caught = SignalsInfo::<WithOrigin>::new(FORWARDED.map(|s| s as i32))
        .map_err(|e| anyhow::anyhow!("cannot catch signals for forwarding: {e}"))?;
    Ok(Signals { caught })
}

/// How the command ended, or why it never started.
#[derive(Debug)]
pub enum Outcome {
    /// It ran and ended with this status.
    Ran(ExitStatus),
    /// It did not start: the exit code to use (127 not found, 126 not executable, 128 + the
    /// signal that stopped `seawall exec` before it could start it).
    Aborted(u8),
}

impl Outcome {
    /// The exit code `seawall exec` passes on: the command's own, or 128 + the signal that
    /// killed it, as shells report it.
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Ran(status) => status_code(*status),
            Outcome::Aborted(code) => *code,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

fn status_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        // Exit statuses are 0..=255 on Unix.
        return u8::try_from(code & 0xff).unwrap_or(1);
    }
    match status.signal() {
        Some(sig) => u8::try_from(128 + sig).unwrap_or(255),
        None => 1,
    }
}

/// Runs `command` with exactly `env`, forwarding signals, and returns how it ended.
pub fn run(
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
    mut signals: Signals,
) -> anyhow::Result<Outcome> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no command to run"))?;
    if let Some(sig) = stopped_before_start(&mut signals) {
        return Ok(Outcome::Aborted(
            u8::try_from(128 + sig as i32).unwrap_or(255),
        ));
    }
    let mut child = match std::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            };
            eprintln!(
                "seawall exec: cannot run `{}`: {e}",
                program.to_string_lossy()
            );
            return Ok(Outcome::Aborted(code));
        }
    };
    let pid = Pid::from_raw(
        i32::try_from(child.id()).map_err(|_| anyhow::anyhow!("child process id out of range"))?,
    );
    let done = Arc::new(Mutex::new(false));
    let handle = signals.caught.handle();
    spawn_forwarder(signals, pid, done.clone());
    // Wait for the end without reaping: the id stays ours until the forwarder has stopped.
    // An error other than EINTR should not happen; reaping below still tells how it ended.
    while let Err(Errno::EINTR) = waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
    {
    }
    *done
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
    handle.close();
    let status = child
        .wait()
        .map_err(|e| anyhow::anyhow!("cannot wait for the command: {e}"))?;
    Ok(Outcome::Ran(status))
}

/// A stopping signal that arrived while credentials were being fetched: the user wants out,
/// so the command never starts. Other signals caught by then are dropped: there was nobody to
/// pass them to.
fn stopped_before_start(signals: &mut Signals) -> Option<Signal> {
    signals
        .caught
        .pending()
        .filter_map(|o| Signal::try_from(o.signal).ok())
        .find(|s| STOPPING.contains(s))
}

fn spawn_forwarder(mut signals: Signals, pid: Pid, done: Arc<Mutex<bool>>) {
    std::thread::spawn(move || {
        for origin in signals.caught.forever() {
            // The kernel's own signals (terminal keys, resize, hang-up) went to the whole
            // foreground group already.
            if matches!(origin.cause, Cause::Kernel) {
                continue;
            }
            let Ok(sig) = Signal::try_from(origin.signal) else {
                continue;
            };
            let done = done
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *done {
                return;
            }
            let _ = kill(pid, sig);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::MutexGuard;

    /// Signals sent to the test process reach every registered forwarder: one test at a time.
    fn serial() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        LOCK.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sh(script: &str) -> Outcome {
        let signals = catch_forwarded_signals().unwrap();
        let cmd: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into()];
        run(&cmd, std::env::vars_os().collect(), signals).unwrap()
    }

    #[test]
    fn exit_codes_are_passed_on() {
        let _g = serial();
        assert_eq!(sh("exit 0").code(), 0);
        assert_eq!(sh("exit 7").code(), 7);
        assert_eq!(sh("exit 255").code(), 255);
    }

    #[test]
    fn a_death_by_signal_is_128_plus_the_signal() {
        let _g = serial();
        assert_eq!(sh("kill -SEGV $$").code(), 139);
        assert_eq!(sh("kill -KILL $$").code(), 137);
        assert_eq!(sh("kill -TERM $$").code(), 143);
        // Raw wait statuses, as the kernel reports them (core dump bit included).
        assert_eq!(status_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(status_code(ExitStatus::from_raw(11 | 0x80)), 139);
        assert_eq!(status_code(ExitStatus::from_raw(9)), 137);
    }

    #[test]
    fn signals_sent_to_us_reach_the_command() {
        let _g = serial();
        // The command asks its parent (this process) to be sent SIGUSR1 and SIGTERM; the
        // forwarder passes them on; the traps prove they arrived.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "trap 'echo usr1 >> {0}' USR1; trap 'echo term >> {0}; exit 42' TERM; \
             kill -USR1 $PPID; sleep 0.5; kill -TERM $PPID; \
             i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; exit 1",
            out.display()
        );
        assert_eq!(sh(&script).code(), 42);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "usr1\nterm\n");
    }

    #[test]
    fn a_stop_signal_before_the_start_means_no_start() {
        let _g = serial();
        let signals = catch_forwarded_signals().unwrap();
        nix::sys::signal::raise(Signal::SIGUSR1).unwrap();
        nix::sys::signal::raise(Signal::SIGTERM).unwrap();
        // Give the handler's pipe a moment; then the command must not run.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let cmd: Vec<OsString> = vec!["touch".into(), marker.clone().into()];
        let outcome = run(&cmd, std::env::vars_os().collect(), signals).unwrap();
        assert_eq!(outcome.code(), 143);
        assert!(!marker.exists());
    }

    #[test]
    fn a_missing_command_is_127() {
        let _g = serial();
        let signals = catch_forwarded_signals().unwrap();
        let cmd = vec![OsString::from("/nonexistent/seawall-test-command")];
        assert_eq!(run(&cmd, Vec::new(), signals).unwrap().code(), 127);
    }

    #[test]
    fn the_command_starts_with_default_signals_and_only_the_given_env() {
        let _g = serial();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let signals = catch_forwarded_signals().unwrap();
        let cmd: Vec<OsString> = vec![
            "/bin/sh".into(),
            "-c".into(),
            format!(
                "env > {}; exec grep Sig /proc/self/status >> {}",
                out.display(),
                out.display()
            )
            .into(),
        ];
        let env = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("ONLY_THIS".into(), "1".into()),
        ];
        assert_eq!(run(&cmd, env, signals).unwrap().code(), 0);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("ONLY_THIS=1"));
        assert!(!text.contains("HOME="), "{text}");
        // grep itself (exec'd by the shell) has nothing blocked, ignored or caught.
        for field in ["SigBlk:", "SigCgt:"] {
            let line = text.lines().find(|l| l.starts_with(field)).unwrap();
            let mask = u64::from_str_radix(line.trim_start_matches(field).trim(), 16).unwrap();
            for s in FORWARDED {
                assert_eq!(mask & (1 << (s as i32 - 1)), 0, "{line}");
            }
        }
    }
}
