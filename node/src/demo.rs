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

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Builds the demo topology from synthetic units.
pub(crate) fn demo_topology(opts: &Options) -> Result<(Topology, Vec<(String, Option<SchoolLevel>)>)> {
    let specs = eduioc_synth::province(opts.seed, opts.districts, opts.schools.clone());
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
    topology::generate(&topo, &data, true, Some(opts.seed)).context("writing the demo's node directories")?;
    std::fs::write(data.join("topology.toml"), toml::to_string(&topo)?)?;
    let mut nodes: Vec<Running> = Vec::new();
    for u in &topo.units {
        let nd = NodeDir::load(&data.join(&u.id))?;
        nodes.push(node::start(&nd).await?);
    }
    let year_start = school_year_start();
    let mut students = 0usize;
    for (n, (unit, level)) in nodes.iter().zip(&levels) {
        let Some(level) = level else { continue };
        let sd = eduioc_synth::school(opts.seed, unit, *level, year_start, opts.size);
        students += sd.students.len();
        import_all(n, &sd).await?;
    }
    println!("{}", banner(&topo, &nodes, &data, students, started.elapsed()));
    node::shutdown_signal().await;
    println!("stopping {} nodes…", nodes.len());
    for n in nodes {
        n.stop().await;
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

/// Imports a school's rosters through the same path as `POST /api/v1/import/{kind}`.
pub(crate) async fn import_all(n: &Running, sd: &eduioc_synth::SchoolData) -> Result<()> {
    for (kind, csv) in [("classes", &sd.classes_csv), ("staff", &sd.staff_csv), ("students", &sd.students_csv)] {
        let engine = n.engine.clone();
        let body = csv.clone().into_bytes();
        let kind_s = kind.to_string();
        let author = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut e = engine.lock().map_err(|_| anyhow::anyhow!("engine lock poisoned"))?;
            e.import(&kind_s, Some("text/csv"), &body)?;
            Ok(e.id())
        })
        .await??;
        n.net.appended(vec![author]).await;
        let _ = kind;
    }
    Ok(())
}

fn banner(topo: &Topology, nodes: &[Running], data: &Path, students: usize, took: std::time::Duration) -> String {
    let mut s = String::new();
    let root = &nodes[0];
    let _ = writeln!(s, "\nEduIOC demo — {} nodes on this machine, {} students, ready in {:.1}s", nodes.len(), students, took.as_secs_f64());
    let _ = writeln!(s, "data: {}\n", data.display());
    let _ = writeln!(s, "Department ({}):", topo.units[0].name);
    let _ = writeln!(s, "  URL:   http://{}/", root.http);
    let _ = writeln!(s, "  Login: admin / {}", root.admin_password.as_deref().unwrap_or("(no admin.password file)"));
    let _ = writeln!(s, "  API:   curl -H 'Authorization: Bearer {}' http://{}/api/v1/stats", root.token, root.http);
    let _ = writeln!(s, "\nEvery node (unit, level, URL, login admin / password, API token):");
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
    let _ = writeln!(s, "\nCtrl-C stops the federation.");
    s
}
