//! The host's services, as plugin authors see them.

use abi_stable::std_types::{RResult, RStr};

use crate::{
    abi::HostServicesBox,
    types::{LogLevel, LogRecord, PluginError},
};

/// A cheap, clonable handle to the host's services (clock, counters, logs),
/// bound to one instance: its log records carry the instance's name.
pub struct Host {
    inner: HostServicesBox,
}

impl Host {
    pub(crate) fn new(inner: HostServicesBox) -> Self {
        Self { inner }
    }

    /// Milliseconds since the Unix epoch, by the host's clock.
    pub fn now_unix_ms(&self) -> u64 {
        self.inner.now_unix_ms()
    }

    /// Counts one hit for `key` and returns the hits in the last `window_ms`,
    /// this one included. The host may back it with a shared store, so it
    /// can fail and may block briefly (policies run on the host's policy
    /// workers, never on its network threads).
    pub fn counter_hit(&self, key: &str, window_ms: u64) -> Result<u64, PluginError> {
        into_result(self.inner.counter_hit(RStr::from(key), window_ms))
    }

    /// The hits in the last `window_ms`, without counting one.
    pub fn counter_get(&self, key: &str, window_ms: u64) -> Result<u64, PluginError> {
        into_result(self.inner.counter_get(RStr::from(key), window_ms))
    }

    /// Logs through the host as this instance. Inside a host call the host
    /// adds the call's session id itself; from your own threads, use
    /// [`Host::log_for`] to name it. The `log` crate's macros also end up
    /// at the host.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.log_for("", level, message);
    }

    /// Logs through the host as this instance, about `session_id`.
    pub fn log_for(&self, session_id: &str, level: LogLevel, message: &str) {
        if level <= self.inner.max_log_level() {
            self.inner.log(&LogRecord {
                level,
                target: RStr::from("plugin"),
                message: RStr::from(message),
                session_id: RStr::from(session_id),
                fields_json: RStr::from(""),
            });
        }
    }
}

impl Clone for Host {
    fn clone(&self) -> Self {
        Self::new(crate::abi::clone_host(&self.inner))
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Host")
    }
}

fn into_result<T>(r: RResult<T, PluginError>) -> Result<T, PluginError> {
    r.into_result()
}
