//! The commit path: a page received or an entry signed here is validated, its payload
//! applied (documents, snapshots, certificates, notifications, targets, acknowledgements),
//! the figures of the documents it changed derived (summaries, look-up indexes, the join of
//! results and health with the students), and everything stored in one transaction before
//! the heads advance and the views are published.

use super::*;
use crate::derived::{ensure_loaded, figures_since, rejoin, write_dropped};

impl Engine {
    /// Validates and commits a page of received entries (wire form), in one transaction.
    pub fn ingest(&mut self, page: &[Vec<u8>]) -> Result<Ingested> {
        self.ingest_page(page, &[])
    }

    /// [`Engine::ingest`] of a page that may carry saved documents beside its snapshot
    /// entries: (index in `page`, the document's `save()`).
    pub fn ingest_page(&mut self, page: &[Vec<u8>], docs: &[(u32, Vec<u8>)]) -> Result<Ingested> {
        let started = std::time::Instant::now();
        let out = self.guarded(|e| e.ingest_page_now(page, docs))?;
        let m = self.views.metrics();
        m.ingest_seconds.observe_duration(started.elapsed());
        m.page_entries.observe(page.len() as f64);
        let bytes = page.iter().map(Vec::len).sum::<usize>()
            + docs.iter().map(|(_, d)| d.len()).sum::<usize>();
        m.page_bytes.observe(bytes as f64);
        self.check_restored()?;
        if let Err(e) = self.sign_summaries() {
            tracing::warn!(error = %e, "summaries not signed yet (retried after the next page)");
        }
        Ok(out)
    }

    fn ingest_page_now(&mut self, page: &[Vec<u8>], docs: &[(u32, Vec<u8>)]) -> Result<Ingested> {
        let mut out = Ingested::default();
        let mut beside: HashMap<usize, &[u8]> = HashMap::new();
        // Entries with more than one document beside them: refused, once each.
        let mut doubled: Vec<usize> = Vec::new();
        for (i, d) in docs {
            let i = *i as usize;
            if i >= page.len() {
                out.rejected.push((
                    i,
                    Reject::Malformed(format!(
                        "document beside entry {i}, which is not one entry of the page"
                    )),
                ));
            } else if beside.insert(i, d).is_some() && !doubled.contains(&i) {
                doubled.push(i);
                out.rejected.push((
                    i,
                    Reject::Malformed(format!(
                        "entry {i} of the page has more than one document beside it"
                    )),
                ));
            }
        }
        let mut indexes = Vec::with_capacity(page.len());
        let mut entries = Vec::with_capacity(page.len());
        let mut authors: Vec<NodeId> = Vec::new();
        for (i, raw) in page.iter().enumerate() {
            if doubled.contains(&i) {
                continue;
            }
            match Entry::decode(raw) {
                Ok(e) => {
                    if !authors.contains(&e.author()) {
                        authors.push(e.author());
                    }
                    indexes.push(i);
                    entries.push(e);
                }
                Err(e) => out.rejected.push((i, Reject::from(e))),
            }
        }
        let sig_ok = par::chunked(&entries, 64, eduioc_protocol::entry::verify_all);
        let items: Vec<Item<'_>> = indexes
            .into_iter()
            .zip(entries)
            .zip(sig_ok)
            .map(|((i, e), ok)| (i, e, ok, beside.get(&i).copied()))
            .collect();
        // A new parent or a restored node receives a page of saved documents: loading them
        // is most of its cost, and each is independent of the others.
        let saves: Vec<((NodeId, u64), &[u8])> = items
            .iter()
            .filter(|(_, e, ok, _)| *ok && matches!(e.body.payload, Payload::Snapshot { .. }))
            .filter_map(|(_, e, _, beside)| Some(((e.author(), e.seq()), (*beside)?)))
            .collect();
        let actor = *self.key.id().as_bytes();
        self.preloaded = par::map(saves, |(at, save)| (at, load_beside(save, &actor)))
            .into_iter()
            .collect();
        let committed = self.commit_entries(items, &mut out);
        self.preloaded.clear();
        committed?;
        // Heights after commit for every author of the page, including those with
        // nothing new (duplicates, rejections): the sender learns where each log stands.
        out.heights = self.heights_of(authors);
        Ok(out)
    }

