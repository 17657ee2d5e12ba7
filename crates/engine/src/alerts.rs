//! Alerts (CONTRACT Part 2 `GET /api/v1/alerts`): rules every node evaluates over what it
//! holds, offline too, from its published [`Figures`]. An alert's id is made of its rule,
//! its unit and what the condition is about, so the same condition has the same id at
//! every node that sees it.
//!
//! An acknowledgement is a signed entry of the acknowledging node's log
//! ([`Payload::AlertAck`]) that travels up: every ancestor shows it. An alert nobody has
//! acknowledged within `escalate_after_days` shows one severity higher at the nodes above
//! its unit.

use std::collections::BTreeMap;

use eduioc_protocol::{Entry, Payload};
use eduioc_records::{class_cap, grade_code};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::forecast::next_year;
use crate::stats::rfc3339;
use crate::targets::meets;
use crate::views::Figures;
use crate::{tables, Engine, Error, Result};

const DAY_MS: i64 = 86_400_000;

/// The node's alert settings (`node.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertSettings {
    /// A school whose newest data is older than this many days is `not_reporting`.
    pub not_reporting_days: u32,
    /// An alert not acknowledged within this many days shows one severity higher above
    /// its unit.
    pub escalate_after_days: u32,
    /// When a school's report for `HK1` is due, as (month, day) of the school year (the
    /// end of that day, Vietnam time): a school that has not submitted it (or whose report
    /// was returned) raises `report_overdue` after it. `None`: no deadline, no alert.
    pub report_due_hk1: Option<(u32, u32)>,
    /// The same for `HK2`.
    pub report_due_hk2: Option<(u32, u32)>,
}

impl Default for AlertSettings {
    /// 7 and 3 days (CONTRACT Part 2).
    fn default() -> Self {
        AlertSettings {
            not_reporting_days: 7,
            escalate_after_days: 3,
            report_due_hk1: None,
            report_due_hk2: None,
        }
    }
}

/// An acknowledgement of an alert, as every node above the acknowledging one holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlertAck {
    /// The unit that acknowledged it.
    pub by: String,
    /// When (Unix ms).
    pub at_ms: i64,
    /// What it said.
    pub note: String,
}

/// A fork (two entries for one seq of one log) this node quarantined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForkSeen {
    /// The author's unit.
    pub unit: String,
    /// The seq.
    pub seq: u64,
    /// The quarantined entry's time (Unix ms).
    pub at_ms: i64,
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs attention.
    Warning,
    /// Needs action now.
    Critical,
}

