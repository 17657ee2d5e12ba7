//! Table definitions, key layouts and the read helpers shared by [`crate::Store`]
//! (read transactions) and [`crate::WriteTxn`] (reads that see the transaction's
//! own writes).

use redb::{Key, ReadableTable, TableDefinition, Value};
use serde::{Deserialize, Serialize};

use crate::{Author, DocRecord, Error, Head, Quarantined, Result};

/// A table definition together with its name as a `&'static str` for error context.
pub(crate) struct Def<K: Key + 'static, V: Value + 'static> {
    pub(crate) name: &'static str,
    pub(crate) def: TableDefinition<'static, K, V>,
}

impl<K: Key + 'static, V: Value + 'static> Def<K, V> {
    const fn new(name: &'static str) -> Self {
        Def {
            name,
            def: TableDefinition::new(name),
        }
    }
}

/// Length of an entry key: author (32 bytes) ++ seq (u64 big-endian).
pub(crate) const ENTRY_KEY_LEN: usize = 40;
/// Length of a quarantine key: author ++ seq (BE) ++ counter (u64 BE).
pub(crate) const QUARANTINE_KEY_LEN: usize = 48;

pub(crate) type EntryKey = [u8; ENTRY_KEY_LEN];
pub(crate) type QuarantineKey = [u8; QUARANTINE_KEY_LEN];

/// `(author ++ seq)` → entry bytes, exactly as signed by the author.
pub(crate) const ENTRIES: Def<&EntryKey, &[u8]> = Def::new("entries");
/// author → postcard-encoded [`Head`].
pub(crate) const HEADS: Def<&Author, &[u8]> = Def::new("heads");
/// doc key → latest saved document.
pub(crate) const DOC_SNAPSHOTS: Def<&str, &[u8]> = Def::new("doc_snapshots");
/// `(doc key, index)` → incremental chunk written after the snapshot.
pub(crate) const DOC_CHUNKS: Def<(&str, u32), &[u8]> = Def::new("doc_chunks");
/// caller-chosen id → certificate blob.
pub(crate) const CERTS: Def<&str, &[u8]> = Def::new("certs");
/// `(author ++ seq ++ counter)` → postcard-encoded reason and bytes.
pub(crate) const QUARANTINE: Def<&QuarantineKey, &[u8]> = Def::new("quarantine");
/// string key → value.
pub(crate) const META: Def<&str, &[u8]> = Def::new("meta");

/// The meta key of the store's layout: one byte, [`LAYOUT`] once upgraded.
pub(crate) const LAYOUT_KEY: &str = "layout";
/// The current layout: heads and quarantine records carry a version byte
/// ([`HEAD_VERSION`], [`QUARANTINE_VERSION`]). Layout 1 (unrecorded) had none.
pub(crate) const LAYOUT: u8 = 2;
/// Version of a stored head: the byte before its postcard encoding.
pub(crate) const HEAD_VERSION: u8 = 1;
/// Version of a stored quarantine record.
pub(crate) const QUARANTINE_VERSION: u8 = 1;

/// The postcard bytes after a stored value's version byte, if it is `version`.
fn versioned<'b>(
    table: &'static str,
    what: &'static str,
    version: u8,
    stored: &'b [u8],
) -> Result<&'b [u8]> {
    match stored.split_first() {
        Some((&v, rest)) if v == version => Ok(rest),
        other => Err(Error::Value {
            table,
            key: what.to_string(),
            detail: match other {
                None => "the value is empty".into(),
                Some((v, _)) => format!("the value is version {v}; this EduIOC reads {version}"),
            },
        }),
    }
}

pub(crate) fn entry_key(author: &Author, seq: u64) -> EntryKey {
    let mut key = [0u8; ENTRY_KEY_LEN];
    key[..32].copy_from_slice(author);
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(crate) fn quarantine_key(author: &Author, seq: u64, counter: u64) -> QuarantineKey {
    let mut key = [0u8; QUARANTINE_KEY_LEN];
    key[..32].copy_from_slice(author);
    key[32..40].copy_from_slice(&seq.to_be_bytes());
    key[40..].copy_from_slice(&counter.to_be_bytes());
    key
}

fn split_u64(bytes: &[u8]) -> u64 {
    let mut be = [0u8; 8];
    be.copy_from_slice(bytes);
    u64::from_be_bytes(be)
}

pub(crate) fn seq_of(key: &EntryKey) -> u64 {
    split_u64(&key[32..40])
}

pub(crate) fn split_quarantine_key(key: &QuarantineKey) -> (Author, u64, u64) {
    let mut author = [0u8; 32];
    author.copy_from_slice(&key[..32]);
    (author, split_u64(&key[32..40]), split_u64(&key[40..48]))
}

/// Stored form of a quarantine record's value.
#[derive(Serialize)]
pub(crate) struct QuarantineValueRef<'a> {
    pub(crate) reason: &'a str,
    pub(crate) bytes: &'a [u8],
}

