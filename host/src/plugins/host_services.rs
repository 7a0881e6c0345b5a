//! The services the host offers plugins: clock, windowed counters, logging.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, RResult, RStr, RString},
};
use tracing::level_filters::LevelFilter;
use voicegate_plugin_api::{
    abi::{HostServicesBox, HostServicesFfi, HostServicesFfi_TO},
    LogLevel, PluginError,
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

/// The host services handed to one instance; logs carry its names.
#[derive(Debug)]
pub struct InstanceServices {
    plugin: String,
    instance: String,
    counters: Arc<Counters>,
}

impl InstanceServices {
    /// Services for one instance.
    pub fn new_box(plugin: &str, instance: &str, counters: Arc<Counters>) -> HostServicesBox {
        HostServicesFfi_TO::from_ptr(
            RArc::new(Self {
                plugin: plugin.to_owned(),
                instance: instance.to_owned(),
                counters,
            }),
            TD_Opaque,
        )
    }
}

impl HostServicesFfi for InstanceServices {
    fn now_unix_ms(&self) -> u64 {
        now_unix_ms()
    }

    fn max_log_level(&self) -> LogLevel {
        match LevelFilter::current().into_level() {
            None => LogLevel(0),
            Some(tracing::Level::ERROR) => LogLevel::ERROR,
            Some(tracing::Level::WARN) => LogLevel::WARN,
            Some(tracing::Level::INFO) => LogLevel::INFO,
            Some(tracing::Level::DEBUG) => LogLevel::DEBUG,
            Some(_) => LogLevel::TRACE,
        }
    }

    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        let (plugin, instance, target, message) = (
            &self.plugin,
            &self.instance,
            target.as_str(),
            message.as_str(),
        );
        match level {
            LogLevel::ERROR => {
                tracing::error!(target: "plugin", plugin, instance, plugin_target = target, "{message}")
            }
            LogLevel::WARN => {
                tracing::warn!(target: "plugin", plugin, instance, plugin_target = target, "{message}")
            }
            LogLevel::INFO => {
                tracing::info!(target: "plugin", plugin, instance, plugin_target = target, "{message}")
            }
            LogLevel::DEBUG => {
                tracing::debug!(target: "plugin", plugin, instance, plugin_target = target, "{message}")
            }
            _ => {
                tracing::trace!(target: "plugin", plugin, instance, plugin_target = target, "{message}")
            }
        }
    }

    fn counter_hit(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError> {
        RResult::ROk(
            self.counters
                .hit(key.as_str(), window_ms, now_unix_ms(), true),
        )
    }

    fn counter_get(&self, key: RStr<'_>, window_ms: u64) -> RResult<u64, PluginError> {
        RResult::ROk(
            self.counters
                .hit(key.as_str(), window_ms, now_unix_ms(), false),
        )
    }

    fn call_ext(&self, op: RStr<'_>, _payload: RStr<'_>) -> RResult<RString, PluginError> {
        RResult::RErr(PluginError::unsupported(format!(
            "this host has no extension `{op}`"
        )))
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
