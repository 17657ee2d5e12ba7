//! The discrete-event world: nodes, links, the event queue keyed by simulated time, and
//! the driver that feeds the real [`Session`]s exactly as `eduioc-net` does
//! (child `Hello` → parent `Welcome`; the child's `Heights`, then, in answer to it, the
//! parent's; `Page` → `Acked`; pump every session of a node after each event).
//!
//! Links: each direction serialises its frames (a frame occupies the link for
//! `size / bandwidth`, then arrives `latency` later). A link is up while both ends are
//! online; going down drops every frame in flight and both sessions (a new connection
//! starts with a new `Hello`). Nothing here reads a clock: time is the event queue's.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use eduioc_engine::Subtotal;
use eduioc_protocol::link::{self, Backoff};
use eduioc_protocol::sync::{Role, Session};
use eduioc_protocol::wire::{self, Request, Response};
use eduioc_protocol::{CertBody, Certificate, NodeId, NodeKey};
use eduioc_records::{Collection, Row, Summary, Value};
use eduioc_synth::Size;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::node::{Node, SimClock};
use crate::report::{Check, Report};
use crate::topology::{self, NewParent, Reform, Rosters, Topology, Unit};

/// Microseconds per second.
const SEC: u64 = 1_000_000;
/// Microseconds per day.
pub const DAY: u64 = 86_400 * SEC;
/// Unix ms of the simulation's start: 5 September 2025, 00:00 UTC (opening day).
pub const BASE_MS: i64 = 1_757_030_400_000;
/// The school year of every document.
pub const YEAR: &str = "2025-2026";
/// Documents the real engine keeps loaded (`doc_cache` written by `topology generate`).
pub const ENGINE_DOC_CACHE: usize = 16;
/// A child re-dials a parent that refused its `Hello` after 30 s, doubling up to 10 min.
fn redial_backoff() -> Backoff {
    Backoff::new(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_secs(600),
    )
}

/// Most frames a link direction may hold in flight; the protocol keeps it at about four
/// (hello, heights, one page, responses), so exceeding it is a driver bug.
const MAX_FRAMES_PER_DIRECTION: usize = 16;

/// What a scenario asks of the world.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed of every random choice.
    pub seed: u64,
    /// Fraction of each school's records simulated (1.0 = full rosters).
    pub scale: f64,
    /// Days of daily edits after the initial rosters (0: initial convergence only).
    pub days: u32,
    /// Edits per school per school day.
    pub edits_per_day: u32,
    /// Share of schools online only `window_hours` a day.
    pub intermittent: f64,
    /// Daily online window of intermittent schools, hours.
    pub window_hours: u32,
    /// One district office dark from this day for this many days.
    pub dark_office: Option<(u32, u32)>,
    /// The reform: (day certificates are issued and communes commissioned, day the new
    /// hierarchy takes effect).
    pub reform: Option<(u32, u32)>,
    /// Loaded Automerge documents all offices together keep between events; each office
    /// keeps `budget / offices` of them, at least 1 and at most [`ENGINE_DOC_CACHE`].
    /// A loaded document costs about 50 KiB even when it holds a handful of records, and
    /// a country has thousands of offices. The cache only saves reloading a document
    /// from its snapshot and chunks: what a run computes, sends and reports does not
    /// depend on it (a test checks this).
    pub doc_cache_budget: usize,
    /// Loaded documents each school keeps between events (0: a school reloads its few
    /// documents at each edit; the real node would keep them loaded, which changes
    /// nothing but memory).
    pub school_doc_cache: usize,
    /// Pages each node's in-memory store caches, bytes (`Store::in_memory_with_cache`):
    /// with redb's cache every page a commit writes is kept twice.
    pub store_cache_bytes: usize,
}

impl Config {
    /// Default loaded-document budget of all offices (about 400 MiB).
    pub const DOC_CACHE_BUDGET: usize = 8_192;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hello,
    Heights,
    Page,
}

#[derive(Debug)]
enum Frame {
    Req { id: u64, bytes: Vec<u8> },
    Resp { id: u64, bytes: Vec<u8> },
}

#[derive(Debug)]
enum Ev {
    Deliver {
        link: usize,
        to_parent: bool,
        epoch: u64,
        frame: Frame,
    },
    /// Re-evaluate whether a node is online.
    Reeval(usize),
    /// A school imports its initial rosters (the rows parsed at build time).
    Import(usize),
    /// A school edits its records.
    Author(usize, u32),
    /// Reconnect after a refused hello.
    Redial(usize),
    /// The root issues the reform's certificates; communes come online.
    ReformIssue,
    /// The new hierarchy takes effect.
    ReformEffective,
    /// Outages end (after the last authored edit), so the run can converge.
    EndOutages,
}

