//! What the store-backed commands share: the `--store` file, the locks that keep two `orch`
//! processes from driving one run, and how stored runs, times and commands are shown.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use orch_runtime::Options;
use orch_runtime::store::{SqliteStore, Store};

use crate::error::CliError;

/// The owner name `orch` holds leases on stored runs under. Every `orch` process uses it: the
/// run locks below, not leases, keep two of them from driving one run.
pub const OWNER: &str = "orch";

/// Engine options for runs kept in a store.
pub fn options(seed: Option<u64>) -> Options {
    let mut options = Options {
        owner: OWNER.to_string(),
        ..Options::default()
    };
    if let Some(seed) = seed {
        options.seed = seed;
    }
    options
}

/// Opens the run store at `path`. `create`: a missing file becomes a new store (`orch run`);
/// otherwise a missing file is an error, so that a mistyped path creates nothing.
pub fn open(path: &Path, create: bool) -> Result<Arc<dyn Store>, CliError> {
    if !create && !path.exists() {
        return Err(CliError::new(format!(
            "no run store at `{}` (`orch run FILE --store {}` creates one)",
            path.display(),
            shell_word(&path.display().to_string())
        )));
    }
    if path.is_dir() {
        return Err(CliError::new(format!(
            "the run store `{}` is a folder, not a file",
            path.display()
        )));
    }
    let store = SqliteStore::open(path).map_err(|e| CliError::new(e.to_string()))?;
    Ok(Arc::new(store))
}

/// Locks on runs, one byte each in `<store>.lock`, held by the process that drives the run.
///
/// The operating system releases them when the process ends, however it ends, so a run that is
/// `running` in the store but not locked was left behind by a process that died: `orch resume`
/// may take it over. A run locked by another process is refused.
pub struct Locks {
    #[cfg(unix)]
    file: Option<std::fs::File>,
}

/// Who holds a run's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// Nobody, or this process.
    Free,
    /// Another process, by its id.
    Process(u32),
}

impl Locks {
    /// The lock file of the store at `store`.
    fn path(store: &Path) -> PathBuf {
        let mut path = store.as_os_str().to_os_string();
        path.push(".lock");
        PathBuf::from(path)
    }

    /// For commands that drive runs: opens (or creates) the lock file.
    pub fn open(store: &Path) -> Result<Locks, CliError> {
        #[cfg(unix)]
        {
            let path = Locks::path(store);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| {
                    CliError::new(format!(
                        "cannot open the lock file `{}`: {}",
                        path.display(),
                        crate::files::describe_io(&e)
                    ))
                })?;
            Ok(Locks { file: Some(file) })
        }
        #[cfg(not(unix))]
        {
            let _ = store;
            Ok(Locks {})
        }
    }

    /// For commands that only look: without a lock file, no run is locked.
    pub fn peek(store: &Path) -> Locks {
        #[cfg(unix)]
        {
            let file = std::fs::File::open(Locks::path(store)).ok();
            Locks { file }
        }
        #[cfg(not(unix))]
        {
            let _ = store;
            Locks {}
        }
    }

    /// Takes the lock on `run` for this process; the holder when another process has it.
    pub fn acquire(&self, run: &str) -> Result<(), Holder> {
        #[cfg(unix)]
        if let Some(file) = &self.file {
            let mut lock = fcntl_lock(run, libc::F_WRLCK);
            if fcntl(file, libc::F_SETLK, &mut lock).is_err() {
                let holder = self.holder(run);
                // Released in between: try once more.
                if holder == Holder::Free {
                    let mut lock = fcntl_lock(run, libc::F_WRLCK);
                    if fcntl(file, libc::F_SETLK, &mut lock).is_ok() {
                        return Ok(());
                    }
                }
                return Err(holder);
            }
        }
        #[cfg(not(unix))]
        let _ = run;
        Ok(())
    }

    /// Who holds the lock on `run`.
    pub fn holder(&self, run: &str) -> Holder {
        #[cfg(unix)]
        if let Some(file) = &self.file {
            let mut lock = fcntl_lock(run, libc::F_WRLCK);
            if fcntl(file, libc::F_GETLK, &mut lock).is_ok()
                && i32::from(lock.l_type) != libc::F_UNLCK
            {
                return Holder::Process(u32::try_from(lock.l_pid).unwrap_or(0));
            }
        }
        #[cfg(not(unix))]
        let _ = run;
        Holder::Free
    }
}

/// A write lock on the byte of `run`: its place is a hash of the run id.
#[cfg(unix)]
fn fcntl_lock(run: &str, kind: i32) -> libc::flock {
    let hash = run.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    // Well inside the range of `off_t`, whether it has 32 or 64 bits.
    let limit: u64 = if std::mem::size_of::<libc::off_t>() >= 8 {
        1 << 48
    } else {
        1 << 30
    };
    // SAFETY: `flock` is a plain C struct of integers, for which all zeroes is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as _;
    lock.l_whence = libc::SEEK_SET as _;
    lock.l_start = (hash % limit) as libc::off_t;
    lock.l_len = 1;
    lock
}

#[cfg(unix)]
fn fcntl(file: &std::fs::File, command: i32, lock: &mut libc::flock) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for as long as `file` lives, and `lock` is a valid `flock`.
    let done = unsafe { libc::fcntl(file.as_raw_fd(), command, lock as *mut libc::flock) };
    if done == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The command that continues a paused or interrupted run.
pub fn resume_command(
    run: &str,
    file: Option<&Path>,
    store: &Path,
    config: Option<&Path>,
) -> String {
    let mut words = vec!["orch".to_string(), "resume".to_string(), run.to_string()];
    words.push(file.map_or_else(
        || "FILE".to_string(),
        |f| shell_word(&f.display().to_string()),
    ));
    words.push("--store".into());
    words.push(shell_word(&store.display().to_string()));
    if let Some(config) = config {
        words.push("--config".into());
        words.push(shell_word(&config.display().to_string()));
    }
    words.join(" ")
}

/// A word as a POSIX shell reads it back: as it is when that is safe, else single-quoted.
pub fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A time in milliseconds since the Unix epoch, in UTC: `2025-06-01T12:00:03Z`.
pub fn show_time(ms: u64) -> String {
    let secs = ms / 1_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `1 step`, `3 steps`.
pub fn steps(n: u64) -> String {
    format!("{n} step{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(show_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(show_time(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(show_time(1_748_779_203_999), "2025-06-01T12:00:03Z");
    }

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_word("runs.db"), "runs.db");
        assert_eq!(shell_word("my runs.db"), "'my runs.db'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(
            resume_command(
                "run-1-1",
                Some(Path::new("a b.orch")),
                Path::new("r.db"),
                None
            ),
            "orch resume run-1-1 'a b.orch' --store r.db"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_lock_is_free_once_released_and_free_to_its_own_process() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("runs.db");
        let locks = Locks::open(&store).unwrap();
        assert_eq!(locks.acquire("run-a-1"), Ok(()));
        // The same process may take it again; the lock is per process.
        assert_eq!(locks.acquire("run-a-1"), Ok(()));
        assert_eq!(Locks::peek(&store).holder("run-a-1"), Holder::Free);
        assert_eq!(
            Locks::peek(&dir.path().join("none.db")).holder("run-a-1"),
            Holder::Free
        );
    }
}
