//! Measurement (ignored; run with `--release -- --ignored --nocapture`): what the
//! operations center's reads cost at an office holding many schools' full data.

use std::time::{Duration, Instant};

use super::*;

fn percentiles(mut d: Vec<Duration>) -> String {
    d.sort();
    let at = |p: f64| d[((d.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[test]
#[ignore = "measurement; run explicitly"]
fn ops_reads_at_an_office_with_many_schools() {
    let n: usize = env_or("EDUIOC_OPS_SCHOOLS", 300);
    // `EDUIOC_OPS_TINY=1`: two classes a school, for offices of thousands of schools (the
    // reads walk units and documents; the size of a roster does not enter them).
    let tiny = std::env::var("EDUIOC_OPS_TINY").is_ok();
    let roster = |i: usize| {
        if tiny {
            eduioc_synth::school(
                i as u64,
                &format!("s{i}"),
                eduioc_synth::SchoolLevel::Primary,
                2026,
                eduioc_synth::Size::Tiny,
            )
        } else {
            roster(i)
        }
    };
    let w = World::with_schools(n);
    let started = Instant::now();
    // In memory: the build is bound by fsyncs otherwise (2,835 schools: 17 minutes).
    let open = |unit: &str, cache: usize| {
        Engine::open_with(
            w.config(unit, unit, cache),
            Store::in_memory().unwrap(),
            Clock::system(),
        )
        .unwrap()
    };
    let district = open("pgd", DEFAULT_DOC_CACHE).spawn().unwrap();
    let mut students = 0;
    for i in 1..=n {
        let unit = format!("s{i}");
        let (last, this) = (roster(i), roster(i + n));
        let mut e = open(&unit, 4);
        for (year, data) in [("2025-2026", &last), ("2026-2027", &this)] {
            for (kind, csv) in [
                ("classes", &data.classes_csv),
                ("staff", &data.staff_csv),
                ("students", &data.students_csv),
            ] {
                e.import_into(year, kind, Some("text/csv"), csv.as_bytes())
                    .unwrap();
            }
        }
        students += this.enrolled().count();
        let reports = [
            (
                "results",
                eduioc_synth::results_csv(7, &unit, &this, 2026, "HK1"),
            ),
            (
                "health",
                eduioc_synth::health_csv(7, &unit, &this, 2026, "2026-09-15"),
            ),
            (
                "profile",
                eduioc_synth::profile_csv(7, &unit, 2026, this.classes.len(), (21.0, 105.8)),
            ),
        ];
        for (kind, csv) in reports {
            e.import_into("2026-2027", kind, Some("text/csv"), csv.as_bytes())
                .unwrap();
        }
        deliver(&e, &district);
    }
    for i in (1..=n).step_by(10) {
        let unit = format!("s{i}");
        district
            .call_blocking(move |d| {
                d.set_target(&unit, "2026-2027", "academic_good_rate", ">=", 70.0)
            })
            .unwrap()
            .unwrap();
    }
    println!(
        "{n} schools, {students} enrolled students this year, two years, all six kinds: \
         built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let views = district.views();
    let time = |what: &str, f: &dyn Fn()| {
        let mut t = Vec::new();
        for _ in 0..100 {
            let s = Instant::now();
            f();
            t.push(s.elapsed());
        }
        println!("{what:<40} {}", percentiles(t));
    };
    time("stats", &|| {
        views.figures().stats(None).unwrap();
    });
    time("indicators", &|| {
        views.figures().indicators(None, None, None).unwrap();
    });
    time("targets (with their actual values)", &|| {
        views.figures().targets(None, None).unwrap();
    });
    let alerts = views.figures().alerts(None, None).unwrap();
    time("alerts", &|| {
        views.figures().alerts(None, None).unwrap();
    });
    time("forecast (5 years)", &|| {
        views.figures().forecast(None, 5).unwrap();
    });
    time("completeness", &|| {
        views.figures().completeness(None, "2026-2027").unwrap();
    });
    println!("{} alerts; RSS {} MiB", alerts.len(), rss_kib() / 1024);
}
