//! The figures of one run, printed as a small table and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::sim::RecordCounts;

/// The correctness check: aggregates against ground truth.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Check {
    /// Whether every comparison matched.
    pub ok: bool,
    /// Offices whose subtrees were checked (the root included).
    pub offices: usize,
    /// Units the root aggregates (every unit of the federation, when complete).
    pub units_at_root: usize,
    /// (office, unit) comparisons made.
    pub comparisons: usize,
    /// Comparisons that failed.
    pub failures: usize,
    /// The first failures, described.
    pub examples: Vec<String>,
    /// Ground truth at the root: enrolled students (simulated records).
    pub root_enrolled: u64,
    /// Ground truth at the root: active teachers (simulated records).
    pub root_teachers: u64,
}

impl Check {
    pub(crate) fn fail(&mut self, what: String) {
        self.failures += 1;
        if self.examples.len() < 10 {
            self.examples.push(what);
        }
    }
}

/// Everything a run reports.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// Fraction of records simulated.
    pub scale: f64,
    /// Days of edits.
    pub days: u32,
    /// Units per level.
    pub units: BTreeMap<String, usize>,
    /// Data sizes.
    pub records: RecordCounts,
    /// Simulated seconds from the start until the last entry was appended anywhere
    /// (after that every node holds everything it will ever hold).
    pub converged_s: f64,
    /// Simulated second of the last local write at a school (roster import or edit).
    pub last_edit_s: f64,
    /// Frame bytes per link level and direction (`school→district`, `district→school`, ...).
    pub bytes_by_link: BTreeMap<String, u64>,
    /// Frames per link level and direction.
    pub frames_by_link: BTreeMap<String, u64>,
    /// Frames lost because their link went down.
    pub dropped_frames: u64,
    /// Largest number of pending events.
    pub peak_event_queue: usize,
    /// Largest number of frames queued or in flight on one link direction.
    pub peak_frames_per_link_direction: usize,
    /// Largest number of bytes queued or in flight on one link direction.
    pub peak_bytes_queued_per_link_direction: u64,
    /// Events processed.
    pub events: u64,
    /// Entries authored (schools' edits, the root's certificates).
    pub entries_authored: u64,
    /// Reconnections after a refused hello (re-parenting races).
    pub reconnects_after_refusal: u64,
    /// Saved documents sent beside snapshot entries (each in place of the entries it
    /// replaces, to a node that lacked them), over all links.
    pub snapshot_docs_sent: u64,
    /// Entries held at the root.
    pub root_entries: u64,
    /// Entry bytes held at the root.
    pub root_entry_bytes: u64,
    /// Document bytes (snapshots + chunks) held at the root.
    pub root_doc_bytes: u64,
    /// Rejections by reason, summed over nodes.
    pub rejected: BTreeMap<String, u64>,
    /// Automerge documents loaded in memory at the end of the run, over all nodes
    /// (bounded by `Config::doc_cache_budget` and `Config::school_doc_cache`).
    pub loaded_docs: usize,
    /// Peak resident memory of the process (VmHWM), KiB.
    pub vm_hwm_kib: u64,
    /// Resident memory at the end (VmRSS), KiB.
    pub vm_rss_kib: u64,
    /// Resident memory once the world is built (keys, certificates, directories, initial
    /// rosters authored at every school), before any event ran, KiB.
    pub build_rss_kib: u64,
    /// Wall-clock seconds to build the world.
    pub build_wall_s: f64,
    /// Wall-clock seconds to run it.
    pub run_wall_s: f64,
    /// Aggregates against ground truth.
    pub check: Check,
}

/// Reads `VmHWM` and `VmRSS` (KiB) from `/proc/self/status`; zeros elsewhere.
pub fn memory_kib() -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn human(bytes: u64) -> String {
    if bytes >= 10 << 20 {
        format!("{:.1} MiB", bytes as f64 / 1048576.0)
    } else if bytes >= 10 << 10 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn duration(s: f64) -> String {
    if s >= 86_400.0 {
        format!("{:.2} d ({s:.0} s)", s / 86_400.0)
    } else if s >= 3_600.0 {
        format!("{:.2} h ({s:.0} s)", s / 3_600.0)
    } else {
        format!("{s:.1} s")
    }
}

impl Report {
    /// The small human-readable table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(t, "{k:<40} {v}");
        };
        row(
            "scenario",
            format!("{} on {}", self.scenario, self.topology),
        );
        row(
            "seed / scale / days",
            format!("{} / {} / {}", self.seed, self.scale, self.days),
        );
        row(
            "units",
            self.units
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        row(
            "full-scale students / teachers",
            format!(
                "{} / {}",
                self.records.full_students, self.records.full_teachers
            ),
        );
        row(
            "simulated students / staff / classes",
            format!(
                "{} / {} / {}",
                self.records.sim_students, self.records.sim_staff, self.records.sim_classes
            ),
        );
        row("entries authored", self.entries_authored.to_string());
        row("simulated time to convergence", duration(self.converged_s));
        if self.last_edit_s > 0.0 {
            row("  last import or edit at", duration(self.last_edit_s));
        }
        for (k, v) in &self.bytes_by_link {
            let frames = self.frames_by_link.get(k).copied().unwrap_or(0);
            row(
                &format!("bytes {k}"),
                format!("{} in {frames} frames", human(*v)),
            );
        }
        row("frames dropped by outages", self.dropped_frames.to_string());
        row("peak event queue", self.peak_event_queue.to_string());
        row(
            "peak frames / bytes on one link direction",
            format!(
                "{} / {}",
                self.peak_frames_per_link_direction,
                human(self.peak_bytes_queued_per_link_direction)
            ),
        );
        row(
            "root holds",
            format!(
                "{} entries, {} of entries, {} of documents",
                self.root_entries,
                human(self.root_entry_bytes),
                human(self.root_doc_bytes)
            ),
        );
        if !self.rejected.is_empty() {
            row("rejections", format!("{:?}", self.rejected));
        }
        row(
            "reconnects after refused hello",
            self.reconnects_after_refusal.to_string(),
        );
        row(
            "documents sent beside snapshot entries",
            self.snapshot_docs_sent.to_string(),
        );
        row(
            "memory: after build / peak / end",
            format!(
                "{:.0} MiB / {:.0} MiB / {:.0} MiB",
                self.build_rss_kib as f64 / 1024.0,
                self.vm_hwm_kib as f64 / 1024.0,
                self.vm_rss_kib as f64 / 1024.0
            ),
        );
        row(
            "documents loaded at the end (all nodes)",
            self.loaded_docs.to_string(),
        );
        row(
            "wall time build / run",
            format!("{:.1} s / {:.1} s", self.build_wall_s, self.run_wall_s),
        );
        row(
            "check: aggregates = ground truth",
            format!(
                "{} ({} comparisons at {} offices, {} units at the root, {} failures)",
                if self.check.ok { "OK" } else { "FAILED" },
                self.check.comparisons,
                self.check.offices,
                self.check.units_at_root,
                self.check.failures
            ),
        );
        for e in &self.check.examples {
            row("  failure", e.clone());
        }
        t
    }
}
