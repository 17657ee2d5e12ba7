//! Operations metrics the engine keeps as it works (latency histograms, page sizes),
//! shared with whoever renders them (`GET /metrics`). Atomic counters: recording never
//! waits, reading never blocks the engine.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A cumulative histogram with fixed upper bounds (Prometheus' model).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (not cumulative: summed when rendered).
    counts: Vec<AtomicU64>,
    /// Observations above the last bound.
    over: AtomicU64,
    /// Sum of observations, in millionths of the unit.
    sum_micro: AtomicU64,
}

impl Histogram {
    /// A histogram with these bucket upper bounds (ascending).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            over: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        match self.bounds.iter().position(|b| v <= *b) {
            Some(i) => self.counts[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_micro
            .fetch_add((v.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    /// Records a duration, in seconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.over.load(Ordering::Relaxed)
    }

    /// Appends the histogram in the Prometheus text format as `name`.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count());
        let sum = self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {}", self.count());
    }
}

const SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const ENTRIES: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
const BYTES: &[f64] = &[
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    8_388_608.0,
];

/// What the engine measures of its own work.
#[derive(Debug)]
pub struct EngineMetrics {
    /// A received page, from its arrival at the engine to its commit.
    pub ingest_seconds: Histogram,
    /// One commit (a store transaction): a page's, an import's or a local entry's.
    pub commit_seconds: Histogram,
    /// Entries per received page.
    pub page_entries: Histogram,
    /// Bytes per received page (entries and documents beside them).
    pub page_bytes: Histogram,
}

impl Default for EngineMetrics {
    fn default() -> EngineMetrics {
        EngineMetrics {
            ingest_seconds: Histogram::new(SECONDS),
            commit_seconds: Histogram::new(SECONDS),
            page_entries: Histogram::new(ENTRIES),
            page_bytes: Histogram::new(BYTES),
        }
    }
}

impl EngineMetrics {
    /// Appends every histogram in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        self.ingest_seconds.render(
            out,
            "eduioc_ingest_seconds",
            "Time to validate, apply and commit a page received from a peer.",
        );
        self.commit_seconds.render(
            out,
            "eduioc_commit_seconds",
            "Time of one commit (one store transaction): a page, an import or a local entry.",
        );
        self.page_entries.render(
            out,
            "eduioc_page_entries",
            "Entries per page received from a peer.",
        );
        self.page_bytes.render(
            out,
            "eduioc_page_bytes",
            "Bytes per page received from a peer (entries and documents beside them).",
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_the_sum_counts_every_observation() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 3.0, 20.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "test");
        assert!(out.contains("x_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_sum 24.5\nx_count 4\n"), "{out}");
    }
}
