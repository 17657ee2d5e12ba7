//! `eduioc demo`: a realistic federation on this machine, every node a real node.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use eduioc_synth::{SchoolLevel, Size};

use crate::config::NodeDir;
use crate::node::{self, Running};
use crate::topology::{self, Topology, Unit};

/// Options of the demo.
pub(crate) struct Options {
    /// HTTP address of the department.
    pub(crate) http: SocketAddr,
    /// Whether the department's address may be non-loopback (`--public-http`).
    pub(crate) public_http: bool,
    /// Data directory (reused when it already holds a demo).
    pub(crate) data: Option<PathBuf>,
    /// Seed of the synthetic data.
    pub(crate) seed: u64,
    /// Districts.
    pub(crate) districts: usize,
    /// Schools per district.
    pub(crate) schools: std::ops::RangeInclusive<usize>,
    /// Size of the school rosters.
    pub(crate) size: Size,
}

/// A free loopback port below Linux's ephemeral range (32768-60999): nodes started
/// earlier open outgoing connections on ephemeral ports, which must not take a port
/// chosen for a node that has not bound it yet.
fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(21_000);
    for _ in 0..10_000 {
        let port = NEXT.fetch_add(1, Ordering::Relaxed);
        if port >= 32_000 {
            break;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port between 21000 and 32000 on 127.0.0.1")
}

/// Each unit's id and, for schools, its level.
type Levels = Vec<(String, Option<SchoolLevel>)>;

/// Builds the demo topology from synthetic units.
pub(crate) fn demo_topology(opts: &Options) -> Result<(Topology, Levels)> {
    let mut specs = eduioc_synth::province(opts.seed, opts.districts, opts.schools.clone());
    // A preschool in every district (mầm non), after its other schools.
    let districts: Vec<(String, String)> = specs
        .iter()
        .filter(|s| s.level == "district")
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    for (id, name) in districts {
        let place = name.trim_start_matches("Phòng GD&ĐT").trim().to_string();
        let at = specs
            .iter()
            .rposition(|s| s.parent.as_deref() == Some(id.as_str()) || s.id == id)
            .map_or(specs.len(), |i| i + 1);
        specs.insert(
            at,
            eduioc_synth::UnitSpec {
                id: format!("mn-{}", id.trim_start_matches("pgd-")),
                name: format!("Trường Mầm non {place}"),
                level: "school".into(),
                parent: Some(id),
                school_level: Some(SchoolLevel::Preschool),
            },
        );
    }
    let mut units = Vec::new();
    let mut levels = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let http = if i == 0 {
            opts.http.to_string()
        } else {
            format!("127.0.0.1:{}", free_port()?)
        };
        units.push(Unit {
            id: s.id.clone(),
            name: s.name.clone(),
            level: s.level.clone(),
            parent: s.parent.clone(),
            p2p: format!("/ip4/127.0.0.1/tcp/{}", free_port()?),
            http,
        });
        levels.push((s.id.clone(), s.school_level));
    }
    Ok((
        Topology {
            network: "hanoi-demo".into(),
            units,
        },
        levels,
    ))
}