struct Timed {
    t: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Timed {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.seq) == (o.t, o.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.t, self.seq).cmp(&(o.t, o.seq))
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Direction {
    busy_until: u64,
    frames: usize,
    bytes: u64,
    latency: u64,
    bytes_per_s: u64,
}

struct Link {
    child: usize,
    parent: usize,
    active: bool,
    retired: bool,
    epoch: u64,
    up: Direction,
    down: Direction,
    /// The child's session (remote role: parent).
    child_sess: Option<Session>,
    /// The parent's session (remote role: child).
    parent_sess: Option<Session>,
    /// Whether the parent sent the child its `Heights`. As in `eduioc-net`, it does so
    /// when the child's `Heights` arrives, not with its `Welcome`.
    parent_asked: bool,
    pending_child: HashMap<u64, Kind>,
    pending_parent: HashMap<u64, Kind>,
    next_id: u64,
    /// The child's re-dial delay after a refused `Hello`.
    backoff: Backoff,
    up_key: String,
    down_key: String,
}

impl Link {
    /// The session held at one end of the link: the parent's or the child's.
    fn session(&mut self, at_parent: bool) -> Option<&mut Session> {
        if at_parent {
            self.parent_sess.as_mut()
        } else {
            self.child_sess.as_mut()
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Schedule {
    daily: Option<(u64, u64)>,
    dark: Vec<(u64, u64)>,
}

impl Schedule {
    fn online(&self, t: u64) -> bool {
        if self.dark.iter().any(|&(a, b)| t >= a && t < b) {
            return false;
        }
        match self.daily {
            None => true,
            Some((start, len)) => {
                let s = t % DAY;
                s >= start && s < start + len
            }
        }
    }
}

/// Per-school state for authoring edits.
#[derive(Debug, Default, Clone)]
struct Author {
    next_student: u64,
    edits_today: u32,
}

/// Counters gathered during a run.
#[derive(Debug, Default)]
struct Metrics {
    bytes: BTreeMap<String, u64>,
    frames: BTreeMap<String, u64>,
    dropped_frames: u64,
    peak_queue: usize,
    peak_frames: usize,
    peak_bytes_queued: u64,
    events: u64,
    entries_authored: u64,
    last_edit_us: u64,
    reconnects: u64,
    snapshot_docs: u64,
}

/// A whole simulated federation.
pub struct World {
    cfg: Config,
    rng: ChaCha8Rng,
    now: u64,
    /// The clock every node's engine reads: `now`.
    clock: SimClock,
    seq: u64,
    queue: BinaryHeap<Reverse<Timed>>,
    units: Vec<Unit>,
    nodes: Vec<Node>,
    sched: Vec<Schedule>,
    online: Vec<bool>,
    dissolved: Vec<bool>,
    links: Vec<Link>,
    uplink: Vec<Option<usize>>,
    downlinks: Vec<Vec<usize>>,
    /// The hierarchy as it really is (ground truth for the check).
    truth_parent: Vec<Option<usize>>,
    authors: Vec<Author>,
    /// Each school's initial rosters, parsed from CSV, until its `Import` event.
    imports: HashMap<usize, Vec<(Collection, Vec<Row>)>>,
    reform: Option<Reform>,
    /// Certificates the root issues at the reform (communes, then moved schools).
    reform_certs: Vec<Certificate>,
    root_key: NodeKey,
    m: Metrics,
    /// Every request sent: (time, link, from the child, kind).
    #[cfg(test)]
    sent: Vec<(u64, usize, bool, Kind)>,
    /// Records authored in the initial rosters (scaled) and at full scale.
    pub records: RecordCounts,
}

/// Sizes of the data, for the report.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct RecordCounts {
    /// Enrolled students at full scale (generated or drawn).
    pub full_students: u64,
    /// Active teachers at full scale.
    pub full_teachers: u64,
    /// Student records simulated.
    pub sim_students: u64,
    /// Staff records simulated.
    pub sim_staff: u64,
    /// Class records simulated.
    pub sim_classes: u64,
}

fn key_from(rng: &mut ChaCha8Rng) -> NodeKey {
    NodeKey::from_secret(rng.gen())
}

fn cert(
    root: &NodeKey,
    unit: &Unit,
    parent: Option<&str>,
    key: &NodeKey,
    version: u32,
    eff: i64,
) -> Certificate {
    Certificate::issue(
        CertBody {
            unit: unit.id.clone(),
            name: unit.name.clone(),
            level: unit.level.clone(),
            parent: parent.map(str::to_string),
            key: key.id(),
            version,
            effective_ms: eff,
            delegate: false,
            issuer: root.id(),
        },
        root,
    )
}

/// Keeps `k` of `n` items, evenly spread: the indices kept.
fn spread(n: usize, k: usize) -> impl Iterator<Item = usize> {
    let k = k.min(n);
    (0..k).map(move |i| i * n / k.max(1))
}

impl World {
    /// Builds the federation: keys and certificates from the root, provisioned
    /// directories, scaled rosters, link parameters and outage schedules.
    pub fn new(topo: &Topology, cfg: Config) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut units = topo.units.clone();
        let reform = cfg
            .reform
            .map(|_| crate::topology::plan_reform(topo))
            .filter(|r| !r.moves.is_empty());
        let first_commune = units.len();
        if let Some(r) = &reform {
            units.extend(r.communes.iter().cloned());
        }
        let n = units.len();
        let keys: Vec<NodeKey> = (0..n).map(|_| key_from(&mut rng)).collect();
        let root_key = keys[0].clone();
        let v1_eff = BASE_MS - 365 * 86_400_000;
        let parent_id = |i: usize| units[i].parent.map(|p| units[p].id.as_str());
        let mut certs: Vec<Certificate> = (0..topo.units.len())
            .map(|i| cert(&root_key, &units[i], parent_id(i), &keys[i], 1, v1_eff))
            .collect();
        // Reform certificates: communes (v1, from the issue day), moved schools (v2).
        let mut reform_certs = Vec::new();
        if let (Some(r), Some((issue, eff))) = (&reform, cfg.reform) {
            let issue_ms = BASE_MS + i64::from(issue) * 86_400_000;
            let eff_ms = BASE_MS + i64::from(eff) * 86_400_000;
            for i in first_commune..n {
                let c = cert(
                    &root_key,
                    &units[i],
                    Some(&units[0].id),
                    &keys[i],
                    1,
                    issue_ms,
                );
                certs.push(c.clone());
                reform_certs.push(c);
            }
            for (s, to) in &r.moves {
                let p = match to {
                    NewParent::NewCommune(c) => first_commune + c,
                    NewParent::Unit(u) => *u,
                };
                reform_certs.push(cert(
                    &root_key,
                    &units[*s],
                    Some(&units[p].id),
                    &keys[*s],
                    2,
                    eff_ms,
                ));
            }
        }
        // Children lists (the initial hierarchy; communes hang under the root).
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, u) in units.iter().enumerate() {
            if let Some(p) = u.parent {
                children[p].push(i);
            }
        }
        // Loaded documents kept between events: see `Config::doc_cache_budget`.
        let offices = units.iter().filter(|u| u.school_level.is_none()).count();
        let office_cache = (cfg.doc_cache_budget / offices.max(1)).clamp(1, ENGINE_DOC_CACHE);
        // Directories: the root cert, the chain, the subtree (as `topology generate`).
        let clock = SimClock::new(BASE_MS);
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let mut provisioned = vec![certs[0].clone()];
            let mut chain = Vec::new();
            let mut cur = units[i].parent;
            while let Some(p) = cur {
                chain.push(p);
                cur = units[p].parent;
            }
            provisioned.extend(chain.iter().rev().map(|&p| certs[p].clone()));
            let mut stack = vec![i];
            while let Some(u) = stack.pop() {
                provisioned.push(certs[u].clone());
                stack.extend(children[u].iter().copied());
            }
            let cap = if units[i].school_level.is_some() {
                cfg.school_doc_cache
            } else {
                office_cache
            };
            let engine_cfg = eduioc_engine::Config {
                unit: units[i].id.clone(),
                key: keys[i].clone(),
                root_key: root_key.id(),
                certs: provisioned,
                data_dir: Default::default(),
                doc_cache: cap,
                doc_cache_bytes: eduioc_engine::DEFAULT_DOC_CACHE_BYTES,
                school_year: Some(YEAR.into()),
            };
            let node = Node::new(engine_cfg, cfg.store_cache_bytes, &clock);
            match node {
                Ok(node) => nodes.push(node),
                Err(e) => panic!("{}: the engine does not open: {e}", units[i].id),
            }
        }
        let truth_parent = units.iter().map(|u| u.parent).collect();
        let mut w = World {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x9e37_79b9),
            now: 0,
            clock,
            seq: 0,
            queue: BinaryHeap::new(),
            sched: vec![Schedule::default(); n],
            online: vec![false; n],
            dissolved: vec![false; n],
            links: Vec::new(),
            uplink: vec![None; n],
            downlinks: vec![Vec::new(); n],
            truth_parent,
            authors: vec![Author::default(); n],
            imports: HashMap::new(),
            reform,
            reform_certs,
            root_key,
            m: Metrics::default(),
            #[cfg(test)]
            sent: Vec::new(),
            records: RecordCounts::default(),
            units,
            nodes,
            cfg,
        };
        for i in 1..n {
            if let Some(p) = w.units[i].parent {
                w.add_link(i, p);
            }
        }
        w.schedules(first_commune, topo);
        w.initial_rosters(topo.rosters);
        w
    }

    fn add_link(&mut self, child: usize, parent: usize) -> usize {
        let school = self.units[child].school_level.is_some();
        let (latency, up_bps) = if school {
            let rural = self.rng.gen_bool(0.3);
            let mbit = if rural {
                self.rng.gen_range(0.5..2.0)
            } else {
                self.rng.gen_range(5.0..30.0)
            };
            (self.rng.gen_range(20..200) * 1000, mbit * 125_000.0)
        } else {
            (
                self.rng.gen_range(5..30) * 1000,
                self.rng.gen_range(50.0..200.0) * 125_000.0,
            )
        };
        let (cl, pl) = (&self.units[child].level, &self.units[parent].level);
        let dir = |bps: f64| Direction {
            latency,
            bytes_per_s: bps.max(1.0) as u64,
            ..Direction::default()
        };
        let l = self.links.len();
        self.links.push(Link {
            child,
            parent,
            active: false,
            retired: false,
            epoch: 0,
            up: dir(up_bps),
            down: dir(up_bps * 2.0),
            child_sess: None,
            parent_sess: None,
            parent_asked: false,
            pending_child: HashMap::new(),
            pending_parent: HashMap::new(),
            next_id: 0,
            backoff: redial_backoff(),
            up_key: format!("{cl}→{pl}"),
            down_key: format!("{pl}→{cl}"),
        });
        self.uplink[child] = Some(l);
        self.downlinks[parent].push(l);
        l
    }

    fn schedules(&mut self, first_commune: usize, topo: &Topology) {
        let n = self.units.len();
        let schools: Vec<usize> = topo.schools().collect();
        let k = (schools.len() as f64 * self.cfg.intermittent).round() as usize;
        let mut picked = schools.clone();
        picked.shuffle(&mut self.rng);
        let window = u64::from(self.cfg.window_hours) * 3600 * SEC;
        for &s in picked.iter().take(k) {
            let start = self.rng.gen_range(7..16) * 3600 * SEC;
            self.sched[s].daily = Some((start, window));
        }
        if let Some((from, len)) = self.cfg.dark_office {
            if let Some(d) = (1..first_commune).find(|&i| {
                self.units[i].school_level.is_none()
                    && self.downlinks[i]
                        .iter()
                        .any(|&l| self.units[self.links[l].child].school_level.is_some())
            }) {
                let a = u64::from(from) * DAY;
                self.sched[d].dark.push((a, a + u64::from(len) * DAY));
            }
        }
        if let Some((issue, _)) = self.cfg.reform {
            for i in first_commune..n {
                self.sched[i].dark.push((0, u64::from(issue) * DAY));
            }
            self.push(u64::from(issue) * DAY, Ev::ReformIssue);
            if let Some((_, eff)) = self.cfg.reform {
                self.push(u64::from(eff) * DAY, Ev::ReformEffective);
            }
        }
        // Every transition point of every schedule re-evaluates that node.
        let horizon = u64::from(self.cfg.days) * DAY;
        for i in 0..n {
            let s = self.sched[i].clone();
            if let Some((start, len)) = s.daily {
                for d in 0..u64::from(self.cfg.days) {
                    self.push(d * DAY + start, Ev::Reeval(i));
                    self.push(d * DAY + start + len, Ev::Reeval(i));
                }
            }
            for (a, b) in s.dark {
                self.push(a, Ev::Reeval(i));
                self.push(b, Ev::Reeval(i));
            }
            self.push(0, Ev::Reeval(i));
        }
        self.push(horizon, Ev::EndOutages);
    }

    fn initial_rosters(&mut self, rosters: Rosters) {
        let scale = self.cfg.scale;
        let schools: Vec<usize> = (0..self.units.len())
            .filter(|&i| self.units[i].school_level.is_some())
            .collect();
        for s in schools {
            let Some(level) = self.units[s].school_level else {
                continue;
            };
            let unit = self.units[s].id.clone();
            let (data, full_enrolled, full_teachers) = match rosters {
                Rosters::Realistic => {
                    let d =
                        eduioc_synth::school(self.cfg.seed, &unit, level, 2025, Size::Realistic);
                    let e = d.enrolled().count() as u64;
                    let t = d
                        .staff
                        .iter()
                        .filter(|x| x.role == "teacher" && x.status == "active")
                        .count() as u64;
                    (d, e, t)
                }
                Rosters::Drawn => {
                    let e = topology::drawn_size(level, self.rng.gen());
                    let d = eduioc_synth::school(self.cfg.seed, &unit, level, 2025, Size::Tiny);
                    (d, e, e / 20)
                }
            };
            self.records.full_students += full_enrolled;
            self.records.full_teachers += full_teachers;
            let target = |n_full: u64, have: usize| {
                (((n_full as f64) * scale).round() as usize).clamp(1, have.max(1))
            };
            let ks = target(full_enrolled, data.students.len());
            let kt = target(full_teachers + 4, data.staff.len());
            let kc = target(data.classes.len() as u64, data.classes.len());
            let students: Vec<_> = spread(data.students.len(), ks)
                .map(|i| data.students[i].clone())
                .collect();
            let staff: Vec<_> = spread(data.staff.len(), kt)
                .map(|i| data.staff[i].clone())
                .collect();
            let classes: Vec<_> = spread(data.classes.len(), kc)
                .map(|i| data.classes[i].clone())
                .collect();
            self.records.sim_students += students.len() as u64;
            self.records.sim_staff += staff.len() as u64;
            self.records.sim_classes += classes.len() as u64;
            self.authors[s].next_student = students.len() as u64 + 1;
            let t = self.rng.gen_range(0..60 * SEC);
            let csvs = [
                (Collection::Students, eduioc_synth::students_csv(&students)),
                (Collection::Staff, eduioc_synth::staff_csv(&staff)),
                (Collection::Classes, eduioc_synth::classes_csv(&classes)),
            ];
            // The real import path: CSV → validated rows, now; upsert → signed entry at
            // the school's import time `t`.
            let parsed: Vec<(Collection, Vec<Row>)> = csvs
                .into_iter()
                .filter_map(|(c, csv)| {
                    eduioc_records::parse_import(c, None, csv.as_bytes())
                        .ok()
                        .map(|rows| (c, rows))
                })
                .collect();
            self.imports.insert(s, parsed);
            self.push(t, Ev::Import(s));
            if self.cfg.days > 0 && self.cfg.edits_per_day > 0 {
                let t = self.rng.gen_range(7 * 3600..17 * 3600) * SEC;
                self.push(t, Ev::Author(s, 0));
            }
        }
    }

    fn push(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Timed {
            t,
            seq: self.seq,
            ev,
        }));
        self.m.peak_queue = self.m.peak_queue.max(self.queue.len());
    }

    /// Runs until nothing is left to happen.
    pub fn run(&mut self) {
        while let Some(Reverse(Timed { t, ev, .. })) = self.queue.pop() {
            self.now = self.now.max(t);
            self.clock.set(self.now);
            self.m.events += 1;
            match ev {
                Ev::Deliver {
                    link,
                    to_parent,
                    epoch,
                    frame,
                } => self.deliver(link, to_parent, epoch, frame),
                Ev::Reeval(n) => self.reeval(n),
                Ev::Import(n) => self.import(n),
                Ev::Author(n, day) => self.author(n, day),
                Ev::Redial(l) => {
                    let (c, p) = (self.links[l].child, self.links[l].parent);
                    if !self.links[l].retired && self.online[c] && self.online[p] {
                        self.m.reconnects += 1;
                        self.link_up(l);
                    }
                }
                Ev::ReformIssue => self.reform_issue(),
                Ev::ReformEffective => self.reform_effective(),
                Ev::EndOutages => {
                    for i in 0..self.sched.len() {
                        self.sched[i] = Schedule::default();
                        self.reeval(i);
                    }
                }
            }
        }
    }

    fn reeval(&mut self, n: usize) {
        let on = !self.dissolved[n] && self.sched[n].online(self.now);
        self.online[n] = on;
        let links: Vec<usize> = self.uplink[n]
            .into_iter()
            .chain(self.downlinks[n].iter().copied())
            .collect();
        for l in links {
            let (c, p) = (self.links[l].child, self.links[l].parent);
            if self.online[c] && self.online[p] && !self.links[l].retired {
                self.link_up(l);
            } else {
                self.link_down(l);
            }
        }
    }

    fn link_down(&mut self, l: usize) {
        let link = &mut self.links[l];
        if !link.active {
            return;
        }
        link.active = false;
        link.epoch += 1;
        link.child_sess = None;
        link.parent_sess = None;
        link.parent_asked = false;
        link.pending_child.clear();
        link.pending_parent.clear();
        for d in [&mut link.up, &mut link.down] {
            d.frames = 0;
            d.bytes = 0;
        }
    }

    fn link_up(&mut self, l: usize) {
        if self.links[l].active {
            return;
        }
        let link = &mut self.links[l];
        link.active = true;
        link.epoch += 1;
        let child = link.child;
        let node = &self.nodes[child];
        let hello = link::hello(node.engine.directory(), &node.unit);
        self.send_req(l, true, Kind::Hello, &hello);
    }

    fn send_req(&mut self, l: usize, from_child: bool, kind: Kind, req: &Request) {
        #[cfg(test)]
        self.sent.push((self.now, l, from_child, kind));
        if let Request::Page { docs, .. } = req {
            self.m.snapshot_docs += docs.len() as u64;
        }
        let link = &mut self.links[l];
        link.next_id += 1;
        let id = link.next_id;
        if from_child {
            link.pending_child.insert(id, kind);
        } else {
            link.pending_parent.insert(id, kind);
        }
        self.send(
            l,
            from_child,
            Frame::Req {
                id,
                bytes: wire::encode(req),
            },
        );
    }

    fn send(&mut self, l: usize, from_child: bool, frame: Frame) {
        let now = self.now;
        let link = &mut self.links[l];
        let size = match &frame {
            Frame::Req { bytes, .. } | Frame::Resp { bytes, .. } => bytes.len() as u64,
        };
        let key = if from_child {
            &link.up_key
        } else {
            &link.down_key
        };
        *self.m.bytes.entry(key.clone()).or_default() += size;
        *self.m.frames.entry(key.clone()).or_default() += 1;
        let d = if from_child {
            &mut link.up
        } else {
            &mut link.down
        };
        let start = d.busy_until.max(now);
        d.busy_until = start + size * SEC / d.bytes_per_s;
        d.frames += 1;
        d.bytes += size;
        debug_assert!(d.frames <= MAX_FRAMES_PER_DIRECTION, "unbounded link queue");
        self.m.peak_frames = self.m.peak_frames.max(d.frames);
        self.m.peak_bytes_queued = self.m.peak_bytes_queued.max(d.bytes);
        let at = d.busy_until + d.latency;
        let epoch = link.epoch;
        self.push(
            at,
            Ev::Deliver {
                link: l,
                to_parent: from_child,
                epoch,
                frame,
            },
        );
    }

    fn deliver(&mut self, l: usize, to_parent: bool, epoch: u64, frame: Frame) {
        if self.links[l].epoch != epoch || !self.links[l].active {
            self.m.dropped_frames += 1;
            return;
        }
        {
            let link = &mut self.links[l];
            let d = if to_parent {
                &mut link.up
            } else {
                &mut link.down
            };
            let size = match &frame {
                Frame::Req { bytes, .. } | Frame::Resp { bytes, .. } => bytes.len() as u64,
            };
            d.frames = d.frames.saturating_sub(1);
            d.bytes = d.bytes.saturating_sub(size);
        }
        let n = if to_parent {
            self.links[l].parent
        } else {
            self.links[l].child
        };
        match frame {
            Frame::Req { id, bytes } => {
                let resp = self.on_request(l, to_parent, &bytes);
                if self.links[l].active && self.links[l].epoch == epoch {
                    self.send(
                        l,
                        !to_parent,
                        Frame::Resp {
                            id,
                            bytes: wire::encode(&resp),
                        },
                    );
                }
            }
            Frame::Resp { id, bytes } => {
                let link = &mut self.links[l];
                let kind = if to_parent {
                    link.pending_parent.remove(&id)
                } else {
                    link.pending_child.remove(&id)
                };
                if let Some(kind) = kind {
                    self.on_response(l, to_parent, kind, &bytes);
                }
            }
        }
        self.pump(n);
    }

    fn count(&mut self, n: usize, key: &'static str) {
        self.nodes[n].engine.count_rejection(key);
    }

    fn refuse(&mut self, n: usize, key: &'static str, reason: String) -> Response {
        self.count(n, key);
        Response::Refused {
            key: key.into(),
            reason,
        }
    }

    /// The node at one end of link `l`: its parent end or its child end.
    fn end(&self, l: usize, at_parent: bool) -> usize {
        if at_parent {
            self.links[l].parent
        } else {
            self.links[l].child
        }
    }

    fn on_request(&mut self, l: usize, at_parent: bool, frame: &[u8]) -> Response {
        let n = self.end(l, at_parent);
        let req: Request = match wire::decode(frame) {
            Ok(r) => r,
            Err(e) => return self.refuse(n, e.key(), e.to_string()),
        };
        match req {
            Request::Hello { unit, certs } => {
                if !at_parent {
                    return self.refuse(n, "unauthorized", "hello from a parent".into());
                }
                let child_key = self.nodes[self.links[l].child].engine.id();
                let node = &mut self.nodes[n];
                // Refused certificates are left out, as the node does.
                let _ = node.engine.add_certs(certs);
                let admitted = link::admit(node.engine.directory(), &node.unit, &unit, |k| {
                    *k == child_key
                });
                let (session, welcome) = match admitted {
                    Ok(a) => a,
                    Err(refusal) => return self.refuse(n, refusal.key, refusal.reason),
                };
                self.links[l].parent_sess = Some(session);
                self.links[l].parent_asked = false;
                welcome
            }
            Request::Heights { heights } => {
                let node = &self.nodes[n];
                let ask = at_parent && !self.links[l].parent_asked;
                let want = match self.links[l].session(at_parent) {
                    Some(s) => {
                        s.on_heights(node.engine.directory(), &node.engine, &heights);
                        // As `eduioc-net`: the parent answers the child's `Heights` with its
                        // own (computed now), once per connection; the child sent its own
                        // right after the `Welcome`.
                        ask.then(|| s.want(node.engine.directory(), &node.engine))
                    }
                    None => {
                        return self.refuse(n, "uncertified", "heights without a session".into())
                    }
                };
                if let Some(want) = want {
                    self.links[l].parent_asked = true;
                    // Sent before the `Ok` that answers the child, as the node does.
                    self.send_req(l, false, Kind::Heights, &want);
                }
                Response::Ok
            }
            Request::Page { entries, docs } => {
                let has = if at_parent {
                    self.links[l].parent_sess.is_some()
                } else {
                    self.links[l].child_sess.is_some()
                };
                if !has {
                    return self.refuse(n, "uncertified", "page without a session".into());
                }
                let ing = self.nodes[n].ingest(&entries, &docs, self.now);
                self.appended(n, &ing.appended);
                Response::Acked {
                    heights: ing.heights,
                    rejected: ing.rejected.len() as u32,
                }
            }
        }
    }

    fn on_response(&mut self, l: usize, at_parent: bool, kind: Kind, frame: &[u8]) {
        let n = self.end(l, at_parent);
        let resp: Response = match wire::decode(frame) {
            Ok(r) => r,
            Err(e) => {
                self.count(n, e.key());
                return;
            }
        };
        match (kind, resp) {
            (Kind::Hello, Response::Welcome { unit, certs }) => {
                let node = &mut self.nodes[n];
                let _ = node.engine.add_certs(certs);
                let session = Session::new(&node.unit, &unit, Role::Parent);
                let want = session.want(node.engine.directory(), &node.engine);
                self.links[l].child_sess = Some(session);
                self.links[l].backoff.reset();
                self.send_req(l, true, Kind::Heights, &want);
            }
            (Kind::Hello, Response::Refused { .. }) => {
                // Not (yet) accepted, e.g. the new parent lacks our certificate: hang up
                // and dial again later with capped exponential backoff.
                let b = self.links[l].backoff.after_failure().as_micros() as u64;
                self.link_down(l);
                self.push(self.now + b, Ev::Redial(l));
            }
            (Kind::Page, Response::Acked { heights, .. }) => {
                if let Some(s) = self.links[l].session(at_parent) {
                    s.on_acked(&heights);
                }
            }
            (_, Response::Refused { .. }) => {
                if let Some(s) = self.links[l].session(at_parent) {
                    s.on_failed();
                }
            }
            _ => {}
        }
    }

    /// Entries by `authors` were committed at node `n`: tell every session of `n`.
    fn appended(&mut self, n: usize, authors: &[NodeId]) {
        if authors.is_empty() {
            return;
        }
        let dir = self.nodes[n].engine.directory();
        if let Some(l) = self.uplink[n] {
            if let Some(s) = self.links[l].child_sess.as_mut() {
                for a in authors {
                    s.on_appended(dir, a);
                }
            }
        }
        for &l in &self.downlinks[n] {
            if let Some(s) = self.links[l].parent_sess.as_mut() {
                for a in authors {
                    s.on_appended(dir, a);
                }
            }
        }
    }

    /// Sends the next page on every session of node `n` that has one ready.
    fn pump(&mut self, n: usize) {
        let mut out = Vec::new();
        let node = &self.nodes[n];
        if let Some(l) = self.uplink[n] {
            if let Some(s) = self.links[l].child_sess.as_mut() {
                if let Some(req) = s.next_page(node.engine.directory(), &node.engine) {
                    out.push((l, true, req));
                }
            }
        }
        for &l in &self.downlinks[n] {
            if let Some(s) = self.links[l].parent_sess.as_mut() {
                if let Some(req) = s.next_page(node.engine.directory(), &node.engine) {
                    out.push((l, false, req));
                }
            }
        }
        for (l, from_child, req) in out {
            self.send_req(l, from_child, Kind::Page, &req);
        }
    }

    /// School `n` imports its initial rosters: one signed entry per collection.
    fn import(&mut self, n: usize) {
        let Some(parsed) = self.imports.remove(&n) else {
            return;
        };
        let mut appended = false;
        for (c, rows) in parsed {
            if self.nodes[n].author_upsert(c, &rows, self.now) {
                self.m.entries_authored += 1;
                self.m.last_edit_us = self.m.last_edit_us.max(self.now);
                appended = true;
            }
        }
        if appended {
            let id = self.nodes[n].engine.id();
            self.appended(n, &[id]);
            self.pump(n);
        }
    }

    fn author(&mut self, n: usize, day: u32) {
        if self.dissolved[n] || day >= self.cfg.days {
            return;
        }
        let (collection, rows) = self.edit(n);
        if !rows.is_empty() && self.nodes[n].author_upsert(collection, &rows, self.now) {
            self.m.entries_authored += 1;
            self.m.last_edit_us = self.now;
            let id = self.nodes[n].engine.id();
            self.appended(n, &[id]);
            self.pump(n);
        }
        // The next edit: later today, or tomorrow morning.
        let a = &mut self.authors[n];
        a.edits_today += 1;
        let later = self.now + self.rng.gen_range(60..5 * 3600) * SEC;
        let end_of_day = u64::from(day) * DAY + 17 * 3600 * SEC;
        if a.edits_today < self.cfg.edits_per_day && later < end_of_day {
            self.push(later, Ev::Author(n, day));
        } else {
            a.edits_today = 0;
            let t = u64::from(day + 1) * DAY + self.rng.gen_range(7 * 3600..12 * 3600) * SEC;
            self.push(t, Ev::Author(n, day + 1));
        }
    }

    /// One plausible edit of school `n`: a status change, a new pupil, a class move, a
    /// teacher leaving or coming back.
    fn edit(&mut self, n: usize) -> (Collection, Vec<Row>) {
        let roll: f64 = self.rng.gen();
        let truth = &self.nodes[n].truth;
        let students = truth.get(&Collection::Students);
        let pick = |rng: &mut ChaCha8Rng, m: Option<&BTreeMap<String, BTreeMap<String, Value>>>| {
            let m = m?;
            if m.is_empty() {
                return None;
            }
            let k = rng.gen_range(0..m.len());
            m.iter().nth(k).map(|(id, f)| (id.clone(), f.clone()))
        };
        let row = |id: String, fields: Vec<(&str, Value)>| Row {
            id,
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        };
        if roll < 0.5 {
            let Some((id, f)) = pick(&mut self.rng, students) else {
                return (Collection::Students, Vec::new());
            };
            let status = if f.get("status").and_then(Value::as_str) == Some("enrolled") {
                ["dropped_out", "transferred_out"][self.rng.gen_range(0..2)]
            } else {
                "enrolled"
            };
            (
                Collection::Students,
                vec![row(id, vec![("status", Value::Str(status.into()))])],
            )
        } else if roll < 0.75 {
            let Some((_, mut f)) = pick(&mut self.rng, students) else {
                return (Collection::Students, Vec::new());
            };
            let a = &mut self.authors[n];
            let id = format!("hs-{}-n{}", self.units[n].id, a.next_student);
            a.next_student += 1;
            f.insert("status".into(), Value::Str("enrolled".into()));
            f.insert("full_name".into(), Value::Str("Nguyễn Văn Mới".into()));
            (Collection::Students, vec![Row { id, fields: f }])
        } else if roll < 0.9 {
            let Some((id, _)) = pick(&mut self.rng, students) else {
                return (Collection::Students, Vec::new());
            };
            let Some((_, other)) = pick(&mut self.rng, students) else {
                return (Collection::Students, Vec::new());
            };
            let mut fields = Vec::new();
            for k in ["grade", "class_id"] {
                if let Some(v) = other.get(k) {
                    fields.push((k, v.clone()));
                }
            }
            (Collection::Students, vec![row(id, fields)])
        } else {
            let Some((id, f)) = pick(&mut self.rng, truth.get(&Collection::Staff)) else {
                return (Collection::Staff, Vec::new());
            };
            let status = if f.get("status").and_then(Value::as_str) == Some("active") {
                "left"
            } else {
                "active"
            };
            (
                Collection::Staff,
                vec![row(id, vec![("status", Value::Str(status.into()))])],
            )
        }
    }

    fn reform_issue(&mut self) {
        let certs = std::mem::take(&mut self.reform_certs);
        let now = self.now;
        let root = &mut self.nodes[0];
        let mut appended = false;
        for c in certs {
            if root.publish_certificate(c, now) {
                self.m.entries_authored += 1;
                appended = true;
            }
        }
        if appended {
            let id = self.root_key.id();
            self.appended(0, &[id]);
            self.pump(0);
        }
    }

    fn reform_effective(&mut self) {
        let Some(reform) = self.reform.clone() else {
            return;
        };
        for node in &mut self.nodes {
            node.engine.advance_clock();
        }
        let first_commune = self.units.len() - reform.communes.len();
        // Every link restarts (the nodes are reconfigured), moved schools dial their new
        // parent, districts are dissolved.
        for l in 0..self.links.len() {
            self.link_down(l);
        }
        for (s, to) in &reform.moves {
            let p = match to {
                NewParent::NewCommune(c) => first_commune + c,
                NewParent::Unit(u) => *u,
            };
            if let Some(old) = self.uplink[*s] {
                self.links[old].retired = true;
                let op = self.links[old].parent;
                self.downlinks[op].retain(|&x| x != old);
            }
            self.add_link(*s, p);
            self.truth_parent[*s] = Some(p);
            self.units[*s].parent = Some(p);
        }
        for &d in &reform.dissolved {
            self.dissolved[d] = true;
            if let Some(l) = self.uplink[d] {
                self.links[l].retired = true;
            }
        }
        for i in 0..self.nodes.len() {
            self.reeval(i);
        }
    }

    /// Compares every unit's aggregate at the root, and at every live office for its
    /// subtree, with the ground truth computed from what the schools authored, summed
    /// over the real final hierarchy.
    pub fn check(&self) -> Check {
        let n = self.units.len();
        let mut truth: Vec<Summary> = vec![Summary::default(); n];
        let mut schools: Vec<u64> = vec![0; n];
        for s in 0..n {
            if self.units[s].school_level.is_none() {
                continue;
            }
            let t = self.nodes[s].truth_summary();
            let mut cur = Some(s);
            let mut depth = 0;
            while let Some(u) = cur {
                truth[u].add(&t);
                schools[u] += 1;
                cur = self.truth_parent[u];
                depth += 1;
                if depth > 64 {
                    break;
                }
            }
        }
        let mut check = Check::default();
        let index: HashMap<&str, usize> = self
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.as_str(), i))
            .collect();
        for (at, node) in self.nodes.iter().enumerate() {
            let office = self.units[at].school_level.is_none();
            if !office || self.dissolved[at] {
                continue;
            }
            check.offices += 1;
            for u in node.engine.directory().subtree(&node.unit) {
                let Some(&i) = index.get(u.as_str()) else {
                    check.fail(format!("{}: unknown unit {u}", node.unit));
                    continue;
                };
                let Subtotal {
                    summary: sum,
                    schools: sch,
                    reporting: rep,
                    ..
                } = node.aggregate(&u, YEAR);
                check.comparisons += 1;
                if at == 0 {
                    check.units_at_root += 1;
                }
                if sum != truth[i] {
                    check.fail(format!(
                        "at {}: unit {u}: {sum:?} vs truth {:?}",
                        node.unit, truth[i]
                    ));
                } else if sch != schools[i] || rep != schools[i] {
                    check.fail(format!(
                        "at {}: unit {u}: {sch} schools, {rep} reporting, truth {}",
                        node.unit, schools[i]
                    ));
                }
            }
        }
        if check.units_at_root != n {
            check.fail(format!(
                "the root knows {} units of {n}",
                check.units_at_root
            ));
        }
        check.root_enrolled = truth[0].enrolled;
        check.root_teachers = truth[0].teachers;
        check.ok = check.failures == 0;
        check
    }

    /// Automerge documents loaded in memory now, over all nodes.
    pub fn loaded_docs(&self) -> usize {
        self.nodes.iter().map(|n| n.engine.loaded_docs()).sum()
    }

    /// The simulated nodes, in topology order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Fills the run's figures into a report.
    pub fn report(&self, report: &mut Report) {
        report.converged_s = self
            .nodes
            .iter()
            .map(|n| n.last_append_us)
            .max()
            .unwrap_or(0) as f64
            / SEC as f64;
        report.last_edit_s = self.m.last_edit_us as f64 / SEC as f64;
        report.bytes_by_link = self.m.bytes.clone();
        report.frames_by_link = self.m.frames.clone();
        report.dropped_frames = self.m.dropped_frames;
        report.peak_event_queue = self.m.peak_queue;
        report.peak_frames_per_link_direction = self.m.peak_frames;
        report.peak_bytes_queued_per_link_direction = self.m.peak_bytes_queued;
        report.events = self.m.events;
        report.entries_authored = self.m.entries_authored;
        report.reconnects_after_refusal = self.m.reconnects;
        report.snapshot_docs_sent = self.m.snapshot_docs;
        report.records = self.records;
        let root = &self.nodes[0].engine;
        report.root_entries = root.entry_count();
        let stored = root.stored_bytes().unwrap_or_default();
        report.root_entry_bytes = stored.entries;
        report.root_doc_bytes = stored.docs;
        let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
        for node in &self.nodes {
            for (k, v) in node.engine.rejected() {
                *rejected.entry(k.clone()).or_default() += v;
            }
        }
        report.rejected = rejected;
        let mut levels: BTreeMap<String, usize> = BTreeMap::new();
        for u in &self.units {
            *levels.entry(u.level.clone()).or_default() += 1;
        }
        report.units = levels;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `eduioc-net`: the child sends `Hello`, then its `Heights` when the `Welcome`
    /// arrives; the parent sends its `Heights` only once the child's has arrived, once
    /// per connection.
    #[test]
    fn parent_sends_heights_after_the_childs() {
        let topo = crate::topology::tiny(3);
        let cfg = crate::config(&crate::Params {
            scenario: crate::Scenario::Initial,
            shape: crate::Shape::Tiny,
            seed: 3,
            scale: 0.1,
            days: 0,
            edits_per_day: 0,
            no_outages: true,
            provinces: None,
            store_cache_kib: 0,
        });
        let mut w = World::new(&topo, cfg);
        w.run();
        assert!(w.check().ok);
        for l in 0..w.links.len() {
            let sent: Vec<_> = w.sent.iter().filter(|s| s.1 == l).collect();
            let kinds: Vec<(bool, Kind)> = sent.iter().take(3).map(|s| (s.2, s.3)).collect();
            assert_eq!(
                kinds,
                [
                    (true, Kind::Hello),
                    (true, Kind::Heights),
                    (false, Kind::Heights)
                ],
                "link {l}"
            );
            // The parent's goes out no earlier than the child's could arrive.
            let up = w.links[l].up.latency;
            assert!(sent[2].0 >= sent[1].0 + up, "link {l}: {sent:?}");
            let parent_heights = sent.iter().filter(|s| !s.2 && s.3 == Kind::Heights).count();
            assert_eq!(parent_heights, 1, "one connection, one parent Heights");
        }
    }
}
