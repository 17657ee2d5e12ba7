//! Data completeness (rà soát) of a subtree: which schools have not sent which kind of
//! data this school year, which terms their results cover, and which fields their records
//! leave empty, from the published figures.

use serde::Serialize;

use crate::views::Figures;
use crate::{Error, Result};

/// What one school has sent for a school year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolCompleteness {
    /// The school's unit.
    pub unit: String,
    /// Its name.
    pub name: String,
    /// Whether the node holds each collection of [`eduioc_records::Collection::ALL`], in that order.
    pub held: [bool; 6],
    /// The terms its results cover.
    pub terms: Vec<String>,
    /// Enrolled students.
    pub enrolled: u64,
    /// Of them, without a personal id.
    pub without_personal_id: u64,
    /// Of them, in no class of the classes the school sent.
    pub without_class: u64,
    /// Whether its profile (if any) lacks coordinates.
    pub profile_without_place: bool,
    /// Its newest entry here (Unix ms).
    pub last_data_ms: Option<i64>,
}

impl SchoolCompleteness {
    /// Whether anything is missing.
    pub fn complete(&self) -> bool {
        self.held.iter().all(|h| *h)
            && self.without_personal_id == 0
            && self.without_class == 0
            && !self.profile_without_place
    }
}

impl Figures {
    /// The completeness of every school of `unit`'s subtree (this node's unit when
    /// `None`) for school year `year`, schools missing most first.
    pub fn completeness(&self, unit: Option<&str>, year: &str) -> Result<Vec<SchoolCompleteness>> {
        crate::check_year(year)?;
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let mut out = Vec::new();
        self.visit(unit, year, |u, is_school, docs| {
            if !is_school {
                return;
            }
            let [students, _, classes, results, _, profile] = docs;
            let enrolled = students.map_or(0, |s| s.enrolled);
            let in_classes = match (students, classes) {
                (Some(s), Some(c)) => s
                    .by_class
                    .iter()
                    .filter(|(id, _)| c.class_grades.contains_key(*id))
                    .map(|(_, n)| n)
                    .sum(),
                _ => 0,
            };
            out.push(SchoolCompleteness {
                unit: u.to_string(),
                name: self.dir.name(u).unwrap_or(u).to_string(),
                held: docs.map(|d| d.is_some()),
                terms: results.map_or_else(Vec::new, |r| r.results.keys().cloned().collect()),
                enrolled,
                without_personal_id: enrolled
                    .saturating_sub(students.map_or(0, |s| s.personal_ids.len() as u64)),
                without_class: if classes.is_some() {
                    enrolled.saturating_sub(in_classes)
                } else {
                    0
                },
                profile_without_place: profile.is_some_and(|p| p.profile.place.is_none()),
                last_data_ms: self.seen.get(u).copied(),
            });
        });
        let missing = |s: &SchoolCompleteness| s.held.iter().filter(|h| !**h).count();
        out.sort_by(|a, b| {
            missing(b)
                .cmp(&missing(a))
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(out)
    }
}
