//! The services the host offers plugins: clock, windowed counters, logging.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{SystemTime, UNIX_EPOCH},
};

/// Sliding-window hit counters shared by every instance of this host.
///
/// In memory today; the interface is what lets a shared store (Redis) back
/// several hosts later without touching a plugin.
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<HashMap<String, Window>>,
    hits: AtomicU64,
}

#[derive(Debug, Default)]
struct Window {
    window_ms: u64,
    times: VecDeque<u64>,
}

/// Keys a single counter keeps at most; older hits are forgotten first.
const MAX_HITS_PER_KEY: usize = 100_000;

impl Counters {
    /// Counts a hit (when `add`) and returns the hits within `window_ms`.
    pub fn hit(&self, key: &str, window_ms: u64, now_ms: u64, add: bool) -> u64 {
        let mut map = match self.inner.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let n = self.hits.fetch_add(1, Ordering::Relaxed);
        if n % 4096 == 4095 {
            // Forget keys whose hits have all expired, so a flood of
            // distinct callers cannot grow the map without bound.
            map.retain(|_, w| {
                w.times
                    .back()
                    .is_some_and(|last| now_ms.saturating_sub(*last) < w.window_ms)
            });
        }
        let w = map.entry(key.to_owned()).or_default();
        w.window_ms = w.window_ms.max(window_ms);
        while w
            .times
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) >= window_ms)
        {
            w.times.pop_front();
        }
        if add {
            if w.times.len() >= MAX_HITS_PER_KEY {
                w.times.pop_front();
            }
            w.times.push_back(now_ms);
        }
        w.times.len() as u64
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Severity of a plugin's log record, in the host's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PluginLevel {
    /// Nothing is kept.
    Off,
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging detail.
    Debug,
    /// Very verbose.
    Trace,
}

impl PluginLevel {
    /// From the number both interface generations use for a level.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Off,
            1 => Self::Error,
            2 => Self::Warn,
            3 => Self::Info,
            4 => Self::Debug,
            _ => Self::Trace,
        }
    }

    /// The number both interface generations use for it.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The most verbose level the host's subscriber keeps.
pub fn max_level() -> PluginLevel {
    match tracing::level_filters::LevelFilter::current().into_level() {
        None => PluginLevel::Off,
        Some(tracing::Level::ERROR) => PluginLevel::Error,
        Some(tracing::Level::WARN) => PluginLevel::Warn,
        Some(tracing::Level::INFO) => PluginLevel::Info,
        Some(tracing::Level::DEBUG) => PluginLevel::Debug,
        Some(_) => PluginLevel::Trace,
    }
}

/// Who a plugin's services belong to: the library, and the instance (empty
/// for the library-wide services of the root module's `init`).
#[derive(Debug, Clone)]
pub struct Owner {
    /// The plugin library's name.
    pub plugin: String,
    /// The instance's name, or empty.
    pub instance: String,
}

/// Emits one plugin log record. The instance and call the host is calling
/// on this thread win over what the record's services say (see
/// [`super::scope`]); a session named by the record itself wins over both.
pub fn emit_log(owner: &Owner, level: PluginLevel, target: &str, message: &str, session_id: &str) {
    let scope = super::scope::current();
    let (instance, scoped_session) = match &scope {
        Some(s) if s.instance.plugin == owner.plugin => {
            (s.instance.instance.as_str(), s.session_id.as_str())
        }
        _ => (owner.instance.as_str(), ""),
    };
    let session_id = if session_id.is_empty() {
        scoped_session
    } else {
        session_id
    };
    let plugin = owner.plugin.as_str();
    match level {
        PluginLevel::Off => {}
        PluginLevel::Error => {
            tracing::error!(target: "plugin", plugin, instance, session_id, plugin_target = target, "{message}")
        }
        PluginLevel::Warn => {
            tracing::warn!(target: "plugin", plugin, instance, session_id, plugin_target = target, "{message}")
        }
        PluginLevel::Info => {
            tracing::info!(target: "plugin", plugin, instance, session_id, plugin_target = target, "{message}")
        }
        PluginLevel::Debug => {
            tracing::debug!(target: "plugin", plugin, instance, session_id, plugin_target = target, "{message}")
        }
        PluginLevel::Trace => {
            tracing::trace!(target: "plugin", plugin, instance, session_id, plugin_target = target, "{message}")
        }
    }
}

/// Runs a host callback that a plugin invoked, so that a bug in it cannot
/// unwind into the plugin (abi_stable would end the process): a panic is
/// logged once per callback site and `fallback` returned.
pub fn guard_callback<T>(what: &'static str, fallback: T, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(_) => {
            tracing::error!(
                callback = what,
                "A host callback panicked; the plugin gets a neutral answer."
            );
            metrics::counter!("voicegate_host_callback_panics_total", "callback" => what)
                .increment(1);
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_a_sliding_window() {
        let c = Counters::default();
        assert_eq!(c.hit("a", 1000, 10_000, true), 1);
        assert_eq!(c.hit("a", 1000, 10_500, true), 2);
        assert_eq!(c.hit("b", 1000, 10_500, true), 1);
        assert_eq!(c.hit("a", 1000, 10_999, false), 2);
        // The first hit leaves the window at 11_000.
        assert_eq!(c.hit("a", 1000, 11_000, false), 1);
        assert_eq!(c.hit("a", 1000, 12_000, false), 0);
    }
}
