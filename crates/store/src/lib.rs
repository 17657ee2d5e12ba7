//! eduioc-store: the node's embedded database.
//!
//! Every EduIOC node keeps, in one [redb](https://docs.rs/redb) file:
//!
//! - **entries**: the signed, hash-chained log entries of every author it holds,
//!   byte for byte as the author signed them, keyed by `(author, seq)` so that a
//!   range scan returns one author's log in order;
//! - **heads**: the latest entry held for each author (`seq` and hash);
//! - **documents**: per Automerge document a saved snapshot plus the incremental
//!   chunks appended since, and an opaque per-document summary;
//! - **certificates**, **quarantined** entries (forks and other rejected input,
//!   kept for inspection) and a small string-keyed **meta** table.
//!
//! The crate deals in plain bytes ([`Author`], [`Hash`](type@Hash), `&[u8]`): it knows nothing
//! of the wire format, signatures or Automerge, and does not validate what it is
//! given. Callers validate first, then write.
//!
//! Reads on [`Store`] each run in their own read transaction and see a consistent
//! snapshot. Writes go through a [`WriteTxn`] from [`Store::begin_write`]; its reads
//! see its own uncommitted writes, and dropping it without [`WriteTxn::commit`]
//! discards everything it wrote.
//!
//! **Durability invariant:** a write transaction that returned `Ok` from commit is on
//! disk (redb `Durability::Immediate`); callers acknowledge entries to peers only
//! after commit.

mod error;
mod memory;
mod tables;
mod typed;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use redb::{Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

pub use error::{Error, Fault, Result};
pub use typed::Table;
pub use write::WriteTxn;

use tables::Def;

/// Ed25519 public key of an entry's author (32 bytes).
pub type Author = [u8; 32];

/// A 32-byte hash (of an entry).
pub type Hash = [u8; 32];

/// The latest entry of an author's log held by this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Sequence number of the entry.
    pub seq: u64,
    /// Hash of the entry.
    pub hash: Hash,
}

/// A stored Automerge document: the last saved snapshot and the incremental
/// chunks appended since, in append order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocRecord {
    /// Bytes of the last saved document (empty if only chunks were ever written).
    pub snapshot: Vec<u8>,
    /// Incremental chunks appended after the snapshot, oldest first.
    pub chunks: Vec<Vec<u8>>,
}

/// What a store holds, bytes ([`Reader::stored_bytes`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredBytes {
    /// Signed entries, over all authors.
    pub entries: u64,
    /// Documents: saved snapshots and the chunks appended since.
    pub docs: u64,
}

/// An entry that was received but not accepted (e.g. the second entry of a fork),
/// kept for inspection and alerting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// Author named by the entry.
    pub author: Author,
    /// Sequence number named by the entry.
    pub seq: u64,
    /// Why the entry was quarantined, readable by a person.
    pub reason: String,
    /// The entry's bytes as received.
    pub bytes: Vec<u8>,
}

/// The node's database: one redb file holding all tables.
///
/// After an I/O error (a full disk, a failing device) redb refuses every later operation
/// until the database is closed and opened again: [`Error::fault`] says whether an error
/// is of that kind, and [`Store::reopen`] closes and reopens the file in place.
///
/// Every read goes through the [`Reader`] the store dereferences to; [`Store::reader`]
/// hands out clones of it, which read the same database from other threads without the
/// store (redb serves any number of readers beside the one writer, each from the last
/// committed state). Writes need the `Store`.
pub struct Store {
    reader: Reader,
    /// Where the file is, for [`Store::reopen`].
    path: PathBuf,
}

/// The open database, shared by the store and its readers; `None` only while
/// [`Store::reopen`] failed to open the file again.
type Slot = Arc<RwLock<Option<Arc<Database>>>>;

