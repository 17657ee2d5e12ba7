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