/// Runs the demo until Ctrl-C.
pub(crate) async fn run(opts: Options) -> Result<()> {
    let data = opts
        .data
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("eduioc-demo-{}", opts.seed)));
    let started = std::time::Instant::now();
    let (topo, levels) = demo_topology(&opts)?;
    // The demo starts afresh each time, but never wipes a directory it did not write.
    let is_empty = std::fs::read_dir(&data)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true);
    if data.exists() && !is_empty && !data.join("topology.toml").exists() {
        anyhow::bail!(
            "{} exists and is not an earlier demo's data directory; choose another --data",
            data.display()
        );
    }
    topology::generate(&topo, &data, true, Some(opts.seed))
        .context("writing the demo's node directories")?;
    crate::files::write_private(
        &data.join("topology.toml"),
        toml::to_string(&topo)?.as_bytes(),
    )?;
    let mut nodes: Vec<Running> = Vec::new();
    for u in &topo.units {
        let mut nd = NodeDir::load(&data.join(&u.id))?;
        nd.toml.public_http = opts.public_http;
        nodes.push(node::start(&nd).await?);
    }
    let year_start = school_year_start();
    // Schools fill their rosters at the same time, as many at once as there are cores
    // (each import holds only its own school's engine).
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(cores));
    let mut imports = tokio::task::JoinSet::new();
    for (i, (n, (unit, level))) in nodes.iter().zip(&levels).enumerate() {
        let Some(level) = *level else { continue };
        let (engine, net, unit) = (n.engine.clone(), n.net.clone(), unit.clone());
        let (seed, size, permits) = (opts.seed, opts.size, permits.clone());
        let district = district_of(&topo, &unit);
        imports.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            // Two school years, so that change over time shows.
            let u = unit.clone();
            let (prev, cur) = tokio::task::spawn_blocking(move || {
                let prev = eduioc_synth::school(seed, &u, level, year_start - 1, size);
                let cur = eduioc_synth::next_year(seed, &prev, &u, level, year_start, size);
                // What an operations center must notice: a few oversized classes, a few
                // schools whose dropout rises.
                let cur = match i % 6 {
                    1 => eduioc_synth::crowd_first_class(&cur, 12),
                    4 => eduioc_synth::more_dropouts(&cur, 30),
                    _ => cur,
                };
                (prev, cur)
            })
            .await?;
            let (last, this) = (
                eduioc_synth::school_year_label(year_start - 1),
                eduioc_synth::school_year_label(year_start),
            );
            import_all(&engine, &prev, &last).await?;
            import_all(&engine, &cur, &this).await?;
            // One school in nine has not sent its profile yet.
            let with_profile = i % 9 != 4;
            let reports = reports(
                seed,
                &unit,
                &district,
                year_start,
                (&prev, &cur),
                with_profile,
            );
            for (year, kind, csv) in reports {
                import_one(&engine, &year, kind, csv).await?;
            }
            anyhow::Ok((i, unit, engine, net, cur))
        });
    }
    let mut students = 0usize;
    let mut flaky = Vec::new();
    let mut done = Vec::new();
    while let Some(r) = imports.join_next().await {
        done.push(r.context("an import task failed")??);
    }
    done.sort_by_key(|d| d.0);
    students += enrol_twice(&topo, &done, year_start).await?;
    set_targets(&topo, &nodes, year_start).await?;
    for (i, unit, engine, net, cur) in done {
        students += cur.enrolled().count();
        if i % 7 == 3 {
            flaky.push((unit, engine, net, cur));
        }
    }
    let flaky_ids: Vec<&str> = flaky.iter().map(|f| f.0.as_str()).collect();
    println!(
        "{}",
        banner(
            &topo,
            &nodes,
            &data,
            students,
            &flaky_ids,
            started.elapsed()
        )
    );
    let schools = levels.iter().filter(|(_, l)| l.is_some()).count() as u64;
    let complete = tokio::spawn(report_complete(
        nodes[0].engine.clone(),
        schools,
        students as u64,
        started,
    ));
    let schedule = tokio::spawn(intermittent_links(flaky));
    node::shutdown_signal().await;
    schedule.abort();
    complete.abort();
    println!("stopping {} nodes…", nodes.len());
    for n in nodes {
        n.stop().await;
    }
    Ok(())
}

/// The name of the district `unit` is in (its parent's name without "Phòng GD&ĐT").
fn district_of(topo: &Topology, unit: &str) -> String {
    let parent = topo
        .units
        .iter()
        .find(|u| u.id == unit)
        .and_then(|u| u.parent.clone());
    let name = topo
        .units
        .iter()
        .find(|u| Some(&u.id) == parent.as_ref())
        .map_or("", |u| u.name.as_str());
    name.trim_start_matches("Phòng GD&ĐT").trim().to_string()
}