    /// Validates, applies and stores `items` in one transaction (timed for the metrics).
    pub(crate) fn commit_entries(
        &mut self,
        items: Vec<Item<'_>>,
        out: &mut Ingested,
    ) -> Result<()> {
        let started = std::time::Instant::now();
        let r = self.commit_entries_now(items, out);
        self.views
            .metrics()
            .commit_seconds
            .observe_duration(started.elapsed());
        if r.is_ok() {
            self.mark_started();
        }
        r
    }

    fn commit_entries_now(&mut self, items: Vec<Item<'_>>, out: &mut Ingested) -> Result<()> {
        // Certificate versions take effect when their date comes.
        self.dir.set_now(self.clock.now_ms());
        self.notices_dirty |= items.iter().any(|(_, e, ..)| {
            matches!(
                e.body.payload,
                Payload::Notification { .. } | Payload::Ack { .. }
            )
        });
        // The page's snapshot entries whose claims may justify holes in it. A pass that
        // recorded a hole whose snapshot entry was then refused is discarded and the page
        // run again ([`snapshot::PageHoles`]).
        let mut holes = validate::page_holes(
            items.iter().map(|(i, e, ok, beside)| (*i, e, *ok, *beside)),
            &self.dir,
        );
        // A discarded pass changed the directory only through certificate entries.
        let certs = items
            .iter()
            .any(|(_, e, ..)| matches!(e.body.payload, Payload::Certificate(_)));
        // A failed pass (a store error) leaves nothing in memory either.
        let dir_before = certs.then(|| self.dir.clone());
        loop {
            let next = match self.commit_pass(&items, holes, out) {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.docs.abandon_page();
                    if let Some(dir) = dir_before {
                        self.dir = dir;
                    }
                    return Err(e);
                }
            };
            // Nothing of the pass was committed: forget what it did in memory.
            for (_, e, ..) in &items {
                if let Payload::Changes { doc, .. } | Payload::Snapshot { doc, .. } =
                    &e.body.payload
                {
                    self.docs.evict(&doc.key());
                }
            }
            self.docs.abandon_page();
            if let Some(dir) = &dir_before {
                self.dir = dir.clone();
            }
            tracing::warn!(
                "a snapshot entry of the page was refused after entries before it relied on \
                 what it replaces: the page is applied again without its claim"
            );
            holes = next;
        }
    }

    /// One pass of [`Engine::commit_entries`], trusting the claims of `holes`. Returns the
    /// state of the next pass, having committed nothing, if a hole it recorded is not
    /// covered by a snapshot entry held or appended.
    fn commit_pass(
        &mut self,
        items: &[Item<'_>],
        mut holes: snapshot::PageHoles,
        out: &mut Ingested,
    ) -> Result<Option<snapshot::PageHoles>> {
        let actor = *self.key.id().as_bytes();
        // Nothing is pending unless an earlier page ended early on a store error.
        self.docs.abandon_page();
        let mut txn = self.store.begin_write()?;
        let mut touched_docs = Vec::new();
        let mut new_heads: HashMap<NodeId, Head> = HashMap::new();
        let mut appended = 0u64;
        let mut rejections: Vec<(usize, Reject)> = Vec::new();
        let mut pending = snapshots::Pending::default();
        let mut appended_authors: Vec<NodeId> = Vec::new();
        let mut seen: HashMap<String, i64> = HashMap::new();
        // Summaries an office signed for its subtree (above a privacy boundary).
        let mut signed: Vec<(String, Summary)> = Vec::new();
        // At a boundary: the documents whose figures this commit computed, to sign.
        let mut computed: Vec<String> = Vec::new();
        let mut quarantined = 0usize;
        for (i, entry, sig_ok, beside) in items {
            let (i, sig_ok, beside) = (*i, *sig_ok, *beside);
            let author = entry.author();
            let head = new_heads.get(&author).or(self.heads.get(&author)).copied();
            let at_seq = match head {
                Some(h) if entry.seq() <= h.seq => txn
                    .entry(author.as_bytes(), entry.seq())?
                    .and_then(|b| Entry::decode(&b).ok())
                    .map(|e| e.hash()),
                _ => None,
            };
            let sparse = self
                .dir
                .unit_of(&author)
                .is_some_and(|u| !self.dir.is_ancestor_or_self(&self.unit, u));
            // Saturating: a log may hold seq u64::MAX (an ancestor's sparse log).
            let next = head.map_or(1, |h| h.seq.saturating_add(1));
            let seq = entry.seq();
            let gap_covered = holes.gap_covered(&author, next, seq, at_seq.is_some(), || {
                self.snaps.replaced(&author)
            });
            let log = LogState {
                head: head.map(|h| (h.seq, h.hash)),
                at_seq,
                sparse,
                gap_covered,
            };
            match validate::check_parsed(entry, sig_ok, beside, &self.dir, log) {
                Ok((Verdict::Duplicate | Verdict::Replaced, _)) => {}
                Ok((Verdict::Append, parsed)) => {
                    let unit = self.dir.unit_of(&author).unwrap_or_default().to_string();
                    // The payload first: a validly signed entry whose changes cannot be
                    // applied to the document is rejected like any other bad entry.
                    let mut ctx = Apply {
                        docs: &mut self.docs,
                        dir: &mut self.dir,
                        snaps: &self.snaps,
                        pending: &mut pending,
                        actor,
                        txn: &mut txn,
                        local: self.local.as_mut(),
                        preloaded: &mut self.preloaded,
                        signed: &mut signed,
                        seen: &mut seen,
                    };
                    match ctx.payload(entry, &unit, beside, parsed) {
                        Ok(Some(doc_key)) => {
                            self.docs.changed(&doc_key);
                            touched_docs.push(doc_key);
                        }
                        Ok(None) => {}
                        Err(err @ (Error::Records(_) | Error::Rejected(_))) => {
                            if let Payload::Changes { doc, .. } | Payload::Snapshot { doc, .. } =
                                &entry.body.payload
                            {
                                self.docs.evict(&doc.key());
                            }
                            let reject = match err {
                                Error::Rejected(r) => r,
                                e => Reject::Malformed(format!(
                                    "{} cannot be applied: {e}",
                                    entry.body.payload.kind()
                                )),
                            };
                            rejections.push((i, reject));
                            continue;
                        }
                        Err(e) => {
                            // Drop what was half-applied in memory; the store is unchanged.
                            if let Payload::Changes { doc, .. } | Payload::Snapshot { doc, .. } =
                                &entry.body.payload
                            {
                                self.docs.evict(&doc.key());
                            }
                            for k in &touched_docs {
                                self.docs.evict(k);
                            }
                            self.docs.take_dropped();
                            return Err(e);
                        }
                    }
                    if author == self.key.id() {
                        Self::track_own(&self.snaps, &mut pending, &mut txn, entry)?;
                    }
                    if seq > next && !sparse {
                        pending.hole(&self.snaps, &mut txn, author, next, seq - 1)?;
                        holes.on_hole(author, next, seq - 1);
                    }
                    if let Payload::Snapshot { replaces, .. } = &entry.body.payload {
                        holes.on_snapshot(i, author, replaces);
                    }
                    txn.put_entry(author.as_bytes(), entry.seq(), entry.bytes())?;
                    let next = match head {
                        Some(h) if h.seq > entry.seq() => h,
                        _ => Head {
                            seq: entry.seq(),
                            hash: entry.hash(),
                        },
                    };
                    txn.set_head(author.as_bytes(), next)?;
                    new_heads.insert(author, next);
                    appended += 1;
                    if !appended_authors.contains(&author) {
                        appended_authors.push(author);
                    }
                    let ts = entry.body.timestamp_ms;
                    let before = self.views.figures().last_seen_ms(&unit).unwrap_or(ts);
                    let seen = seen.entry(unit.clone()).or_insert(before);
                    *seen = (*seen).max(ts);
                    txn.put(&tables::SEEN, &unit, seen)?;
                }
                Err(reject) => {
                    if let Reject::Fork(_) = reject {
                        quarantined += 1;
                        txn.quarantine(&Quarantined {
                            author: *author.as_bytes(),
                            seq: entry.seq(),
                            reason: reject.to_string(),
                            bytes: entry.bytes().to_vec(),
                        })?;
                    }
                    rejections.push((i, reject));
                }
            }
        }
        if let Some(next) = holes.settle(|a| self.snaps.replaced(a)) {
            drop(txn);
            for k in &touched_docs {
                self.docs.evict(k);
            }
            return Ok(Some(next));
        }
        touched_docs.sort();
        touched_docs.dedup();
        let dropped = self.docs.take_dropped();
        let precomputed = self
            .local
            .as_mut()
            .and_then(|l| l.figures.take().map(|f| (l.key.clone(), f)));
        let earlier: HashMap<String, Summary> = {
            let figures = self.views.figures();
            touched_docs
                .iter()
                .filter_map(|k| figures.summaries.get(k).map(|s| (k.clone(), s.clone())))
                .collect()
        };
        let fresh = Self::summarize_docs(
            &mut self.docs,
            actor,
            &mut txn,
            &touched_docs,
            Earlier {
                dropped,
                precomputed,
                summaries: earlier,
            },
        );
        self.docs.end_page();
        let fresh = match fresh {
            Ok(mut f) => {
                // The documents whose figures this commit computed are signed at a
                // boundary; summaries others signed are not.
                if self.is_records_boundary() {
                    computed.extend(f.iter().map(|(k, _)| k.clone()));
                }
                f.append(&mut signed);
                f
            }
            Err(e) => {
                for k in &touched_docs {
                    self.docs.evict(k);
                }
                return Err(e);
            }
        };
        // The documents whose figures changed move to the end of the export feed.
        let mut feed = self.feed;
        if let Err(e) =
            crate::export::note_changed(&mut txn, &mut feed, fresh.iter().map(|(k, _)| k))
        {
            for k in &touched_docs {
                self.docs.evict(k);
            }
            return Err(e);
        }
        // Counted in memory only once the transaction commits.
        let mut counts = self.rejected.clone();
        for (_, r) in out.rejected.iter().chain(rejections.iter()) {
            *counts.entry(r.key().to_string()).or_default() += 1;
        }
        for (k, v) in &counts {
            txn.put(&tables::REJECTED, k, v)?;
        }
        #[cfg(test)]
        let injected = std::mem::take(&mut self.fail_local_commit);
        #[cfg(not(test))]
        let injected = false;
        let committed = if injected {
            drop(txn);
            Err(Error::Invalid(
                "the store refuses this commit in this test".into(),
            ))
        } else {
            txn.commit().map_err(Error::from)
        };
        if let Err(e) = committed {
            for k in &touched_docs {
                self.docs.evict(k);
            }
            return Err(e);
        }
        for k in &touched_docs {
            // A commit changed a document an import has checked out: that import is
            // refused rather than signed over a copy that misses this change.
            if self.checked_out.contains(k) {
                self.conflicts.insert(k.clone());
            }
        }
        self.health.healed();
        self.feed = feed;
        self.rejected = counts;
        for (i, r) in &rejections {
            tracing::warn!(index = i, reason = %r, "entry rejected");
        }
        out.rejected.extend(rejections);
        for a in &appended_authors {
            if !out.appended.contains(a) {
                out.appended.push(*a);
            }
        }
        // Read back before the figures are locked: targets are few (hundreds).
        let any = |f: fn(&Payload) -> bool| items.iter().any(|(_, e, ..)| f(&e.body.payload));
        let targets = any(|p| matches!(p, Payload::Target { .. }))
            .then(|| read_back("targets", self.store.scan(&tables::TARGETS, "")))
            .flatten();
        let acks = any(|p| matches!(p, Payload::AlertAck { .. }))
            .then(|| {
                read_back(
                    "alert acknowledgements",
                    self.store.scan(&tables::ALERT_ACKS, ""),
                )
            })
            .flatten();
        let reports = any(|p| matches!(p, Payload::Report { .. }))
            .then(|| read_back("reports", self.store.scan(&tables::REPORTS, "")))
            .flatten();
        let forks = (quarantined > 0)
            .then(|| read_back("forks", alerts::forks(&self.store, &self.dir)))
            .flatten();
        self.note_for_summaries(&computed);
        {
            let mut figures = self.views.figures_mut();
            figures.seen.extend(seen);
            figures.summaries.extend(fresh);
            if let Some(t) = targets {
                figures.targets = t.into_iter().collect();
            }
            if let Some(a) = acks {
                figures.alert_acks = a.into_iter().collect();
            }
            if let Some(r) = reports {
                figures.reports = r.into_iter().collect();
            }
            if let Some(f) = forks {
                figures.forks = f;
            }
        }
        self.entries += appended;
        self.heads.extend(new_heads);
        self.snaps.apply(pending);
        self.quarantined += quarantined;
        self.publish();
        if !appended_authors.is_empty() {
            self.views.announce(Event::Appended(appended_authors));
        }
        Ok(None)
    }

    /// Keeps the track of this node's own documents: which entries a snapshot of each
    /// would replace, and how much was written since the last one.
    fn track_own(
        snaps: &snapshots::Snapshots,
        pending: &mut snapshots::Pending,
        txn: &mut WriteTxn<'_>,
        entry: &Entry,
    ) -> Result<()> {
        match &entry.body.payload {
            Payload::Changes { doc, changes } => {
                let key = doc.key();
                let mut t = snaps.track(pending, &key);
                t.on_changes(entry.seq(), changes.iter().map(|c| c.len() as u64).sum());
                pending.track(txn, &key, t)
            }
            Payload::Snapshot { doc, .. } => {
                let key = doc.key();
                let mut t = snaps.track(pending, &key);
                t.on_snapshot(entry.seq());
                pending.track(txn, &key, t)
            }
            _ => Ok(()),
        }
    }

    fn heights_of(&self, authors: Vec<NodeId>) -> Vec<(NodeId, u64)> {
        authors
            .into_iter()
            .map(|a| (a, self.heads.get(&a).map_or(0, |h| h.seq)))
            .collect()
    }

    /// Computes the summary (and, for students and staff, the look-up index) of each
    /// document a page changed, inside the page's transaction: from the records that
    /// changed when the document's heads before the page are known, else from the whole
    /// document.
    fn summarize_docs(
        docs: &mut docs::DocCache,
        actor: [u8; 32],
        txn: &mut WriteTxn<'_>,
        keys: &[String],
        mut earlier: Earlier,
    ) -> Result<Vec<(String, Summary)>> {
        // What each document's figures come from, read in order from the cache, the
        // transaction and what the page noted.
        let mut jobs = Vec::with_capacity(keys.len());
        for key in keys {
            // An import's own figures, computed off the engine's thread from the document
            // it commits.
            if let Some((_, f)) = earlier.precomputed.take_if(|(k, _)| k == key) {
                jobs.push(Figures::Done(key.clone(), Some(f)));
                continue;
            }
            if docs.contains(key) {
                let before = docs.before(key).map(<[_]>::to_vec);
                let since = match (before, earlier.summaries.remove(key)) {
                    (Some(before), Some(summary)) => {
                        // Kept decoded beside the document since the last page wrote it.
                        let index = match docs.take_index(key) {
                            Some(index) => Some(index),
                            None => txn.get(&tables::LOOKUPS, key)?,
                        };
                        Some((before, summary, index))
                    }
                    _ => None,
                };
                jobs.push(Figures::Loaded(key.clone(), since));
                continue;
            }
            match earlier.dropped.remove(key) {
                // Dropped from the cache after the page changed it: written then.
                Some(summary) => jobs.push(Figures::Written(key.clone(), summary)),
                // Dropped because a later entry failed: what the page wrote.
                None => jobs.push(Figures::Stored(key.clone(), txn.doc(key)?)),
            }
        }
        // The Automerge work, one document each, spread over the cores.
        let mut loaded = docs.many_mut(keys);
        let work: Vec<(Figures, Option<&mut RecordsDoc>)> = jobs
            .into_iter()
            .map(|job| {
                let doc = match &job {
                    Figures::Loaded(key, _) => loaded.remove(key.as_str()),
                    _ => None,
                };
                (job, doc)
            })
            .collect();
        let done = par::map(work, |(job, doc)| -> Result<(Figures, bool)> {
            match (job, doc) {
                (Figures::Loaded(key, since), Some(rdoc)) => {
                    let f = since
                        .and_then(|(before, summary, index)| {
                            figures_since(&key, rdoc, &before, summary, index).map(|f| (f, true))
                        })
                        .or_else(|| figures(&key, rdoc).map(|f| (f, false)));
                    let updated = f.as_ref().is_some_and(|(_, u)| *u);
                    Ok((Figures::Done(key, f.map(|(f, _)| f)), updated))
                }
                (Figures::Stored(key, rec), _) => {
                    let f = figures(&key, &load_doc(rec, &actor)?);
                    Ok((Figures::Done(key, f), false))
                }
                (job, _) => Ok((job, false)),
            }
        });
        let mut out = Vec::with_capacity(keys.len());
        for done in done {
            let (job, updated) = done?;
            docs.updated += u64::from(updated);
            match job {
                Figures::Done(key, Some(f)) => {
                    let (summary, index) = write_figures(txn, &key, f)?;
                    if let Some(index) = index {
                        docs.keep_index(&key, index);
                    }
                    out.push((key, summary));
                }
                Figures::Written(key, summary) => out.push((key, summary)),
                _ => {}
            }
        }
        // Results and health count enrolled students only: a page that changed the
        // students changes their figures too.
        let students: Vec<String> = out
            .iter()
            .filter(|(k, _)| collection_of(k) == Some(Collection::Students))
            .map(|(k, _)| k.clone())
            .collect();
        for k in students {
            out.extend(rejoin(txn, &k)?);
        }
        Ok(out)
    }

    /// Signs and commits a new entry of this node's own log.
    pub(crate) fn append_local(&mut self, payload: Payload) -> Result<Entry> {
        self.may_write()?;
        let head = self.heads.get(&self.key.id()).copied();
        let entry = Entry::sign(
            &self.key,
            head.map_or(1, |h| h.seq + 1),
            head.map(|h| h.hash),
            self.clock.now_ms(),
            payload,
        );
        let mut out = Ingested::default();
        self.commit_entries(vec![(0, entry.clone(), true, None)], &mut out)?;
        if let Some((_, r)) = out.rejected.pop() {
            return Err(Error::Local(r));
        }
        Ok(entry)
    }
}

