//! Indicators of a subtree (CONTRACT Part 2, `GET /api/v1/indicators`): rates and ratios
//! computed from the per-document summaries the engine publishes, so they are as fresh and
//! as cheap as `stats` and never wait for an import.
//!
//! Most indicators are sums over the subtree. Two need a school's documents together:
//! a class is oversized when the enrolled students of its school whose `class_id` is that
//! class outnumber the cap of its grade, and a `college` teacher counts as qualified at a
//! school whose classes are all preschool. Those are worked out school by school, then
//! summed.

use eduioc_records::{class_cap, Collection, Summary, PRESCHOOL_GROUPS};
use serde::Serialize;

use crate::stats::rfc3339;
use crate::views::Figures;
use crate::{Error, Result};

/// The terms of a school year, in order.
pub const TERMS: [&str; 3] = ["HK1", "HK2", "CN"];

/// One indicator of a unit: `value` is `100 × numerator / denominator` for a rate,
/// `numerator / denominator` for a ratio, `None` when the denominator is 0.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Indicator {
    /// Its code (`dropout_rate`, …).
    pub code: &'static str,
    /// Its value, unrounded.
    pub value: Option<f64>,
    /// What it counts.
    pub numerator: f64,
    /// Out of what.
    pub denominator: f64,
}

/// The indicators of one unit, year and term.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Indicators {
    /// The unit.
    pub unit: String,
    /// The school year.
    pub year: String,
    /// The term the results indicators are for.
    pub term: String,
    /// When computed (RFC 3339).
    pub as_of: String,
    /// In the order of [`CATALOGUE`].
    pub indicators: Vec<Indicator>,
}

impl Indicators {
    /// The indicator of this code.
    pub fn get(&self, code: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.code == code)
    }
}

/// Whether an indicator is a rate (a percentage) or a ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// `100 × numerator / denominator`.
    Rate,
    /// `numerator / denominator`.
    Ratio,
}

/// Every indicator's code and scale, in the order the API lists them.
pub const CATALOGUE: [(&str, Scale); 13] = [
    ("dropout_rate", Scale::Rate),
    ("students_per_class", Scale::Ratio),
    ("students_per_teacher", Scale::Ratio),
    ("oversized_class_rate", Scale::Rate),
    ("teachers_qualified_rate", Scale::Rate),
    ("academic_good_rate", Scale::Rate),
    ("conduct_good_rate", Scale::Rate),
    ("malnutrition_rate", Scale::Rate),
    ("overweight_rate", Scale::Rate),
    ("solid_classroom_rate", Scale::Rate),
    ("national_standard_rate", Scale::Rate),
    ("clean_water_rate", Scale::Rate),
    ("reporting_rate", Scale::Rate),
];

/// Whether a higher value of indicator `code` is better (`teachers_qualified_rate`) or a
/// lower one (`dropout_rate`): how units are ranked worst first, and maps coloured.
pub fn higher_is_better(code: &str) -> bool {
    !matches!(
        code,
        "dropout_rate"
            | "students_per_class"
            | "students_per_teacher"
            | "oversized_class_rate"
            | "malnutrition_rate"
            | "overweight_rate"
    )
}

/// Whether `code` is an indicator of the catalogue.
pub fn is_indicator(code: &str) -> bool {
    CATALOGUE.iter().any(|(c, _)| *c == code)
}

/// What the indicators of a subtree need beyond its summed summaries: the counts that are
/// worked out school by school.
#[derive(Debug, Default)]
struct Tally {
    oversized: u64,
    qualified: u64,
}

impl Tally {
    /// Counts one school's documents (`docs` in [`Collection::ALL`] order).
    fn school(&mut self, docs: &[Option<&Summary>; 6]) {
        let [students, staff, classes, ..] = docs;
        if let (Some(classes), Some(students)) = (classes, students) {
            self.oversized += oversized(classes, students);
        }
        if let Some(staff) = staff {
            let q = &staff.teachers_by_qualification;
            let n = |code: &str| q.get(code).copied().unwrap_or(0);
            self.qualified += n("bachelor") + n("master") + n("doctor");
            if classes.is_some_and(all_preschool) {
                self.qualified += n("college");
            }
        }
    }
}

/// Classes of a school above the cap of their grade.
fn oversized(classes: &Summary, students: &Summary) -> u64 {
    let over = classes.class_grades.iter().filter(|(id, grade)| {
        let size = students.by_class.get(*id).copied().unwrap_or(0);
        class_cap(**grade).is_some_and(|cap| size > cap)
    });
    over.count() as u64
}

