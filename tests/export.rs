//! `eduioc export postgres` against a real PostgreSQL: a federation of 1+2+6 nodes exported
//! from the department, killed with SIGKILL at random moments and resumed, then followed
//! while a school re-imports and a school is re-parented.
#![allow(clippy::unwrap_used)]

mod harness;
mod pg;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{Net, BIN};
use rand::{Rng, SeedableRng};

/// The seed of the kill moments (printed, so a failure replays).
const SEED: u64 = 20261202;

/// What each school imported: kind → rows.
type Imported = BTreeMap<String, BTreeMap<String, usize>>;

fn import_everything(net: &Net) -> Imported {
    let mut out = Imported::new();
    for school in net.schools() {
        let files = harness::synth_files(7, &school, eduioc_synth::Size::Realistic);
        let level = harness::level_of(&school);
        let sd = eduioc_synth::school(7, &school, level, 2026, eduioc_synth::Size::Realistic);
        let mut all = files.files.clone();
        all.push((
            "results".into(),
            eduioc_synth::results_csv(7, &school, &sd, 2026, "HK1"),
        ));
        all.push((
            "health".into(),
            eduioc_synth::health_csv(7, &school, &sd, 2026, "2026-10-15"),
        ));
        all.push((
            "profile".into(),
            eduioc_synth::profile_csv(7, &school, 2026, sd.classes.len(), (21.0, 105.8)),
        ));
        for (kind, csv) in all {
            net.import(&school, &kind, &csv);
            let rows = csv.lines().skip(1).filter(|l| !l.is_empty()).count();
            out.entry(school.clone()).or_default().insert(kind, rows);
        }
    }
    out
}

fn export(net: &Net, url: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["export", "postgres", "--dir"])
        .arg(net.node_dir("so"))
        .args(["--url", url])
        .args(extra);
    c
}

/// CPU seconds process `pid` has used (user and system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name in parentheses: state is field 3; utime and stime 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz
}

/// Runs `export postgres --once` to its end; returns the last line it printed.
fn run_once(net: &Net, url: &str, extra: &[&str]) -> String {
    let mut args = vec!["--once"];
    args.extend_from_slice(extra);
    let out = export(net, url, &args).output().unwrap();
    assert!(
        out.status.success(),
        "export {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.lines().last().unwrap_or("").to_string()
}

fn count(db: &mut postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).unwrap().get(0)
}

/// Every document's rows are whole: as many rows of its unit and year as the documents
/// table says it had when its transaction committed.
fn no_half_document(db: &mut postgres::Client) -> Result<(), String> {
    let docs = db
        .query(
            "SELECT collection, unit, school_year, records FROM eduioc.documents",
            &[],
        )
        .unwrap();
    for d in docs {
        let (c, unit, year, n): (String, String, String, i32) =
            (d.get(0), d.get(1), d.get(2), d.get(3));
        let have = db
            .query_one(
                &format!("SELECT count(*) FROM eduioc.{c} WHERE unit = $1 AND school_year = $2"),
                &[&unit, &year],
            )
            .unwrap()
            .get::<_, i64>(0);
        if have != i64::from(n) {
            return Err(format!(
                "{c} of {unit} {year}: {have} rows, the document has {n}"
            ));
        }
    }
    Ok(())
}

