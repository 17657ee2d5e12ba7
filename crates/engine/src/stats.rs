//! Statistics of a subtree, summed from the per-document summaries under the current
//! hierarchy (the `stats` endpoint of the JSON API).

use std::collections::BTreeMap;

use eduioc_records::Summary;
use serde::Serialize;

use crate::views::Figures;
use crate::{Engine, Error, Result};

/// Enrolled students of a subtree.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StudentStats {
    /// Students whose status is `enrolled`.
    pub enrolled: u64,
    /// Students whose status is `dropped_out`.
    pub dropped_out: u64,
    /// Enrolled students per grade code (`NT`, `MG3`, `MG4`, `MG5`, `1` … `12`; grades
    /// with at least one).
    pub by_grade: BTreeMap<String, u64>,
    /// Enrolled students per gender.
    pub by_gender: BTreeMap<String, u64>,
    /// Enrolled students per level (`preschool` NT–MG5, `primary` grades 1–5,
    /// `lower_secondary` 6–9, `upper_secondary` 10–12; levels with none are omitted).
    pub by_level: BTreeMap<String, u64>,
}

/// Staff of a subtree.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StaffStats {
    /// Staff whose status is `active`.
    pub active: u64,
    /// Active staff whose role is `teacher`.
    pub teachers: u64,
}

/// A subtree's summaries summed ([`Figures::subtotal`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subtotal {
    /// The summaries of the subtree's documents, added up.
    pub summary: Summary,
    /// School units in the subtree.
    pub schools: u64,
    /// Schools with at least one document held.
    pub reporting: u64,
    /// The oldest of the reporting schools' latest data, Unix ms.
    pub oldest: Option<i64>,
}

/// The figures of one unit's subtree, as the `stats` endpoint returns them.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Stats {
    /// The unit.
    pub unit: String,
    /// When computed (RFC 3339).
    pub as_of: String,
    /// School year the figures are for.
    pub school_year: String,
    /// School units in the subtree.
    pub schools: u64,
    /// Schools whose data this node holds.
    pub schools_reporting: u64,
    /// Classes.
    pub classes: u64,
    /// Students.
    pub students: StudentStats,
    /// Staff.
    pub staff: StaffStats,
    /// Enrolled students per teacher (0 without teachers).
    pub students_per_teacher: f64,
    /// Freshness: the oldest of the reporting schools' latest data (RFC 3339), if any.
    pub oldest_data_at: Option<String>,
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Engine {
    /// The statistics of `unit`'s subtree (this node's unit when `None`).
    pub fn stats(&self, unit: Option<&str>) -> Result<Stats> {
        self.views.figures().stats(unit)
    }

    /// The statistics of `unit`'s subtree for school year `year`.
    pub fn stats_in(&self, unit: Option<&str>, year: &str) -> Result<Stats> {
        self.views.figures().stats_in(unit, year)
    }

    /// School years for which this node holds any document, oldest first.
    pub fn school_years(&self) -> Vec<String> {
        self.views.figures().school_years()
    }
}

impl Figures {
    /// The statistics of `unit`'s subtree (this node's unit when `None`).
    pub fn stats(&self, unit: Option<&str>) -> Result<Stats> {
        self.stats_in(unit, &self.school_year())
    }

    /// The statistics of `unit`'s subtree for school year `year`.
    pub fn stats_in(&self, unit: Option<&str>, year: &str) -> Result<Stats> {
        crate::check_year(year)?;
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let Subtotal {
            summary: total,
            schools,
            reporting,
            oldest,
        } = self.subtotal(unit, year);
        let year = year.to_string();
        Ok(Stats {
            unit: unit.to_string(),
            as_of: rfc3339(self.clock.now_ms()),
            school_year: year,
            schools,
            schools_reporting: reporting,
            classes: total.classes,
            students: StudentStats {
                enrolled: total.enrolled,
                dropped_out: total.dropped_out,
                by_grade: total
                    .by_grade
                    .iter()
                    .map(|(g, n)| (eduioc_records::grade_code(*g), *n))
                    .collect(),
                by_gender: total.by_gender.clone(),
                by_level: total
                    .by_grade
                    .iter()
                    .fold(BTreeMap::new(), |mut m, (g, n)| {
                        if let Some(level) = eduioc_records::level_of_grade(*g) {
                            *m.entry(level.to_string()).or_default() += n;
                        }
                        m
                    }),
            },
            staff: StaffStats {
                active: total.staff_active,
                teachers: total.teachers,
            },
            students_per_teacher: total.students_per_teacher(),
            oldest_data_at: oldest.map(rfc3339),
        })
    }

    /// The per-document summaries of school year `year` summed over `unit`'s subtree in
    /// the hierarchy in force, with its schools and those reporting (any unit this node
    /// knows; an unknown one has an empty subtotal).
    pub fn subtotal(&self, unit: &str, year: &str) -> Subtotal {
        self.subtotal_with(unit, year, |_| {})
    }

    /// [`Figures::subtotal`], calling `school` with each school's summaries (in
    /// [`eduioc_records::Collection::ALL`] order) on the way: what needs a school's
    /// documents together is worked out in the same walk.
    pub(crate) fn subtotal_with(
        &self,
        unit: &str,
        year: &str,
        mut school: impl FnMut(&[Option<&Summary>; 6]),
    ) -> Subtotal {
        let mut out = Subtotal::default();
        self.visit(unit, year, |u, is_school, docs| {
            if is_school {
                school(&docs);
            }
            out.schools += u64::from(is_school);
            let mut has = false;
            for s in docs.iter().flatten() {
                out.summary.add(s);
                has = true;
            }
            if has && is_school {
                out.reporting += 1;
                if let Some(t) = self.seen.get(u) {
                    out.oldest = Some(out.oldest.map_or(*t, |o| o.min(*t)));
                }
            }
        });
        out
    }

    /// School years for which this node holds any document, oldest first.
    pub fn school_years(&self) -> Vec<String> {
        // The year is the key's last part (`eduioc_protocol::DocId::key`); no key is parsed
        // whole.
        let years: std::collections::BTreeSet<&str> = self
            .summaries
            .keys()
            .filter_map(|k| k.rsplit_once('/').map(|(_, y)| y))
            .collect();
        years.into_iter().map(str::to_string).collect()
    }
}