/// Read access to a store's database, cloneable and usable from any thread.
#[derive(Clone)]
pub struct Reader {
    slot: Slot,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl std::ops::Deref for Store {
    type Target = Reader;

    fn deref(&self) -> &Reader {
        &self.reader
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Memory redb may use to cache pages of the file (its default, 1 GiB, lets a node's
/// resident memory grow with its database up to that size). Pages beyond it are read
/// through the operating system's page cache, which is not the process's memory.
pub const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Creates `path` empty with mode `0600` when missing (redb initialises an empty file),
/// and takes group and other permissions away from an existing one.
fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl Store {
    /// Opens the database at `path`, creating the file and every table if missing. redb
    /// caches at most [`CACHE_BYTES`] of it in memory. The file holds every record of the
    /// node's subtree: it is created, or left, readable by its owner alone (mode `0600`,
    /// whatever the umask).
    pub fn open(path: &Path) -> Result<Store> {
        private_file(path).map_err(|e| Error::Open {
            path: path.to_path_buf(),
            source: redb::DatabaseError::from(e),
        })?;
        let store = Store {
            reader: Reader {
                slot: Arc::new(RwLock::new(None)),
            },
            path: path.to_path_buf(),
        };
        let db = store.open_db()?;
        store.reader.set(Some(db));
        Ok(store)
    }

    /// A store in memory: what the simulator's nodes, the benchmark and the fuzzer use.
    /// Nothing survives it; [`Store::reopen`] keeps it as it is. Pages redb caches:
    /// [`CACHE_BYTES`] at most.
    pub fn in_memory() -> Result<Store> {
        Self::in_memory_with_cache(CACHE_BYTES)
    }

    /// [`Store::in_memory`] with at most `cache_bytes` of pages cached besides the
    /// stored ones. redb keeps a copy of every page a commit writes in its cache, so a
    /// store held by the tens of thousands (the simulator's nodes) is smaller without one
    /// (0), at the price of slower reads: measured on redb 4.6, an idle store with one row
    /// in five tables costs 59 KB without a cache and 99 KB with one; a get 6.4 µs
    /// instead of 0.4 µs.
    pub fn in_memory_with_cache(cache_bytes: usize) -> Result<Store> {
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create_with_backend(memory::SparseBackend::default())
            .map_err(|source| Error::Open {
                path: PathBuf::new(),
                source,
            })?;
        let store = Store {
            reader: Reader {
                slot: Arc::new(RwLock::new(None)),
            },
            path: PathBuf::new(),
        };
        store.reader.set(Some(Self::prepare(db)?));
        Ok(store)
    }

    fn open_db(&self) -> Result<Database> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&self.path)
            .map_err(|source| Error::Open {
                path: self.path.clone(),
                source,
            })?;
        Self::prepare(db)
    }

    /// Creates the tables and upgrades the layout of a freshly opened database.
    fn prepare(db: Database) -> Result<Database> {
        let mut txn = WriteTxn::begin(&db)?;
        txn.create_tables()?;
        txn.upgrade_layout()?;
        txn.commit()?;
        Ok(db)
    }

    /// Closes the database file and opens it again: what redb requires after an I/O
    /// error ([`Error::fault`]) before it accepts any further operation. Opening repairs
    /// the file if its last write did not complete; everything committed before stays.
    /// If opening fails (the disk is still full, say, or a reader still holds the old
    /// handle in the middle of a read), every operation returns [`Error::Closed`] until a
    /// later `reopen` succeeds.
    pub fn reopen(&mut self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            // In memory: nothing to reopen, and closing would lose everything.
            return Ok(());
        }
        // The old handle must be closed first: redb locks the file while it is open.
        self.reader.set(None);
        let db = self.open_db()?;
        self.reader.set(Some(db));
        Ok(())
    }

    /// A reader of this store, for another thread.
    pub fn reader(&self) -> Reader {
        self.reader.clone()
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a write transaction (only one may be open at a time; this blocks
    /// while another is open). Commits are durable on return.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>> {
        WriteTxn::begin(&*self.reader.db()?)
    }
}

impl Reader {
    fn set(&self, db: Option<Database>) {
        let mut slot = self.slot.write().unwrap_or_else(|p| p.into_inner());
        *slot = db.map(Arc::new);
    }

    fn db(&self) -> Result<Arc<Database>> {
        let slot = self.slot.read().unwrap_or_else(|p| p.into_inner());
        slot.clone().ok_or(Error::Closed)
    }

    fn read(&self) -> Result<ReadTransaction> {
        self.db()?.begin_read().map_err(|source| Error::Begin {
            kind: "read",
            source,
        })
    }

    /// A consistent read of the last committed state, for several reads that must agree.
    pub fn view(&self) -> Result<View> {
        Ok(View { txn: self.read()? })
    }

    /// The latest entry held for `author`, if any.
    pub fn head(&self, author: &Author) -> Result<Option<Head>> {
        self.view()?.head(author)
    }

    /// The head of every author held, ordered by author key.
    pub fn heads(&self) -> Result<Vec<(Author, Head)>> {
        self.view()?.heads()
    }

    /// The bytes of entry `seq` of `author`, if held.
    pub fn entry(&self, author: &Author, seq: u64) -> Result<Option<Vec<u8>>> {
        self.view()?.entry(author, seq)
    }

    /// [`View::entries_from`], in a read of its own.
    pub fn entries_from(
        &self,
        author: &Author,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        self.view()?
            .entries_from(author, from, max_count, max_bytes)
    }

    /// Number of entries held, over all authors.
    pub fn entry_count(&self) -> Result<u64> {
        let txn = self.read()?;
        open_read(&txn, &tables::ENTRIES)?
            .len()
            .map_err(|e| Error::storage(tables::ENTRIES.name, "len", e))
    }

    /// Bytes of entries and of stored documents (snapshots and chunks), as redb counts
    /// the keys and values of those tables (its page overhead left out).
    pub fn stored_bytes(&self) -> Result<StoredBytes> {
        let txn = self.read()?;
        let stored = |name: &'static str, t: std::result::Result<redb::TableStats, _>| {
            t.map(|s| s.stored_bytes())
                .map_err(|e| Error::storage(name, "stats", e))
        };
        Ok(StoredBytes {
            entries: stored(
                tables::ENTRIES.name,
                open_read(&txn, &tables::ENTRIES)?.stats(),
            )?,
            docs: stored(
                tables::DOC_SNAPSHOTS.name,
                open_read(&txn, &tables::DOC_SNAPSHOTS)?.stats(),
            )? + stored(
                tables::DOC_CHUNKS.name,
                open_read(&txn, &tables::DOC_CHUNKS)?.stats(),
            )?,
        })
    }

    /// The document stored under `key`: snapshot plus incremental chunks in order.
    pub fn doc(&self, key: &str) -> Result<Option<DocRecord>> {
        self.view()?.doc(key)
    }

    /// Keys of all stored documents, in order.
    pub fn doc_keys(&self) -> Result<Vec<String>> {
        let txn = self.read()?;
        tables::str_keys(
            &open_read(&txn, &tables::DOC_SNAPSHOTS)?,
            tables::DOC_SNAPSHOTS.name,
        )
    }

    /// Every stored certificate blob, ordered by the id it was stored under.
    pub fn certs(&self) -> Result<Vec<Vec<u8>>> {
        let txn = self.read()?;
        let rows = tables::str_prefix(&open_read(&txn, &tables::CERTS)?, tables::CERTS.name, "")?;
        Ok(rows.into_iter().map(|(_, v)| v).collect())
    }

    /// Every quarantined entry, ordered by `(author, seq)` then by arrival.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>> {
        let txn = self.read()?;
        tables::all_quarantined(&open_read(&txn, &tables::QUARANTINE)?)
    }