#[derive(Deserialize)]
struct QuarantineValue {
    reason: String,
    bytes: Vec<u8>,
}

pub(crate) fn encode_head(head: &Head) -> Result<Vec<u8>> {
    postcard::to_extend(head, vec![HEAD_VERSION]).map_err(|source| Error::Encode {
        table: HEADS.name,
        what: "head",
        source,
    })
}

fn decode_head(bytes: &[u8]) -> Result<Head> {
    let bytes = versioned(HEADS.name, "head", HEAD_VERSION, bytes)?;
    postcard::from_bytes(bytes).map_err(|source| Error::Decode {
        table: HEADS.name,
        what: "head",
        source,
    })
}

pub(crate) fn encode_quarantine(q: &Quarantined) -> Result<Vec<u8>> {
    let value = QuarantineValueRef {
        reason: &q.reason,
        bytes: &q.bytes,
    };
    postcard::to_extend(&value, vec![QUARANTINE_VERSION]).map_err(|source| Error::Encode {
        table: QUARANTINE.name,
        what: "quarantine record",
        source,
    })
}

pub(crate) fn get_head<T>(heads: &T, author: &Author) -> Result<Option<Head>>
where
    T: ReadableTable<&'static Author, &'static [u8]>,
{
    let got = heads
        .get(author)
        .map_err(|e| Error::storage(HEADS.name, "get", e))?;
    got.map(|v| decode_head(v.value())).transpose()
}

pub(crate) fn all_heads<T>(heads: &T) -> Result<Vec<(Author, Head)>>
where
    T: ReadableTable<&'static Author, &'static [u8]>,
{
    let iter = heads
        .iter()
        .map_err(|e| Error::storage(HEADS.name, "iterate", e))?;
    let mut out = Vec::new();
    for row in iter {
        let (k, v) = row.map_err(|e| Error::storage(HEADS.name, "iterate", e))?;
        out.push((*k.value(), decode_head(v.value())?));
    }
    Ok(out)
}

pub(crate) fn get_entry<T>(entries: &T, author: &Author, seq: u64) -> Result<Option<Vec<u8>>>
where
    T: ReadableTable<&'static EntryKey, &'static [u8]>,
{
    let got = entries
        .get(&entry_key(author, seq))
        .map_err(|e| Error::storage(ENTRIES.name, "get", e))?;
    Ok(got.map(|v| v.value().to_vec()))
}

pub(crate) fn entries_from<T>(
    entries: &T,
    author: &Author,
    from: u64,
    max_count: usize,
    max_bytes: usize,
) -> Result<Vec<(u64, Vec<u8>)>>
where
    T: ReadableTable<&'static EntryKey, &'static [u8]>,
{
    let mut out = Vec::new();
    if max_count == 0 {
        return Ok(out);
    }
    let lo = entry_key(author, from);
    let hi = entry_key(author, u64::MAX);
    let iter = entries
        .range::<&EntryKey>(&lo..=&hi)
        .map_err(|e| Error::storage(ENTRIES.name, "range", e))?;
    let mut total = 0usize;
    for row in iter {
        let (k, v) = row.map_err(|e| Error::storage(ENTRIES.name, "range", e))?;
        let bytes = v.value();
        let next = total.saturating_add(bytes.len());
        if !out.is_empty() && next > max_bytes {
            break;
        }
        total = next;
        out.push((seq_of(k.value()), bytes.to_vec()));
        if out.len() >= max_count {
            break;
        }
    }
    Ok(out)
}

