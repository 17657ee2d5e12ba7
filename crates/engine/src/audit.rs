//! The audit trail: who did what, when, at every node of the subtree.
//!
//! Every user action at a node (a login or a failed one, an import, an edit, a target, an
//! alert acknowledgement, a notification, an account change) is a signed entry of that
//! node's log ([`Payload::Audit`], [`Engine::audit`]). It travels up like every entry, so
//! a node holds the trail of its own users and of every node below it. The commit that
//! stores such an entry indexes it in [`tables::AUDIT`], newest first by the author's
//! clock; a query reads a page of that index ([`Lookups::audit`]).
//!
//! The index is a copy for finding rows; what the trail says is the entry. Every row a
//! query returns is checked against the stored log ([`AuditRow::check`]): the entry's
//! signature, the row against the entry, and the backlink of the author's next entry,
//! when held, against the entry's hash. A changed byte in a stored entry, an entry
//! swapped for another, or an index row that says something else is reported on that
//! row: nothing in the trail can be changed without it showing.

use eduioc_protocol::{Entry, NodeId, Payload};
use eduioc_store::WriteTxn;
use serde::{Deserialize, Serialize};

use crate::stats::rfc3339;
use crate::tables;
use crate::{Engine, Error, Lookups, Result};

/// Most rows of one page of the trail.
pub const MAX_AUDIT_PAGE: usize = 500;
/// Most index rows one page reads (a filter that matches few rows pages through the
/// index instead of reading all of it per request).
const MAX_VISIT: usize = 20_000;

/// One action as indexed (the key is `<author ms, 16 digits>/<unit>/<seq, 20 digits>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Indexed {
    unit: String,
    author: NodeId,
    seq: u64,
    at_ms: i64,
    user: String,
    action: String,
    detail: String,
}

/// One action of the trail, as a query returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AuditRow {
    /// The unit whose node the action was done at.
    pub unit: String,
    /// Seq of the entry in that node's log.
    pub seq: u64,
    /// When, by that node's clock (RFC 3339).
    pub at: String,
    /// The same, Unix ms.
    #[serde(skip)]
    pub at_ms: i64,
    /// The user (`api` for the JSON API's token).
    pub user: String,
    /// What, as a code (`login`, `import`, …).
    pub action: String,
    /// What it was about.
    pub detail: String,
    /// `"ok"` when the stored entry's signature, the row and the link to the author's
    /// next entry check out; otherwise what does not.
    pub check: String,
}

/// What to list of the trail.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only actions at this unit and below (this node's unit when `None`).
    pub unit: Option<String>,
    /// Only this user's actions.
    pub user: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Most rows (at most [`MAX_AUDIT_PAGE`]).
    pub limit: usize,
}

/// A page of the trail, newest first.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct AuditPage {
    /// The rows.
    pub rows: Vec<AuditRow>,
    /// The cursor of the next page, when there may be one.
    pub next: Option<String>,
    /// Rows of this page whose check failed.
    pub broken: usize,
}

/// The index key of an action: newest last, so a backward scan lists newest first.
fn key(at_ms: i64, unit: &str, seq: u64) -> String {
    format!("{:016}/{unit}/{seq:020}", at_ms.max(0))
}

/// Indexes the action an appended entry of `unit` records, inside the page's transaction.
pub(crate) fn apply(txn: &mut WriteTxn<'_>, entry: &Entry, unit: &str) -> Result<()> {
    let Payload::Audit {
        user,
        action,
        detail,
    } = &entry.body.payload
    else {
        return Ok(());
    };
    let at_ms = entry.body.timestamp_ms;
    let row = Indexed {
        unit: unit.to_string(),
        author: entry.author(),
        seq: entry.seq(),
        at_ms,
        user: user.clone(),
        action: action.clone(),
        detail: detail.clone(),
    };
    txn.put(&tables::AUDIT, &key(at_ms, unit, entry.seq()), &row)?;
    Ok(())
}

