//! Term reports: the signed replacement of the paper seal ("đóng dấu") on a school's
//! semester report.
//!
//! A school submits its report for a term ([`Engine::report_step`] with `submit`): a
//! [`Payload::Report`] entry carrying the term's figures ([`report_figures`]) and the
//! heads of the school's documents of that year they come from. Its parent returns it
//! with a comment or approves it; the root accepts it; each step is a signed entry of the
//! node that took it, travelling up with its log and down to the school. Every node keeps
//! the steps it holds per school, year and term ([`tables::REPORTS`]), in the order they
//! were taken, and publishes them in the figures: the status is the last step's, the
//! submission stays as it was signed, and [`Figures::reports`] sets it beside the figures
//! as this node computes them now: what changed since is shown at every level.

use std::collections::BTreeMap;

use eduioc_protocol::entry::Number;
use eduioc_protocol::{DocId, Entry, NodeId, Payload};
use serde::{Deserialize, Serialize};

use crate::stats::rfc3339;
use crate::{tables, Engine, Error, Figures, Result};

/// One step of a report, as held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Step {
    /// `submit`, `return`, `approve` or `accept`.
    pub step: String,
    /// The unit whose node took it.
    pub unit: String,
    /// Its key and the entry's seq.
    pub author: NodeId,
    /// The entry's seq in its author's log.
    pub seq: u64,
    /// When, by its node's clock (Unix ms).
    pub at_ms: i64,
    /// What it says.
    pub comment: String,
    /// On a submission: the figures submitted.
    pub figures: Vec<(String, f64)>,
    /// On a submission: the heads of the documents they were computed from, by key.
    pub heads: Vec<(String, Vec<[u8; 32]>)>,
}

/// The steps held of one school's report for one term, in the order taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Steps(pub(crate) Vec<Step>);

/// The key of a report: `<school>/<year>/<term>`.
fn key(school: &str, year: &str, term: &str) -> String {
    format!("{school}/{year}/{term}")
}

/// Stores the step an appended entry of `unit` takes, inside the page's transaction.
pub(crate) fn apply(txn: &mut eduioc_store::WriteTxn<'_>, entry: &Entry, unit: &str) -> Result<()> {
    let Payload::Report {
        school,
        year,
        term,
        step,
        comment,
        figures,
        heads,
    } = &entry.body.payload
    else {
        return Ok(());
    };
    let k = key(school, year, term);
    let mut steps: Steps = txn.get(&tables::REPORTS, &k)?.unwrap_or_default();
    if steps
        .0
        .iter()
        .any(|s| s.author == entry.author() && s.seq == entry.seq())
    {
        return Ok(());
    }
    steps.0.push(Step {
        step: step.clone(),
        unit: unit.to_string(),
        author: entry.author(),
        seq: entry.seq(),
        at_ms: entry.body.timestamp_ms,
        comment: comment.clone(),
        figures: figures.iter().map(|(n, v)| (n.clone(), v.0)).collect(),
        heads: heads.clone(),
    });
    // Whatever order they arrive in, the steps are in the order they were taken.
    steps
        .0
        .sort_by(|a, b| (a.at_ms, &a.unit, a.seq).cmp(&(b.at_ms, &b.unit, b.seq)));
    txn.put(&tables::REPORTS, &k, &steps)?;
    Ok(())
}

/// The end of day (month, day) of school year `year` in Vietnam time (UTC+7), Unix ms: a
/// month from September on is in the year's first calendar year, the rest in its second.
pub(crate) fn due_ms(year: &str, (month, day): (u32, u32)) -> Option<i64> {
    let first: i32 = year.get(..4)?.parse().ok()?;
    let y = if month >= 9 { first } else { first + 1 };
    let next = chrono::NaiveDate::from_ymd_opt(y, month, day)?.succ_opt()?;
    Some(next.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis() - 7 * 3_600_000 - 1)
}

/// The status a report is in after its last step.
fn status(steps: &[Step]) -> &'static str {
    match steps.last().map(|s| s.step.as_str()) {
        Some("submit") => "submitted",
        Some("return") => "returned",
        Some("approve") => "approved",
        Some("accept") => "accepted",
        _ => "not_submitted",
    }
}

