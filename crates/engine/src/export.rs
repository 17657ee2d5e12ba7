//! What leaves a node for another database (`eduioc export postgres`): a feed of the
//! documents whose figures changed, in commit order, and the hierarchy with its indicators.
//!
//! Every commit that changes a document's figures (its records, or the summary an office
//! signed for it) moves the document to the end of the feed: table `feed` maps a sequence
//! number to the document key, `feed_at` the key to its number, so each document is in the
//! feed once, at its latest change. A reader that went as far as cursor `c` and reads from
//! `c` again misses nothing: a document changed since has a number above `c`. Reads go
//! through [`Lookups`] beside the engine, never waiting for an ingest.

use std::collections::{BTreeMap, BTreeSet};

use eduioc_protocol::DocId;
use eduioc_records::Value;
use eduioc_store::WriteTxn;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::search::Lookups;
use crate::tables::{FEED, FEED_AT, FEED_EPOCH};
use crate::{Figures, Result, TERMS};

/// Most records one feed page carries (at least one document is always sent whole).
pub const MAX_PAGE_RECORDS: usize = 20_000;

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FeedPage {
    /// The node the feed is of.
    pub node: String,
    /// The identity of the node's feed: another one (a store begun again) means a cursor
    /// of the old feed means nothing here; read from the start.
    pub epoch: String,
    /// The feed's last number now: a cursor beyond it is of another state of the store
    /// (restored from a copy); read from the start.
    pub last: u64,
    /// The cursor after this page: pass it as `cursor` for the next one.
    pub next: u64,
    /// Whether changes follow this page.
    pub more: bool,
    /// The hierarchy in force ([`directory_digest`]): when it differs from the one a reader
    /// holds, it reads the units and every indicator again ([`Lookups::units_page`]).
    pub directory: String,
    /// The documents changed, oldest change first.
    pub docs: Vec<FeedDoc>,
    /// The indicators of every unit these documents count toward (their units and the
    /// offices above them up to this node), for their school years, each term.
    pub indicators: Vec<IndicatorRow>,
}

/// A document of the feed, as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FeedDoc {
    /// Its place in the feed.
    pub seq: u64,
    /// `unit/collection/year`.
    pub key: String,
    /// The unit that writes it.
    pub unit: String,
    /// `students`, `staff`, `classes`, `results`, `health` or `profile`.
    pub collection: String,
    /// Its school year.
    pub school_year: String,
    /// Whether this node holds its records. Above a privacy boundary (`records_up_to`) an
    /// office holds only the summary an office below signed: its figures count, its
    /// records are not here.
    pub held: bool,
    /// Its records, by id (empty when not held).
    pub records: Vec<FeedRecord>,
}

/// One record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FeedRecord {
    /// The record id (`student_id`, …; `student|term` for results).
    pub id: String,
    /// Its fields, by column code.
    pub fields: BTreeMap<String, Value>,
}

/// One indicator of one unit, school year and term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IndicatorRow {
    /// The unit.
    pub unit: String,
    /// The school year.
    pub school_year: String,
    /// `HK1`, `HK2` or `CN`.
    pub term: String,
    /// Its code (`dropout_rate`, …).
    pub indicator: String,
    /// Its value (`None` when the denominator is 0).
    pub value: Option<f64>,
    /// What it counts.
    pub numerator: f64,
    /// Out of what.
    pub denominator: f64,
}

/// The units of this node's subtree with their indicators, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnitsPage {
    /// The node.
    pub node: String,
    /// The hierarchy these units are of ([`directory_digest`]).
    pub directory: String,
    /// Every unit of the subtree, the node's own first.
    pub units: Vec<UnitRow>,
    /// Every indicator of every unit, for every school year with data, each term.
    pub indicators: Vec<IndicatorRow>,
}

/// A unit and the certificate in force for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnitRow {
    /// Its id.
    pub unit: String,
    /// Its name.
    pub name: String,
    /// Its level (`department`, `district`, `school`, …).
    pub level: String,
    /// Its parent (`None` for the root).
    pub parent: Option<String>,
    /// The version of its certificate in force.
    pub cert_version: u32,
    /// Since when that version is in force (Unix ms).
    pub effective_ms: i64,
}

/// Moves the documents `keys` to the end of the feed in the commit's transaction. `next`
/// is the engine's last number; it becomes the last one given here (the engine keeps it
/// once the transaction commits).
pub(crate) fn note_changed<'k>(
    txn: &mut WriteTxn<'_>,
    next: &mut u64,
    keys: impl IntoIterator<Item = &'k String>,
) -> Result<()> {
    for key in keys {
        if let Some(old) = txn.get(&FEED_AT, key)? {
            txn.delete(&FEED, &feed_key(old))?;
        }
        *next += 1;
        txn.put(&FEED, &feed_key(*next), key)?;
        txn.put(&FEED_AT, key, next)?;
    }
    Ok(())
}

/// The key of number `seq` in table `feed`: zero-padded, so keys sort as numbers.
fn feed_key(seq: u64) -> String {
    format!("{seq:020}")
}

/// The number of feed key `key` (`None` for a key that is not one).
fn feed_seq(key: &str) -> Option<u64> {
    key.parse().ok()
}