    /// The value stored under `key` in `table`, if any.
    pub fn get<V: serde::de::DeserializeOwned>(
        &self,
        table: &Table<V>,
        key: &str,
    ) -> Result<Option<V>> {
        self.view()?.get(table, key)
    }

    /// Reads the value stored under `key` in `table` with `read`, which gets its postcard
    /// bytes (version checked): for values decoded without copying (`&str` fields).
    pub fn get_with<V, T>(
        &self,
        table: &Table<V>,
        key: &str,
        read: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        self.view()?.get_with(table, key, read)
    }

    /// Every `(key, value)` of `table` whose key starts with `prefix`, ordered by key.
    pub fn scan<V: serde::de::DeserializeOwned>(
        &self,
        table: &Table<V>,
        prefix: &str,
    ) -> Result<Vec<(String, V)>> {
        self.view()?.scan(table, prefix)
    }

    /// [`View::scan_back`] on the latest committed state.
    pub fn scan_back<V: serde::de::DeserializeOwned>(
        &self,
        table: &Table<V>,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
        keep: impl FnMut(&str, &V) -> bool,
    ) -> Result<Vec<(String, V)>> {
        self.view()?.scan_back(table, prefix, before, limit, keep)
    }

    /// Every row of the string-keyed byte table `name` as stored, ordered by key; empty
    /// if there is no such table. For upgrading tables of an older layout.
    pub fn raw_rows(&self, name: &'static str) -> Result<Vec<(String, Vec<u8>)>> {
        let txn = self.read()?;
        let def: redb::TableDefinition<'static, &'static str, &'static [u8]> =
            redb::TableDefinition::new(name);
        match txn.open_table(def) {
            Ok(t) => tables::str_prefix(&t, name, ""),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(source) => Err(Error::Table {
                table: name,
                source,
            }),
        }
    }

