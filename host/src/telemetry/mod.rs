//! The host's measurements of itself that a client cannot see: how far
//! behind each call's media clock frames are processed, how long a frame
//! takes, how late events reach subscribers, and totals of every stream's
//! counters. Exported on `/metrics` next to the metrics crate's recorder
//! and summarised in `GET /api/calls` (docs/metrics.md).
//!
//! Nothing here takes a lock or touches shared memory per frame: streams
//! count into their own session's atomics and a private
//! [`LocalHistogram`], and totals are summed when someone asks.

pub mod export;
pub mod frame_meter;
pub mod histogram;

pub use frame_meter::FrameMeter;
pub use histogram::{HistogramSnapshot, LatencyHistogram, LocalHistogram};

/// Histograms shared by every call.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// How far behind its call's media clock each audio frame finished.
    pub frame_lag: LatencyHistogram,
    /// From reading a message off the socket to having processed it.
    pub frame_processing: LatencyHistogram,
}
