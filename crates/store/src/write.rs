//! The write transaction.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};

use crate::tables::{self, Def, EntryKey};
use crate::{Author, DocRecord, Error, Head, Quarantined, Result};

/// Buffered entries are written to the table once this many bytes are pending.
const FLUSH_BYTES: usize = 32 << 20;
/// Buffered entries are written to the table once this many are pending.
const FLUSH_COUNT: usize = 131_072;

/// A write transaction on the [`Store`](crate::Store).
///
/// Reads through it see its own writes. Dropping it without [`WriteTxn::commit`]
/// discards everything written. It commits with redb `Durability::Immediate`: once
/// `commit` returns `Ok`, the data is on disk.
///
/// Entries given to [`WriteTxn::put_entry`] are buffered (at most 32 MiB of entry
/// bytes or 131,072 entries) and inserted in key order with the entries table
/// opened once, at commit or when the buffer fills: sorted insertion of a page
/// that interleaves many authors is about twice as fast, and its commit writes
/// fewer pages. An insert error may therefore surface from a later `put_entry` or
/// from `commit`; either way nothing of the transaction reaches the disk.
pub struct WriteTxn<'a> {
    pub(crate) txn: WriteTransaction,
    pending: BTreeMap<EntryKey, Vec<u8>>,
    pending_bytes: usize,
    _store: PhantomData<&'a Database>,
}

impl std::fmt::Debug for WriteTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn").finish_non_exhaustive()
    }
}

impl<'a> WriteTxn<'a> {
    /// `'a` is the store's borrow: the transaction owns what it needs of the database.
    pub(crate) fn begin(db: &Database) -> Result<WriteTxn<'a>> {
        let mut txn = db.begin_write().map_err(|source| Error::Begin {
            kind: "write",
            source,
        })?;
        txn.set_durability(Durability::Immediate)
            .map_err(|source| Error::Durability { source })?;
        Ok(WriteTxn {
            txn,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            _store: PhantomData,
        })
    }
}

