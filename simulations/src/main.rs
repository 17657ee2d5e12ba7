//! `eduioc-simulations`: runs one seeded scenario and prints its figures as a table and
//! as JSON. Exits with status 1 when the aggregates differ from the ground truth.

use anyhow::Context;
use clap::Parser;
use eduioc_simulations::{run, Params, Scenario, Shape};

/// Seeded discrete-event simulations of an EduIOC federation.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// initial: upload of every roster; year: days of edits under intermittent links;
    /// reform: the 2025 re-parenting while edits flow.
    scenario: Scenario,
    /// Topology.
    #[arg(long, value_enum, default_value = "hanoi")]
    topology: Shape,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction of each school's records simulated (default: 0.02 for Hanoi, 0.005 for
    /// Vietnam, 1 for tiny).
    #[arg(long)]
    scale: Option<f64>,
    /// Days of edits (year, reform).
    #[arg(long, default_value_t = 10)]
    days: u32,
    /// Edits per school per day.
    #[arg(long, default_value_t = 2)]
    edits: u32,
    /// Turn the outages off.
    #[arg(long)]
    no_outages: bool,
    /// Vietnam only: simulate the first N of the 34 provinces (same units and seeded
    /// choices as in the whole country).
    #[arg(long)]
    provinces: Option<usize>,
    /// Pages each node's in-memory store caches, KiB (redb keeps a copy of every page a
    /// commit writes in its cache: 0 saves memory, reads are slower).
    #[arg(long, default_value_t = 0)]
    store_cache_kib: usize,
    /// Write the JSON report to this file as well.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let scale = a.scale.unwrap_or(match a.topology {
        Shape::Tiny => 1.0,
        Shape::Hanoi => 0.02,
        Shape::Vietnam => 0.005,
    });
    anyhow::ensure!(scale > 0.0 && scale <= 1.0, "--scale must be in (0, 1]");
    let p = Params {
        scenario: a.scenario,
        shape: a.topology,
        seed: a.seed,
        scale,
        days: a.days,
        edits_per_day: a.edits,
        no_outages: a.no_outages,
        provinces: a.provinces,
        store_cache_kib: a.store_cache_kib,
    };
    let r = run(&p);
    print!("{}", r.table());
    if scale < 1.0 {
        println!(
            "(records scaled to {scale} of each school's roster, at least one of each kind; every unit kept)"
        );
    }
    let json = serde_json::to_string_pretty(&r)?;
    println!("{json}");
    if let Some(path) = a.json {
        std::fs::write(&path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    if !r.check.ok {
        std::process::exit(1);
    }
    Ok(())
}