/// Whether a school has classes and all of them are preschool groups.
fn all_preschool(classes: &Summary) -> bool {
    !classes.class_grades.is_empty()
        && classes.class_grades.values().all(|g| {
            let code = eduioc_records::grade_code(*g);
            PRESCHOOL_GROUPS.contains(&code.as_str())
        })
}

impl Figures {
    /// The indicators of `unit`'s subtree (this node's unit when `None`) for school year
    /// `year` (the current one when `None`) and `term` (when `None`: the latest term with
    /// any result in the subtree that year, else `HK1`).
    pub fn indicators(
        &self,
        unit: Option<&str>,
        year: Option<&str>,
        term: Option<&str>,
    ) -> Result<Indicators> {
        let year = year.map_or_else(|| self.school_year(), str::to_string);
        crate::check_year(&year)?;
        if let Some(t) = term.filter(|t| !TERMS.contains(t)) {
            return Err(Error::Invalid(format!(
                "term must be HK1, HK2 or CN, got {t:?}"
            )));
        }
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let mut t = Tally::default();
        let sub = self.subtotal_with(unit, &year, |docs| t.school(docs));
        let term = match term {
            Some(t) => t.to_string(),
            None => TERMS
                .iter()
                .rev()
                .find(|code| {
                    sub.summary
                        .results
                        .get(**code)
                        .is_some_and(|r| r.academic + r.conduct > 0)
                })
                .unwrap_or(&TERMS[0])
                .to_string(),
        };
        let s = &sub.summary;
        let r = s.results.get(&term).copied().unwrap_or_default();
        let p = &s.profile;
        let h = &s.health;
        let counts: [(u64, u64); 13] = [
            (s.dropped_out, s.enrolled + s.dropped_out),
            (s.enrolled, s.classes),
            (s.enrolled, s.teachers),
            (t.oversized, s.classes),
            (t.qualified, s.teachers),
            (r.academic_good, r.academic),
            (r.conduct_good, r.conduct),
            (h.malnourished, h.examined),
            (h.overweight, h.examined),
            (p.classrooms_solid, p.classrooms),
            (p.national_standard, p.schools),
            (p.clean_water, p.schools),
            (sub.reporting, sub.schools),
        ];
        let indicators = CATALOGUE
            .iter()
            .zip(counts)
            .map(|((code, scale), (num, den))| {
                let (numerator, denominator) = (num as f64, den as f64);
                let value = (den > 0).then(|| match scale {
                    Scale::Rate => 100.0 * numerator / denominator,
                    Scale::Ratio => numerator / denominator,
                });
                Indicator {
                    code,
                    value,
                    numerator,
                    denominator,
                }
            })
            .collect();
        Ok(Indicators {
            unit: unit.to_string(),
            year,
            term,
            as_of: rfc3339(self.clock.now_ms()),
            indicators,
        })
    }

    /// Where school `unit` is (latitude, longitude), from its profile of school year
    /// `year`.
    pub fn place_of(&self, unit: &str, year: &str) -> Option<(f64, f64)> {
        let mut place = None;
        self.visit_one(unit, year, |docs| {
            place = docs[5].and_then(|p| p.profile.degrees());
        });
        place
    }

    pub(crate) fn visit_one(&self, unit: &str, year: &str, f: impl FnOnce([Option<&Summary>; 6])) {
        // One key buffer for the six look-ups (`unit/collection/year`, as `DocId::key`):
        // this runs for every unit of a subtree on every read.
        let mut key = String::with_capacity(unit.len() + year.len() + 12);
        let docs = Collection::ALL.map(|c| {
            key.clear();
            key.push_str(unit);
            key.push('/');
            key.push_str(c.as_str());
            key.push('/');
            key.push_str(year);
            self.summaries.get(key.as_str())
        });
        f(docs);
    }

    /// Calls `f(unit, is_school, summaries)` for every unit of `unit`'s subtree, with the
    /// summaries of its documents of school year `year` held here, in
    /// [`Collection::ALL`] order. The subtree is the hierarchy in force, except for a
    /// school year before the current one: then it is the hierarchy at that year's end,
    /// so that a re-parented school's past years stay counted where they were.
    pub(crate) fn visit(
        &self,
        unit: &str,
        year: &str,
        mut f: impl FnMut(&str, bool, [Option<&Summary>; 6]),
    ) {
        let ended = self.dir.has_moves() && year < self.school_year().as_str();
        let units = match crate::year_end_ms(year) {
            Some(end) if ended => self.dir.subtree_at(unit, end),
            _ => self.dir.subtree(unit),
        };
        for u in &units {
            let is_school = self.dir.level(u) == Some("school");
            self.visit_one(u, year, |docs| f(u, is_school, docs));
        }
    }
}