/// The figures a school's report for a term is made of, as `figures` computes them:
/// the school's counts for the year, then every indicator with a value for the term.
/// A submission signs them; a reader compares them with what it computes now.
pub fn report_figures(
    figures: &Figures,
    school: &str,
    year: &str,
    term: &str,
) -> Result<Vec<(String, f64)>> {
    let s = figures.stats_in(Some(school), year)?;
    let mut out = vec![
        ("enrolled".to_string(), s.students.enrolled as f64),
        ("dropped_out".to_string(), s.students.dropped_out as f64),
        ("classes".to_string(), s.classes as f64),
        ("staff_active".to_string(), s.staff.active as f64),
        ("teachers".to_string(), s.staff.teachers as f64),
    ];
    let ind = figures.indicators(Some(school), Some(year), Some(term))?;
    out.extend(
        ind.indicators
            .into_iter()
            .filter_map(|i| i.value.map(|v| (i.code.to_string(), v))),
    );
    Ok(out)
}

/// A figure that differs from what was submitted.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Changed {
    /// Its name.
    pub name: String,
    /// As submitted (`None`: not in the submission).
    pub submitted: Option<f64>,
    /// As computed now (`None`: no value now).
    pub now: Option<f64>,
}

/// A step as shown.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StepView {
    /// `submit`, `return`, `approve` or `accept`.
    pub step: String,
    /// The unit that took it.
    pub unit: String,
    /// When (RFC 3339).
    pub at: String,
    /// What it says.
    pub comment: String,
}

/// One school's report for one term, at this node.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ReportView {
    /// The school.
    pub school: String,
    /// Its name.
    pub name: String,
    /// The school year.
    pub year: String,
    /// The term.
    pub term: String,
    /// `not_submitted`, `submitted`, `returned`, `approved` or `accepted`.
    #[schemars(extend("enum" = ["not_submitted", "submitted", "returned", "approved", "accepted"]))]
    pub status: &'static str,
    /// The latest submission's figures, as signed.
    pub submitted: Vec<(String, f64)>,
    /// When it was submitted (RFC 3339).
    pub submitted_at: Option<String>,
    /// Figures that differ now from the latest submission (empty: none, or nothing
    /// submitted).
    pub changed: Vec<Changed>,
    /// Every step held, in the order taken.
    pub history: Vec<StepView>,
}

impl ReportView {
    /// Whether the school's data changed after the report was approved or accepted.
    pub fn changed_since_approval(&self) -> bool {
        matches!(self.status, "approved" | "accepted") && !self.changed.is_empty()
    }
}

/// What differs between `then` and `now`, in `now`'s order, then what only `then` has.
fn diff(then: &[(String, f64)], now: &[(String, f64)]) -> Vec<Changed> {
    let was: BTreeMap<&str, f64> = then.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let is: BTreeMap<&str, f64> = now.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let same = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let mut out: Vec<Changed> = now
        .iter()
        .filter(|(n, v)| !was.get(n.as_str()).is_some_and(|w| same(*w, *v)))
        .map(|(n, v)| Changed {
            name: n.clone(),
            submitted: was.get(n.as_str()).copied(),
            now: Some(*v),
        })
        .collect();
    out.extend(
        then.iter()
            .filter(|(n, _)| !is.contains_key(n.as_str()))
            .map(|(n, v)| Changed {
                name: n.clone(),
                submitted: Some(*v),
                now: None,
            }),
    );
    out
}

