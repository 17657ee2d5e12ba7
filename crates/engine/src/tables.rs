//! The engine's named, typed tables (see [`eduioc_store::Table`]): one per kind of
//! thing it keeps beside entries, heads, documents, certificates and quarantine. Each
//! value is written at the version declared here; a new kind is a new table, and a
//! changed encoding is a new version with a step in [`upgrade`].
//!
//! Stores written before these tables existed kept the same things under string
//! prefixes in the store's meta table (`seen/`, `rejected/`, `notif/`, `ack/`, `look/`,
//! `snap/`, `snapdoc/`, `track/`, `holes/`) and unversioned summaries in the table
//! `summaries`; [`upgrade`] moves them, once, in one transaction, when the engine opens.

use eduioc_protocol::snapshot::{DocTrack, Ranges};
use eduioc_protocol::NodeId;
use eduioc_records::Summary;
use eduioc_store::{Store, Table};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::search::Lookup;
use crate::{Notice, Result};

/// Document key → its summary (what `stats` and `indicators` sum). Version 2 added the
/// counts behind the indicators (per class, per qualification, results, health,
/// profile); [`upgrade`] recomputes version-1 summaries from their documents.
pub(crate) const SUMMARIES: Table<Summary> = Table::new("doc_summaries", 2);
/// Document key (of a document not held here) → how fresh the signed summary held of it
/// is: the latest author timestamp of the document's unit the signing office held
/// (`seen` of its `Summaries` entry). A summary of older data, arriving late from another
/// office (the school's old district), does not replace it. No row: any summary does.
pub(crate) const SUMMARY_SEEN: Table<i64> = Table::new("doc_summary_seen", 1);
/// Document key → its look-up index (students and staff).
pub(crate) const LOOKUPS: Table<Lookup<String>> = Table::new("lookups", 1);
/// Target id (`<office>:<unit>:<year>:<indicator>`) → the target in force, with its
/// history.
pub(crate) const TARGETS: Table<crate::Target> = Table::new("targets", 1);
/// Alert id → the earliest acknowledgement of it held.
pub(crate) const ALERT_ACKS: Table<crate::AlertAck> = Table::new("alert_acks", 1);
/// `<author ms>/<unit>/<seq>` → an action of the audit trail (see [`crate::audit`]).
pub(crate) const AUDIT: Table<crate::audit::Indexed> = Table::new("audit", 1);
/// `<school>/<year>/<term>` → the steps of that term report held (see [`crate::reports`]).
pub(crate) const REPORTS: Table<crate::reports::Steps> = Table::new("reports", 1);
/// Unit → the latest author timestamp seen from it (Unix ms).
pub(crate) const SEEN: Table<i64> = Table::new("seen", 1);
/// Rejection reason → how many entries and frames were refused for it.
pub(crate) const REJECTED: Table<u64> = Table::new("rejected", 1);
/// `<from unit>/<seq>` → a notification received or sent.
pub(crate) const NOTICES: Table<Notice> = Table::new("notices", 1);
/// `<from unit>/<seq>/<reader unit>` → when the reader acknowledged it (Unix ms).
pub(crate) const ACKS: Table<i64> = Table::new("acks", 1);
/// `<author hex>/<document key>` → the latest snapshot entry held: its seq and the seqs
/// it replaces.
pub(crate) const SNAPSHOT_LATEST: Table<(u64, Ranges)> = Table::new("snapshot_latest", 1);
/// Document key → the snapshot entry (author, seq) whose heads the stored document is at.
pub(crate) const SNAPSHOT_DOC_AT: Table<(NodeId, u64)> = Table::new("snapshot_doc_at", 1);
/// Document key → how many of its stored chunks, after its base, the document at the
/// heads of its `SNAPSHOT_DOC_AT` entry holds (no row: none, the base is at them).
pub(crate) const SNAPSHOT_DOC_CHUNKS: Table<u32> = Table::new("snapshot_doc_chunks", 1);
/// Feed number (20 digits) → the document key whose figures changed then (see
/// [`crate::export`]: each document once, at its latest change).
pub(crate) const FEED: Table<String> = Table::new("feed", 1);
/// Document key → its number in the feed.
pub(crate) const FEED_AT: Table<u64> = Table::new("feed_at", 1);
/// `epoch` → the identity of this store's feed, drawn when the feed began: a store begun
/// again (restored from the parent, or a new one) numbers its feed anew, and a reader
/// holding a cursor of the old feed must read it from the start.
pub(crate) const FEED_EPOCH: Table<String> = Table::new("feed_epoch", 1);
/// Document key (own documents) → what a snapshot would replace and when one is due.
pub(crate) const SNAPSHOT_TRACKS: Table<DocTrack> = Table::new("snapshot_tracks", 1);
/// Author hex → the holes of its log held here.
pub(crate) const SNAPSHOT_HOLES: Table<Ranges> = Table::new("snapshot_holes", 1);

/// The meta key recording that the engine's tables are in this layout.
const LAYOUT_KEY: &str = "engine_layout";
/// 2: typed tables; 3: summaries of version 2; 4: the export feed.
const LAYOUT: u8 = 4;

