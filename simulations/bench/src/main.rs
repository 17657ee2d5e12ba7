//! `eduioc-bench`: how close EduIOC's sync comes to the limits of the libraries it stands
//! on, and to the obvious alternative, Automerge's own per-document sync protocol.
//!
//! Every figure is measured in the same run, on the same data, on one thread:
//! - **limit (a)**: batch-verify every entry's signature, plus the fastest way Automerge
//!   materialises the same documents (`load` of saved documents, or `apply_changes` of the
//!   compressed changes, whichever is faster);
//! - **peer (b)**: the same documents synchronised from empty with Automerge's sync
//!   protocol, one document at a time, as automerge-repo does (bytes and time);
//! - **ours**: a department starting empty ingests a district's logs through the real
//!   `sync::Session` and real frames into the real engine (`Engine::open_with` on an
//!   in-memory redb store): validation, Automerge, summaries, look-up indexes, commits;
//! - **stats**: `Engine::stats` (real redb store) at Hanoi's shape, p50 and p99;
//! - **catch-up**: a district offline for 30 days while 1% of records changed.
//!
//! Run: `cargo run --release -p eduioc-bench -- --out BENCHMARKS.md`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use automerge::sync::SyncDoc;
use clap::Parser;
use eduioc_protocol::snapshot::{self, Held};
use eduioc_protocol::sync::{LogSource, Role, Session};
use eduioc_protocol::wire::{self, Request, Response};
use eduioc_protocol::{CertBody, Certificate, Directory, DocId, Entry, NodeId, NodeKey, Payload};
use eduioc_records::Collection;

/// Command line.
#[derive(Parser)]
struct Args {
    /// Schools in the district slice (Hanoi averages 94 per district).
    #[arg(long, default_value_t = 100)]
    schools: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 2025)]
    seed: u64,
    /// Write the report here (Markdown) as well as to stdout.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Rows per Automerge commit at the schools (FACTS.md measured 100).
    #[arg(long, default_value_t = 100)]
    commit_every: usize,
    /// Also measure end to end: a department node (redb + libp2p over loopback, in its own
    /// process) ingesting from this many district nodes, each holding a copy of the slice's
    /// logs re-signed for its own schools; and from one such district, to compare the
    /// department's memory.
    #[arg(long, default_value_t = 0)]
    e2e_districts: usize,
    /// Internal: run as the end-to-end department, in this data directory.
    #[arg(long, hide = true)]
    e2e_child: Option<std::path::PathBuf>,
    /// Internal: the end-to-end department's port.
    #[arg(long, hide = true, default_value_t = 0)]
    e2e_port: u16,
}

/// Most Automerge documents an engine holds loaded (the department's `doc_cache`).
const DOC_CACHE: usize = 16;

const YEAR: &str = "2026-2027";

/// Rounds of each timed measure of the initial sync; the median is reported.
const ROUNDS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn key(seed: u64, i: u64) -> NodeKey {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&i.to_le_bytes());
    s[16] = 0xed;
    NodeKey::from_secret(s)
}

fn cert(root: &NodeKey, unit: &str, parent: Option<&str>, level: &str, k: &NodeKey) -> Certificate {
    Certificate::issue(
        CertBody {
            unit: unit.into(),
            name: unit.into(),
            level: level.into(),
            parent: parent.map(str::to_string),
            key: k.id(),
            version: 1,
            effective_ms: 0,
            delegate: level != "school",
            issuer: root.id(),
        },
        root,
    )
}

fn students_doc(unit: &str) -> DocId {
    DocId {
        unit: unit.into(),
        collection: "students".into(),
        year: YEAR.into(),
    }
}

/// The time the schools' engines stamp their entries with (Unix ms), moved by hand.
#[derive(Clone, Default)]
struct BenchClock(Arc<AtomicI64>);

impl BenchClock {
    fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::Relaxed);
    }

    fn clock(&self) -> eduioc_engine::Clock {
        let at = self.0.clone();
        eduioc_engine::Clock::new(move || at.load(Ordering::Relaxed))
    }
}

/// One school: the real engine on an in-memory store (its log, its document and when it
/// signs a snapshot entry are the engine's), and the roster it imports.
struct School {
    engine: eduioc_engine::Engine,
    students: Vec<eduioc_records::Row>,
}

impl School {
    fn new(
        unit: &str,
        key: NodeKey,
        certs: &[Certificate],
        clock: &BenchClock,
        students: Vec<eduioc_records::Row>,
    ) -> Result<School> {
        let engine = memory_engine(unit, key, certs, clock.clock())?;
        Ok(School { engine, students })
    }

    /// Imports `rows` into the students document: one engine upsert (signed entries, and
    /// a snapshot entry when one is due).
    fn commit(&mut self, rows: &[eduioc_records::Row]) -> Result<()> {
        self.engine.upsert(Collection::Students, rows)?;
        Ok(())
    }

    /// Entries of the school's own log.
    fn height(&self) -> u64 {
        self.engine.height(&self.engine.id())
    }

    /// The school's own log from seq `from` on, as signed.
    fn log_from(&self, from: u64) -> Result<Vec<Entry>> {
        let raw = self
            .engine
            .entries(&self.engine.id(), from, usize::MAX, usize::MAX);
        Ok(raw
            .iter()
            .map(|(_, b)| Entry::decode(b))
            .collect::<Result<_, _>>()?)
    }