impl Engine {
    /// Records that `user` did `action` (a code: lowercase letters and `_`) about
    /// `detail`, as a signed entry of this node's log. `Invalid` when a part is too long
    /// or the action is not a code.
    pub fn audit(&mut self, user: &str, action: &str, detail: &str) -> Result<()> {
        let payload = Payload::Audit {
            user: user.to_string(),
            action: action.to_string(),
            detail: detail.to_string(),
        };
        if let Err(r) = eduioc_protocol::validate::check_audit(&payload) {
            return Err(Error::Invalid(r.to_string()));
        }
        self.guarded(|e| e.append_local(payload).map(|_| ()))
    }
}

impl Indexed {
    /// What the stored log says of this row: `"ok"`, or what is wrong.
    fn check(&self, view: &eduioc_store::View, dir: &eduioc_protocol::Directory) -> String {
        if dir.unit_of(&self.author) != Some(self.unit.as_str()) {
            return "the index names another unit than the entry's signer".into();
        }
        let author = self.author.as_bytes();
        let entry = match view.entry(author, self.seq) {
            Ok(Some(bytes)) => match Entry::decode(&bytes) {
                Ok(e) => e,
                Err(e) => return format!("the stored entry does not decode: {e}"),
            },
            Ok(None) => return "the entry is not in the log held here".into(),
            Err(e) => return format!("the log could not be read: {e}"),
        };
        if !entry.verify() {
            return "the stored entry's signature does not verify: it was changed".into();
        }
        let same = matches!(
            &entry.body.payload,
            Payload::Audit { user, action, detail }
                if *user == self.user && *action == self.action && *detail == self.detail
        ) && entry.author() == self.author
            && entry.body.timestamp_ms == self.at_ms;
        if !same {
            return "the index says something the signed entry does not".into();
        }
        match view.entry(author, self.seq + 1) {
            Ok(Some(bytes)) => match Entry::decode(&bytes) {
                Ok(next) if next.body.backlink == Some(entry.hash()) => "ok".into(),
                Ok(_) => format!(
                    "entry {} of the same log does not link to this one: the log was changed",
                    self.seq + 1
                ),
                Err(e) => format!("entry {} does not decode: {e}", self.seq + 1),
            },
            // The latest entry of its log held here: its signature is all there is.
            Ok(None) => "ok".into(),
            Err(e) => format!("the log could not be read: {e}"),
        }
    }
}

impl Lookups {
    /// A page of the audit trail of `q.unit`'s subtree, newest first, each row checked
    /// against the stored log. `UnknownUnit` for a unit outside this node's subtree.
    pub fn audit(&self, q: &AuditQuery) -> Result<AuditPage> {
        let figures = self.views.figures();
        let dir = figures.directory();
        let here = figures.unit().to_string();
        let unit = q.unit.clone().unwrap_or_else(|| here.clone());
        if !dir.is_ancestor_or_self(&here, &unit) {
            return Err(Error::UnknownUnit(unit));
        }
        let limit = q.limit.clamp(1, MAX_AUDIT_PAGE);
        let view = self.reader.view()?;
        let (found, resume) = view.scan_back_bounded(
            &tables::AUDIT,
            "",
            q.cursor.as_deref(),
            limit + 1,
            MAX_VISIT,
            |_, r: &Indexed| {
                q.user.as_deref().is_none_or(|u| u == r.user)
                    && q.action.as_deref().is_none_or(|a| a == r.action)
                    && dir.is_ancestor_or_self(&unit, &r.unit)
            },
        )?;
        let more = found.len() > limit;
        let mut page = AuditPage::default();
        for (k, r) in found.into_iter().take(limit) {
            let check = r.check(&view, dir);
            page.broken += usize::from(check != "ok");
            page.next = Some(k);
            page.rows.push(AuditRow {
                unit: r.unit,
                seq: r.seq,
                at: rfc3339(r.at_ms),
                at_ms: r.at_ms,
                user: r.user,
                action: r.action,
                detail: r.detail,
                check,
            });
        }
        if !more {
            // Stopped after reading `MAX_VISIT` rows: the next page goes on from there.
            page.next = resume;
        }
        Ok(page)
    }
}
