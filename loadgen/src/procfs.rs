//! CPU time and memory of a process, from `/proc/<pid>/stat` and
//! `/proc/<pid>/status`.

use std::time::Instant;

/// Clock ticks per second in `/proc/<pid>/stat`. Linux reports CPU time
/// in USER_HZ, which is 100 on every architecture's user ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The file could not be read (the process is gone?).
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file did not look as expected.
    #[error("unexpected contents in {0}")]
    Format(String),
}

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// When it was taken.
    pub at: Instant,
    /// User + system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Peak resident memory, KiB.
    pub hwm_kib: u64,
    /// Threads.
    pub threads: u64,
}

/// `self` or a pid.
#[derive(Debug, Clone, Copy)]
pub enum Pid {
    /// The load generator itself.
    Current,
    /// Another process.
    Id(u32),
}

impl Pid {
    fn dir(self) -> String {
        match self {
            Pid::Current => "/proc/self".to_owned(),
            Pid::Id(pid) => format!("/proc/{pid}"),
        }
    }
}

fn read(path: String) -> Result<String, ProcError> {
    std::fs::read_to_string(&path).map_err(|source| ProcError::Read { path, source })
}

/// Reads CPU time and memory.
pub fn sample(pid: Pid) -> Result<ProcSample, ProcError> {
    let dir = pid.dir();
    let stat_path = format!("{dir}/stat");
    let stat = read(stat_path.clone())?;
    // The command name may contain spaces and parentheses: fields are
    // counted from the last `)`.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| ProcError::Format(stat_path.clone()))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state(3) … utime(14) stime(15) … num_threads(20).
    let num = |i: usize| -> Result<u64, ProcError> {
        fields
            .get(i - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| ProcError::Format(stat_path.clone()))
    };
    let cpu_seconds = (num(14)? + num(15)?) as f64 / TICKS_PER_SECOND;
    let threads = num(20)?;
    let status_path = format!("{dir}/status");
    let status = read(status_path.clone())?;
    let kib = |key: &str| -> Result<u64, ProcError> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| ProcError::Format(status_path.clone()))
    };
    Ok(ProcSample {
        at: Instant::now(),
        cpu_seconds,
        rss_kib: kib("VmRSS:")?,
        hwm_kib: kib("VmHWM:")?,
        threads,
    })
}

/// Resets the peak (VmHWM) to the current RSS, so the next reading shows
/// the peak of what follows. Best effort: needs the right to write the
/// process's `clear_refs`.
pub fn reset_peak(pid: Pid) -> bool {
    std::fs::write(format!("{}/clear_refs", pid.dir()), "5").is_ok()
}

/// Share of one core used between two readings, in percent.
pub fn cpu_percent(from: &ProcSample, to: &ProcSample) -> f64 {
    let wall = to.at.duration_since(from.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    100.0 * (to.cpu_seconds - from.cpu_seconds) / wall
}

/// Whole-machine CPU counters from `/proc/stat`, in ticks summed over
/// every core.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineTicks {
    /// Not idle.
    pub busy: u64,
    /// Everything.
    pub total: u64,
    /// Interrupts and softirqs: on loopback this is mostly the network
    /// stack carrying the calls' packets, which no process is charged for.
    pub irq: u64,
}

/// Reads the machine's CPU counters.
pub fn machine_ticks() -> Result<MachineTicks, ProcError> {
    let path = "/proc/stat".to_owned();
    let stat = read(path.clone())?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| ProcError::Format(path.clone()))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let at = |i: usize| values.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user and nice).
    let total: u64 = values.iter().take(8).sum();
    Ok(MachineTicks {
        busy: total.saturating_sub(at(3) + at(4)),
        total,
        irq: at(5) + at(6),
    })
}

/// Percent of one core used between two readings: (all busy time,
/// interrupts and softirqs).
pub fn machine_percent(from: MachineTicks, to: MachineTicks, cores: usize) -> (f64, f64) {
    let total = to.total.saturating_sub(from.total);
    if total == 0 {
        return (0.0, 0.0);
    }
    let pct = |ticks: u64| 100.0 * cores as f64 * ticks as f64 / total as f64;
    (
        pct(to.busy.saturating_sub(from.busy)),
        pct(to.irq.saturating_sub(from.irq)),
    )
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself() {
        let a = sample(Pid::Current).unwrap();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = sample(Pid::Current).unwrap();
        assert!(a.rss_kib > 0 && a.hwm_kib >= a.rss_kib);
        assert!(b.cpu_seconds >= a.cpu_seconds);
        assert!(a.threads >= 1);
    }
}