/// What a school reports besides its rosters: last year's whole-year results, this
/// year's first-term results, health examinations and (at most schools) its profile.
fn reports(
    seed: u64,
    unit: &str,
    district: &str,
    year_start: i32,
    (prev, cur): (&eduioc_synth::SchoolData, &eduioc_synth::SchoolData),
    with_profile: bool,
) -> Vec<(String, &'static str, String)> {
    let (last, this) = (
        eduioc_synth::school_year_label(year_start - 1),
        eduioc_synth::school_year_label(year_start),
    );
    // The school's health day: mid-September, or today if that is still to come.
    let today = chrono::Utc::now().date_naive();
    let health_day = chrono::NaiveDate::from_ymd_opt(year_start, 9, 15)
        .map_or(today, |d| d.min(today))
        .format("%Y-%m-%d")
        .to_string();
    let mut out = vec![
        (
            last.clone(),
            "results",
            eduioc_synth::results_csv(seed, unit, prev, year_start - 1, "CN"),
        ),
        (
            this.clone(),
            "results",
            eduioc_synth::results_csv(seed, unit, cur, year_start, "HK1"),
        ),
        (
            this.clone(),
            "health",
            eduioc_synth::health_csv(seed, unit, cur, year_start, &health_day),
        ),
    ];
    let place = eduioc_synth::school_place(seed, unit, district);
    if let (Some(place), true) = (place, with_profile) {
        let profile = eduioc_synth::profile_csv(seed, unit, year_start, cur.classes.len(), place);
        out.push((this, "profile", profile));
    }
    out
}

/// One child enrolled at two schools of the first district under the same personal id
/// (mã định danh), as happens when a transfer is recorded at the new school only: the
/// district's alerts show it. Returns the students added (2).
async fn enrol_twice(
    topo: &Topology,
    done: &[(
        usize,
        String,
        eduioc_engine::EngineHandle,
        eduioc_net::Client,
        eduioc_synth::SchoolData,
    )],
    year_start: i32,
) -> Result<usize> {
    let district = topo.units.get(1).map(|u| u.id.clone());
    let twins: Vec<_> = done
        .iter()
        .filter(|d| {
            topo.units
                .iter()
                .any(|u| u.id == d.1 && u.parent == district)
        })
        .take(2)
        .collect();
    if twins.len() < 2 {
        return Ok(0);
    }
    let year = eduioc_synth::school_year_label(year_start);
    for (n, (_, unit, engine, _, cur)) in twins.into_iter().enumerate() {
        let Some(class) = cur.classes.first() else {
            continue;
        };
        // The same personal id at both schools.
        let csv = format!(
            "{},personal_id\nhs-{unit}-trung-{n},Nguyễn Minh Trung,M,{}-03-12,{},{},Kinh,enrolled,001214009999\n",
            eduioc_synth::STUDENTS_HEADER,
            year_start - 5 - i32::from(class.grade),
            class.grade,
            class.class_id,
        );
        import_one(engine, &year, "students", csv).await?;
    }
    Ok(2)
}

/// Targets of this school year: the department's for every district (dropout, class
/// size, qualified teachers) and for the province (every school reporting); each
/// district's for its schools (good results, malnutrition). Some are met, some not.
async fn set_targets(topo: &Topology, nodes: &[Running], year_start: i32) -> Result<()> {
    let year = eduioc_synth::school_year_label(year_start);
    let mut plan: Vec<(usize, String, &str, &str, f64)> = Vec::new();
    let root = topo.units[0].id.clone();
    plan.push((0, root.clone(), "reporting_rate", ">=", 100.0));
    for (i, u) in topo.units.iter().enumerate() {
        match u.parent.as_deref() {
            Some(p) if p == root => {
                plan.push((0, u.id.clone(), "dropout_rate", "<=", 0.8));
                plan.push((0, u.id.clone(), "students_per_class", "<=", 35.0));
                plan.push((0, u.id.clone(), "teachers_qualified_rate", ">=", 98.0));
            }
            Some(p) => {
                if let Some(d) = topo.units.iter().position(|x| x.id == p) {
                    plan.push((d, u.id.clone(), "academic_good_rate", ">=", 65.0));
                    if i % 3 == 0 {
                        plan.push((d, u.id.clone(), "malnutrition_rate", "<=", 8.0));
                    }
                }
            }
            None => {}
        }
    }
    for (at, unit, indicator, op, value) in plan {
        let engine = nodes[at].engine.clone();
        let year = year.clone();
        engine
            .call(move |e| e.set_target(&unit, &year, indicator, op, value))
            .await??;
    }
    Ok(())
}

fn school_year_start() -> i32 {
    eduioc_engine::school_year_at(chrono::Utc::now().timestamp_millis())
        .split('-')
        .next()
        .and_then(|y| y.parse().ok())
        .unwrap_or(2026)
}