/// Index of the last chunk of a document, if it has any.
pub(crate) fn last_chunk_index<T>(chunks: &T, key: &str) -> Result<Option<u32>>
where
    T: ReadableTable<(&'static str, u32), &'static [u8]>,
{
    let mut iter = chunks
        .range((key, 0u32)..=(key, u32::MAX))
        .map_err(|e| Error::storage(DOC_CHUNKS.name, "range", e))?;
    match iter.next_back() {
        None => Ok(None),
        Some(row) => {
            let (k, _) = row.map_err(|e| Error::storage(DOC_CHUNKS.name, "range", e))?;
            Ok(Some(k.value().1))
        }
    }
}

pub(crate) fn get_doc<S, C>(snapshots: &S, chunks: &C, key: &str) -> Result<Option<DocRecord>>
where
    S: ReadableTable<&'static str, &'static [u8]>,
    C: ReadableTable<(&'static str, u32), &'static [u8]>,
{
    let snapshot = snapshots
        .get(key)
        .map_err(|e| Error::storage(DOC_SNAPSHOTS.name, "get", e))?
        .map(|v| v.value().to_vec());
    let iter = chunks
        .range((key, 0u32)..=(key, u32::MAX))
        .map_err(|e| Error::storage(DOC_CHUNKS.name, "range", e))?;
    let mut out = Vec::new();
    for row in iter {
        let (_, v) = row.map_err(|e| Error::storage(DOC_CHUNKS.name, "range", e))?;
        out.push(v.value().to_vec());
    }
    if snapshot.is_none() && out.is_empty() {
        return Ok(None);
    }
    Ok(Some(DocRecord {
        snapshot: snapshot.unwrap_or_default(),
        chunks: out,
    }))
}

/// All `(key, value)` rows of a string-keyed table whose key starts with `prefix`.
pub(crate) fn str_prefix<T>(
    table: &T,
    name: &'static str,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    let iter = table
        .range(prefix..)
        .map_err(|e| Error::storage(name, "range", e))?;
    let mut out = Vec::new();
    for row in iter {
        let (k, v) = row.map_err(|e| Error::storage(name, "range", e))?;
        let k = k.value();
        if !k.starts_with(prefix) {
            break;
        }
        out.push((k.to_owned(), v.value().to_vec()));
    }
    Ok(out)
}

/// Visits the rows whose key starts with `prefix` and sorts before `before` (when given),
/// in descending key order, until `visit` returns `false`.
pub(crate) fn str_range_back<T>(
    table: &T,
    name: &'static str,
    prefix: &str,
    before: Option<&str>,
    visit: &mut dyn FnMut(&str, &[u8]) -> Result<bool>,
) -> Result<()>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    // Every key from `prefix` up to `prefix` followed by the last char starts with
    // `prefix` (a key that differs from it sorts above that bound).
    let past_prefix = format!("{prefix}{}", char::MAX);
    let end = match before {
        Some(b) if b < past_prefix.as_str() => b,
        _ => past_prefix.as_str(),
    };
    if end <= prefix {
        return Ok(());
    }
    let iter = table
        .range::<&str>(prefix..end)
        .map_err(|e| Error::storage(name, "range", e))?;
    for row in iter.rev() {
        let (k, v) = row.map_err(|e| Error::storage(name, "range", e))?;
        let k = k.value();
        if !k.starts_with(prefix) {
            break;
        }
        if !visit(k, v.value())? {
            break;
        }
    }
    Ok(())
}

pub(crate) fn str_keys<T>(table: &T, name: &'static str) -> Result<Vec<String>>
where
    T: ReadableTable<&'static str, &'static [u8]>,
{
    let iter = table
        .iter()
        .map_err(|e| Error::storage(name, "iterate", e))?;
    let mut out = Vec::new();
    for row in iter {
        let (k, _) = row.map_err(|e| Error::storage(name, "iterate", e))?;
        out.push(k.value().to_owned());
    }
    Ok(out)
}

pub(crate) fn all_quarantined<T>(table: &T) -> Result<Vec<Quarantined>>
where
    T: ReadableTable<&'static QuarantineKey, &'static [u8]>,
{
    let iter = table
        .iter()
        .map_err(|e| Error::storage(QUARANTINE.name, "iterate", e))?;
    let mut out = Vec::new();
    for row in iter {
        let (k, v) = row.map_err(|e| Error::storage(QUARANTINE.name, "iterate", e))?;
        let (author, seq, _) = split_quarantine_key(k.value());
        let stored = versioned(
            QUARANTINE.name,
            "quarantine record",
            QUARANTINE_VERSION,
            v.value(),
        )?;
        let value: QuarantineValue =
            postcard::from_bytes(stored).map_err(|source| Error::Decode {
                table: QUARANTINE.name,
                what: "quarantine record",
                source,
            })?;
        out.push(Quarantined {
            author,
            seq,
            reason: value.reason,
            bytes: value.bytes,
        });
    }
    Ok(out)
}

/// The counter to use for the next quarantine record of `(author, seq)`.
pub(crate) fn next_quarantine_counter<T>(table: &T, author: &Author, seq: u64) -> Result<u64>
where
    T: ReadableTable<&'static QuarantineKey, &'static [u8]>,
{
    let lo = quarantine_key(author, seq, 0);
    let hi = quarantine_key(author, seq, u64::MAX);
    let mut iter = table
        .range::<&QuarantineKey>(&lo..=&hi)
        .map_err(|e| Error::storage(QUARANTINE.name, "range", e))?;
    match iter.next_back() {
        None => Ok(0),
        Some(row) => {
            let (k, _) = row.map_err(|e| Error::storage(QUARANTINE.name, "range", e))?;
            let (_, _, counter) = split_quarantine_key(k.value());
            counter.checked_add(1).ok_or(Error::QuarantineFull { seq })
        }
    }
}