/// The figures of one document a page changed, from what they are computed to what is
/// written.
enum Figures {
    /// In the cache; with the heads before the page, the summary and the index then, when
    /// they can be updated from the records changed since.
    Loaded(
        String,
        Option<(
            Vec<automerge::ChangeHash>,
            Summary,
            Option<search::Lookup<String>>,
        )>,
    ),
    /// Not in the cache: computed from what the transaction holds.
    Stored(String, Option<eduioc_store::DocRecord>),
    /// Computed (`None`: the key names no collection).
    Done(String, Option<Derived>),
    /// Written when the cache dropped the document during the page.
    Written(String, Summary),
}

/// What the figures of a page's documents are computed from, besides the documents.
struct Earlier {
    /// Summaries of changed documents the cache dropped during the page (written then).
    dropped: HashMap<String, Summary>,
    /// An import's figures, computed off the engine's thread.
    precomputed: Option<(String, Derived)>,
    /// The summaries the documents had before the page.
    summaries: HashMap<String, Summary>,
}

/// One entry of a page being committed: (index in the page, entry, signature verified,
/// saved document sent beside it).
type Item<'a> = (usize, Entry, bool, Option<&'a [u8]>);

/// What applying one entry's payload may touch, inside the page's transaction.
struct Apply<'e, 't> {
    docs: &'e mut docs::DocCache,
    dir: &'e mut Directory,
    snaps: &'e snapshots::Snapshots,
    pending: &'e mut snapshots::Pending,
    actor: [u8; 32],
    txn: &'e mut WriteTxn<'t>,
    /// The import being committed, if any: its document already holds its changes.
    local: Option<&'e mut import::Local>,
    /// Saved documents already loaded, by the author and seq of their snapshot entry.
    preloaded: &'e mut HashMap<(NodeId, u64), Result<RecordsDoc>>,
    /// Summaries received signed by an office (a `Summaries` entry), for the figures.
    signed: &'e mut Vec<(String, Summary)>,
    /// The latest author timestamp per unit, as the page raises it.
    seen: &'e mut HashMap<String, i64>,
}