    /// The students document saved whole.
    fn save(&mut self) -> Result<Vec<u8>> {
        let doc = students_doc(self.engine.unit());
        self.engine
            .save_doc(&doc)?
            .context("the school holds no students document")
    }

    /// Bytes of the entries after seq `from`, how many of them are snapshot entries, and
    /// their bytes.
    fn new_bytes_since(&self, from: u64) -> Result<(usize, usize, usize)> {
        let new = self.log_from(from + 1)?;
        let snaps: Vec<&Entry> = new
            .iter()
            .filter(|e| matches!(e.body.payload, Payload::Snapshot { .. }))
            .collect();
        Ok((
            new.iter().map(|e| e.bytes().len()).sum(),
            snaps.len(),
            snaps.iter().map(|e| e.bytes().len()).sum(),
        ))
    }
}

/// The certificates of `units` among `certs` (a school's chain, to provision its engine).
fn chain_of(certs: &[Certificate], units: &[&str]) -> Vec<Certificate> {
    certs
        .iter()
        .filter(|c| units.contains(&c.body.unit.as_str()))
        .cloned()
        .collect()
}

/// What a district holding these schools' logs offers the department: each author's log
/// as its school's engine holds it.
struct Schools<'a>(&'a [School]);

impl Schools<'_> {
    fn of(&self, a: &NodeId) -> Option<&eduioc_engine::Engine> {
        self.0.iter().map(|s| &s.engine).find(|e| e.id() == *a)
    }
}

impl LogSource for Schools<'_> {
    fn height(&self, a: &NodeId) -> u64 {
        self.of(a).map_or(0, |e| e.height(a))
    }
    fn heights(&self) -> Vec<(NodeId, u64)> {
        self.0.iter().map(|s| (s.engine.id(), s.height())).collect()
    }
    fn entries(
        &self,
        a: &NodeId,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Vec<(u64, Vec<u8>)> {
        self.of(a)
            .map(|e| e.entries(a, from, max_count, max_bytes))
            .unwrap_or_default()
    }
    fn snapshots(&self, a: &NodeId) -> Vec<Held> {
        self.of(a).map(|e| e.snapshots(a)).unwrap_or_default()
    }
    fn holes(&self, a: &NodeId) -> snapshot::Ranges {
        self.of(a).map(|e| e.holes(a)).unwrap_or_default()
    }
    fn snapshot_doc(&self, a: &NodeId, seq: u64) -> Option<Vec<u8>> {
        self.of(a).and_then(|e| e.snapshot_doc(a, seq))
    }
}

/// The department: the real engine on an in-memory store, on a fixed clock (after every
/// entry of the run).
fn dept_engine(seed: u64, certs: &[Certificate]) -> Result<eduioc_engine::Engine> {
    let clock = eduioc_engine::Clock::new(|| 1_800_000_000_000);
    memory_engine("so", key(seed, 0), certs, clock)
}

/// The engine of `unit` on an in-memory store, provisioned with `certs` (the root's
/// first), for the benchmark's school year.
fn memory_engine(
    unit: &str,
    key: NodeKey,
    certs: &[Certificate],
    clock: eduioc_engine::Clock,
) -> Result<eduioc_engine::Engine> {
    let root_key = certs
        .first()
        .map(|c| c.body.issuer)
        .context("no root certificate")?;
    Ok(eduioc_engine::Engine::open_with(
        eduioc_engine::Config {
            unit: unit.into(),
            key,
            root_key,
            certs: certs.to_vec(),
            data_dir: std::path::PathBuf::new(),
            doc_cache: eduioc_engine::DEFAULT_DOC_CACHE,
            doc_cache_bytes: eduioc_engine::DEFAULT_DOC_CACHE_BYTES,
            school_year: Some(YEAR.into()),
        },
        eduioc_engine::Store::in_memory()?,
        clock,
    )?)
}

/// What one link's sync cost: bytes on the wire (frames both ways), frames, the session's
/// counters, and the time the department spent ingesting (the rest is the sender reading
/// its logs and the framing).
type Synced = (usize, usize, eduioc_protocol::sync::Stats, Duration);

/// Streams everything `from` holds that the department lacks over one link.
fn sync_up(
    dir: &Directory,
    from: &Schools<'_>,
    dept: &mut eduioc_engine::Engine,
) -> Result<Synced> {
    sync_up_keeping(dir, from, dept, &mut Vec::new())
}

/// [`sync_up`], keeping every entry sent in `sent`.
fn sync_up_keeping(
    dir: &Directory,
    from: &Schools<'_>,
    dept: &mut eduioc_engine::Engine,
    sent: &mut Vec<Vec<u8>>,
) -> Result<Synced> {
    let want = Session::new("so", "pgd", Role::Child).want(dir, &*dept);
    let Request::Heights { heights } = &want else {
        anyhow::bail!("want is not heights")
    };
    let mut bytes = wire::encode(&want).len() + wire::encode(&Response::Ok).len();
    let mut frames = 2;
    let mut ingest = Duration::ZERO;
    let mut up = Session::new("pgd", "so", Role::Parent);
    up.on_heights(dir, from, heights);
    while let Some(req) = up.next_page(dir, from) {
        let frame = wire::encode(&req);
        bytes += frame.len();
        let Request::Page { entries, docs } = wire::decode::<Request>(&frame)? else {
            anyhow::bail!("not a page")
        };
        let t = Instant::now();
        let ingested = dept.ingest_page(&entries, &docs)?;
        ingest += t.elapsed();
        anyhow::ensure!(
            ingested.rejected.is_empty(),
            "the department refused {:?}",
            ingested.rejected
        );
        let heights = ingested.heights;
        sent.extend(entries);
        let ack = wire::encode(&Response::Acked {
            heights: heights.clone(),
            rejected: 0,
        });
        bytes += ack.len();
        frames += 2;
        up.on_acked(&heights);
    }
    Ok((bytes, frames, up.stats(), ingest))
}

