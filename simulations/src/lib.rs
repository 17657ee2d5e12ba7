//! Seeded discrete-event simulations of EduIOC federations, from a handful of schools to
//! Hanoi (2,835 schools) and Vietnam (about 53,000 schools).
//!
//! Every simulated node is the **real** node engine (`eduioc_engine::Engine`) on redb's
//! in-memory backend and the simulated clock: validation, Automerge documents, snapshot
//! entries, summaries and storage are the engine's, as at a real node. The simulator drives
//! the real protocol code: one `eduioc_protocol::sync::Session` per link end (child
//! `Hello` → parent `Welcome`, the child's `Heights` and, in answer, the parent's, `Page`
//! → `Acked`, as `eduioc-net` drives them), with rows from `eduioc-synth` rosters. Only
//! the network and the clock are simulated: an event queue keyed by simulated time, links
//! with latency, bandwidth (frames serialised per direction, sizes are the real
//! `wire::encode` sizes) and outage schedules. Randomness comes from ChaCha8 seeded by
//! `--seed`: the same seed gives the same run.
//!
//! Brief overview:
//! - [`topology`]: the generators ([`topology::tiny`], [`topology::hanoi_2022`],
//!   [`topology::vietnam_2025`], or its first provinces) and the plan of a reform.
//! - [`node`]: one simulated node: an engine on an in-memory store, and the ground truth
//!   of what its school authored.
//! - [`sim`]: the world, its event queue and the driver of the sessions.
//! - [`report`]: the figures of a run, as a table and as JSON, and the correctness
//!   check against ground truth.
//! - [`Scenario`] and [`run`]: the scenarios the command line offers.
//!
//! Command line: `cargo run --release -p eduioc-simulations -- <scenario> [--seed N]
//! [--scale F] [--days N] [--provinces N]`; see `simulations/README.md`.

pub mod node;
pub mod report;
pub mod sim;
pub mod topology;

use std::time::Instant;

pub use report::Report;
pub use sim::{Config, World};

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Every school uploads its rosters; all links up: time and bytes to converge.
    Initial,
    /// Initial rosters, then days of edits with 30% of schools online 2 h a day and one
    /// district office dark for 3 days.
    Year,
    /// A reform while edits keep flowing: schools re-parented by new certificate
    /// versions, offices dissolved. With districts (Hanoi): the 2025 reform (new commune
    /// units, districts dissolved). Without (Vietnam 2025): every 10th commune of a
    /// department merged into its neighbour. See [`topology::plan_reform`].
    Reform,
}

/// The topologies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// One department, 2 districts, 6 schools.
    Tiny,
    /// Hanoi 2022: 1 department, 30 districts, 2,835 schools.
    Hanoi,
    /// Vietnam 2025: ministry, 34 departments, 3,321 communes, ~53,000 schools.
    Vietnam,
}

/// Parameters of one run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Scenario.
    pub scenario: Scenario,
    /// Topology.
    pub shape: Shape,
    /// Seed.
    pub seed: u64,
    /// Fraction of records simulated per school.
    pub scale: f64,
    /// Days of edits (ignored by `initial`).
    pub days: u32,
    /// Edits per school per day.
    pub edits_per_day: u32,
    /// Turn the outages of `year` and `reform` off (for comparisons).
    pub no_outages: bool,
    /// Vietnam only: keep the first this many of the 34 provinces (`None`: all).
    pub provinces: Option<usize>,
    /// Pages each node's in-memory store caches, KiB ([`Config::store_cache_bytes`]).
    pub store_cache_kib: usize,
}

/// The world configuration a scenario implies.
pub fn config(p: &Params) -> Config {
    let outages = !p.no_outages;
    let mut cfg = Config {
        seed: p.seed,
        scale: p.scale,
        days: 0,
        edits_per_day: p.edits_per_day,
        intermittent: 0.0,
        window_hours: 2,
        dark_office: None,
        reform: None,
        doc_cache_budget: Config::DOC_CACHE_BUDGET,
        school_doc_cache: 0,
        store_cache_bytes: p.store_cache_kib * 1024,
    };
    match p.scenario {
        Scenario::Initial => {}
        Scenario::Year => {
            cfg.days = p.days.max(1);
            if outages {
                cfg.intermittent = 0.3;
                cfg.dark_office = Some((1.min(cfg.days - 1), 3));
            }
        }
        Scenario::Reform => {
            cfg.days = p.days.max(4);
            if outages {
                cfg.intermittent = 0.3;
            }
            cfg.reform = Some((1, 3));
        }
    }
    cfg
}

/// The topology `p` names.
pub fn topology_of(p: &Params) -> topology::Topology {
    match p.shape {
        Shape::Tiny => topology::tiny(p.seed),
        Shape::Hanoi => topology::hanoi_2022(p.seed),
        Shape::Vietnam => match p.provinces {
            Some(k) => topology::vietnam_2025_provinces(p.seed, k),
            None => topology::vietnam_2025(p.seed),
        },
    }
}

/// Builds the topology, runs the scenario and returns its report.
pub fn run(p: &Params) -> Report {
    let t0 = Instant::now();
    let topo = topology_of(p);
    run_on(&topo, p, config(p), t0)
}

/// Runs the scenario of `p` with world configuration `cfg` on `topo` (the wall time of
/// the build counts from `t0`) and returns its report.
pub fn run_on(topo: &topology::Topology, p: &Params, cfg: Config, t0: Instant) -> Report {
    let days = cfg.days;
    let mut world = World::new(topo, cfg);
    let build = t0.elapsed().as_secs_f64();
    let build_rss = report::memory_kib().1;
    let t1 = Instant::now();
    world.run();
    let run_s = t1.elapsed().as_secs_f64();
    let mut r = Report {
        scenario: format!("{:?}", p.scenario).to_lowercase(),
        topology: topo.name.clone(),
        seed: p.seed,
        scale: p.scale,
        days,
        build_wall_s: build,
        build_rss_kib: build_rss,
        run_wall_s: run_s,
        ..Report::default()
    };
    world.report(&mut r);
    r.check = world.check();
    r.loaded_docs = world.loaded_docs();
    let (hwm, rss) = report::memory_kib();
    r.vm_hwm_kib = hwm;
    r.vm_rss_kib = rss;
    r
}