impl WriteTxn<'_> {
    fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: &Def<K, V>,
    ) -> Result<Table<'_, K, V>> {
        self.txn.open_table(def.def).map_err(|source| Error::Table {
            table: def.name,
            source,
        })
    }

    /// Opens every table once so that read transactions always find them.
    pub(crate) fn create_tables(&self) -> Result<()> {
        self.open(&tables::ENTRIES)?;
        self.open(&tables::HEADS)?;
        self.open(&tables::DOC_SNAPSHOTS)?;
        self.open(&tables::DOC_CHUNKS)?;
        self.open(&tables::CERTS)?;
        self.open(&tables::QUARANTINE)?;
        self.open(&tables::META)?;
        Ok(())
    }

    /// Stores entry `seq` of `author`, replacing any entry already stored there.
    ///
    /// The store does not detect forks: check [`WriteTxn::entry`] first and
    /// [`WriteTxn::quarantine`] a second, different entry instead of overwriting.
    pub fn put_entry(&mut self, author: &Author, seq: u64, bytes: &[u8]) -> Result<()> {
        self.pending_bytes = self.pending_bytes.saturating_add(bytes.len());
        self.pending
            .insert(tables::entry_key(author, seq), bytes.to_vec());
        if self.pending_bytes >= FLUSH_BYTES || self.pending.len() >= FLUSH_COUNT {
            self.flush_entries()?;
        }
        Ok(())
    }

    /// Inserts the buffered entries, in key order, with one table open.
    pub(crate) fn flush_entries(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let mut table = self.open(&tables::ENTRIES)?;
        for (key, bytes) in &pending {
            table
                .insert(key, bytes.as_slice())
                .map_err(|e| Error::storage(tables::ENTRIES.name, "insert", e))?;
        }
        Ok(())
    }

    /// Records `head` as the latest entry held for `author`.
    pub fn set_head(&mut self, author: &Author, head: Head) -> Result<()> {
        let value = tables::encode_head(&head)?;
        let mut table = self.open(&tables::HEADS)?;
        table
            .insert(author, value.as_slice())
            .map_err(|e| Error::storage(tables::HEADS.name, "insert", e))?;
        Ok(())
    }

    /// The head of `author` as seen by this transaction.
    pub fn head(&self, author: &Author) -> Result<Option<Head>> {
        tables::get_head(&self.open(&tables::HEADS)?, author)
    }

    /// Entry `seq` of `author` as seen by this transaction.
    pub fn entry(&self, author: &Author, seq: u64) -> Result<Option<Vec<u8>>> {
        if let Some(bytes) = self.pending.get(&tables::entry_key(author, seq)) {
            return Ok(Some(bytes.clone()));
        }
        tables::get_entry(&self.open(&tables::ENTRIES)?, author, seq)
    }

    /// Replaces the snapshot of document `key` and deletes all its chunks.
    pub fn put_doc_snapshot(&mut self, key: &str, snapshot: &[u8]) -> Result<()> {
        {
            let mut chunks = self.open(&tables::DOC_CHUNKS)?;
            chunks
                .retain_in((key, 0u32)..=(key, u32::MAX), |_, _| false)
                .map_err(|e| Error::storage(tables::DOC_CHUNKS.name, "delete chunks", e))?;
        }
        let mut snapshots = self.open(&tables::DOC_SNAPSHOTS)?;
        snapshots
            .insert(key, snapshot)
            .map_err(|e| Error::storage(tables::DOC_SNAPSHOTS.name, "insert", e))?;
        Ok(())
    }

    /// Appends an incremental chunk to document `key` and returns the number of
    /// chunks it now holds. A document with no snapshot yet gets an empty one, so
    /// it is listed by [`Store::doc_keys`](crate::Store::doc_keys).
    pub fn append_doc_chunk(&mut self, key: &str, chunk: &[u8]) -> Result<usize> {
        {
            let mut snapshots = self.open(&tables::DOC_SNAPSHOTS)?;
            let exists = snapshots
                .get(key)
                .map_err(|e| Error::storage(tables::DOC_SNAPSHOTS.name, "get", e))?
                .is_some();
            if !exists {
                snapshots
                    .insert(key, [].as_slice())
                    .map_err(|e| Error::storage(tables::DOC_SNAPSHOTS.name, "insert", e))?;
            }
        }
        let mut chunks = self.open(&tables::DOC_CHUNKS)?;
        let index = match tables::last_chunk_index(&chunks, key)? {
            None => 0,
            Some(last) => last.checked_add(1).ok_or_else(|| Error::TooManyChunks {
                key: key.to_owned(),
            })?,
        };
        chunks
            .insert((key, index), chunk)
            .map_err(|e| Error::storage(tables::DOC_CHUNKS.name, "insert", e))?;
        // Chunks are numbered densely from 0 (a snapshot deletes them all).
        Ok(index as usize + 1)
    }

    /// Whether this transaction sees a stored document `key` (without reading it).
    pub fn has_doc(&self, key: &str) -> Result<bool> {
        let snapshots = self.open(&tables::DOC_SNAPSHOTS)?;
        if snapshots
            .get(key)
            .map_err(|e| Error::storage(tables::DOC_SNAPSHOTS.name, "get", e))?
            .is_some()
        {
            return Ok(true);
        }
        let chunks = self.open(&tables::DOC_CHUNKS)?;
        let found = chunks
            .range((key, 0u32)..=(key, u32::MAX))
            .map_err(|e| Error::storage(tables::DOC_CHUNKS.name, "range", e))?
            .next()
            .is_some();
        Ok(found)
    }

    /// How many chunks document `key` holds after its snapshot (0 for none or no document).
    pub fn doc_chunk_count(&self, key: &str) -> Result<usize> {
        let chunks = self.open(&tables::DOC_CHUNKS)?;
        Ok(tables::last_chunk_index(&chunks, key)?.map_or(0, |last| last as usize + 1))
    }

    /// Document `key` as seen by this transaction.
    pub fn doc(&self, key: &str) -> Result<Option<DocRecord>> {
        tables::get_doc(
            &self.open(&tables::DOC_SNAPSHOTS)?,
            &self.open(&tables::DOC_CHUNKS)?,
            key,
        )
    }

    /// Stores a certificate blob under a caller-chosen `id` (e.g. `"<unit>/<version>"`),
    /// replacing any blob already stored under it.
    pub fn put_cert(&mut self, id: &str, bytes: &[u8]) -> Result<()> {
        self.put_str(&tables::CERTS, id, bytes)
    }

    /// Keeps a quarantined entry. Several records for the same `(author, seq)` are
    /// all kept, in arrival order.
    pub fn quarantine(&mut self, q: &Quarantined) -> Result<()> {
        let value = tables::encode_quarantine(q)?;
        let mut table = self.open(&tables::QUARANTINE)?;
        let counter = tables::next_quarantine_counter(&table, &q.author, q.seq)?;
        table
            .insert(
                &tables::quarantine_key(&q.author, q.seq, counter),
                value.as_slice(),
            )
            .map_err(|e| Error::storage(tables::QUARANTINE.name, "insert", e))?;
        Ok(())
    }

    /// Stores `value` under `key` in `table`, replacing any previous one.
    pub fn put<V: serde::Serialize>(
        &mut self,
        table: &crate::Table<V>,
        key: &str,
        value: &V,
    ) -> Result<()> {
        let stored = table.encode(key, value)?;
        self.put_stored(table, key, &stored)
    }

    fn open_typed<V>(
        &self,
        table: &crate::Table<V>,
    ) -> Result<Table<'_, &'static str, &'static [u8]>> {
        self.txn
            .open_table(table.def())
            .map_err(|source| Error::Table {
                table: table.name(),
                source,
            })
    }

    /// Stores bytes already in `table`'s stored form (a version byte, then the value).
    pub(crate) fn put_stored<V>(
        &mut self,
        table: &crate::Table<V>,
        key: &str,
        stored: &[u8],
    ) -> Result<()> {
        let mut t = self.open_typed(table)?;
        t.insert(key, stored)
            .map_err(|e| Error::storage(table.name(), "insert", e))?;
        Ok(())
    }

    /// Deletes `key` from `table` (no error if absent).
    pub fn delete<V>(&mut self, table: &crate::Table<V>, key: &str) -> Result<()> {
        let mut t = self.open_typed(table)?;
        t.remove(key)
            .map_err(|e| Error::storage(table.name(), "remove", e))?;
        Ok(())
    }

    /// Whether `table` holds a value under `key`, as seen by this transaction (not decoded).
    pub fn contains<V>(&self, table: &crate::Table<V>, key: &str) -> Result<bool> {
        let t = self.open_typed(table)?;
        let got = t
            .get(key)
            .map_err(|e| Error::storage(table.name(), "get", e))?;
        Ok(got.is_some())
    }

    /// The value stored under `key` in `table`, as seen by this transaction, if any.
    pub fn get<V: serde::de::DeserializeOwned>(
        &self,
        table: &crate::Table<V>,
        key: &str,
    ) -> Result<Option<V>> {
        let t = self.open_typed(table)?;
        let got = t
            .get(key)
            .map_err(|e| Error::storage(table.name(), "get", e))?;
        got.map(|v| table.decode(key, v.value())).transpose()
    }

    /// Every `(key, value)` of `table` whose key starts with `prefix`, as seen by this
    /// transaction.
    pub fn scan<V: serde::de::DeserializeOwned>(
        &self,
        table: &crate::Table<V>,
        prefix: &str,
    ) -> Result<Vec<(String, V)>> {
        let t = self.open_typed(table)?;
        crate::typed::scan_stored(&t, table, prefix)?
            .into_iter()
            .map(|(k, v)| {
                let value = table.decode(&k, &v)?;
                Ok((k, value))
            })
            .collect()
    }

    /// Rewrites the values of an older layout in the current one, once: heads and
    /// quarantine records gain their version byte. The layout is recorded in the meta
    /// table ([`tables::LAYOUT_KEY`]); a store of a newer layout is refused.
    pub(crate) fn upgrade_layout(&mut self) -> Result<()> {
        let layout = {
            let meta = self.open(&tables::META)?;
            let got = meta
                .get(tables::LAYOUT_KEY)
                .map_err(|e| Error::storage(tables::META.name, "get", e))?
                .map(|v| v.value().first().copied().unwrap_or(0));
            got
        };
        match layout {
            Some(tables::LAYOUT) => return Ok(()),
            Some(newer) if newer > tables::LAYOUT => {
                return Err(Error::Value {
                    table: tables::META.name,
                    key: tables::LAYOUT_KEY.into(),
                    detail: format!(
                        "the store is of layout {newer}, written by a newer EduIOC; this one \
                         reads layout {}",
                        tables::LAYOUT
                    ),
                })
            }
            _ => {}
        }
        // Layout 1 (or a store written before layouts were recorded): unversioned values.
        {
            let mut heads = self.open(&tables::HEADS)?;
            let mut old = Vec::new();
            for row in heads
                .iter()
                .map_err(|e| Error::storage(tables::HEADS.name, "iterate", e))?
            {
                let (k, v) = row.map_err(|e| Error::storage(tables::HEADS.name, "iterate", e))?;
                old.push((*k.value(), v.value().to_vec()));
            }
            for (author, v) in old {
                let head: Head = postcard::from_bytes(&v).map_err(|source| Error::Decode {
                    table: tables::HEADS.name,
                    what: "head (layout 1)",
                    source,
                })?;
                let value = tables::encode_head(&head)?;
                heads
                    .insert(&author, value.as_slice())
                    .map_err(|e| Error::storage(tables::HEADS.name, "insert", e))?;
            }
        }
        {
            let mut q = self.open(&tables::QUARANTINE)?;
            let mut old = Vec::new();
            for row in q
                .iter()
                .map_err(|e| Error::storage(tables::QUARANTINE.name, "iterate", e))?
            {
                let (k, v) =
                    row.map_err(|e| Error::storage(tables::QUARANTINE.name, "iterate", e))?;
                old.push((*k.value(), v.value().to_vec()));
            }
            for (key, v) in old {
                let mut stored = vec![tables::QUARANTINE_VERSION];
                stored.extend_from_slice(&v);
                q.insert(&key, stored.as_slice())
                    .map_err(|e| Error::storage(tables::QUARANTINE.name, "insert", e))?;
            }
        }
        self.put_meta(tables::LAYOUT_KEY, &[tables::LAYOUT])
    }

    /// Deletes the string-keyed byte table `name` and everything in it (no error if it
    /// does not exist). For upgrading tables of an older layout.
    pub fn delete_raw_table(&mut self, name: &'static str) -> Result<()> {
        let def: redb::TableDefinition<'static, &'static str, &'static [u8]> =
            redb::TableDefinition::new(name);
        self.txn
            .delete_table(def)
            .map(|_| ())
            .map_err(|source| Error::Table {
                table: name,
                source,
            })
    }

    /// Stores a meta value, replacing any previous one.
    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.put_str(&tables::META, key, value)
    }

    /// Deletes a meta value (no error if absent).
    pub fn delete_meta(&mut self, key: &str) -> Result<()> {
        let mut table = self.open(&tables::META)?;
        table
            .remove(key)
            .map_err(|e| Error::storage(tables::META.name, "remove", e))?;
        Ok(())
    }

    /// Commits the transaction. When this returns `Ok`, everything written is on
    /// disk; only then may entries be acknowledged to peers.
    pub fn commit(mut self) -> Result<()> {
        self.flush_entries()?;
        self.txn.commit().map_err(|source| Error::Commit { source })
    }

    fn put_str(
        &mut self,
        def: &Def<&'static str, &'static [u8]>,
        key: &str,
        value: &[u8],
    ) -> Result<()> {
        let mut table = self.open(def)?;
        table
            .insert(key, value)
            .map_err(|e| Error::storage(def.name, "insert", e))?;
        Ok(())
    }
}