/// Automerge's sync protocol between two documents until quiet; returns bytes.
fn am_sync(
    a: &mut automerge::AutoCommit,
    b: &mut automerge::AutoCommit,
    sa: &mut automerge::sync::State,
    sb: &mut automerge::sync::State,
) -> Result<usize> {
    let mut bytes = 0;
    for _ in 0..100 {
        let mut progressed = false;
        if let Some(m) = a.sync().generate_sync_message(sa) {
            let enc = m.encode();
            bytes += enc.len();
            b.sync()
                .receive_sync_message(sb, automerge::sync::Message::decode(&enc)?)?;
            progressed = true;
        }
        if let Some(m) = b.sync().generate_sync_message(sb) {
            let enc = m.encode();
            bytes += enc.len();
            a.sync()
                .receive_sync_message(sa, automerge::sync::Message::decode(&enc)?)?;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    Ok(bytes)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.e2e_child {
        return e2e_department(&args, dir);
    }
    let mut report = String::new();
    let root = key(args.seed, 0);
    let district = key(args.seed, 1);
    let mut dir = Directory::new(root.id());
    let mut certs = vec![
        cert(&root, "so", None, "department", &root),
        cert(&root, "pgd", Some("so"), "district", &district),
    ];
    for c in &certs {
        dir.insert(c.clone())?;
    }

    // The data: realistic rosters, committed every `commit_every` rows, one entry per commit.
    let t = Instant::now();
    let clock = BenchClock::default();
    clock.set(1_790_000_000_000);
    let mut schools = Vec::new();
    let levels = [
        eduioc_synth::SchoolLevel::Primary,
        eduioc_synth::SchoolLevel::LowerSecondary,
        eduioc_synth::SchoolLevel::UpperSecondary,
    ];
    for i in 0..args.schools {
        let unit = format!("s{i:04}");
        let k = key(args.seed, 10 + i as u64);
        let c = cert(&root, &unit, Some("pgd"), "school", &k);
        dir.insert(c.clone())?;
        certs.push(c.clone());
        let data = eduioc_synth::school(
            args.seed,
            &unit,
            levels[i % 3],
            2026,
            eduioc_synth::Size::Realistic,
        );
        let rows =
            eduioc_records::parse_import(Collection::Students, None, data.students_csv.as_bytes())
                .map_err(|e| anyhow::anyhow!("synthetic roster refused: {e}"))?;
        let own = [certs[0].clone(), certs[1].clone(), c.clone()];
        let mut s = School::new(&unit, k, &own, &clock, rows.clone())?;
        for chunk in rows.chunks(args.commit_every.max(1)) {
            s.commit(chunk)?;
        }
        schools.push(s);
    }
    let students: usize = schools.iter().map(|s| s.students.len()).sum();
    let logs: Vec<Vec<Entry>> = schools
        .iter()
        .map(|s| s.log_from(1))
        .collect::<Result<_>>()?;
    let entries: usize = logs.iter().map(Vec::len).sum();
    let entry_bytes: usize = logs.iter().flatten().map(|e| e.bytes().len()).sum();
    let saves: Vec<Vec<u8>> = schools
        .iter_mut()
        .map(School::save)
        .collect::<Result<_>>()?;
    let all_changes: Vec<Vec<Vec<u8>>> = logs
        .iter()
        .map(|log| {
            log.iter()
                .flat_map(|e| match &e.body.payload {
                    Payload::Changes { changes, .. } => changes.clone(),
                    _ => Vec::new(),
                })
                .collect()
        })
        .collect();
    eprintln!(
        "built {} schools, {students} students, {entries} entries in {:.1}s",
        schools.len(),
        t.elapsed().as_secs_f64()
    );

    // Each timed measure below runs ROUNDS times, the measures interleaved, and the median
    // is reported: the machine is shared, and one slow moment should not decide a ratio.
    let at_district = Schools(&schools);
    let (mut verifies, mut loads, mut applies, mut peers, mut ourss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut peer_bytes = 0;
    let mut peer_docs = Vec::new();
    let mut peer_states = Vec::new();
    let mut last = None;
    // The entries our protocol actually sends (snapshot entries replace most): the
    // signatures the limit has to check.
    let mut sent = Vec::new();
    sync_up_keeping(
        &dir,
        &at_district,
        &mut dept_engine(args.seed, &certs)?,
        &mut sent,
    )?;
    let sent_entries: Vec<Entry> = sent
        .iter()
        .map(|b| Entry::decode(b))
        .collect::<Result<_, _>>()?;
    for _ in 0..ROUNDS {
        // (a) The limit.
        let t = Instant::now();
        let ok = eduioc_protocol::entry::verify_all(&sent_entries);
        verifies.push(t.elapsed());
        anyhow::ensure!(ok.iter().all(|b| *b), "a signature failed");
        let t = Instant::now();
        for s in &saves {
            automerge::AutoCommit::load(s)?;
        }
        loads.push(t.elapsed());
        let t = Instant::now();
        for chs in &all_changes {
            let mut d = automerge::AutoCommit::new();
            d.apply_changes(
                chs.iter()
                    .map(|c| automerge::Change::from_bytes(c.clone()))
                    .collect::<Result<Vec<_>, _>>()?,
            )?;
        }
        applies.push(t.elapsed());

        // (b) The peer: Automerge sync from empty, per document.
        peer_bytes = 0;
        peer_docs.clear();
        peer_states.clear();
        // The sender keeps its documents in memory, as a school does: loading them is
        // not the sync's cost (ours sends from the district's memory too).
        let mut senders = saves
            .iter()
            .map(|s| automerge::AutoCommit::load(s))
            .collect::<Result<Vec<_>, _>>()?;
        let t = Instant::now();
        for a in &mut senders {
            let mut b = automerge::AutoCommit::new();
            let (mut sa, mut sb) = (automerge::sync::State::new(), automerge::sync::State::new());
            peer_bytes += am_sync(a, &mut b, &mut sa, &mut sb)?;
            peer_states.push((sa.encode(), sb.encode()));
            peer_docs.push(b);
        }
        peers.push(t.elapsed());

        // Ours: a department starting empty (the real engine, its store in memory), fed
        // by the district that holds the logs.
        let mut dept = dept_engine(args.seed, &certs)?;
        let t = Instant::now();
        let run = sync_up(&dir, &at_district, &mut dept)?;
        ourss.push(t.elapsed());
        last = Some((run, dept));
    }
    let (verify, load, apply) = (median(verifies), median(loads), median(applies));
    let limit = verify + load.min(apply);
    let peer = median(peers);
    let ours = median(ourss);
    let Some(((ours_bytes, ours_frames, ours_stats, _), mut dept)) = last else {
        anyhow::bail!("no round ran")
    };
    let summaries = dept.summaries();
    let enrolled: u64 = summaries.values().map(|s| s.enrolled + s.dropped_out).sum();
    anyhow::ensure!(
        summaries.len() == schools.len(),
        "not every document arrived"
    );
    eprintln!("ours: {ours_frames} frames, {} students counted", enrolled);

    // Catch-up: 30 days offline, 1% of the records changed, one commit per school per day.
    let mut new_bytes = 0;
    let (mut new_snaps, mut new_snap_bytes) = (0, 0);
    let mut changed = 0;
    for s in &mut schools {
        let n = (s.students.len() / 100).max(1);
        for day in 0..30usize {
            // Record i (of the n to change) changes on day i mod 30.
            let rows: Vec<eduioc_records::Row> = s.students[..n]
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 30 == day)
                .map(|(_, r)| {
                    let mut r = r.clone();
                    r.fields
                        .insert("ethnicity".into(), eduioc_records::Value::Str("Tày".into()));
                    r
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            changed += rows.len();
            let before = s.height();
            clock.set(1_790_000_000_000 + day as i64 * 86_400_000);
            s.commit(&rows)?;
            let (b, n, sb) = s.new_bytes_since(before)?;
            new_bytes += b;
            new_snaps += n;
            new_snap_bytes += sb;
        }
    }
    let at_district = Schools(&schools);
    // Markers for a profiler attached to this process (`perf record -p`).
    eprintln!("catch-up: start");
    let mut caught = Vec::new();
    let t = Instant::now();
    let (catch_bytes, _, catch_stats, catch_ingest) =
        sync_up_keeping(&dir, &at_district, &mut dept, &mut caught)?;
    let catch = t.elapsed();
    eprintln!("catch-up: end");
    // Part of the floor: checking the signatures sent, on one thread, in one batch.
    let caught: Vec<Entry> = caught
        .iter()
        .map(|b| Entry::decode(b))
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    let ok = eduioc_protocol::entry::verify_all(&caught);
    let catch_verify = t.elapsed();
    anyhow::ensure!(ok.iter().all(|b| *b), "a signature failed");
    let mut peer_persist = 0;
    let mut peer_fresh = 0;
    // The peer's senders hold their documents in memory; the receivers' copies are
    // cloned before the clock starts.
    let mut senders = schools
        .iter_mut()
        .map(|s| Ok(automerge::AutoCommit::load(&s.save()?)?))
        .collect::<Result<Vec<_>>>()?;
    let mut receivers: Vec<automerge::AutoCommit> = peer_docs.to_vec();
    let t = Instant::now();
    for ((a, b), (sa_enc, sb_enc)) in senders.iter_mut().zip(&mut receivers).zip(&peer_states) {
        let mut sa = automerge::sync::State::decode(sa_enc)?;
        let mut sb = automerge::sync::State::decode(sb_enc)?;
        peer_persist += am_sync(a, b, &mut sa, &mut sb)?;
    }
    let catch_peer_persist = t.elapsed();
    let mut receivers: Vec<automerge::AutoCommit> = peer_docs.to_vec();
    let t = Instant::now();
    for (a, b) in senders.iter_mut().zip(&mut receivers) {
        let (mut sa, mut sb) = (automerge::sync::State::new(), automerge::sync::State::new());
        peer_fresh += am_sync(a, b, &mut sa, &mut sb)?;
    }
    let catch_peer_fresh = t.elapsed();
    // Automerge's change path: the changes the receiver lacks, as they are (what a sync
    // message carries when it does not fall back to the whole document), applied.
    let mut receivers: Vec<automerge::AutoCommit> = peer_docs.to_vec();
    let mut peer_changes = 0;
    let t = Instant::now();
    for (a, b) in senders.iter_mut().zip(&mut receivers) {
        let have = b.get_heads();
        let missing: Vec<automerge::Change> = a.get_changes(&have);
        let raw: Vec<Vec<u8>> = missing
            .into_iter()
            .map(|mut c| c.bytes().to_vec())
            .collect();
        peer_changes += raw.iter().map(Vec::len).sum::<usize>();
        b.apply_changes(
            raw.into_iter()
                .map(automerge::Change::from_bytes)
                .collect::<Result<Vec<_>, _>>()?,
        )?;
    }
    let catch_peer_changes = t.elapsed();
    // The fair peer for catch-up: the smaller of its default and its change path.
    let (fair_peer_bytes, fair_peer_time) = if peer_changes < peer_fresh.min(peer_persist) {
        (peer_changes, catch_peer_changes)
    } else if peer_persist <= peer_fresh {
        (peer_persist, catch_peer_persist)
    } else {
        (peer_fresh, catch_peer_fresh)
    };
    let catch_target = fair_peer_bytes + 72 * catch_stats.entries as usize;

    // stats at Hanoi's shape: 30 districts, 2,835 schools, real engine and redb.
    let (p50, p99, calls) = stats_latency(args.seed)?;
    let e2e = if args.e2e_districts > 0 {
        let one = end_to_end(args.seed, &schools, 1, args.commit_every)?;
        let all = if args.e2e_districts == 1 {
            None
        } else {
            Some(end_to_end(
                args.seed,
                &schools,
                args.e2e_districts,
                args.commit_every,
            )?)
        };
        Some((one, all))
    } else {
        None
    };

    let _ = writeln!(report, "# Benchmarks\n");
    let _ = writeln!(report, "Produced by `cargo run --release -p eduioc-bench -- --schools {} --seed {} --e2e-districts {} --out BENCHMARKS.md` on this project's CI machine kind (2 cores; the peer uses one thread, ours loads saved documents and computes documents' figures on both, everything else on one; initial-sync times are medians of {ROUNDS} interleaved rounds). One district slice: {} schools, {students} students, {entries} signed entries ({} KiB), committed every {} rows.\n", args.schools, args.seed, args.e2e_districts, schools.len(), entry_bytes / 1024, args.commit_every);
    let _ = writeln!(
        report,
        "| measure | ours | comparison (same run, same data) | ratio | target |"
    );
    let _ = writeln!(report, "| --- | --- | --- | --- | --- |");
    let _ = writeln!(report, "| initial sync, time | {:.0} ms | peer (Automerge sync per document, the sender's documents in memory) {:.0} ms | {:.2}x | ≤ 1x |", ms(ours), ms(peer), ms(ours) / ms(peer));
    let _ = writeln!(
        report,
        "| initial sync, bytes on the wire | {} KiB | peer {} KiB | {:.2}x | ≤ 1.1x |",
        ours_bytes / 1024,
        peer_bytes / 1024,
        ours_bytes as f64 / peer_bytes as f64
    );
    let _ = writeln!(report, "| initial sync vs the limit | {:.0} ms | limit (a): batch verify of the {} entries sent {:.0} ms + min(load {:.0} ms, apply {:.0} ms) = {:.0} ms | {:.0}% of the limit's speed | ≥ 50% |", ms(ours), sent_entries.len(), ms(verify), ms(load), ms(apply), ms(limit), 100.0 * ms(limit) / ms(ours));
    let _ = writeln!(report, "| catch-up after 30 days, {changed} records changed ({:.1}%): bytes | {} B ({} signed entries) | peer's change path {} B (+ 72 B per signed entry = {} B); peer's default sync {} B with persisted sync states, {} B without; new entries {} B (of which {new_snaps} snapshot entries, {new_snap_bytes} B) | {:.2}x | ≤ 1x |", 100.0 * changed as f64 / students as f64, catch_bytes, catch_stats.entries, peer_changes, catch_target, peer_persist, peer_fresh, new_bytes, catch_bytes as f64 / catch_target as f64);
    let peer_default = catch_peer_persist.min(catch_peer_fresh);
    let floor = catch_peer_changes + catch_verify;
    let _ = writeln!(report, "| catch-up: time, through the real engine | {:.1} ms (the department's ingest {:.1} ms) | the peer's default sync (what its sync protocol sends here) {:.1} ms with persisted states, {:.1} ms without; the smaller peer ({}) {:.1} ms | {:.2}x its default sync; {:.2}x the smaller | ≤ 1x its default sync (until stop 20: ≤ 1x the smaller, which the floor below already exceeds) |", ms(catch), ms(catch_ingest), ms(catch_peer_persist), ms(catch_peer_fresh), if fair_peer_bytes == peer_changes { "its change path" } else { "its default sync" }, ms(fair_peer_time), ms(catch) / ms(peer_default), ms(catch) / ms(fair_peer_time));
    let _ = writeln!(report, "| catch-up: the floor, on one thread | — | the peer's change path {:.1} ms + checking the {} signatures sent {:.1} ms = {:.1} ms ({:.2}x the smaller peer) | ours {:.2}x the floor | — |", ms(catch_peer_changes), caught.len(), ms(catch_verify), ms(floor), ms(floor) / ms(fair_peer_time), ms(catch) / ms(floor));
    let _ = writeln!(report, "| `stats` at the department, Hanoi shape (30 districts, 2,835 schools), {calls} calls for random units | p50 {:.3} ms, p99 {:.3} ms | — | — | p99 ≤ 20 ms |", ms(p50), ms(p99));
    if let Some((one, all)) = &e2e {
        let per_entry_ours = ms(ours) / entries as f64;
        let r = all.as_ref().unwrap_or(one);
        let n = r.entries_at_districts;
        let scaled = per_entry_ours * n as f64;
        let _ = writeln!(report, "| end to end: a department node in its own process (redb + libp2p over loopback) ingesting from {} districts × {} schools ({n} entries at the districts; the department holds {} after the sync) | {:.0} ms | ours through the engine on an in-memory store, scaled to the same entries: {:.0} ms | {:.2}x | ≤ 2x |", r.districts, schools.len(), r.entries_held, ms(r.took), scaled, ms(r.took) / scaled);
        let mut mem = format!("{} district{}: peak RSS {:.0} MiB ({:.0} MiB once its store was open), at most {} documents loaded", one.districts, if one.districts == 1 { "" } else { "s" }, one.peak_kib as f64 / 1024.0, one.rss_start_kib as f64 / 1024.0, one.max_loaded);
        if let Some(all) = all {
            let _ = write!(mem, "; {} districts: peak RSS {:.0} MiB ({:.0} MiB once open), at most {} documents loaded", all.districts, all.peak_kib as f64 / 1024.0, all.rss_start_kib as f64 / 1024.0, all.max_loaded);
        }
        let growth = all.as_ref().map_or(String::from("—"), |a| {
            format!(
                "{:.2}x the RSS for {:.0}x the data",
                a.peak_kib as f64 / one.peak_kib.max(1) as f64,
                a.districts as f64 / one.districts as f64
            )
        });
        let _ = writeln!(report, "| end to end: the department's memory | {mem} | bound enforced by the engine: at most {DOC_CACHE} Automerge documents loaded (`doc_cache`, least recently used dropped) | {growth} | flat as the data grows |");
    }
    let snapshot_entries = logs
        .iter()
        .flatten()
        .filter(|e| matches!(e.body.payload, Payload::Snapshot { .. }))
        .count();
    let _ = writeln!(report, "\nWhat limits each figure. Initial sync: a school signs a snapshot entry of its document (about 200 bytes: the document's heads and the seqs of the entries it replaces) once {} bytes of changes were written since the last one ({snapshot_entries} of the {entries} entries here); the district sends the department, which holds none of a document, the document's `save()` beside its latest snapshot entry instead of the entries that snapshot replaces: {} entries and {} documents were sent ({} KiB). Bytes are the saves plus one entry per document plus the entries written after the last snapshot; time is the department engine's `load` of each save (the limit's own operation, which the limit counts on one thread while the engine loads a page's saves on both cores), `summarize` (Automerge's map iteration, about 3 ms per 800-student document, also on both cores), the look-up index of each document (ids and names folded), signature checks, and one transaction per page on redb's in-memory backend. A page's entries travel packed (an entry that follows its author's previous entry in the page leaves its backlink out, and the list is deflated); the saves beside them are Automerge's own compressed form. Catch-up: the department holds every document, so the district sends the new entries as they are ({} entries, {} documents), including the snapshot entries signed meanwhile, without their documents. Its bytes are the packed page: the backlink of every entry that follows its author's previous one is left out, and the author's key, the document id and the actor inside each change, repeated in every entry, deflate to a few bytes, so the envelope costs about its signature. Its time is almost all the department's ingest; a profile (perf, release build with frame pointers, stop 20) puts it in the figures of the changed documents (a third: reading the changed records from Automerge's diff index and their fields, on both cores), Automerge applying the changes one entry at a time with its patch log on (about a quarter; the peer applies each document's missing changes in one call, without one), signature checks (on both cores), encoding the changed documents' summaries and look-up indexes, and redb's writes. A snapshot entry received for a document held here costs no `save()`: the stored base and the chunks appended since hold the document at its heads, and the save offered beside it to a new parent is made when one asks (or when compaction folds those chunks); the decoded look-up index stays beside each loaded document between pages. The floor row is what any engine that checks the signatures must spend on one thread: the peer's apply plus the signature checks; ours adds the figures and a durable transaction per page. Each document's figures are updated from the records its changes touched, read from Automerge's diff index recorded since the document's heads before the page (not a scan of the document), on both cores. The peer's change path does none of this: it applies changes to documents in memory, unsigned and unstored. `stats` sums per-document summaries over the subtree; its cost grows with the number of units, not students. End to end adds a redb file (one durable transaction per page) and libp2p; the department's memory is its store's cache, at most {DOC_CACHE} loaded documents, the page being committed (its write transaction) and one page in flight per child link. The peer's catch-up: Automerge 0.12's sync protocol sends the whole document (`save()`) instead of changes when the receiver lacks more than a third of the document's changes (`automerge::sync`, `hashes.len() > change_graph.len() / 3`), which 30 days of small commits on a document imported in a few large ones always exceed: that is its default figure. Its change path (the missing changes as they are, applied) is what it would send below that threshold; the target compares our bytes with it plus 72 B per signed entry, the price of end-to-end verifiability.", snapshot::SNAPSHOT_AFTER_BYTES, ours_stats.entries, ours_stats.docs, ours_stats.bytes / 1024, catch_stats.entries, catch_stats.docs);
    print!("{report}");
    if let Some(out) = args.out {
        std::fs::write(&out, &report).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The certificates of the end-to-end topology: the department, `districts` districts,
/// `schools` schools under each.
fn e2e_certs(seed: u64, districts: usize, schools: usize) -> Vec<Certificate> {
    let root = key(seed, 0);
    let mut certs = vec![cert(&root, "so", None, "department", &root)];
    for d in 0..districts {
        let du = format!("pgd-{d:02}");
        certs.push(cert(
            &root,
            &du,
            Some("so"),
            "district",
            &key(seed, 300_000 + d as u64),
        ));
        for i in 0..schools {
            let k = key(seed, 400_000 + (d * schools + i) as u64);
            certs.push(cert(
                &root,
                &format!("{du}-s{i:04}"),
                Some(&du),
                "school",
                &k,
            ));
        }
    }
    certs
}

fn open_engine(
    seed: u64,
    certs: &[Certificate],
    unit: &str,
    k: &NodeKey,
    dir: &std::path::Path,
) -> Result<eduioc_engine::Engine> {
    std::fs::create_dir_all(dir)?;
    Ok(eduioc_engine::Engine::open(eduioc_engine::Config {
        unit: unit.into(),
        key: k.clone(),
        root_key: key(seed, 0).id(),
        certs: certs.to_vec(),
        data_dir: dir.to_path_buf(),
        doc_cache: DOC_CACHE,
        doc_cache_bytes: eduioc_engine::DEFAULT_DOC_CACHE_BYTES,
        school_year: Some(YEAR.into()),
    })?)
}

fn net_cfg(
    listen: eduioc_net::Multiaddr,
    parent: Option<(String, eduioc_net::Multiaddr)>,
) -> eduioc_net::Config {
    eduioc_net::Config {
        listen,
        parent,
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_secs(1),
        ..eduioc_net::Config::default()
    }
}

/// What one end-to-end run measured.
struct E2e {
    districts: usize,
    took: Duration,
    entries_at_districts: u64,
    entries_held: u64,
    rss_start_kib: u64,
    peak_kib: u64,
    max_loaded: usize,
}

/// End to end: `districts` district engines (real redb), each pre-filled with `slice`'s
/// school logs re-authored by its own schools, push to a department engine over real
/// libp2p on loopback. The department runs in a child process (this binary with
/// `--e2e-child`), so that its memory is measured alone.
fn end_to_end(seed: u64, slice: &[School], districts: usize, commit_every: usize) -> Result<E2e> {
    let certs = e2e_certs(seed, districts, slice.len());
    let tmp = tempfile::tempdir()?;
    let mut engines = Vec::new();
    let mut targets: HashMap<NodeId, u64> = HashMap::new();
    let mut entries_at_districts = 0;
    for d in 0..districts {
        let du = format!("pgd-{d:02}");
        let dk = key(seed, 300_000 + d as u64);
        let mut pages = Vec::new();
        for (i, s) in slice.iter().enumerate() {
            // The same changes cannot be re-signed by another actor, so each school of
            // each district replays the slice's rows with its own actor.
            let k = key(seed, 400_000 + (d * slice.len() + i) as u64);
            let su = format!("{du}-s{i:04}");
            let own = chain_of(&certs, &["so", &du, &su]);
            let mut school = School::new(&su, k, &own, &BenchClock::default(), Vec::new())?;
            for chunk in s.students.chunks(commit_every.max(1)) {
                school.commit(chunk)?;
            }
            pages.extend(school.log_from(1)?.into_iter().map(Entry::into_bytes));
        }
        let mut e = open_engine(seed, &certs, &du, &dk, &tmp.path().join(&du))?;
        for p in pages.chunks(256) {
            e.ingest(p)?;
        }
        entries_at_districts += e.entry_count();
        for (a, h) in e.heights() {
            let t = targets.entry(a).or_default();
            *t = (*t).max(h);
        }
        engines.push(e);
    }
    let lines: String = targets.iter().map(|(a, h)| format!("{a} {h}\n")).collect();
    std::fs::write(tmp.path().join("targets"), lines)?;
    let port = free_port()?;
    // `EDUIOC_BENCH_WRAP="valgrind --tool=massif"` runs the department under a profiler.
    let mut cmd = match std::env::var("EDUIOC_BENCH_WRAP") {
        Ok(wrap) => {
            let mut words = wrap.split_whitespace();
            let mut c = std::process::Command::new(words.next().unwrap_or("env"));
            c.args(words).arg(std::env::current_exe()?);
            c
        }
        Err(_) => std::process::Command::new(std::env::current_exe()?),
    };
    let mut child = cmd
        .arg("--e2e-child")
        .arg(tmp.path())
        .args(["--seed", &seed.to_string()])
        .args(["--schools", &slice.len().to_string()])
        .args(["--e2e-districts", &districts.to_string()])
        .args(["--e2e-port", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().context("child stdout")?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut next = |what: &str, wait: Duration| -> Result<String> {
        match rx.recv_timeout(wait) {
            Ok(l) if l.starts_with(what) => Ok(l),
            Ok(l) => anyhow::bail!("department said {l:?}, expected {what}"),
            Err(e) => {
                let _ = child.kill();
                anyhow::bail!("department did not say {what}: {e}")
            }
        }
    };
    next("listening", Duration::from_secs(60))?;
    let dept_addr: eduioc_net::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (took, clients) = rt.block_on(async {
        let t = Instant::now();
        let mut clients = Vec::new();
        for e in engines {
            let shared = e.spawn()?;
            let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port()?).parse()?;
            let (net, c) = eduioc_net::Network::new(
                shared,
                net_cfg(listen, Some(("so".to_string(), dept_addr.clone()))),
            )?;
            tokio::spawn(net.run());
            clients.push(c);
        }
        anyhow::Ok((t, clients))
    })?;
    next("done", Duration::from_secs(600))?;
    let took = took.elapsed();
    let result = next("result", Duration::from_secs(60))?;
    rt.block_on(async {
        for c in clients {
            c.shutdown().await;
        }
    });
    child.wait()?;
    let v: Vec<u64> = result
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    anyhow::ensure!(v.len() == 4, "department result {result:?}");
    eprintln!("e2e, {districts} districts: {took:?}, department {result}");
    Ok(E2e {
        districts,
        took,
        entries_at_districts,
        entries_held: v[3],
        rss_start_kib: v[0],
        peak_kib: v[1],
        max_loaded: v[2] as usize,
    })
}

/// The end-to-end department (child process): opens its store, listens, says
/// `listening`, waits until it holds every district's heights (`targets`), says `done`,
/// then `result <RSS once open> <peak RSS> <most documents loaded> <entries held>` (KiB).
fn e2e_department(args: &Args, dir: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let certs = e2e_certs(args.seed, args.e2e_districts, args.schools);
    let targets: Vec<(NodeId, u64)> = std::fs::read_to_string(dir.join("targets"))?
        .lines()
        .filter_map(|l| {
            let (a, h) = l.split_once(' ')?;
            Some((NodeId::from_hex(a)?, h.parse().ok()?))
        })
        .collect();
    let root = key(args.seed, 0);
    let dept = open_engine(args.seed, &certs, "so", &root, &dir.join("so"))?.spawn()?;
    let rss_start = proc_status("VmRSS:");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listen = format!("/ip4/127.0.0.1/tcp/{}", args.e2e_port).parse()?;
        let (net, client) = eduioc_net::Network::new(dept.clone(), net_cfg(listen, None))?;
        tokio::spawn(net.run());
        println!("listening");
        std::io::stdout().flush()?;
        let mut max_loaded = 0;
        loop {
            let done = {
                let log = dept
                    .log()
                    .ok_or_else(|| anyhow::anyhow!("cannot read the store"))?;
                max_loaded = max_loaded.max(dept.views().status().docs_loaded);
                targets.iter().all(|(a, h)| log.height(a) >= *h)
            };
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("done");
        std::io::stdout().flush()?;
        client.shutdown().await;
        let entries = dept.call(|e| e.entry_count()).await?;
        anyhow::ensure!(
            max_loaded <= DOC_CACHE,
            "{max_loaded} documents loaded at once"
        );
        println!(
            "result {rss_start} {} {max_loaded} {}",
            proc_status("VmHWM:"),
            entries
        );
        std::io::stdout().flush()?;
        anyhow::Ok(())
    })
}

/// `Engine::stats` latency at Hanoi's shape, with a tiny roster per school (the cost
/// depends on units, not on students).
fn stats_latency(seed: u64) -> Result<(Duration, Duration, usize)> {
    let root = key(seed, 0);
    let mut certs = vec![cert(&root, "so", None, "department", &root)];
    let mut pages: Vec<Vec<u8>> = Vec::new();
    let mut units = vec!["so".to_string()];
    let mut n = 0u64;
    for d in 0..30 {
        let du = format!("pgd-{d:02}");
        certs.push(cert(
            &root,
            &du,
            Some("so"),
            "district",
            &key(seed, 100_000 + d),
        ));
        units.push(du.clone());
        let per = if d < 15 { 95 } else { 94 };
        for _ in 0..per {
            if n >= 2835 {
                break;
            }
            let su = format!("s{n:05}");
            let k = key(seed, 200_000 + n);
            certs.push(cert(&root, &su, Some(&du), "school", &k));
            let csv = format!("student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n{su}-1,Nguyễn Văn An,M,2015-01-01,5,5a,Kinh,enrolled\n{su}-2,Trần Thị Bình,F,2015-02-02,5,5a,Kinh,enrolled\n");
            let rows = eduioc_records::parse_import(Collection::Students, None, csv.as_bytes())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let own = chain_of(&certs, &["so", &du, &su]);
            let mut school = School::new(&su, k, &own, &BenchClock::default(), Vec::new())?;
            school.commit(&rows)?;
            pages.extend(school.log_from(1)?.into_iter().map(Entry::into_bytes));
            units.push(su);
            n += 1;
        }
    }
    let tmp = tempfile::tempdir()?;
    let mut engine = eduioc_engine::Engine::open(eduioc_engine::Config {
        unit: "so".into(),
        key: root.clone(),
        root_key: root.id(),
        certs,
        data_dir: tmp.path().to_path_buf(),
        doc_cache: 16,
        doc_cache_bytes: eduioc_engine::DEFAULT_DOC_CACHE_BYTES,
        school_year: Some(YEAR.into()),
    })?;
    for page in pages.chunks(256) {
        engine.ingest(page)?;
    }
    let total = engine.stats(None)?;
    anyhow::ensure!(
        total.schools == 2835 && total.students.enrolled == 2 * 2835,
        "Hanoi-shape engine holds {} schools, {} students",
        total.schools,
        total.students.enrolled
    );
    let mut times = Vec::new();
    let mut x = seed | 1;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = &units[(x % units.len() as u64) as usize];
        let t = Instant::now();
        let s = engine.stats(Some(u))?;
        times.push(t.elapsed());
        std::hint::black_box(s);
    }
    times.sort();
    Ok((
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times.len(),
    ))
}
