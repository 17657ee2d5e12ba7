//! Fast simulation tests on the tiny topology (debug build is fine). No timing
//! assertions: only simulated time and figures.

#![allow(clippy::unwrap_used)]

use eduioc_simulations::{run, Params, Scenario, Shape};

fn params(scenario: Scenario, seed: u64) -> Params {
    Params {
        scenario,
        shape: Shape::Tiny,
        seed,
        scale: 0.1,
        days: 4,
        edits_per_day: 2,
        no_outages: false,
        provinces: None,
        store_cache_kib: 0,
    }
}

#[test]
fn tiny_topology_converges_to_ground_truth() {
    let r = run(&params(Scenario::Initial, 3));
    assert!(r.check.ok, "{:?}", r.check.examples);
    assert_eq!(r.check.units_at_root, 9);
    assert_eq!(r.root_entries, r.entries_authored);
    assert!(r.check.root_enrolled > 0);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}

#[test]
fn same_seed_same_result() {
    let a = run(&params(Scenario::Year, 5));
    let b = run(&params(Scenario::Year, 5));
    assert!(a.check.ok && b.check.ok);
    assert_eq!(a.converged_s, b.converged_s);
    assert_eq!(a.bytes_by_link, b.bytes_by_link);
    assert_eq!(a.events, b.events);
    assert_eq!(a.root_entry_bytes, b.root_entry_bytes);
    assert_eq!(a.check.root_enrolled, b.check.root_enrolled);
    let c = run(&params(Scenario::Year, 6));
    assert_ne!(
        a.bytes_by_link, c.bytes_by_link,
        "another seed, another run"
    );
}

#[test]
fn outage_delays_but_does_not_prevent_convergence() {
    // No edits after the rosters: only the outages differ.
    let mut calm = params(Scenario::Year, 7);
    calm.edits_per_day = 0;
    calm.no_outages = true;
    let mut stormy = calm.clone();
    stormy.no_outages = false;
    let a = run(&calm);
    let b = run(&stormy);
    assert!(a.check.ok, "{:?}", a.check.examples);
    assert!(b.check.ok, "{:?}", b.check.examples);
    assert_eq!(a.check.root_enrolled, b.check.root_enrolled);
    assert!(
        b.converged_s > a.converged_s,
        "outages should delay convergence: {} vs {}",
        b.converged_s,
        a.converged_s
    );
}

#[test]
fn reparenting_keeps_totals_exact() {
    let r = run(&params(Scenario::Reform, 11));
    assert!(r.check.ok, "{:?}", r.check.examples);
    // The root knows the two new communes too, and the communes were checked.
    assert_eq!(r.units.get("commune"), Some(&2));
    assert_eq!(r.check.units_at_root, 11);
    assert_eq!(
        r.check.offices, 3,
        "the root and two communes; districts dissolved"
    );
    assert!(r.bytes_by_link.contains_key("school→commune"));
    // Each new commune was seeded from its schools' snapshot entries and documents,
    // and nothing was refused on the way (a hole without its snapshot would be a gap).
    assert!(r.snapshot_docs_sent > 0);
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}

/// The documents a node keeps loaded only save reloading them from snapshot and chunks:
/// runs that keep none at schools and one per office, or the engine's 16 everywhere,
/// compute, send and report the same. (A school that reloaded a document and then
/// handed out its earlier changes again would make its entries bigger here.)
#[test]
fn loaded_documents_change_nothing_but_memory() {
    let p = params(Scenario::Year, 5);
    let topo = eduioc_simulations::topology_of(&p);
    let run_with = |budget: usize, school: usize| {
        let mut cfg = eduioc_simulations::config(&p);
        cfg.doc_cache_budget = budget;
        cfg.school_doc_cache = school;
        eduioc_simulations::run_on(&topo, &p, cfg, std::time::Instant::now())
    };
    let lean = run_with(1, 0);
    let lean_nodes = {
        let mut cfg = eduioc_simulations::config(&p);
        cfg.doc_cache_budget = 1;
        let mut w = eduioc_simulations::World::new(&topo, cfg);
        w.run();
        w.nodes()
            .iter()
            .map(|n| (n.level().to_string(), n.engine.loaded_docs()))
            .collect::<Vec<_>>()
    };
    for (level, loaded) in &lean_nodes {
        let keep = if level == "school" { 0 } else { 1 };
        assert!(*loaded <= keep, "{level} keeps {loaded} documents loaded");
    }
    let roomy = run_with(1_000, 16);
    assert!(lean.check.ok, "{:?}", lean.check.examples);
    assert!(roomy.check.ok, "{:?}", roomy.check.examples);
    // 3 offices keep one document each; schools keep none.
    assert_eq!(lean.loaded_docs, 3);
    assert!(roomy.loaded_docs > 3 + 6 * 2, "{}", roomy.loaded_docs);
    assert!(lean.entries_authored > 30, "edits were made");
    assert_eq!(lean.entries_authored, roomy.entries_authored);
    assert_eq!(lean.root_entry_bytes, roomy.root_entry_bytes);
    assert_eq!(lean.root_doc_bytes, roomy.root_doc_bytes);
    assert_eq!(lean.bytes_by_link, roomy.bytes_by_link);
    assert_eq!(lean.events, roomy.events);
    assert_eq!(lean.converged_s, roomy.converged_s);
    assert_eq!(lean.check.root_enrolled, roomy.check.root_enrolled);
}

