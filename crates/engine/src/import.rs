//! Imports: validated rows into this school's document, as signed entries a parent
//! accepts, all or nothing, with the engine's thread kept as little as possible.
//!
//! An import goes through three steps:
//! 1. [`Engine::begin_import`] checks the document out of the engine: it leaves the
//!    document cache, and no other import may write it until the import ends (a commit
//!    that changes it meanwhile makes the import fail instead of signing over it);
//! 2. [`Checkout::prepare`] upserts the rows, with no engine involved, in several
//!    Automerge changes (bounded by [`ImportLimits::rows_per_change`] and
//!    [`ImportLimits::bytes_per_change`]) and packs them into payloads that each fit in
//!    an entry a peer accepts; a change that cannot fit refuses the file (`422`
//!    `change_too_large`) before anything is written;
//! 3. [`Engine::finish_import`] puts the document back, signs every entry (and the
//!    snapshot entry that falls due) and commits them all in **one** store transaction.
//!
//! [`crate::EngineHandle::import`] runs the three steps on the engine's thread, parsing
//! the file before the engine is involved and sending it only steps 1 and 3 as jobs;
//! imports at one node are serialised by the engine's import gate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use eduioc_protocol::entry::MAX_ENTRY_BYTES;
use eduioc_protocol::{DocId, Entry, Payload};
use eduioc_records::{Collection, ImportErrors, Problem, RecordsDoc, Row, RowError};
use eduioc_store::DocRecord;

use crate::{
    check_year, figures, load_doc, Derived, Engine, Error, ImportOutcome, Ingested, Result,
};
use eduioc_protocol::snapshot::DocTrack;

/// Bytes of an entry besides its changes (signature, author, seq, backlink, timestamp,
/// document id, length prefixes), with a wide margin.
const ENVELOPE_BYTES: usize = 4096;

/// How an import is cut into Automerge changes and entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Most rows upserted in one Automerge change.
    pub rows_per_change: usize,
    /// Most bytes of rows ([`Row::approx_bytes`]) upserted in one Automerge change.
    pub bytes_per_change: usize,
    /// Largest entry signed, in wire bytes; at most
    /// [`MAX_ENTRY_BYTES`](eduioc_protocol::entry::MAX_ENTRY_BYTES), what a peer accepts.
    pub max_entry_bytes: usize,
}

impl Default for ImportLimits {
    /// 2,000 rows or 512 KiB of row bytes per change (a change of a 200-character-name
    /// roster compresses to well under that), entries up to what a peer accepts.
    fn default() -> Self {
        ImportLimits {
            rows_per_change: 2_000,
            bytes_per_change: 512 * 1024,
            max_entry_bytes: MAX_ENTRY_BYTES,
        }
    }
}

/// How long each step of an import took, and how long it kept the engine's thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportTimings {
    /// Parsing and validating the file (off the engine).
    pub parse: Duration,
    /// Checking the document out (on the engine).
    pub checkout: Duration,
    /// Upserting the rows into the document as Automerge changes (off the engine).
    pub upsert: Duration,
    /// Signing the entries (on the engine).
    pub sign: Duration,
    /// Applying and committing the entries in one transaction (on the engine).
    pub commit: Duration,
    /// Waiting in the engine's inbox, in all.
    pub engine_wait: Duration,
    /// The longest single job the import ran on the engine.
    pub longest_job: Duration,
}

/// A document checked out of the engine for an import ([`Engine::begin_import`]).
pub struct Checkout {
    doc: DocId,
    actor: [u8; 32],
    limits: ImportLimits,
    state: CheckedOut,
    taken: Duration,
    /// The document's snapshot track when it was checked out (only this import changes it).
    track: DocTrack,
}

/// What an import computed off the engine's thread for its commit: the figures of its document
/// and, when a snapshot entry falls due, the document's `save()` at its new heads.
pub(crate) struct Local {
    pub(crate) key: String,
    pub(crate) figures: Option<Derived>,
    pub(crate) save: Option<Vec<u8>>,
}

enum CheckedOut {
    /// The document was loaded in the engine.
    Loaded(Box<RecordsDoc>),
    /// Its stored form, restored off the lock.
    Stored(Option<DocRecord>),
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("doc", &self.doc.key())
            .finish_non_exhaustive()
    }
}

