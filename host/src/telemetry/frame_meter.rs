//! Per-connection timing of inbound frames.
//!
//! *Frame lag* compares when a frame's audio was processed with when the
//! carrier's clock says it was spoken. A carrier sends a 20 ms frame every
//! 20 ms, stamped with the milliseconds since the stream began, so for
//! frame k, `processed_k − timestamp_k` is constant while the host keeps
//! up. The smallest value seen on the connection is taken as the baseline
//! (network and first-frame delay), and each frame's excess over it is its
//! lag: time spent waiting in socket buffers and the runtime's queues plus
//! processing. A host that falls behind (as a saturated Python peer does
//! while still accepting every frame) shows it here as lag that grows.
//! The sender's own lateness is included, which is why the load generator
//! reports its send lateness beside it.

use std::{sync::Arc, time::Instant};

use super::{LocalHistogram, Telemetry};

/// Timing state of one media stream.
#[derive(Debug)]
pub struct FrameMeter {
    telemetry: Arc<Telemetry>,
    origin: Instant,
    /// Smallest `processed − timestamp` seen, µs.
    baseline_us: Option<i64>,
    lag: LocalHistogram,
    processing: LocalHistogram,
}

impl FrameMeter {
    /// A meter for a stream that opens now.
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        Self {
            telemetry,
            origin: Instant::now(),
            baseline_us: None,
            lag: LocalHistogram::default(),
            processing: LocalHistogram::default(),
        }
    }

    /// A message read at `arrived` is processed; `timestamp_ms` is the
    /// carrier's timestamp of the audio it carried, if any.
    pub fn frame_done(&mut self, arrived: Instant, timestamp_ms: Option<u64>) {
        let now = Instant::now();
        let t = &self.telemetry;
        self.processing.record_ns(
            now.duration_since(arrived).as_nanos() as u64,
            &t.frame_processing,
        );
        let Some(ts) = timestamp_ms else {
            return;
        };
        let elapsed_us =
            i64::try_from(now.duration_since(self.origin).as_micros()).unwrap_or(i64::MAX);
        let offset =
            elapsed_us.saturating_sub(i64::try_from(ts.saturating_mul(1000)).unwrap_or(i64::MAX));
        let baseline = *self.baseline_us.get_or_insert(offset);
        // The timestamp is the peer's: one that jumps (a restarted clock,
        // a hostile or broken client) by more than any real backlog says
        // nothing about the host, so it starts a new baseline instead of
        // skewing every later frame's lag.
        if offset.abs_diff(baseline) > MAX_LAG_US {
            self.baseline_us = Some(offset);
            return;
        }
        let baseline = baseline.min(offset);
        self.baseline_us = Some(baseline);
        let lag_us = offset.abs_diff(baseline);
        self.lag
            .record_ns(lag_us.saturating_mul(1000), &t.frame_lag);
    }
}

/// Lag beyond this is a clock jump, not a backlog: a minute of audio
/// queued would have closed the stream for flooding long before.
const MAX_LAG_US: u64 = 60_000_000;

impl Drop for FrameMeter {
    fn drop(&mut self) {
        self.lag.flush(&self.telemetry.frame_lag);
        self.processing.flush(&self.telemetry.frame_processing);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lag_is_the_excess_over_the_best_offset() {
        let telemetry = Arc::new(Telemetry::default());
        {
            let mut meter = FrameMeter::new(telemetry.clone());
            // Timestamps far ahead of the wall clock: every offset is
            // negative and the later frames are "early"; none lags.
            for ts in [1_000_000u64, 1_000_020, 1_000_040] {
                meter.frame_done(Instant::now(), Some(ts));
            }
            // A frame whose timestamp is 200 ms behind the first ones'
            // pace is 200 ms late.
            std::thread::sleep(Duration::from_millis(5));
            meter.frame_done(Instant::now(), Some(999_840));
            meter.frame_done(Instant::now(), None);
        }
        let lag = telemetry.frame_lag.snapshot();
        assert_eq!(lag.count(), 4);
        assert!(lag.max_ns >= 200_000_000, "{}", lag.max_ns);
        assert!(lag.max_ns < 1_000_000_000, "{}", lag.max_ns);
        assert_eq!(telemetry.frame_processing.snapshot().count(), 5);
    }

    #[test]
    fn a_peer_clock_that_jumps_starts_a_new_baseline() {
        let telemetry = Arc::new(Telemetry::default());
        {
            let mut meter = FrameMeter::new(telemetry.clone());
            meter.frame_done(Instant::now(), Some(0));
            // Far in the future, then the most a u64 can say, then back
            // in step with the first clock.
            meter.frame_done(Instant::now(), Some(3_600_000));
            meter.frame_done(Instant::now(), Some(u64::MAX));
            meter.frame_done(Instant::now(), Some(20));
            meter.frame_done(Instant::now(), Some(40));
        }
        let lag = telemetry.frame_lag.snapshot();
        // The first frame, and the last: the frame where the clock came
        // back starts the new baseline, the next one is measured from it.
        assert_eq!(lag.count(), 2);
        assert!(lag.max_ns < 1_000_000_000, "{}", lag.max_ns);
    }
}
