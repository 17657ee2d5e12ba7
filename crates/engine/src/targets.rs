//! Targets (CONTRACT Part 2 `PUT`/`GET /api/v1/targets`): what an office expects an
//! indicator of a unit of its subtree to reach in a school year. A target is a signed entry
//! of the office's log ([`Payload::Target`]): it travels down to the unit's node and up
//! with the office's log, so every node between holds it, offline too. The same office
//! setting the same (unit, year, indicator) again replaces its target; the earlier values
//! are kept as its history.
//!
//! Every node keeps the targets it holds in the table `targets` and publishes them in its
//! [`Figures`], where `GET /targets` reads them beside the indicators, without the engine.

use eduioc_protocol::entry::Number;
use eduioc_protocol::{Entry, Payload};
use serde::{Deserialize, Serialize};

use crate::indicators::is_indicator;
use crate::stats::rfc3339;
use crate::views::Figures;
use crate::{check_year, tables, Engine, Error, Result};

/// A target as a node holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Target {
    /// `<office>:<unit>:<year>:<indicator>`: the same at every node, and kept when the
    /// office replaces the target.
    pub id: String,
    /// The unit it is for.
    pub unit: String,
    /// The school year.
    pub year: String,
    /// The indicator's code.
    pub indicator: String,
    /// `<=` or `>=`.
    pub op: String,
    /// The value to reach.
    pub value: f64,
    /// The office that set it.
    pub set_by: String,
    /// When it was set (the entry's time, Unix ms).
    pub set_at_ms: i64,
    /// The seq of the entry that set it in the office's log.
    pub seq: u64,
    /// Earlier values, oldest first: (op, value, set at Unix ms).
    pub history: Vec<(String, f64, i64)>,
}

/// A target with how its unit stands against it, as `GET /targets` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TargetStatus {
    /// The target's id.
    pub id: String,
    /// The unit.
    pub unit: String,
    /// The school year.
    pub year: String,
    /// The indicator's code.
    pub indicator: String,
    /// `<=` or `>=`.
    pub op: String,
    /// The value to reach.
    pub value: f64,
    /// The office that set it.
    pub set_by: String,
    /// When (RFC 3339).
    pub set_at: String,
    /// The indicator as this node computes it (`None`: no data).
    pub actual: Option<f64>,
    /// `met`, `not_met` or `no_data`.
    #[schemars(extend("enum" = ["met", "not_met", "no_data"]))]
    pub status: &'static str,
    /// Earlier values, oldest first.
    pub history: Vec<TargetValue>,
}

/// An earlier value of a target.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TargetValue {
    /// `<=` or `>=`.
    pub op: String,
    /// The value.
    pub value: f64,
    /// When it was set (RFC 3339).
    pub set_at: String,
}

/// The id of the target `office` sets for (`unit`, `year`, `indicator`).
pub fn target_id(office: &str, unit: &str, year: &str, indicator: &str) -> String {
    format!("{office}:{unit}:{year}:{indicator}")
}

/// Whether `actual` meets `op value`: `None` when there is no actual value.
pub(crate) fn meets(op: &str, value: f64, actual: Option<f64>) -> Option<bool> {
    actual.map(|a| if op == "<=" { a <= value } else { a >= value })
}

/// Stores the target an appended entry of `unit` sets, inside the page's transaction:
/// it replaces the office's earlier target for the same unit, year and indicator, which
/// goes to its history.
pub(crate) fn apply(txn: &mut eduioc_store::WriteTxn<'_>, entry: &Entry, unit: &str) -> Result<()> {
    let Payload::Target {
        unit: for_unit,
        year,
        indicator,
        op,
        value,
    } = &entry.body.payload
    else {
        return Ok(());
    };
    let id = target_id(unit, for_unit, year, indicator);
    let mut t = Target {
        id: id.clone(),
        unit: for_unit.clone(),
        year: year.clone(),
        indicator: indicator.clone(),
        op: op.clone(),
        value: value.0,
        set_by: unit.to_string(),
        set_at_ms: entry.body.timestamp_ms,
        seq: entry.seq(),
        history: Vec::new(),
    };
    if let Some(mut was) = txn.get(&tables::TARGETS, &id)? {
        if was.seq >= t.seq {
            // An older entry of the office's log, reaching here late: history only.
            was.history.push((t.op, t.value, t.set_at_ms));
            was.history.sort_by_key(|h| h.2);
            txn.put(&tables::TARGETS, &id, &was)?;
            return Ok(());
        }
        t.history = was.history;
        t.history.push((was.op, was.value, was.set_at_ms));
    }
    txn.put(&tables::TARGETS, &id, &t)?;
    Ok(())
}

