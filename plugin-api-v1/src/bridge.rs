//! Routes a plugin's `log` records and panic messages to the host.
//!
//! A plugin library has its own copy of `std` and of the `log` crate, so the
//! host's logger never sees a plugin's `log::warn!` and the host's panic hook
//! never sees a plugin's panic. The first instance created installs both
//! bridges, pointing at that instance's host services.

use std::sync::OnceLock;

use abi_stable::std_types::RStr;

use crate::{abi::HostServicesBox, types::LogLevel};

static HOST: OnceLock<HostServicesBox> = OnceLock::new();

struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        HOST.get()
            .is_some_and(|h| to_level(metadata.level()) <= h.max_log_level())
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(host) = HOST.get() {
            let level = to_level(record.level());
            if level <= host.max_log_level() {
                let message = record.args().to_string();
                host.log(
                    level,
                    RStr::from(record.target()),
                    RStr::from(message.as_str()),
                );
            }
        }
    }

    fn flush(&self) {}
}

fn to_level(level: log::Level) -> LogLevel {
    match level {
        log::Level::Error => LogLevel::ERROR,
        log::Level::Warn => LogLevel::WARN,
        log::Level::Info => LogLevel::INFO,
        log::Level::Debug => LogLevel::DEBUG,
        log::Level::Trace => LogLevel::TRACE,
    }
}

fn to_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::ERROR => log::LevelFilter::Error,
        LogLevel::WARN => log::LevelFilter::Warn,
        LogLevel::INFO => log::LevelFilter::Info,
        LogLevel::DEBUG => log::LevelFilter::Debug,
        LogLevel(0) => log::LevelFilter::Off,
        _ => log::LevelFilter::Trace,
    }
}

/// Installs the log and panic bridges once per library.
pub(crate) fn install(host: &HostServicesBox) {
    if HOST.set(crate::abi::clone_host(host)).is_err() {
        return;
    }
    static LOGGER: HostLogger = HostLogger;
    // A plugin that installed its own logger keeps it.
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(to_filter(host.max_log_level()));
    }
    std::panic::set_hook(Box::new(|info| {
        if let Some(host) = HOST.get() {
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let detail = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let message = format!("Plugin panicked{location}: {detail}");
            host.log(
                LogLevel::ERROR,
                RStr::from("panic"),
                RStr::from(message.as_str()),
            );
        }
    }));
}
