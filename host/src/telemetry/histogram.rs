//! A latency histogram cheap enough for every media frame of every call.
//!
//! The metrics crate's Prometheus recorder keeps every observation until
//! the next scrape (a shared, growing buffer), and its `histogram!` macro
//! looks the metric up in a shared registry on every call. Here the
//! buckets are fixed atomics, and each connection counts into a private
//! [`LocalHistogram`] that it adds to the shared one every
//! [`FLUSH_EVERY`] observations (once a second for a 50 frame/s stream)
//! and when it is dropped, so the per-frame cost is a few adds on memory
//! no other call touches.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets, in nanoseconds: 5 µs to 10 s in 1-2.5-5
/// steps, with 20 ms (one media frame) as a bound. A last `+Inf` bucket
/// follows.
pub const BOUNDS_NS: [u64; 20] = [
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];

const BUCKETS: usize = BOUNDS_NS.len() + 1;

/// Observations a [`LocalHistogram`] keeps before adding them to the
/// shared one.
pub const FLUSH_EVERY: u32 = 50;

fn bucket(ns: u64) -> usize {
    BOUNDS_NS.partition_point(|b| *b < ns)
}

/// A histogram shared by every call.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    counts: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

/// A copy of a [`LatencyHistogram`] at one moment.
#[derive(Debug, Clone, Default)]
pub struct HistogramSnapshot {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    pub counts: [u64; BUCKETS],
    /// Sum of the observations, ns.
    pub sum_ns: u64,
    /// Largest observation, ns.
    pub max_ns: u64,
}

impl LatencyHistogram {
    /// Records one observation directly (for paths that are not per frame).
    pub fn record_ns(&self, ns: u64) {
        self.counts[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Reads every bucket.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut counts = [0; BUCKETS];
        for (c, a) in counts.iter_mut().zip(&self.counts) {
            *c = a.load(Ordering::Relaxed);
        }
        HistogramSnapshot {
            counts,
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
            max_ns: self.max_ns.load(Ordering::Relaxed),
        }
    }
}

impl HistogramSnapshot {
    /// Observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile in ns, interpolated inside its bucket (as
    /// Prometheus' `histogram_quantile` does) and capped at the maximum.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0.0;
        let mut lower = 0.0;
        for (i, c) in self.counts.iter().enumerate() {
            let c = *c as f64;
            let upper = BOUNDS_NS.get(i).map_or(self.max_ns as f64, |b| *b as f64);
            if c > 0.0 && seen + c >= rank {
                let at = lower + (upper - lower) * ((rank - seen) / c);
                return (at as u64).min(self.max_ns);
            }
            seen += c;
            lower = upper;
        }
        self.max_ns
    }

    /// `{count, p50_ms, p99_ms, max_ms}` for the admin API.
    pub fn summary(&self) -> serde_json::Value {
        let ms = |ns: u64| (ns as f64 / 1e6 * 1000.0).round() / 1000.0;
        serde_json::json!({
            "count": self.count(),
            "p50_ms": ms(self.quantile_ns(0.5)),
            "p99_ms": ms(self.quantile_ns(0.99)),
            "max_ms": ms(self.max_ns),
        })
    }
}

/// One connection's observations not yet added to the shared histogram.
#[derive(Debug, Default)]
pub struct LocalHistogram {
    counts: [u32; BUCKETS],
    sum_ns: u64,
    max_ns: u64,
    pending: u32,
}

impl LocalHistogram {
    /// Records one observation; adds the batch to `shared` every
    /// [`FLUSH_EVERY`] observations.
    pub fn record_ns(&mut self, ns: u64, shared: &LatencyHistogram) {
        self.counts[bucket(ns)] += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
        self.pending += 1;
        if self.pending >= FLUSH_EVERY {
            self.flush(shared);
        }
    }

    /// Adds what is pending to `shared`.
    pub fn flush(&mut self, shared: &LatencyHistogram) {
        if self.pending == 0 {
            return;
        }
        for (local, global) in self.counts.iter_mut().zip(&shared.counts) {
            if *local > 0 {
                global.fetch_add(u64::from(*local), Ordering::Relaxed);
                *local = 0;
            }
        }
        shared.sum_ns.fetch_add(self.sum_ns, Ordering::Relaxed);
        shared.max_ns.fetch_max(self.max_ns, Ordering::Relaxed);
        self.sum_ns = 0;
        self.max_ns = 0;
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_take_values_up_to_their_bound() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(5_000), 0);
        assert_eq!(bucket(5_001), 1);
        assert_eq!(bucket(20_000_000), 11);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn local_counts_reach_the_shared_histogram_in_batches() {
        let shared = LatencyHistogram::default();
        let mut local = LocalHistogram::default();
        for _ in 0..FLUSH_EVERY - 1 {
            local.record_ns(3_000_000, &shared);
        }
        assert_eq!(shared.snapshot().count(), 0, "not flushed yet");
        local.record_ns(40_000_000, &shared);
        let s = shared.snapshot();
        assert_eq!(s.count(), u64::from(FLUSH_EVERY));
        assert_eq!(s.max_ns, 40_000_000);
        local.record_ns(1, &shared);
        local.flush(&shared);
        assert_eq!(shared.snapshot().count(), u64::from(FLUSH_EVERY) + 1);
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let h = LatencyHistogram::default();
        for _ in 0..90 {
            h.record_ns(1_500_000); // (1, 2] ms
        }
        for _ in 0..10 {
            h.record_ns(15_000_000); // (10, 20] ms
        }
        let s = h.snapshot();
        let p50 = s.quantile_ns(0.5);
        assert!((1_000_000..=2_000_000).contains(&p50), "{p50}");
        let p99 = s.quantile_ns(0.99);
        assert!((10_000_000..=15_000_000).contains(&p99), "{p99}");
        assert_eq!(s.quantile_ns(1.0), 15_000_000);
        assert_eq!(LatencyHistogram::default().snapshot().quantile_ns(0.5), 0);
    }
}