impl Figures {
    /// The status of `school`'s report for `year` and `term` at this node.
    pub(crate) fn report_status(&self, school: &str, year: &str, term: &str) -> &'static str {
        status(
            self.reports
                .get(&key(school, year, term))
                .map_or(&[][..], |s| &s.0[..]),
        )
    }

    /// The reports of every school of `unit`'s subtree (this node's unit when `None`) for
    /// school year `year` and `term`, in subtree order, each with its status, the latest
    /// submission and what differs from it now.
    pub fn reports(
        &self,
        unit: Option<&str>,
        year: Option<&str>,
        term: &str,
    ) -> Result<Vec<ReportView>> {
        let year = year.map_or_else(|| self.school_year(), str::to_string);
        crate::check_year(&year)?;
        check_term(term)?;
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let mut out = Vec::new();
        for school in self.dir.subtree(unit) {
            if self.dir.level(&school) != Some("school") {
                continue;
            }
            let steps = self
                .reports
                .get(&key(&school, &year, term))
                .map_or(&[][..], |s| &s.0[..]);
            let submission = steps.iter().rev().find(|s| s.step == "submit");
            let changed = match submission {
                Some(s) => diff(&s.figures, &report_figures(self, &school, &year, term)?),
                None => Vec::new(),
            };
            out.push(ReportView {
                name: self.dir.name(&school).unwrap_or(&school).to_string(),
                school,
                year: year.clone(),
                term: term.to_string(),
                status: status(steps),
                submitted: submission.map(|s| s.figures.clone()).unwrap_or_default(),
                submitted_at: submission.map(|s| rfc3339(s.at_ms)),
                changed,
                history: steps
                    .iter()
                    .map(|s| StepView {
                        step: s.step.clone(),
                        unit: s.unit.clone(),
                        at: rfc3339(s.at_ms),
                        comment: s.comment.clone(),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}

fn check_term(term: &str) -> Result<()> {
    if matches!(term, "HK1" | "HK2" | "CN") {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "term must be HK1, HK2 or CN, got {term:?}"
        )))
    }
}

impl Engine {
    /// Takes `step` on `school`'s report for `year` and `term`: `submit` at the school
    /// (the term's figures as this node computes them, and the heads of its documents of
    /// that year), `return` (with a comment saying why) or `approve` at its parent,
    /// `accept` at the root. Refused (`Forbidden`) at a node that may not take that step,
    /// and (`Busy`) when the report is not in a state the step follows: a return or an
    /// approval needs a submission, an acceptance an approval, and an accepted report is
    /// final.
    pub fn report_step(
        &mut self,
        school: &str,
        year: &str,
        term: &str,
        step: &str,
        comment: &str,
    ) -> Result<ReportView> {
        crate::check_year(year)?;
        check_term(term)?;
        if comment.len() > eduioc_protocol::validate::MAX_REPORT_COMMENT_BYTES {
            return Err(Error::Invalid(format!(
                "the comment is {} bytes; at most {}",
                comment.len(),
                eduioc_protocol::validate::MAX_REPORT_COMMENT_BYTES
            )));
        }
        if !self.dir.is_ancestor_or_self(&self.unit, school)
            || self.dir.level(school) != Some("school")
        {
            return Err(Error::UnknownUnit(school.to_string()));
        }
        let now = {
            let figures = self.views.figures();
            let steps = figures
                .reports
                .get(&key(school, year, term))
                .map_or(&[][..], |s| &s.0[..]);
            status(steps)
        };
        // The same rule every node that receives the step checks.
        match eduioc_protocol::validate::may_take_report_step(&self.dir, &self.unit, school, step) {
            Ok(()) => {}
            Err(eduioc_protocol::Reject::Malformed(m)) => return Err(Error::Invalid(m)),
            Err(other) => return Err(Error::Forbidden(other.to_string())),
        }
        let follows = match step {
            "submit" => now != "accepted" && now != "approved",
            "return" | "approve" => now == "submitted",
            _ => now == "approved",
        };
        if !follows {
            return Err(Error::Busy(format!(
                "the report of {school} for {year} {term} is {now}: it cannot be {}",
                match step {
                    "submit" => "submitted again",
                    "return" => "returned",
                    "approve" => "approved",
                    _ => "accepted",
                }
            )));
        }
        if step == "return" && comment.trim().is_empty() {
            return Err(Error::Invalid(
                "a returned report says why: write a comment".into(),
            ));
        }
        let (figures, heads) = if step == "submit" {
            let figures = report_figures(&self.views.figures(), school, year, term)?;
            let mut heads = Vec::new();
            for c in eduioc_records::Collection::ALL {
                let doc = DocId {
                    unit: school.to_string(),
                    collection: c.as_str().to_string(),
                    year: year.to_string(),
                };
                // Loaded into the cache if stored; its heads read there.
                if self.with_doc(&doc, |_| ())?.is_some() {
                    if let Some(d) = self.docs.get(&doc.key()) {
                        let h = d.heads().into_iter().map(|h| h.0).collect();
                        heads.push((doc.key(), h));
                    }
                }
            }
            if figures.iter().take(2).all(|(_, v)| *v == 0.0) {
                return Err(Error::Unprocessable(format!(
                    "{school} holds no students for {year}: import them before submitting"
                )));
            }
            (figures, heads)
        } else {
            (Vec::new(), Vec::new())
        };
        self.guarded(|e| {
            e.append_local(Payload::Report {
                school: school.to_string(),
                year: year.to_string(),
                term: term.to_string(),
                step: step.to_string(),
                comment: comment.trim().to_string(),
                figures: figures.into_iter().map(|(n, v)| (n, Number(v))).collect(),
                heads,
            })
        })?;
        let figures = self.views.figures();
        figures
            .reports(Some(school), Some(year), term)?
            .pop()
            .ok_or_else(|| Error::UnknownUnit(school.to_string()))
    }
}