/// The changes of an import, ready to be signed and committed ([`Engine::finish_import`]).
pub struct Prepared {
    doc: DocId,
    rdoc: RecordsDoc,
    outcome: ImportOutcome,
    /// Change payloads, each fitting in one entry.
    batches: Vec<Vec<Vec<u8>>>,
    upsert: Duration,
    /// Computed off the lock for the commit.
    local: Local,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("doc", &self.doc.key())
            .field("entries", &self.batches.len())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// Change entries this import will sign (a snapshot entry may follow).
    pub fn entries(&self) -> usize {
        self.batches.len()
    }
}

/// The collection an import kind names, if it can be imported.
pub fn import_collection(kind: &str) -> Result<Collection> {
    kind.parse().map_err(|_| {
        Error::Invalid(format!(
            "unknown import kind {kind:?}; expected students, staff, classes, results, \
             health or profile"
        ))
    })
}

fn too_large(size: usize, max: usize) -> Error {
    Error::Import(ImportErrors {
        errors: vec![RowError::new(
            0,
            "",
            Problem::ChangeTooLarge {
                size_kib: size.div_ceil(1024),
                max_kib: max / 1024,
            },
        )],
    })
}

impl Checkout {
    /// The key of the document checked out.
    pub fn key(&self) -> String {
        self.doc.key()
    }

    /// Upserts `rows` into the checked-out document in changes bounded by the import
    /// limits, and packs the changes into entry payloads. Needs no engine. On error the
    /// document is dropped: the caller ends the import with [`Engine::abort_import`].
    pub fn prepare(self, rows: &[Row]) -> Result<Prepared> {
        let started = Instant::now();
        let mut rdoc = match self.state {
            CheckedOut::Loaded(d) => *d,
            CheckedOut::Stored(rec) => load_doc(rec, &self.actor)?,
        };
        let limits = self.limits;
        let mut outcome = ImportOutcome {
            inserted: 0,
            updated: 0,
        };
        let mut changes: Vec<Vec<u8>> = Vec::new();
        let mut from = 0;
        while from < rows.len() {
            let mut to = from;
            let mut bytes = 0;
            while to < rows.len()
                && to - from < limits.rows_per_change.max(1)
                && (to == from || bytes + rows[to].approx_bytes() <= limits.bytes_per_change)
            {
                bytes += rows[to].approx_bytes();
                to += 1;
            }
            let o = rdoc.upsert(&rows[from..to])?;
            outcome.inserted += o.inserted as usize;
            outcome.updated += o.updated as usize;
            changes.extend(
                rdoc.take_local_changes()
                    .into_iter()
                    .map(|mut c| c.bytes().to_vec()),
            );
            from = to;
        }
        let room = limits.max_entry_bytes.saturating_sub(ENVELOPE_BYTES);
        let mut batches: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut size = 0;
        for c in changes {
            if c.len() > room {
                return Err(too_large(c.len() + ENVELOPE_BYTES, limits.max_entry_bytes));
            }
            match batches.last_mut() {
                Some(batch) if size + c.len() <= room => {
                    size += c.len();
                    batch.push(c);
                }
                _ => {
                    size = c.len();
                    batches.push(vec![c]);
                }
            }
        }
        // What the commit would otherwise compute on the engine's thread: the figures,
        // and the save a due snapshot entry compacts the stored document to.
        let key = self.doc.key();
        let mut track = self.track;
        for (seq, b) in (1u64..).zip(&batches) {
            track.on_changes(seq, b.iter().map(|c| c.len() as u64).sum());
        }
        let local = Local {
            figures: (!batches.is_empty())
                .then(|| figures(&key, &rdoc))
                .flatten(),
            save: (!batches.is_empty() && track.due()).then(|| rdoc.save()),
            key,
        };
        Ok(Prepared {
            doc: self.doc,
            rdoc,
            outcome,
            batches,
            upsert: started.elapsed() + self.taken,
            local,
        })
    }
}