impl Engine {
    /// Sets a target for `unit` (this office's unit or one below it): a signed entry of
    /// this node's log. Returns the target's id. Refused at a school (`Forbidden`), for a
    /// unit outside the subtree (`UnknownUnit`), an unknown indicator, an `op` other than
    /// `<=` or `>=`, or a value that is not a finite number (`Unprocessable`).
    pub fn set_target(
        &mut self,
        unit: &str,
        year: &str,
        indicator: &str,
        op: &str,
        value: f64,
    ) -> Result<String> {
        self.guarded(|e| {
            if e.dir.level(&e.unit) == Some("school") {
                return Err(Error::Forbidden(
                    "targets are set at an office, not at a school".into(),
                ));
            }
            check_year(year)?;
            if !e.dir.is_ancestor_or_self(&e.unit, unit) {
                return Err(Error::UnknownUnit(unit.to_string()));
            }
            if !is_indicator(indicator) {
                return Err(Error::Unprocessable(format!(
                    "unknown indicator {indicator:?}; see the indicators endpoint for the codes"
                )));
            }
            if !matches!(op, "<=" | ">=") || !value.is_finite() {
                return Err(Error::Unprocessable(format!(
                    "a target is an op <= or >= and a finite value, got {op:?} {value}"
                )));
            }
            e.append_local(Payload::Target {
                unit: unit.to_string(),
                year: year.to_string(),
                indicator: indicator.to_string(),
                op: op.to_string(),
                value: Number(value),
            })?;
            Ok(target_id(&e.unit, unit, year, indicator))
        })
    }
}

impl Figures {
    /// The targets of school year `year` for `unit` and every unit below it, each with its
    /// indicator as this node computes it (`None`: no data).
    pub(crate) fn targets_in<'a>(
        &'a self,
        unit: &'a str,
        year: &'a str,
    ) -> impl Iterator<Item = (&'a Target, Option<f64>)> + 'a {
        self.targets
            .values()
            .filter(move |t| t.year == year && self.dir.is_ancestor_or_self(unit, &t.unit))
            .map(move |t| {
                let actual = self
                    .indicators(Some(&t.unit), Some(year), None)
                    .ok()
                    .and_then(|i| i.get(&t.indicator).and_then(|x| x.value));
                (t, actual)
            })
    }

    /// The targets of school year `year` for `unit` (this node's unit when `None`) and
    /// every unit below it that this node holds, with the indicator each is about as this
    /// node computes it, in unit then indicator order.
    pub fn targets(&self, unit: Option<&str>, year: Option<&str>) -> Result<Vec<TargetStatus>> {
        let year = year.map_or_else(|| self.school_year(), str::to_string);
        check_year(&year)?;
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let mut out = Vec::new();
        for (t, actual) in self.targets_in(unit, &year) {
            let status = match meets(&t.op, t.value, actual) {
                None => "no_data",
                Some(true) => "met",
                Some(false) => "not_met",
            };
            out.push(TargetStatus {
                id: t.id.clone(),
                unit: t.unit.clone(),
                year: t.year.clone(),
                indicator: t.indicator.clone(),
                op: t.op.clone(),
                value: t.value,
                set_by: t.set_by.clone(),
                set_at: rfc3339(t.set_at_ms),
                actual,
                status,
                history: t
                    .history
                    .iter()
                    .map(|(op, value, at)| TargetValue {
                        op: op.clone(),
                        value: *value,
                        set_at: rfc3339(*at),
                    })
                    .collect(),
            });
        }
        out.sort_by(|a, b| {
            (&a.unit, &a.indicator, &a.set_by).cmp(&(&b.unit, &b.indicator, &b.set_by))
        });
        Ok(out)
    }
}