/// A federation without districts (as Vietnam since 2025): the reform merges every 10th
/// commune of a department into the one before it. Nothing is counted twice or lost.
#[test]
fn commune_mergers_keep_totals_exact() {
    use eduioc_simulations::topology::{plan_reform, NewParent, Rosters, Topology, Unit};
    use eduioc_synth::SchoolLevel;
    let unit = |id: String, level: &str, parent: Option<usize>, school: bool| Unit {
        name: id.to_uppercase(),
        id,
        level: level.into(),
        parent,
        school_level: school.then_some(SchoolLevel::Primary),
    };
    let mut units = vec![
        unit("bo".into(), "ministry", None, false),
        unit("so".into(), "department", Some(0), false),
    ];
    for c in 0..10 {
        let ci = units.len();
        units.push(unit(format!("x{c}"), "commune", Some(1), false));
        for s in 0..2 {
            units.push(unit(format!("th-x{c}-{s}"), "school", Some(ci), true));
        }
    }
    let topo = Topology {
        name: "ten communes".into(),
        units,
        rosters: Rosters::Drawn,
    };
    let plan = plan_reform(&topo);
    let x9 = topo.units.iter().position(|u| u.id == "x9").unwrap();
    let x8 = topo.units.iter().position(|u| u.id == "x8").unwrap();
    assert_eq!(plan.dissolved, vec![x9]);
    assert!(plan.communes.is_empty());
    assert_eq!(plan.moves.len(), 2);
    assert!(plan.moves.iter().all(|m| m.1 == NewParent::Unit(x8)));

    let mut p = params(Scenario::Reform, 13);
    p.scale = 0.01;
    let r = eduioc_simulations::run_on(
        &topo,
        &p,
        eduioc_simulations::config(&p),
        std::time::Instant::now(),
    );
    assert!(r.check.ok, "{:?}", r.check.examples);
    assert_eq!(r.check.units_at_root, 2 + 10 + 20);
    assert_eq!(r.check.offices, 2 + 9, "x9 dissolved");
    assert_eq!(r.rejected.get("fork"), None);
}

/// `--provinces N` keeps the first N provinces of the whole country, unit for unit.
#[test]
fn vietnam_slice_is_a_prefix_of_the_country() {
    use eduioc_simulations::topology::{vietnam_2025, vietnam_2025_provinces};
    let all = vietnam_2025(1);
    let two = vietnam_2025_provinces(1, 2);
    assert_eq!(all.units.len(), 34 + 3_321 + 53_000 + 1);
    let levels = two.count_by_level();
    assert_eq!(levels.get("department"), Some(&2));
    assert!(two.units.len() < all.units.len() / 5);
    for (a, b) in two.units.iter().zip(&all.units) {
        assert_eq!((&a.id, a.parent), (&b.id, b.parent));
    }
}

#[test]
fn vietnam_enrols_about_24_million_at_full_scale() {
    use eduioc_simulations::topology::{drawn_size, vietnam_2025};
    use rand::{Rng, SeedableRng};
    for seed in [1, 2] {
        let t = vietnam_2025(seed);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut sizes: Vec<u64> = t
            .schools()
            .map(|s| drawn_size(t.units[s].school_level.unwrap(), rng.gen()))
            .collect();
        let total: u64 = sizes.iter().sum();
        assert!(
            (22_000_000..26_000_000).contains(&total),
            "seed {seed}: {total} students"
        );
        // Skewed towards small schools: the median is below the mean.
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        assert!(median * sizes.len() as u64 <= total, "median {median}");
    }
}