impl Engine {
    /// Checks this unit's document of `collection` for school year `year` out of the
    /// engine for an import: it leaves the document cache (the stored form is read here
    /// and restored by [`Checkout::prepare`]), and no other import can take it until
    /// [`Engine::finish_import`] or [`Engine::abort_import`].
    pub fn begin_import(&mut self, year: &str, collection: Collection) -> Result<Checkout> {
        check_year(year)?;
        // A store that failed before is reopened first (storage errors heal by themselves).
        self.heal()?;
        self.check_school()?;
        self.may_write()?;
        let doc = DocId {
            unit: self.unit.clone(),
            collection: collection.as_str().to_string(),
            year: year.to_string(),
        };
        let key = doc.key();
        if self.checked_out.contains(&key) {
            return Err(Error::Busy(format!(
                "another import into {key} is in progress; try again when it is done"
            )));
        }
        let started = Instant::now();
        let state = match self.docs.take(&key) {
            Some(d) => CheckedOut::Loaded(Box::new(d)),
            None => CheckedOut::Stored(
                self.store
                    .doc(&key)
                    .map_err(|e| self.noted(Error::from(e)))?,
            ),
        };
        self.checked_out.insert(key.clone());
        self.conflicts.remove(&key);
        self.publish();
        Ok(Checkout {
            doc,
            actor: *self.key.id().as_bytes(),
            limits: self.limits,
            state,
            taken: started.elapsed(),
            track: self.snaps.own(&key),
        })
    }

    /// Refuses imports at a node that is not a school's.
    pub(crate) fn check_school(&self) -> Result<()> {
        if self.dir.level(&self.unit) != Some("school") {
            return Err(Error::Forbidden(format!(
                "imports are made at a school's node; {} is a {}",
                self.unit,
                self.dir.level(&self.unit).unwrap_or("unit")
            )));
        }
        Ok(())
    }

    /// Ends an import that will not be committed: its document is reloaded from the store
    /// when next needed.
    pub fn abort_import(&mut self, key: &str) {
        self.checked_out.remove(key);
        self.conflicts.remove(key);
        self.docs.evict(key);
    }

    /// Puts the prepared document back, signs every change entry and the snapshot entry
    /// that falls due, and commits them in one transaction: all of the import or nothing.
    /// Returns the outcome and the time spent signing and committing.
    pub fn finish_import(&mut self, p: Prepared) -> Result<(ImportOutcome, Duration, Duration)> {
        let key = p.doc.key();
        self.checked_out.remove(&key);
        if let Err(e) = self.may_write() {
            self.conflicts.remove(&key);
            self.docs.evict(&key);
            return Err(e);
        }
        if self.conflicts.remove(&key) {
            self.docs.evict(&key);
            return Err(Error::Busy(format!(
                "{key} changed while the file was being applied; import it again"
            )));
        }
        let signing = Instant::now();
        let mut rdoc = p.rdoc;
        let heads: Vec<[u8; 32]> = rdoc.heads().into_iter().map(|h| h.0).collect();
        // Nothing outside a page is dirty: nothing to summarise for a dropped document.
        let _ = self.docs.put(&key, rdoc);
        let mut head = self.heads.get(&self.key.id()).copied();
        let mut track = self.snaps.own(&key);
        let mut entries: Vec<Entry> = Vec::with_capacity(p.batches.len() + 1);
        let now = self.clock.now_ms();
        let sign = |payload: Payload, head: &mut Option<eduioc_store::Head>| -> Entry {
            let e = Entry::sign(
                &self.key,
                head.map_or(1, |h| h.seq + 1),
                head.map(|h| h.hash),
                now,
                payload,
            );
            *head = Some(eduioc_store::Head {
                seq: e.seq(),
                hash: e.hash(),
            });
            e
        };
        for changes in p.batches {
            let bytes: u64 = changes.iter().map(|c| c.len() as u64).sum();
            let e = sign(
                Payload::Changes {
                    doc: p.doc.clone(),
                    changes,
                },
                &mut head,
            );
            track.on_changes(e.seq(), bytes);
            entries.push(e);
        }
        if track.due() && self.snapshot_allowed() {
            entries.push(sign(track.snapshot(p.doc.clone(), heads), &mut head));
        }
        let limit = self.limits.max_entry_bytes;
        if let Some(e) = entries.iter().find(|e| e.bytes().len() > limit) {
            let size = e.bytes().len();
            self.docs.evict(&key);
            return Err(too_large(size, limit));
        }
        let signed = signing.elapsed();
        let committing = Instant::now();
        if entries.is_empty() {
            self.publish();
            return Ok((p.outcome, signed, committing.elapsed()));
        }
        let items = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i, e, true, None))
            .collect();
        let mut out = Ingested::default();
        self.local = Some(p.local);
        let committed = self
            .commit_entries(items, &mut out)
            .map_err(|e| self.noted(e));
        self.local = None;
        if let Err(e) = committed {
            self.docs.evict(&key);
            return Err(e);
        }
        if let Some((_, r)) = out.rejected.pop() {
            // Nothing of a page with a refused entry of our own may stand half done: the
            // entries before it were committed, so the document is consistent with the
            // store, but the import is reported failed.
            self.docs.evict(&key);
            return Err(Error::Local(r));
        }
        Ok((p.outcome, signed, committing.elapsed()))
    }

    /// Whether a due snapshot entry may be signed (tests make it fail).
    fn snapshot_allowed(&self) -> bool {
        #[cfg(test)]
        if self.fail_snapshot {
            tracing::warn!("signing a snapshot fails in this test");
            return false;
        }
        true
    }

    /// What rows of `collection` imported into school year `year` are checked against:
    /// for results and health, the school's students of that year (none imported yet: an
    /// empty roster, so every row is refused with `unknown_student`).
    pub fn roster_for(
        &self,
        collection: Collection,
        year: &str,
    ) -> Result<Option<eduioc_records::Roster>> {
        if !collection.refers_to_students() {
            return Ok(None);
        }
        let key = DocId {
            unit: self.unit.clone(),
            collection: Collection::Students.as_str().to_string(),
            year: year.to_string(),
        }
        .key();
        let index = self.store.get(&crate::tables::LOOKUPS, &key)?;
        Ok(Some(
            index
                .as_ref()
                .map(crate::search::roster)
                .unwrap_or_default(),
        ))
    }

    /// The import gate: held for the whole of an import so that imports never interleave.
    pub fn import_gate(&self) -> std::sync::Arc<Mutex<()>> {
        std::sync::Arc::clone(&self.import_gate)
    }
}