impl Apply<'_, '_> {
    /// Applies an appended entry's payload inside the transaction. Returns the key of a
    /// document whose content it changed. `beside`: the saved document sent beside a
    /// snapshot entry (already checked against the entry by validation); `parsed`: the
    /// changes of a changes entry, as validation parsed them.
    fn payload(
        &mut self,
        entry: &Entry,
        unit: &str,
        beside: Option<&[u8]>,
        parsed: Vec<automerge::Change>,
    ) -> Result<Option<String>> {
        let (docs, dir, actor, txn) = (&mut *self.docs, &mut *self.dir, self.actor, &mut *self.txn);
        match &entry.body.payload {
            Payload::Changes { doc, changes } => {
                let key = doc.key();
                ensure_loaded(docs, txn, &key, &actor)?;
                docs.about_to_change(&key);
                let Some(rdoc) = docs.get(&key) else {
                    return Ok(None);
                };
                // An import's own changes were made in this very document: no need to
                // parse and apply them again.
                let made_here = entry.author().as_bytes() == &actor
                    && self.local.as_ref().is_some_and(|l| l.key == key);
                if !made_here {
                    rdoc.apply_changes(parsed)?;
                }
                let chunk: Vec<u8> = changes.concat();
                let n = txn.append_doc_chunk(&key, &chunk)?;
                if n > COMPACT_AFTER_CHUNKS {
                    compact(txn, self.pending, &key, rdoc, n)?;
                }
                // Summaries are recomputed once per document per page, in `summarize_docs`.
                Ok(Some(key))
            }
            Payload::Certificate(c) => {
                match dir.insert(c.clone()) {
                    Ok(_) => txn.put_cert(
                        &format!("{}/{}", c.body.unit, c.body.version),
                        &c.to_bytes(),
                    )?,
                    Err(e) => tracing::warn!(error = %e, "certificate entry refused"),
                }
                Ok(None)
            }
            Payload::Target { .. } => {
                targets::apply(txn, entry, unit)?;
                Ok(None)
            }
            Payload::AlertAck { .. } => {
                alerts::apply(txn, entry, unit)?;
                Ok(None)
            }
            Payload::Audit { .. } => {
                crate::audit::apply(txn, entry, unit)?;
                Ok(None)
            }
            Payload::Report { .. } => {
                crate::reports::apply(txn, entry, unit)?;
                Ok(None)
            }
            Payload::Summaries { docs, seen } => {
                // Every summary decodes, or nothing of the entry is applied.
                let mut decoded = Vec::with_capacity(docs.len());
                for (key, bytes) in docs {
                    let summary: Summary = postcard::from_bytes(bytes).map_err(|e| {
                        Error::Rejected(Reject::Malformed(format!(
                            "summary of {key} signed by {unit} does not decode: {e}"
                        )))
                    })?;
                    decoded.push((key, summary));
                }
                // A node that signed them, or holds the documents, computes its own.
                if entry.author().as_bytes() == &self.actor {
                    return Ok(None);
                }
                for (key, summary) in decoded {
                    if self.docs.contains(key) || txn.has_doc(key)? {
                        continue;
                    }
                    // Of data at least as fresh as the summary held, or not at all. The
                    // signer cannot have seen data after it signed: a `seen` beyond the
                    // entry's own time counts as that time (a bad one cannot shut out
                    // every later summary of the unit).
                    let of = key.split('/').next().unwrap_or_default();
                    let fresh = seen
                        .iter()
                        .filter(|(u, _)| u == of)
                        .map(|(_, at)| (*at).min(entry.body.timestamp_ms))
                        .max()
                        .unwrap_or(i64::MIN);
                    if txn
                        .get(&tables::SUMMARY_SEEN, key)?
                        .is_some_and(|held| held > fresh)
                    {
                        continue;
                    }
                    txn.put(&tables::SUMMARY_SEEN, key, &fresh)?;
                    txn.put(&tables::SUMMARIES, key, &summary)?;
                    self.signed.push((key.clone(), summary));
                }
                for (u, at) in seen {
                    // What this node holds already (a late entry of an office must not
                    // move a unit's freshness back).
                    let was = match self.seen.get(u) {
                        Some(was) => *was,
                        None => txn.get(&tables::SEEN, u)?.unwrap_or(i64::MIN),
                    };
                    if *at > was {
                        self.seen.insert(u.clone(), *at);
                        txn.put(&tables::SEEN, u, at)?;
                    }
                }
                Ok(None)
            }
            Payload::Notification {
                to_unit,
                title,
                body,
            } => {
                let n = Notice {
                    id: format!("{unit}/{}", entry.seq()),
                    from_unit: unit.to_string(),
                    author: entry.author().to_string(),
                    seq: entry.seq(),
                    to_unit: to_unit.clone(),
                    title: title.clone(),
                    body: body.clone(),
                    sent_ms: entry.body.timestamp_ms,
                };
                txn.put(&tables::NOTICES, &n.id, &n)?;
                Ok(None)
            }
            Payload::Snapshot {
                doc,
                heads,
                replaces,
            } => {
                let key = doc.key();
                let stored = docs.get(&key).is_some() || txn.doc(&key)?.is_some();
                let mut fresh = false;
                match beside {
                    // Nothing of the document here yet: take the saved document as it is.
                    Some(save) if !stored => {
                        let at = (entry.author(), entry.seq());
                        let loaded = match self.preloaded.remove(&at) {
                            Some(loaded) => loaded?,
                            None => load_beside(save, &actor)?,
                        };
                        let dropped = docs.put(&key, loaded);
                        write_dropped(docs, txn, dropped)?;
                        fresh = true;
                    }
                    Some(save) => {
                        ensure_loaded(docs, txn, &key, &actor)?;
                        docs.about_to_change(&key);
                        if let Some(rdoc) = docs.get(&key) {
                            peer_bytes("the document beside the snapshot entry", || {
                                rdoc.load_incremental(save)
                            })?;
                        }
                    }
                    None => {
                        ensure_loaded(docs, txn, &key, &actor)?;
                        docs.about_to_change(&key);
                    }
                }
                let Some(rdoc) = docs.get(&key) else {
                    return Ok(None);
                };
                let at: Vec<[u8; 32]> = rdoc.heads().into_iter().map(|h| h.0).collect();
                if &at != heads {
                    let id = format!("{}#{}", entry.author().short(), entry.seq());
                    return Err(Error::Rejected(match beside {
                        Some(_) => Reject::Malformed(format!(
                            "{id}: document {key} loaded from the snapshot is not at its heads"
                        )),
                        None => Reject::Gap(format!(
                            "{id}: snapshot of {key} at heads the document here is not at \
                             (entries it replaces are missing here) and no document beside it"
                        )),
                    }));
                }
                // The stored document becomes a save at the entry's heads: compact, and
                // what a sender puts beside this entry for a peer that lacks the document.
                let presaved = match self.local.as_mut() {
                    Some(l) if l.key == key && entry.author().as_bytes() == &actor => l.save.take(),
                    _ => None,
                };
                let save = match (beside, presaved) {
                    (Some(save), _) if fresh => Some(save.to_vec()),
                    // Saved off the engine's thread by the import, at these very heads.
                    (None, Some(save)) => Some(save),
                    // The stored base and chunks hold exactly the document at these heads:
                    // its save is made when a peer asks for it, not on the commit path.
                    (None, None) => None,
                    // A save loaded into a document held here: the chunks lack what it
                    // brought.
                    (Some(_), _) => Some(rdoc.save()),
                };
                let chunks = match save {
                    Some(save) => {
                        txn.put_doc_snapshot(&key, &save)?;
                        0
                    }
                    None => txn.doc_chunk_count(&key)?,
                };
                let at = Some((entry.author(), entry.seq()));
                self.pending.doc_at(txn, &key, at, chunks)?;
                let held = Held {
                    seq: entry.seq(),
                    replaces: replaces.clone(),
                };
                self.pending
                    .snapshot(self.snaps, txn, entry.author(), &key, held)?;
                // Only a document that arrived beside the entry changes what it holds.
                Ok(beside.is_some().then_some(key))
            }
            Payload::Ack { author, seq } => {
                let from = dir.unit_of(author).unwrap_or("?").to_string();
                txn.put(
                    &tables::ACKS,
                    &format!("{from}/{seq}/{unit}"),
                    &entry.body.timestamp_ms,
                )?;
                Ok(None)
            }
        }
    }
}