    /// The meta value stored under `key`, if any.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let txn = self.read()?;
        let table = open_read(&txn, &tables::META)?;
        let got = redb::ReadableTable::get(&table, key)
            .map_err(|e| Error::storage(tables::META.name, "get", e))?;
        Ok(got.map(|v| v.value().to_vec()))
    }

    /// All meta rows whose key starts with `prefix`, ordered by key.
    pub fn meta_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let txn = self.read()?;
        tables::str_prefix(&open_read(&txn, &tables::META)?, tables::META.name, prefix)
    }
}

/// What a bounded backward scan found, and the key to go on from when it stopped early.
pub type Bounded<V> = (Vec<(String, V)>, Option<String>);

/// One consistent read of a store ([`Reader::view`]): every read through it sees the same
/// committed state, whatever commits meanwhile. Hold it for one task (a page to send),
/// not for long: redb keeps the pages it reads until it is dropped.
pub struct View {
    txn: ReadTransaction,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View").finish_non_exhaustive()
    }
}

impl View {
    /// The value stored under `key` in `table`, if any.
    pub fn get<V: serde::de::DeserializeOwned>(
        &self,
        table: &Table<V>,
        key: &str,
    ) -> Result<Option<V>> {
        self.get_with(table, key, |payload| table.decode_payload(key, payload))
    }

    /// The latest entry held for `author`, if any.
    pub fn head(&self, author: &Author) -> Result<Option<Head>> {
        let txn = &self.txn;
        tables::get_head(&open_read(txn, &tables::HEADS)?, author)
    }

    /// The head of every author held, ordered by author key.
    pub fn heads(&self) -> Result<Vec<(Author, Head)>> {
        let txn = &self.txn;
        tables::all_heads(&open_read(txn, &tables::HEADS)?)
    }

    /// The bytes of entry `seq` of `author`, if held.
    pub fn entry(&self, author: &Author, seq: u64) -> Result<Option<Vec<u8>>> {
        let txn = &self.txn;
        tables::get_entry(&open_read(txn, &tables::ENTRIES)?, author, seq)
    }

    /// Entries of one author with `seq >= from`, ascending, as `(seq, bytes)`.
    ///
    /// Stops before the total of the entries' byte lengths would exceed `max_bytes`
    /// (but always returns at least one entry if any exists at or after `from`, so
    /// one entry larger than `max_bytes` still makes progress), and returns at most
    /// `max_count` entries (none if `max_count` is 0). Gaps in the log are skipped.
    pub fn entries_from(
        &self,
        author: &Author,
        from: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let txn = &self.txn;
        tables::entries_from(
            &open_read(txn, &tables::ENTRIES)?,
            author,
            from,
            max_count,
            max_bytes,
        )
    }

    /// The document stored under `key`: snapshot plus incremental chunks in order.
    pub fn doc(&self, key: &str) -> Result<Option<DocRecord>> {
        let txn = &self.txn;
        tables::get_doc(
            &open_read(txn, &tables::DOC_SNAPSHOTS)?,
            &open_read(txn, &tables::DOC_CHUNKS)?,
            key,
        )
    }

    /// Reads the value stored under `key` in `table` with `read`, which gets its postcard
    /// bytes (version checked): for values decoded without copying (`&str` fields).
    pub fn get_with<V, T>(
        &self,
        table: &Table<V>,
        key: &str,
        read: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        let txn = &self.txn;
        let Some(t) = typed::open(txn, table)? else {
            return Ok(None);
        };
        match typed::get_stored(&t, table, key)? {
            None => Ok(None),
            Some(stored) => read(table.payload(key, &stored)?).map(Some),
        }
    }

