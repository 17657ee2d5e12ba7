//! The network loop never waits for the engine: while the parent's engine is busy (a job
//! holds its thread, as a long ingest or import does), the parent still answers its
//! child's `Heights`, so the link stays working and comparisons go on.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use eduioc_engine::{Clock, Engine, EngineHandle, Store};
use eduioc_net::{Client, Network};
use eduioc_protocol::{CertBody, Certificate, NodeKey};

fn cert(
    root: &NodeKey,
    unit: &str,
    level: &str,
    parent: Option<&str>,
    key: &NodeKey,
) -> Certificate {
    Certificate::issue(
        CertBody {
            unit: unit.into(),
            name: unit.into(),
            level: level.into(),
            parent: parent.map(str::to_string),
            key: key.id(),
            version: 1,
            effective_ms: 0,
            delegate: level != "school",
            issuer: root.id(),
        },
        root,
    )
}

fn engine(unit: &str, key: &NodeKey, root: &NodeKey, certs: &[Certificate]) -> EngineHandle {
    Engine::open_with(
        eduioc_engine::Config {
            unit: unit.into(),
            key: key.clone(),
            root_key: root.id(),
            certs: certs.to_vec(),
            data_dir: std::path::PathBuf::new(),
            doc_cache: 8,
            doc_cache_bytes: eduioc_engine::DEFAULT_DOC_CACHE_BYTES,
            school_year: Some("2026-2027".into()),
        },
        Store::in_memory().unwrap(),
        Clock::system(),
    )
    .unwrap()
    .spawn()
    .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn last_sync(child: &Client) -> Option<i64> {
    let links = child.links();
    let l = links.lock().unwrap();
    l.parent
        .as_ref()
        .filter(|p| p.connected)
        .and_then(|p| p.last_sync_ms)
}

/// Waits until `f` holds, at most a minute (a loaded machine is slow, not wrong).
async fn until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parent_answers_while_its_engine_is_busy() {
    let root = NodeKey::from_secret([1; 32]);
    let district = NodeKey::from_secret([2; 32]);
    let certs = vec![
        cert(&root, "so", "department", None, &root),
        cert(&root, "pgd", "district", Some("so"), &district),
    ];
    let dept = engine("so", &root, &root, &certs);
    let pgd = engine("pgd", &district, &root, &certs);
    let port = free_port();
    let addr: eduioc_net::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let cfg = |listen: eduioc_net::Multiaddr, parent| eduioc_net::Config {
        listen,
        parent,
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        // The child compares heights every 100 ms: the parent must answer each.
        resync_interval: Duration::from_millis(100),
        ..eduioc_net::Config::default()
    };
    let (net, _dept_client) = Network::new(dept.clone(), cfg(addr.clone(), None)).unwrap();
    tokio::spawn(net.run());
    let child_addr = format!("/ip4/127.0.0.1/tcp/{}", free_port())
        .parse()
        .unwrap();
    let (net, child) =
        Network::new(pgd.clone(), cfg(child_addr, Some(("so".into(), addr)))).unwrap();
    tokio::spawn(net.run());
    until("the district's link to the department works", || {
        last_sync(&child).is_some()
    })
    .await;

    // A job keeps the department's engine busy until released.
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, held) = std::sync::mpsc::channel::<()>();
    dept.cast(move |_| {
        started_tx.send(()).unwrap();
        let _ = held.recv();
    });
    started.recv().unwrap();
    // Exchanges go on: the parent answers heights from its published state and the store.
    let before = last_sync(&child).unwrap();
    until("the busy department answers its child", || {
        last_sync(&child).is_some_and(|t| t > before + 300)
    })
    .await;
    // The engine itself was busy all along: a call waits for the job.
    let (tx, rx) = std::sync::mpsc::channel();
    let probe = dept.clone();
    std::thread::spawn(move || tx.send(probe.call_blocking(|e| e.unit().to_string())));
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "the engine was not busy"
    );
    release.send(()).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(60)).unwrap().unwrap(),
        "so"
    );
}