/// Brings a store an older engine wrote to this layout, in one transaction; nothing to do
/// once done. From the first layout it moves what was kept in the meta table into the
/// typed tables; from the first and the second it recomputes every document's summary
/// (and index) from the document itself, as a page would (`actor`: this node's). A value
/// that cannot be read is an error naming its key: the node does not start on a store it
/// would misread.
pub(crate) fn upgrade(store: &Store, actor: &[u8; 32]) -> Result<()> {
    let layout = store.meta(LAYOUT_KEY)?;
    if layout.as_deref() == Some(&[LAYOUT]) {
        return Ok(());
    }
    let mut txn = store.begin_write()?;
    if !matches!(layout.as_deref(), Some(&[2]) | Some(&[3])) {
        from_first_layout(store, &mut txn)?;
    }
    if layout.as_deref() != Some(&[3]) {
        // Summaries of version 1 lack the indicators' counts: computed again from the
        // documents, students before the results and health they are joined with.
        txn.delete_raw_table(SUMMARIES.name())?;
        txn.delete_raw_table(SUMMARY_SEEN.name())?;
        let mut keys = store.doc_keys()?;
        keys.sort_by_key(|k| crate::collection_of(k) != Some(eduioc_records::Collection::Students));
        for key in keys {
            let doc = crate::load_doc(store.doc(&key)?, actor)?;
            if let Some(f) = crate::figures(&key, &doc) {
                crate::write_figures(&mut txn, &key, f)?;
            }
        }
    }
    // Every document with figures enters the export feed once, in key order: the summaries
    // as this transaction holds them (recomputed above for an older layout, whose stored
    // ones are of another version).
    let mut keys: Vec<String> = store.doc_keys()?;
    keys.extend(txn.scan(&SUMMARIES, "")?.into_iter().map(|(k, _)| k));
    keys.sort();
    keys.dedup();
    let mut last = 0;
    crate::export::note_changed(&mut txn, &mut last, &keys)?;
    txn.put(&FEED_EPOCH, "epoch", &crate::export::new_epoch(actor))?;
    txn.put_meta(LAYOUT_KEY, &[LAYOUT])?;
    txn.commit()?;
    Ok(())
}

/// The first layout's meta rows moved into the typed tables, and its unversioned
/// summaries dropped (recomputed by [`upgrade`]).
fn from_first_layout(store: &Store, txn: &mut eduioc_store::WriteTxn<'_>) -> Result<()> {
    let txn = &mut *txn;
    move_le(store, txn, "seen/", &SEEN, i64::from_le_bytes)?;
    move_le(store, txn, "rejected/", &REJECTED, u64::from_le_bytes)?;
    move_le(store, txn, "ack/", &ACKS, i64::from_le_bytes)?;
    move_postcard(store, txn, "notif/", &NOTICES)?;
    move_postcard(store, txn, "look/", &LOOKUPS)?;
    move_postcard(store, txn, "snap/", &SNAPSHOT_LATEST)?;
    move_postcard(store, txn, "snapdoc/", &SNAPSHOT_DOC_AT)?;
    move_postcard(store, txn, "track/", &SNAPSHOT_TRACKS)?;
    move_postcard(store, txn, "holes/", &SNAPSHOT_HOLES)?;
    txn.delete_raw_table(LEGACY_SUMMARIES)?;
    Ok(())
}

/// The table of unversioned summaries of the first layout.
const LEGACY_SUMMARIES: &str = "summaries";

fn decode_legacy<V: DeserializeOwned>(place: &str, key: &str, v: &[u8]) -> Result<V> {
    postcard::from_bytes(v).map_err(|e| {
        crate::Error::Invalid(format!(
            "upgrading the store: {key:?} in {place} cannot be read: {e}"
        ))
    })
}

/// Moves the meta rows under `prefix`, 8-byte little-endian numbers, into `table` (keys
/// without the prefix).
fn move_le<V: Serialize>(
    store: &Store,
    txn: &mut eduioc_store::WriteTxn<'_>,
    prefix: &str,
    table: &Table<V>,
    from_le: fn([u8; 8]) -> V,
) -> Result<()> {
    for (key, v) in store.meta_prefix(prefix)? {
        let bytes = <[u8; 8]>::try_from(v.as_slice()).map_err(|_| {
            crate::Error::Invalid(format!(
                "upgrading the store: meta value {key:?} is {} bytes, not 8",
                v.len()
            ))
        })?;
        txn.put(table, &key[prefix.len()..], &from_le(bytes))?;
        txn.delete_meta(&key)?;
    }
    Ok(())
}

/// Moves the meta rows under `prefix`, postcard-encoded values of `V`, into `table`
/// (keys without the prefix).
fn move_postcard<V: Serialize + DeserializeOwned>(
    store: &Store,
    txn: &mut eduioc_store::WriteTxn<'_>,
    prefix: &str,
    table: &Table<V>,
) -> Result<()> {
    for (key, v) in store.meta_prefix(prefix)? {
        let value: V = decode_legacy("the meta table", &key, &v)?;
        txn.put(table, &key[prefix.len()..], &value)?;
        txn.delete_meta(&key)?;
    }
    Ok(())
}