    /// Every `(key, value)` of `table` whose key starts with `prefix`, ordered by key.
    pub fn scan<V: serde::de::DeserializeOwned>(
        &self,
        table: &Table<V>,
        prefix: &str,
    ) -> Result<Vec<(String, V)>> {
        let txn = &self.txn;
        let Some(t) = typed::open(txn, table)? else {
            return Ok(Vec::new());
        };
        typed::scan_stored(&t, table, prefix)?
            .into_iter()
            .map(|(k, v)| {
                let value = table.decode(&k, &v)?;
                Ok((k, value))
            })
            .collect()
    }

    /// Oldest first: at most `limit` rows of `table` whose key sorts after `after` (from
    /// the first row when `None`), in ascending key order. Reads only the rows it returns.
    pub fn scan_after<V: serde::de::DeserializeOwned>(
        &self,
        table: &Table<V>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, V)>> {
        let txn = &self.txn;
        let Some(t) = typed::open(txn, table)? else {
            return Ok(Vec::new());
        };
        let lower = match after {
            Some(a) => std::ops::Bound::Excluded(a),
            None => std::ops::Bound::Unbounded,
        };
        let iter = redb::ReadableTable::range::<&str>(&t, (lower, std::ops::Bound::Unbounded))
            .map_err(|e| Error::storage(table.name(), "range", e))?;
        let mut out = Vec::new();
        for row in iter.take(limit) {
            let (k, v) = row.map_err(|e| Error::storage(table.name(), "range", e))?;
            let key = k.value().to_string();
            let value = table.decode(&key, v.value())?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// Newest first: the `(key, value)` rows of `table` whose key starts with `prefix` and
    /// sorts before `before` (all of them when `None`), in descending key order, that
    /// `keep` accepts, at most `limit` of them. Reads only as far as it needs: a page of a
    /// long table (and the key of its last row, the cursor of the next page) costs the
    /// rows it skips and returns, not the table.
    pub fn scan_back<V: serde::de::DeserializeOwned>(
        &self,
        table: &Table<V>,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
        keep: impl FnMut(&str, &V) -> bool,
    ) -> Result<Vec<(String, V)>> {
        Ok(self
            .scan_back_bounded(table, prefix, before, limit, usize::MAX, keep)?
            .0)
    }

    /// [`View::scan_back`] that reads at most `max_visit` rows: when it stops there, it
    /// returns the key of the last row read beside what it found, the cursor to go on
    /// from (a filter that matches little costs each request a bounded read).
    pub fn scan_back_bounded<V: serde::de::DeserializeOwned>(
        &self,
        table: &Table<V>,
        prefix: &str,
        before: Option<&str>,
        limit: usize,
        max_visit: usize,
        mut keep: impl FnMut(&str, &V) -> bool,
    ) -> Result<Bounded<V>> {
        let txn = &self.txn;
        let Some(t) = typed::open(txn, table)? else {
            return Ok((Vec::new(), None));
        };
        let mut out = Vec::new();
        let mut visited = 0usize;
        let mut resume = None;
        let mut visit = |k: &str, v: &[u8]| -> Result<bool> {
            if !k.starts_with(prefix) {
                return Ok(false);
            }
            visited += 1;
            let value = table.decode(k, v)?;
            if keep(k, &value) {
                out.push((k.to_string(), value));
            }
            if out.len() < limit && visited >= max_visit {
                resume = Some(k.to_string());
                return Ok(false);
            }
            Ok(out.len() < limit)
        };
        if limit > 0 {
            tables::str_range_back(&t, table.name(), prefix, before, &mut visit)?;
        }
        Ok((out, resume))
    }
}

fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: &Def<K, V>,
) -> Result<ReadOnlyTable<K, V>> {
    txn.open_table(def.def).map_err(|source| Error::Table {
        table: def.name,
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod file_mode_tests {
    use std::os::unix::fs::PermissionsExt;

    use super::Store;

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_store_file_is_private_to_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.redb");
        drop(Store::open(&fresh).unwrap());
        assert_eq!(mode(&fresh), 0o600);
        // A file left readable by an earlier version is tightened when opened.
        let old = dir.path().join("old.redb");
        drop(Store::open(&old).unwrap());
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = Store::open(&old).unwrap();
        assert_eq!(mode(&old), 0o600);
        drop(s);
    }
}