/// A new feed identity for the node of `actor`: a digest of its id and the time, never the
/// same twice for one node.
pub(crate) fn new_epoch(actor: &[u8; 32]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = sha2::Sha256::new();
    h.update(actor);
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    hex::encode(&h.finalize()[..12])
}

/// The last number of the feed as `view` holds it (0 when empty).
pub(crate) fn last_seq(view: &eduioc_store::View) -> Result<u64> {
    let last = view.scan_back(&FEED, "", None, 1, |_, _| true)?;
    Ok(last.first().and_then(|(k, _)| feed_seq(k)).unwrap_or(0))
}

/// An identifier of the hierarchy in force over `unit`'s subtree that survives restarts:
/// a digest of every unit's id, parent and certificate version.
pub fn directory_digest(figures: &Figures) -> String {
    let dir = figures.directory();
    let mut h = sha2::Sha256::new();
    for u in dir.subtree(figures.unit()) {
        let cert = dir.current_cert(&u);
        let parent = dir.parent(&u).unwrap_or("");
        let version = cert.map_or(0, |c| c.body.version);
        h.update(format!("{u}\t{parent}\t{version}\n").as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

impl Lookups {
    /// The documents changed after feed number `cursor`, oldest change first: at most
    /// `limit` of them, fewer when their records pass [`MAX_PAGE_RECORDS`].
    pub fn feed(&self, cursor: u64, limit: usize) -> Result<FeedPage> {
        let view = self.reader.view()?;
        let epoch = view.get(&FEED_EPOCH, "epoch")?.unwrap_or_default();
        let last = last_seq(&view)?;
        let rows = view.scan_after(&FEED, Some(&feed_key(cursor)), limit.max(1) + 1)?;
        let mut more = rows.len() > limit.max(1);
        let mut docs = Vec::new();
        let mut next = cursor;
        let mut records = 0usize;
        for (k, key) in rows.into_iter().take(limit.max(1)) {
            if !docs.is_empty() && records >= MAX_PAGE_RECORDS {
                more = true;
                break;
            }
            let Some(seq) = feed_seq(&k) else {
                continue;
            };
            next = seq;
            let Some(id) = DocId::from_key(&key) else {
                continue;
            };
            let doc = match view.doc(&key)? {
                Some(rec) => Some(crate::load_doc(Some(rec), &self.actor)?),
                None => None,
            };
            let held = doc.is_some();
            let recs: Vec<FeedRecord> = doc
                .map(|d| d.records())
                .unwrap_or_default()
                .into_iter()
                .map(|(id, fields)| FeedRecord { id, fields })
                .collect();
            records += recs.len();
            docs.push(FeedDoc {
                seq,
                key,
                unit: id.unit,
                collection: id.collection,
                school_year: id.year,
                held,
                records: recs,
            });
        }
        let figures = self.views.figures();
        // The units the documents count toward, and their years.
        let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
        for d in &docs {
            let path = figures.directory().ancestors_or_self(&d.unit);
            if let Some(here) = path.iter().position(|u| u == figures.unit()) {
                wanted.extend(
                    path[..=here]
                        .iter()
                        .map(|u| (u.clone(), d.school_year.clone())),
                );
            }
        }
        let indicators = indicator_rows(&figures, wanted)?;
        Ok(FeedPage {
            node: figures.unit().to_string(),
            epoch,
            last,
            next,
            more,
            directory: directory_digest(&figures),
            docs,
            indicators,
        })
    }

    /// Every unit of this node's subtree and every indicator of each, for every school
    /// year with data here.
    pub fn units_page(&self) -> Result<UnitsPage> {
        let figures = self.views.figures();
        let dir = figures.directory();
        let subtree = dir.subtree(figures.unit());
        let units: Vec<UnitRow> = subtree
            .iter()
            .filter_map(|u| {
                let c = dir.current_cert(u)?;
                Some(UnitRow {
                    unit: u.clone(),
                    name: c.body.name.clone(),
                    level: c.body.level.clone(),
                    parent: c.body.parent.clone(),
                    cert_version: c.body.version,
                    effective_ms: c.body.effective_ms,
                })
            })
            .collect();
        let years: BTreeSet<String> = figures
            .summaries
            .keys()
            .filter_map(|k| DocId::from_key(k).map(|d| d.year))
            .collect();
        let wanted = subtree
            .iter()
            .flat_map(|u| years.iter().map(move |y| (u.clone(), y.clone())))
            .collect();
        let indicators = indicator_rows(&figures, wanted)?;
        Ok(UnitsPage {
            node: figures.unit().to_string(),
            directory: directory_digest(&figures),
            units,
            indicators,
        })
    }
}

/// The indicators of each (unit, school year) of `wanted`, each term.
fn indicator_rows(
    figures: &Figures,
    wanted: BTreeSet<(String, String)>,
) -> Result<Vec<IndicatorRow>> {
    let mut out = Vec::new();
    for (unit, year) in wanted {
        for term in TERMS {
            let ind = figures.indicators(Some(&unit), Some(&year), Some(term))?;
            out.extend(ind.indicators.into_iter().map(|i| IndicatorRow {
                unit: unit.clone(),
                school_year: year.clone(),
                term: term.to_string(),
                indicator: i.code.to_string(),
                value: i.value,
                numerator: i.numerator,
                denominator: i.denominator,
            }));
        }
    }
    Ok(out)
}
