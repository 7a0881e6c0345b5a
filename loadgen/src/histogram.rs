//! A small log-linear histogram of microseconds (8 buckets per doubling,
//! so a quantile is within 12.5 % of the truth), kept per caller without
//! sharing and merged at the end.

/// Buckets: 8 exact ones for 0–7 µs, then 8 per power of two up to 2^40 µs.
const BUCKETS: usize = 8 + 38 * 8;

/// Microsecond histogram.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u32; BUCKETS]>,
    count: u64,
    sum: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            sum: 0,
            max: 0,
        }
    }
}

fn index(us: u64) -> usize {
    if us < 8 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros() as usize; // ≥ 3
    let sub = ((us >> (octave - 3)) & 7) as usize;
    (8 + (octave - 3) * 8 + sub).min(BUCKETS - 1)
}

/// The largest value that falls in bucket `i`.
fn upper(i: usize) -> u64 {
    if i < 8 {
        return i as u64;
    }
    let octave = (i - 8) / 8 + 3;
    let sub = ((i - 8) % 8) as u64;
    ((9 + sub) << (octave - 3)) - 1
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, us: u64) {
        self.counts[index(us)] += 1;
        self.count += 1;
        self.sum += us;
        self.max = self.max.max(us);
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += *b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Mean, µs.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The `q` quantile (0–1): the upper edge of its bucket, at most the max.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_an_eighth() {
        let mut h = Histogram::default();
        for us in 1..=10_000u64 {
            h.record(us);
        }
        for (q, truth) in [(0.5, 5000.0), (0.99, 9900.0), (0.999, 9990.0)] {
            let got = h.quantile(q) as f64;
            assert!(got >= truth && got <= truth * 1.125 + 1.0, "q{q}: {got}");
        }
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.max(), 10_000);
        let mut other = Histogram::default();
        other.record(50_000);
        h.merge(&other);
        assert_eq!(h.count(), 10_001);
        assert_eq!(h.quantile(1.0), 50_000);
    }

    #[test]
    fn buckets_cover_their_values() {
        for us in [0u64, 1, 7, 8, 9, 15, 16, 17, 1000, 123_456, 1 << 39] {
            let i = index(us);
            assert!(upper(i) >= us, "{us}");
            assert!(i == 0 || upper(i - 1) < us, "{us}");
        }
    }
}