impl crate::EngineHandle {
    /// Runs `f` on the engine, adding its wait in the inbox and its run to `t`.
    fn timed<R: Send + 'static>(
        &self,
        t: &mut ImportTimings,
        f: impl FnOnce(&mut Engine) -> R + Send + 'static,
    ) -> Result<R> {
        let sent = Instant::now();
        let (r, waited, ran) = self.call_blocking(move |e| {
            let waited = sent.elapsed();
            let started = Instant::now();
            let r = f(e);
            (r, waited, started.elapsed())
        })?;
        t.engine_wait += waited;
        t.longest_job = t.longest_job.max(ran);
        Ok(r)
    }

    /// Imports a CSV/XLSX file of `kind` into this school's document of school year
    /// `year` (default: the current one): the file is parsed and the rows upserted off
    /// the engine's thread, which only checks the document out, then signs and commits.
    /// Imports at one node run one at a time. Blocks: call it from a blocking thread.
    pub fn import(
        &self,
        year: Option<&str>,
        kind: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(ImportOutcome, ImportTimings)> {
        let mut t = ImportTimings::default();
        let collection = import_collection(kind)?;
        if let Some(y) = year {
            check_year(y)?;
        }
        let gate = self.timed(&mut t, |e| e.check_school().map(|()| e.import_gate()))??;
        let _serial = gate
            .lock()
            .map_err(|_| Error::Unavailable("import gate poisoned".into()))?;
        let year = year.map_or_else(|| self.views().status().school_year(), str::to_string);
        let roster = {
            let year = year.clone();
            self.timed(&mut t, move |e| e.roster_for(collection, &year))??
        };
        let parsing = Instant::now();
        let rows =
            eduioc_records::parse_import_against(collection, content_type, body, roster.as_ref())
                .map_err(Error::Import)?;
        t.parse = parsing.elapsed();
        let checkout = {
            let year = year.clone();
            let held = Instant::now();
            let c = self.timed(&mut t, move |e| e.begin_import(&year, collection))??;
            t.checkout = held.elapsed();
            c
        };
        let key = checkout.key();
        let prepared = match checkout.prepare(&rows) {
            Ok(p) => p,
            Err(err) => {
                let _ = self.timed(&mut t, move |e| e.abort_import(&key));
                return Err(err);
            }
        };
        drop(rows);
        t.upsert = prepared.upsert;
        let (outcome, sign, commit) = self.timed(&mut t, move |e| e.finish_import(prepared))??;
        t.sign = sign;
        t.commit = commit;
        tracing::info!(
            doc = %key,
            inserted = outcome.inserted,
            updated = outcome.updated,
            parse_ms = t.parse.as_millis() as u64,
            upsert_ms = t.upsert.as_millis() as u64,
            sign_ms = t.sign.as_millis() as u64,
            commit_ms = t.commit.as_millis() as u64,
            longest_engine_job_ms = t.longest_job.as_millis() as u64,
            "import applied"
        );
        Ok((outcome, t))
    }
}
