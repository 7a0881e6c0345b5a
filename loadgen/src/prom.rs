//! Reads the host's `/metrics` (Prometheus text format): sums of counters
//! and the buckets of histograms, and quantiles of the difference between
//! two scrapes, computed as Prometheus' `histogram_quantile` does.

/// One sample line.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: String,
    value: f64,
}

/// One scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    samples: Vec<Sample>,
}

/// Cumulative histogram buckets: (upper bound, observations ≤ bound),
/// ascending, the last one `+Inf`.
pub type Buckets = Vec<(f64, f64)>;

/// Splits `name{labels} value [timestamp]`.
fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find(['{', ' ']) {
        Some(i) if line.as_bytes()[i] == b'{' => {
            // The closing brace outside quoted values.
            let mut quoted = false;
            let mut escaped = false;
            let mut end = None;
            for (j, c) in line[i + 1..].char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => quoted = !quoted,
                    '}' if !quoted => {
                        end = Some(i + 1 + j);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end?;
            (&line[..i], &line[i + 1..end], &line[end + 1..])
        }
        Some(i) => (&line[..i], "", &line[i..]),
        None => return None,
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels: labels.to_owned(),
        value,
    })
}

/// The value of label `key` in a label list.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}=\"");
    let mut from = 0;
    while let Some(i) = labels[from..].find(&needle) {
        let at = from + i;
        // A whole label name: at the start or after a comma.
        if at == 0 || labels[..at].ends_with(',') {
            let start = at + needle.len();
            let end = labels[start..].find('"')? + start;
            return Some(&labels[start..end]);
        }
        from = at + needle.len();
    }
    None
}

impl Scrape {
    /// Parses a scrape; lines it cannot read are skipped.
    pub fn parse(text: &str) -> Self {
        Self {
            samples: text.lines().filter_map(parse_line).collect(),
        }
    }

    /// The sum of every sample named `name` (all label sets); `None` when
    /// there is none.
    pub fn sum(&self, name: &str) -> Option<f64> {
        let mut found = false;
        let total = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .inspect(|_| found = true)
            .map(|s| s.value)
            .sum();
        found.then_some(total)
    }

    /// The sum of samples named `name` whose label `key` is `value`.
    pub fn sum_where(&self, name: &str, key: &str, value: &str) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && label(&s.labels, key) == Some(value))
            .map(|s| s.value)
            .sum()
    }

    /// The buckets of histogram `name`, summed over its label sets.
    pub fn buckets(&self, name: &str) -> Buckets {
        let bucket = format!("{name}_bucket");
        let mut out: Buckets = Vec::new();
        for s in self.samples.iter().filter(|s| s.name == bucket) {
            let Some(le) = label(&s.labels, "le") else {
                continue;
            };
            let le = match le {
                "+Inf" => f64::INFINITY,
                v => match v.parse::<f64>() {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            match out.iter_mut().find(|(b, _)| *b == le) {
                Some((_, c)) => *c += s.value,
                None => out.push((le, s.value)),
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}

/// Observations made between two scrapes, per bucket (still cumulative).
pub fn delta(before: &Buckets, after: &Buckets) -> Buckets {
    after
        .iter()
        .map(|(le, c)| {
            let old = before
                .iter()
                .find(|(b, _)| b == le)
                .map_or(0.0, |(_, c)| *c);
            (*le, (c - old).max(0.0))
        })
        .collect()
}

/// Observations in cumulative buckets.
pub fn count(buckets: &Buckets) -> f64 {
    buckets.last().map_or(0.0, |(_, c)| *c)
}

/// The `q` quantile, interpolated inside its bucket like Prometheus'
/// `histogram_quantile`; `None` without observations. A quantile in the
/// `+Inf` bucket is reported as the highest finite bound.
pub fn quantile(buckets: &Buckets, q: f64) -> Option<f64> {
    let total = count(buckets);
    if total <= 0.0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut prev_bound = 0.0;
    let mut prev_count = 0.0;
    for (le, c) in buckets {
        if *c >= rank && *c > prev_count {
            if le.is_infinite() {
                return Some(prev_bound);
            }
            let fraction = (rank - prev_count) / (c - prev_count);
            return Some(prev_bound + (le - prev_bound) * fraction);
        }
        if le.is_finite() {
            prev_bound = *le;
        }
        prev_count = *c;
    }
    Some(prev_bound)
}

/// The upper bound of the highest bucket that gained observations: the
/// largest value is at most this (`+Inf` when it is beyond every bound).
pub fn max_bound(buckets: &Buckets) -> Option<f64> {
    let mut prev = 0.0;
    let mut bound = None;
    for (le, c) in buckets {
        if *c > prev {
            bound = Some(*le);
        }
        prev = *c;
    }
    bound
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP x_seconds Lag.
# TYPE x_seconds histogram
x_seconds_bucket{transport="a",le="0.001"} 10
x_seconds_bucket{transport="a",le="0.01"} 90
x_seconds_bucket{transport="a",le="+Inf"} 100
x_seconds_sum{transport="a"} 0.5
x_seconds_count{transport="a"} 100
frames_total{transport="a"} 7
frames_total{transport="b",note="x}y"} 3
plain 4.5
"#;

    #[test]
    fn counters_and_buckets_are_read() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.sum("frames_total"), Some(10.0));
        assert_eq!(s.sum_where("frames_total", "transport", "b"), 3.0);
        assert_eq!(s.sum("plain"), Some(4.5));
        assert_eq!(s.sum("missing"), None);
        let b = s.buckets("x_seconds");
        assert_eq!(b, vec![(0.001, 10.0), (0.01, 90.0), (f64::INFINITY, 100.0)]);
        let p50 = quantile(&b, 0.5).unwrap();
        assert!((p50 - 0.005_5).abs() < 1e-9, "{p50}");
        assert_eq!(quantile(&b, 0.99), Some(0.01));
        assert_eq!(max_bound(&b), Some(f64::INFINITY));
        let d = delta(&vec![(0.001, 5.0), (0.01, 5.0), (f64::INFINITY, 5.0)], &b);
        assert_eq!(count(&d), 95.0);
        assert_eq!(quantile(&Vec::new(), 0.5), None);
    }
}