/// Imports a school's rosters of `year` through the same path as
/// `POST /api/v1/import/{kind}?year=`.
pub(crate) async fn import_all(
    engine: &eduioc_engine::EngineHandle,
    sd: &eduioc_synth::SchoolData,
    year: &str,
) -> Result<()> {
    for (kind, csv) in [
        ("classes", &sd.classes_csv),
        ("staff", &sd.staff_csv),
        ("students", &sd.students_csv),
    ] {
        import_one(engine, year, kind, csv.clone()).await?;
    }
    Ok(())
}

async fn import_one(
    engine: &eduioc_engine::EngineHandle,
    year: &str,
    kind: &str,
    csv: String,
) -> Result<()> {
    let engine = engine.clone();
    let (year, kind) = (year.to_string(), kind.to_string());
    engine
        .call(move |e| e.import_into(&year, &kind, Some("text/csv"), csv.as_bytes()))
        .await??;
    Ok(())
}

/// Says when the department's figures first include every school's roster: from then on
/// its dashboard shows the whole province.
async fn report_complete(
    root: eduioc_engine::EngineHandle,
    schools: u64,
    students: u64,
    started: std::time::Instant,
) {
    loop {
        let stats = root.call(|e| e.stats(None)).await;
        if let Ok(Ok(s)) = stats {
            if s.schools_reporting == schools && s.students.enrolled == students {
                println!(
                    "The department holds every school's data ({students} students), {:.1}s after start.",
                    started.elapsed().as_secs_f64()
                );
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A school whose link comes and goes: its unit id, engine, network client, roster.
type Flaky = (
    String,
    eduioc_engine::EngineHandle,
    eduioc_net::Client,
    eduioc_synth::SchoolData,
);

/// Takes the uplink of a few schools down 40 s in every 100 s; while offline each records
/// a dropout, which reaches the department when the link returns.
async fn intermittent_links(schools: Vec<Flaky>) {
    let year = eduioc_synth::school_year_label(school_year_start());
    let mut round = 0usize;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        for (_, engine, net, data) in &schools {
            net.set_uplink(false).await;
            if let Some(s) = data.enrolled().nth(round) {
                let mut st = s.clone();
                st.status = "dropped_out".into();
                let csv = eduioc_synth::students_csv(&[st]);
                if let Err(e) = import_one(engine, &year, "students", csv).await {
                    tracing::warn!(error = %e, "offline edit failed");
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(40)).await;
        for (_, _, net, _) in &schools {
            net.set_uplink(true).await;
        }
        round += 1;
    }
}

fn banner(
    topo: &Topology,
    nodes: &[Running],
    data: &Path,
    students: usize,
    flaky: &[&str],
    took: std::time::Duration,
) -> String {
    let mut s = String::new();
    let root = &nodes[0];
    let _ = writeln!(
        s,
        "\nEduIOC demo — {} nodes on this machine, {} enrolled students, two school years, ready in {:.1}s",
        nodes.len(),
        students,
        took.as_secs_f64()
    );
    let _ = writeln!(s, "data: {}\n", data.display());
    let _ = writeln!(s, "Department ({}):", topo.units[0].name);
    let _ = writeln!(s, "  URL:   http://{}/", root.http);
    let _ = writeln!(
        s,
        "  Login: admin / {}",
        root.admin_password
            .as_deref()
            .unwrap_or("(no admin.password file)")
    );
    let _ = writeln!(
        s,
        "  API:   curl -H 'Authorization: Bearer {}' http://{}/api/v1/stats",
        root.token, root.http
    );
    let _ = writeln!(
        s,
        "  Operations center: http://{0}/ops (indicators and targets), http://{0}/alerts, \
         http://{0}/forecast/{1}, http://{0}/map/{1}",
        root.http, topo.units[0].id
    );
    let _ = writeln!(
        s,
        "\nEvery node (unit, level, URL, login admin / password, API token):"
    );
    for (u, n) in topo.units.iter().zip(nodes) {
        let _ = writeln!(
            s,
            "  {:<28} {:<10} http://{:<21} admin / {:<14}  {}",
            u.id,
            u.level,
            n.http.to_string(),
            n.admin_password.as_deref().unwrap_or("-"),
            n.token
        );
    }
    if !flaky.is_empty() {
        let _ = writeln!(
            s,
            "\n{} schools have an intermittent link, offline 40 s in every 100 s and working offline meanwhile: {}",
            flaky.len(),
            flaky.join(", ")
        );
    }
    let _ = writeln!(s, "\nCtrl-C stops the federation.");
    s
}