impl Severity {
    fn higher(self) -> Severity {
        match self {
            Severity::Info => Severity::Warning,
            _ => Severity::Critical,
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Alert {
    /// The same at every node that sees the condition.
    pub id: String,
    /// The rule (`class_over_size`, `target_not_met`, `not_reporting`, `dropout_rising`,
    /// `fork`).
    #[schemars(extend("enum" = ["class_over_size", "target_not_met", "not_reporting", "duplicate_student", "dropout_rising", "fork", "report_overdue"]))]
    pub rule: &'static str,
    /// The unit concerned.
    pub unit: String,
    /// As shown here (escalated above the unit when unacknowledged for long).
    pub severity: Severity,
    /// Since when the condition holds, as far as this node can tell (RFC 3339).
    pub since: String,
    /// A sentence for people.
    pub message: String,
    /// The rule's details.
    pub details: serde_json::Value,
    /// The acknowledgement, if any.
    pub acknowledged: Option<AckView>,
}

/// An acknowledgement as `alerts` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AckView {
    /// The unit that acknowledged.
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    /// Its note.
    pub note: String,
}

/// Most bytes of an acknowledgement's note.
pub const MAX_ACK_NOTE_BYTES: usize = 2000;

/// Stores the acknowledgement an appended entry of `unit` carries: the earliest one of an
/// alert stands, whatever order they arrive in.
pub(crate) fn apply(txn: &mut eduioc_store::WriteTxn<'_>, entry: &Entry, unit: &str) -> Result<()> {
    let Payload::AlertAck { id, note } = &entry.body.payload else {
        return Ok(());
    };
    let ack = AlertAck {
        by: unit.to_string(),
        at_ms: entry.body.timestamp_ms,
        note: note.clone(),
    };
    let keep = match txn.get(&tables::ALERT_ACKS, id)? {
        Some(was) => (ack.at_ms, &ack.by) < (was.at_ms, &was.by),
        None => true,
    };
    if keep {
        txn.put(&tables::ALERT_ACKS, id, &ack)?;
    }
    Ok(())
}

/// The alerts of one evaluation, before acknowledgements and escalation.
struct Found {
    rule: &'static str,
    unit: String,
    key: String,
    severity: Severity,
    since_ms: i64,
    message: String,
    details: serde_json::Value,
}

impl Figures {
    /// The alerts of `unit`'s subtree (this node's unit when `None`) for school year
    /// `year` (the current one when `None`), most severe first, then oldest first.
    pub fn alerts(&self, unit: Option<&str>, year: Option<&str>) -> Result<Vec<Alert>> {
        let year = year.map_or_else(|| self.school_year(), str::to_string);
        crate::check_year(&year)?;
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let now = self.clock.now_ms();
        let mut found = Vec::new();
        let previous = next_year(&year, -1).unwrap_or_default();
        // (personal id, school index) of every enrolled student who has one, for
        // `duplicate_student`, gathered in the same walk.
        let mut schools: Vec<String> = Vec::new();
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        self.visit(unit, &year, |u, is_school, docs| {
            if !is_school {
                return;
            }
            if let Some(students) = docs[0] {
                let i = schools.len() as u32;
                schools.push(u.to_string());
                pairs.extend(students.personal_ids.iter().map(|p| (*p, i)));
            }
            let seen = self.seen.get(u).copied();
            let since = seen.unwrap_or(0);
            let [students, _, classes, ..] = docs;
            if let (Some(students), Some(classes)) = (students, classes) {
                for (class, grade) in &classes.class_grades {
                    let size = students.by_class.get(class).copied().unwrap_or(0);
                    let Some(cap) = class_cap(*grade).filter(|cap| size > *cap) else {
                        continue;
                    };
                    let grade = grade_code(*grade);
                    found.push(Found {
                        rule: "class_over_size",
                        unit: u.to_string(),
                        key: format!("{year}:{class}"),
                        severity: Severity::Warning,
                        since_ms: since,
                        message: format!(
                            "class {class} (grade {grade}) has {size} students, above the cap of {cap}"
                        ),
                        details: json!({"class_id": class, "grade": grade, "size": size, "cap": cap}),
                    });
                }
            }
            let limit = i64::from(self.alert_settings.not_reporting_days) * DAY_MS;
            let held = docs.iter().flatten().count() > 0;
            let stale = seen.is_some_and(|t| now - t > limit);
            if !held || stale {
                let message = match seen {
                    None => "no data from this school has reached this node".to_string(),
                    Some(t) => format!(
                        "the newest data from this school is from {}",
                        rfc3339(t)
                    ),
                };
                found.push(Found {
                    rule: "not_reporting",
                    unit: u.to_string(),
                    key: year.clone(),
                    severity: if held { Severity::Warning } else { Severity::Critical },
                    since_ms: seen.map_or(0, |t| t + limit),
                    message,
                    details: json!({"last_data_at": seen.map(rfc3339)}),
                });
            }
            let dues = [
                ("HK1", self.alert_settings.report_due_hk1),
                ("HK2", self.alert_settings.report_due_hk2),
            ];
            for (term, due) in dues {
                let Some(due) = due.and_then(|d| crate::reports::due_ms(&year, d)) else {
                    continue;
                };
                let status = self.report_status(u, &year, term);
                if now > due && matches!(status, "not_submitted" | "returned") {
                    found.push(Found {
                        rule: "report_overdue",
                        unit: u.to_string(),
                        key: format!("{year}:{term}"),
                        severity: Severity::Warning,
                        since_ms: due,
                        message: format!(
                            "the {term} report for {year} was due on {} and is {status}",
                            rfc3339(due)
                        ),
                        details: json!({"term": term, "due": rfc3339(due), "status": status}),
                    });
                }
            }
            // The school's students document of each year.
            let rate = |s: Option<&eduioc_records::Summary>| {
                let s = s?;
                let all = s.enrolled + s.dropped_out;
                (all > 0).then(|| 100.0 * s.dropped_out as f64 / all as f64)
            };
            let mut before = None;
            self.visit_one(u, &previous, |d| before = rate(d[0]));
            if let (Some(now_rate), Some(before)) = (rate(students), before) {
                if now_rate > before + 1.0 {
                    found.push(Found {
                        rule: "dropout_rising",
                        unit: u.to_string(),
                        key: year.clone(),
                        severity: Severity::Warning,
                        since_ms: since,
                        message: format!(
                            "dropout rate {now_rate:.1}% in {year}, up from {before:.1}% in {previous}"
                        ),
                        details: json!({"rate": now_rate, "previous_rate": before}),
                    });
                }
            }
        });
        found.extend(self.duplicates(&schools, pairs, &year));
        for (t, actual) in self.targets_in(unit, &year) {
            if meets(&t.op, t.value, actual) == Some(false) {
                found.push(Found {
                    rule: "target_not_met",
                    unit: t.unit.clone(),
                    key: t.id.clone(),
                    severity: Severity::Warning,
                    since_ms: t.set_at_ms,
                    message: format!(
                        "{} is {} against a target of {} {} set by {}",
                        t.indicator,
                        actual.map_or_else(String::new, |a| format!("{a:.2}")),
                        t.op,
                        t.value,
                        t.set_by
                    ),
                    details: json!({
                        "target_id": t.id, "indicator": t.indicator, "actual": actual,
                        "op": t.op, "value": t.value,
                    }),
                });
            }
        }
        for f in &self.forks {
            if self.dir.is_ancestor_or_self(unit, &f.unit) {
                found.push(Found {
                    rule: "fork",
                    unit: f.unit.clone(),
                    key: f.seq.to_string(),
                    severity: Severity::Critical,
                    since_ms: f.at_ms,
                    message: format!(
                        "two different entries claim seq {} of {}'s log; the second is quarantined",
                        f.seq, f.unit
                    ),
                    details: json!({"seq": f.seq}),
                });
            }
        }
        let escalate = i64::from(self.alert_settings.escalate_after_days) * DAY_MS;
        let mut out: Vec<Alert> = found
            .into_iter()
            .map(|f| {
                let id = format!("{}:{}:{}", f.rule, f.unit, f.key);
                let ack = self.alert_acks.get(&id);
                let above = f.unit != self.unit;
                let severity = if ack.is_none() && above && now - f.since_ms > escalate {
                    f.severity.higher()
                } else {
                    f.severity
                };
                Alert {
                    acknowledged: ack.map(|a| AckView {
                        by: a.by.clone(),
                        at: rfc3339(a.at_ms),
                        note: a.note.clone(),
                    }),
                    id,
                    rule: f.rule,
                    unit: f.unit,
                    severity,
                    since: rfc3339(f.since_ms),
                    message: f.message,
                    details: f.details,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (std::cmp::Reverse(a.severity), &a.since, &a.id).cmp(&(
                std::cmp::Reverse(b.severity),
                &b.since,
                &b.id,
            ))
        });
        Ok(out)
    }

    /// `duplicate_student`: personal ids enrolled at two or more `schools` (`pairs`: each
    /// enrolled student's personal id and the index of its school), each raised at the
    /// lowest unit whose subtree holds them all.
    fn duplicates(&self, schools: &[String], mut pairs: Vec<(u64, u32)>, year: &str) -> Vec<Found> {
        // A million students sort in well under a second.
        pairs.sort_unstable();
        pairs.dedup();
        let mut out = Vec::new();
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            if group.len() < 2 {
                continue;
            }
            let mut names: Vec<&str> = group
                .iter()
                .map(|(_, s)| schools[*s as usize].as_str())
                .collect();
            names.sort_unstable();
            let schools = names;
            let at = self.lowest_common(&schools);
            let pid = format!("{:012}", group[0].0);
            let since = schools
                .iter()
                .filter_map(|s| self.seen.get(*s).copied())
                .max()
                .unwrap_or(0);
            out.push(Found {
                rule: "duplicate_student",
                unit: at,
                key: format!("{year}:{pid}"),
                severity: Severity::Warning,
                since_ms: since,
                message: format!(
                    "personal id {pid} is enrolled at {} schools: {}",
                    schools.len(),
                    schools.join(", ")
                ),
                details: json!({"personal_id": pid, "schools": schools}),
            });
        }
        out
    }

    /// The lowest unit whose subtree holds every one of `units`.
    fn lowest_common(&self, units: &[&str]) -> String {
        let chains: Vec<Vec<String>> = units
            .iter()
            .map(|u| {
                let mut c = self.dir.ancestors_or_self(u);
                c.reverse();
                c
            })
            .collect();
        let mut at = String::new();
        for (i, u) in chains[0].iter().enumerate() {
            if chains.iter().all(|c| c.get(i) == Some(u)) {
                at = u.clone();
            } else {
                break;
            }
        }
        at
    }

    /// The alert `id` if this node lists it for any school year it holds.
    pub fn find_alert(&self, id: &str) -> Option<Alert> {
        let mut years = self.school_years();
        years.push(self.school_year());
        years.dedup();
        years.into_iter().find_map(|y| {
            self.alerts(None, Some(&y))
                .ok()?
                .into_iter()
                .find(|a| a.id == id)
        })
    }
}

impl Engine {
    /// Sets the alert rules' settings (from `node.toml`).
    pub fn set_alert_settings(&mut self, settings: AlertSettings) {
        self.views.figures_mut().alert_settings = settings;
    }

    /// Acknowledges alert `id` (one this node lists) with `note`: a signed entry that
    /// travels up, so every ancestor shows it.
    pub fn ack_alert(&mut self, id: &str, note: &str) -> Result<AckView> {
        self.guarded(|e| {
            if note.len() > MAX_ACK_NOTE_BYTES {
                return Err(Error::Invalid(format!(
                    "the note is {} bytes; at most {MAX_ACK_NOTE_BYTES}",
                    note.len()
                )));
            }
            if e.views.figures().find_alert(id).is_none() {
                return Err(Error::NotFound(format!("no alert {id:?} is listed here")));
            }
            let entry = e.append_local(Payload::AlertAck {
                id: id.to_string(),
                note: note.to_string(),
            })?;
            let stood = e.views.figures().alert_acks.get(id).cloned();
            let a = stood.unwrap_or(AlertAck {
                by: e.unit.clone(),
                at_ms: entry.body.timestamp_ms,
                note: note.to_string(),
            });
            Ok(AckView {
                by: a.by,
                at: rfc3339(a.at_ms),
                note: a.note,
            })
        })
    }
}

/// The forks a store holds quarantined, by unit and seq.
pub(crate) fn forks(
    store: &eduioc_store::Store,
    dir: &eduioc_protocol::Directory,
) -> Result<Vec<ForkSeen>> {
    let mut out: BTreeMap<(String, u64), i64> = BTreeMap::new();
    for q in store.quarantined()? {
        let author = eduioc_protocol::NodeId(q.author);
        let Some(unit) = dir.unit_of(&author) else {
            continue;
        };
        let at = Entry::decode(&q.bytes).map_or(0, |e| e.body.timestamp_ms);
        out.entry((unit.to_string(), q.seq)).or_insert(at);
    }
    Ok(out
        .into_iter()
        .map(|((unit, seq), at_ms)| ForkSeen { unit, seq, at_ms })
        .collect())
}