/// Folds the `n` chunks of document `key` into its stored base. When the document was at
/// a snapshot entry's heads a few chunks ago, the base becomes the document at those heads
/// (the save offered beside that entry stays at hand) and the later chunks stay; otherwise
/// the base becomes the whole document, at no snapshot entry's heads.
fn compact(
    txn: &mut WriteTxn<'_>,
    pending: &mut snapshots::Pending,
    key: &str,
    rdoc: &mut RecordsDoc,
    n: usize,
) -> Result<()> {
    let at = txn.get(&tables::SNAPSHOT_DOC_AT, key)?;
    let upto = txn.get(&tables::SNAPSHOT_DOC_CHUNKS, key)?.unwrap_or(0) as usize;
    if at.is_some() && upto > 0 && n.saturating_sub(upto) <= COMPACT_AFTER_CHUNKS {
        if let Some(rec) = txn.doc(key)? {
            if let Some(base) = snapshots::save_at(key, &rec, upto) {
                txn.put_doc_snapshot(key, &base)?;
                for chunk in &rec.chunks[upto..] {
                    txn.append_doc_chunk(key, chunk)?;
                }
                return pending.doc_at(txn, key, at, 0);
            }
        }
    }
    txn.put_doc_snapshot(key, &rdoc.save())?;
    pending.doc_at(txn, key, None, 0)
}

/// Loads the saved document a peer sent beside a snapshot entry, as this node's actor.
fn load_beside(save: &[u8], actor: &[u8; 32]) -> Result<RecordsDoc> {
    peer_bytes("the document beside the snapshot entry", || {
        RecordsDoc::load(save, actor)
    })
}

/// Runs Automerge's parser on bytes a peer sent that no signature covers: a panic inside it
/// becomes a `malformed` rejection instead of unwinding through the engine (and poisoning
/// the lock the node holds it under). The caller evicts the document it was loading into.
pub(crate) fn peer_bytes<T>(
    what: &str,
    parse: impl FnOnce() -> std::result::Result<T, eduioc_records::Error>,
) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)) {
        Ok(r) => Ok(r?),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::Rejected(Reject::Malformed(format!(
                "{what} made the Automerge parser panic: {why}"
            ))))
        }
    }
}