/// Waits until everything every school imported is at the department: its indicators of
/// each school (students, classes, staff, results, health, profile) are the school's own.
fn everything_at_the_department(net: &Net) {
    net.wait_for("every school's data at the department", || {
        for school in net.schools() {
            let path = format!("/api/v1/indicators?unit={school}&term=HK1");
            let (_, own) = net.get(&school, &path);
            let (_, there) = net.get("so", &path);
            if own["indicators"] != there["indicators"] || own["indicators"].is_null() {
                return Err(format!(
                    "{school}: {} at the department, {} at the school",
                    there["indicators"], own["indicators"]
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn the_department_exported_to_postgres_is_exact_survives_kills_and_follows_changes() {
    let Some(pg) = pg::Pg::start() else { return };
    let mut net = Net::new(&harness::standard_tree());
    net.start_all();
    let imported = import_everything(&net);
    let students: usize = imported.values().map(|k| k["students"]).sum();
    everything_at_the_department(&net);
    // The figures the department has for every unit, once nothing moves any more.
    let year = net.stats("so", "so")["school_year"]
        .as_str()
        .unwrap()
        .to_string();

    // Killed with SIGKILL at ten moments of a first export (one document per transaction),
    // each time resumed.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
    let mut db = pg.client();
    let mut interrupted = 0;
    for kill in 0..10 {
        let delay = Duration::from_millis(rng.gen_range(30..600));
        let mut child = export(&net, &pg.url, &["--once", "--page-docs", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        interrupted += usize::from(!finished);
        if finished {
            assert!(
                out.status.success(),
                "export failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The schema may not exist yet if the kill came before the first statement.
        let exists = count(
            &mut db,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'eduioc' AND table_name = 'documents'",
        );
        if exists == 1 {
            no_half_document(&mut db)
                .unwrap_or_else(|e| panic!("after kill {kill} at {delay:?} (seed {SEED}): {e}"));
        }
    }
    assert!(interrupted > 0, "no kill landed during the export");
    let said = run_once(&net, &pg.url, &[]);
    eprintln!("{interrupted} of 10 kills (seed {SEED}) interrupted the export; then: {said}");
    // A second export from scratch into another schema: its throughput.
    let said = run_once(&net, &pg.url, &["--schema", "again"]);
    eprintln!("a whole export: {said}");
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM again.students"),
        count(&mut db, "SELECT count(*) FROM eduioc.students")
    );
    no_half_document(&mut db).unwrap();

    // Every record, once.
    for kind in [
        "students", "staff", "classes", "results", "health", "profile",
    ] {
        let want: usize = imported.values().map(|k| k[kind]).sum();
        let have = count(&mut db, &format!("SELECT count(*) FROM eduioc.{kind}"));
        assert_eq!(have as usize, want, "{kind}");
    }
    let enrolled = count(
        &mut db,
        "SELECT count(*) FROM eduioc.students WHERE status = 'enrolled'",
    );
    assert_eq!(
        enrolled as u64,
        net.stats("so", "so")["students"]["enrolled"]
            .as_u64()
            .unwrap()
    );
    // Every unit, with its parent.
    let units = db
        .query("SELECT unit, parent FROM eduioc.units ORDER BY unit", &[])
        .unwrap();
    assert_eq!(units.len(), net.units.len());
    for r in &units {
        let (unit, parent): (String, Option<String>) = (r.get(0), r.get(1));
        assert_eq!(parent, net.unit(&unit).parent, "{unit}");
    }
    // Every indicator equals the department's.
    let mut checked = 0;
    for u in &net.units {
        for term in ["HK1", "HK2", "CN"] {
            let (code, v) = net.get(
                "so",
                &format!("/api/v1/indicators?unit={}&year={year}&term={term}", u.id),
            );
            assert_eq!(code, 200, "{v}");
            for ind in v["indicators"].as_array().unwrap() {
                let name = ind["code"].as_str().unwrap();
                let row = db
                    .query_one(
                        "SELECT value FROM eduioc.indicators WHERE unit = $1 AND school_year = $2 AND term = $3 AND indicator = $4",
                        &[&u.id, &year, &term, &name],
                    )
                    .unwrap_or_else(|e| panic!("{} {term} {name}: {e}", u.id));
                let value: Option<f64> = row.get(0);
                let want = ind["value"].as_f64();
                match (value, want) {
                    (Some(a), Some(b)) => {
                        assert!((a - b).abs() < 1e-6, "{} {term} {name}: {a} vs {b}", u.id)
                    }
                    (a, b) => assert_eq!(a, b, "{} {term} {name}", u.id),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} indicators checked");

    // Following an idle department (the default interval): what it costs the node.
    let mut follower = export(&net, &pg.url, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let (node, exporter) = (net.pid("so"), follower.id());
    let (n0, e0, t0) = (cpu_seconds(node), cpu_seconds(exporter), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let wall = t0.elapsed().as_secs_f64();
    eprintln!(
        "following an idle department for {wall:.1} s: the node used {:.2}% of a core, the exporter {:.2}%",
        100.0 * (cpu_seconds(node) - n0) / wall,
        100.0 * (cpu_seconds(exporter) - e0) / wall
    );
    let _ = follower.kill();
    let _ = follower.wait();
    // Following: a school's re-import reaches PostgreSQL within seconds.
    let mut follower = export(&net, &pg.url, &["--interval-ms", "200"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let school = "thcs-a2";
    let csv = harness::synth_files(7, school, eduioc_synth::Size::Realistic)
        .files
        .into_iter()
        .find(|(k, _)| k == "students")
        .unwrap()
        .1;
    let first = csv.lines().nth(1).unwrap().to_string();
    let id = first.split(',').next().unwrap().to_string();
    let rounds: usize = std::env::var("EDUIOC_EXPORT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut took = Vec::new();
    for round in 0..rounds {
        let name = format!("Nguyễn Văn Theo Dõi {round}");
        let mut cols: Vec<&str> = first.split(',').collect();
        cols[1] = &name;
        let header = csv.lines().next().unwrap();
        let body = format!("{header}\n{}\n", cols.join(","));
        let t = Instant::now();
        net.import(school, "students", &body);
        net.wait_for("the re-imported name in PostgreSQL", || {
            let got: Option<String> = db
                .query_opt(
                    "SELECT full_name FROM eduioc.students WHERE unit = $1 AND record_id = $2",
                    &[&school, &id],
                )
                .map_err(|e| e.to_string())?
                .map(|r| r.get(0));
            if got.as_deref() == Some(name.as_str()) {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        });
        took.push(t.elapsed());
    }
    took.sort();
    eprintln!(
        "import at a school to its row in PostgreSQL (follow mode, {} rounds): median {:?}, max {:?}",
        took.len(),
        took[took.len() / 2],
        took[took.len() - 1]
    );
    // Re-parenting reaches the units table.
    let out = Command::new(BIN)
        .args(["topology", "reparent", "--dir"])
        .arg(net.node_dir("so"))
        .args(["--unit", "th-a1", "--parent", "pgd-b"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    net.wait_for("the new parent in PostgreSQL", || {
        let p: Option<String> = db
            .query_one("SELECT parent FROM eduioc.units WHERE unit = 'th-a1'", &[])
            .map_err(|e| e.to_string())?
            .get(0);
        if p.as_deref() == Some("pgd-b") {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
    let _ = follower.kill();
    let _ = follower.wait();
    no_half_document(&mut db).unwrap();
    // The node's store began again (its feed has another identity than the one exported):
    // everything is written again, and rows of a document it no longer has go.
    db.batch_execute(
        "UPDATE eduioc.export_state SET feed_epoch = 'an-older-store', feed_cursor = 999999;
         INSERT INTO eduioc.students (unit, school_year, record_id) VALUES ('gone', '2020-2021', 'x');
         INSERT INTO eduioc.documents (doc_key, unit, collection, school_year, feed_seq, records)
         VALUES ('gone/students/2020-2021', 'gone', 'students', '2020-2021', 1, 1);",
    )
    .unwrap();
    run_once(&net, &pg.url, &[]);
    assert_eq!(
        count(
            &mut db,
            "SELECT count(*) FROM eduioc.students WHERE unit = 'gone'"
        ),
        0
    );
    no_half_document(&mut db).unwrap();
    assert_eq!(
        count(&mut db, "SELECT count(*) FROM eduioc.students") as usize,
        students
    );
}

/// DuckDB's answer to `sql` (the Python package `duckdb`), one line per row, or `None`
/// when it is not installed and not required (`EDUIOC_DUCKDB_TESTS=require` in CI).
fn duckdb(sql: &str) -> Option<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import duckdb, sys\nfor r in duckdb.sql(sys.argv[1]).fetchall(): print(*r, sep='\\t')",
            sql,
        ])
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && err.contains("No module named 'duckdb'") {
        assert!(
            std::env::var("EDUIOC_DUCKDB_TESTS").as_deref() != Ok("require"),
            "EDUIOC_DUCKDB_TESTS=require but Python has no duckdb (pip install duckdb)"
        );
        eprintln!("DuckDB is not installed (pip install duckdb): test skipped");
        return None;
    }
    assert!(out.status.success(), "DuckDB failed on {sql}: {err}");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn the_department_s_parquet_files_read_by_duckdb_give_its_counts() {
    if duckdb("SELECT 1").is_none() {
        return;
    }
    let mut net = Net::new(&harness::standard_tree());
    net.start_all();
    let imported = import_everything(&net);
    everything_at_the_department(&net);
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let run = Command::new(BIN)
        .args(["export", "parquet", "--dir"])
        .arg(net.node_dir("so"))
        .args(["--out", dir])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&run.stdout));
    let stats = net.stats("so", "so");
    let year = stats["school_year"].as_str().unwrap().to_string();
    let q = |sql: &str| duckdb(&sql.replace("DIR", dir)).unwrap();
    for kind in [
        "students", "staff", "classes", "results", "health", "profile",
    ] {
        let want: usize = imported.values().map(|k| k[kind]).sum();
        let have = q(&format!("SELECT count(*) FROM 'DIR/{kind}_{year}.parquet'"));
        assert_eq!(have, want.to_string(), "{kind}");
    }
    for (status, key) in [("enrolled", "enrolled"), ("dropped_out", "dropped_out")] {
        let have = q(&format!(
            "SELECT count(*) FROM 'DIR/students_*.parquet' WHERE status = '{status}'"
        ));
        assert_eq!(have, stats["students"][key].to_string(), "{status}");
    }
    assert_eq!(
        q("SELECT count(*) FROM 'DIR/classes_*.parquet'"),
        stats["classes"].to_string()
    );
    // Typed columns: dates are dates, counts are numbers.
    assert_eq!(
        q("SELECT typeof(birth_date), typeof(grade) FROM 'DIR/students_*.parquet' LIMIT 1"),
        "DATE\tVARCHAR"
    );
    assert_eq!(
        q("SELECT count(*) FROM 'DIR/units.parquet'"),
        net.units.len().to_string()
    );
    // Enrolled per district, joined with the units file, as an analyst would.
    let per_district = q("SELECT u.parent, count(*) FROM 'DIR/students_*.parquet' s \
         JOIN 'DIR/units.parquet' u ON u.unit = s.unit WHERE s.status = 'enrolled' \
         GROUP BY u.parent ORDER BY u.parent");
    for line in per_district.lines() {
        let (district, n) = line.split_once('\t').unwrap();
        assert_eq!(
            n,
            net.stats("so", district)["students"]["enrolled"].to_string(),
            "{district}"
        );
    }
    // The indicators are the department's.
    let (_, ind) = net.get(
        "so",
        &format!("/api/v1/indicators?unit=so&year={year}&term=HK1"),
    );
    for i in ind["indicators"].as_array().unwrap() {
        let code = i["code"].as_str().unwrap();
        let have = q(&format!(
            "SELECT value FROM 'DIR/indicators_{year}.parquet' \
             WHERE unit = 'so' AND term = 'HK1' AND indicator = '{code}'"
        ));
        match i["value"].as_f64() {
            Some(v) => assert!(
                (have.parse::<f64>().unwrap() - v).abs() < 1e-6,
                "{code}: {have} vs {v}"
            ),
            None => assert_eq!(have, "None", "{code}"),
        }
    }
}
