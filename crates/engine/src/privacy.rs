//! Privacy tiers (`records_up_to` in `node.toml`): student and staff records travel up to
//! the offices of one level and no further. An office of that level (the boundary) sends
//! its parent only its own log, and signs into it the figures of its subtree's documents
//! ([`Payload::Summaries`], without the personal ids the duplicate check uses) after every
//! page that changed them; the nodes above compute every figure from those summaries
//! exactly as from documents, hold no record, and say so when asked to look one up.

use std::collections::BTreeSet;

use eduioc_protocol::{DocId, Payload};

use crate::{Engine, Error, Result};

/// Most documents one summaries entry carries.
const PER_ENTRY: usize = 200;
/// The meta key set once a boundary signed the summaries of every document it held.
const SIGNED_ALL: &str = "summaries_signed";

impl Engine {
    /// Keeps records at offices of `level` and below (`None`: records travel to the root).
    /// At an office of that level, the summaries of every document of its subtree are
    /// signed the first time (then those a page changes).
    pub fn set_records_up_to(&mut self, level: Option<String>) -> Result<()> {
        if level.as_deref() == Some("school") {
            return Err(Error::Invalid(
                "records_up_to names an office level (district, ...): a school's records are \
                 its own log"
                    .into(),
            ));
        }
        self.records_up_to = level;
        self.views.figures_mut().records_up_to = self.records_up_to.clone();
        if self.is_records_boundary() && self.store.meta(SIGNED_ALL)?.is_none() {
            let all: Vec<String> = self.views.figures().summaries.keys().cloned().collect();
            self.unsigned.extend(all);
            self.sign_summaries()?;
            let mut txn = self.store.begin_write()?;
            txn.put_meta(SIGNED_ALL, &[1])?;
            txn.commit()?;
        }
        Ok(())
    }

    /// Whether this node is an office of the level records stop at: it sends its parent
    /// only its own log, with signed summaries of its subtree.
    pub fn is_records_boundary(&self) -> bool {
        self.records_up_to.is_some() && self.dir.level(&self.unit) == self.records_up_to.as_deref()
    }

    /// Notes documents whose figures a commit changed, to be signed at a boundary.
    pub(crate) fn note_for_summaries<'a>(&mut self, keys: impl IntoIterator<Item = &'a String>) {
        if self.is_records_boundary() {
            self.unsigned.extend(keys.into_iter().cloned());
        }
    }

    /// Signs the summaries of the documents noted since the last time, as entries of
    /// this node's log (at most [`PER_ENTRY`] documents each).
    pub(crate) fn sign_summaries(&mut self) -> Result<()> {
        if self.unsigned.is_empty() || !self.is_records_boundary() {
            self.unsigned.clear();
            return Ok(());
        }
        let keys: BTreeSet<String> = std::mem::take(&mut self.unsigned);
        let batches: Vec<Payload> = {
            let figures = self.views.figures();
            let mut out = Vec::new();
            let keys: Vec<&String> = keys
                .iter()
                .filter(|k| {
                    DocId::from_key(k).is_some_and(|d| {
                        d.unit != self.unit && self.dir.is_ancestor_or_self(&self.unit, &d.unit)
                    })
                })
                .collect();
            for chunk in keys.chunks(PER_ENTRY) {
                let mut docs = Vec::with_capacity(chunk.len());
                let mut units = BTreeSet::new();
                for k in chunk {
                    let Some(s) = figures.summaries.get(*k) else {
                        continue;
                    };
                    let mut s = s.clone();
                    // The personal ids stay below the boundary.
                    s.personal_ids.clear();
                    let bytes = postcard::to_stdvec(&s)
                        .map_err(|e| Error::Invalid(format!("summary of {k}: {e}")))?;
                    docs.push(((*k).clone(), bytes));
                    if let Some(d) = DocId::from_key(k) {
                        units.insert(d.unit);
                    }
                }
                let seen = units
                    .into_iter()
                    .filter_map(|u| figures.last_seen_ms(&u).map(|t| (u, t)))
                    .collect();
                if !docs.is_empty() {
                    out.push(Payload::Summaries { docs, seen });
                }
            }
            out
        };
        for p in batches {
            if let Err(e) = self.append_local(p) {
                // Signed at the next page, or at the next start.
                self.unsigned.extend(keys);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl crate::Figures {
    /// The level records stop at, when this node is above it: it holds no student or
    /// staff record, only the figures offices of that level signed (a look-up here says
    /// so). `None` at and below that level, or when records travel to the root.
    pub fn records_kept_below(&self) -> Option<&str> {
        let level = self.records_up_to.as_deref()?;
        let at_or_below = self
            .dir
            .ancestors_or_self(&self.unit)
            .iter()
            .any(|u| self.dir.level(u) == Some(level));
        (!at_or_below).then_some(level)
    }
}
