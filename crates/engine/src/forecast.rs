//! Enrolment forecast of a subtree by the grade-ratio (cohort survival) method, CONTRACT
//! Part 2 `GET /api/v1/forecast`, with the classes and teachers the projected students
//! need, and a backtest of the same method one year back.
//!
//! With E(y, g) the enrolled students of grade g in school year y, b the latest year with
//! students and b−1 the year before: the ratio of grade g is r(g) = E(b, g) / E(b−1,
//! prev(g)) where E(b−1, prev(g)) > 0, else g is an entry grade and stays at E(b, g).
//! Then E(y+1, g) = E(y, prev(g)) × r(g), in floating point; each published grade is
//! rounded half away from zero.

use std::collections::BTreeMap;

use eduioc_records::{class_cap, grade_code, grade_key, level_of_grade, Value};
use serde::Serialize;

use crate::views::Figures;
use crate::{Error, Result};

/// Most years a forecast projects.
pub const MAX_FORECAST_YEARS: u32 = 10;

/// Teachers per class by level, the staffing norms of the Ministry of Education and
/// Training: preschool 2.2 per class of two sessions a day (Thông tư liên tịch
/// 06/2015/TTLT-BGDĐT-BNV, Article 5), primary 1.5, lower secondary 1.9 and upper
/// secondary 2.25 (Thông tư 16/2017/TT-BGDĐT, Articles 3–5).
pub const TEACHERS_PER_CLASS: [(&str, f64); 4] = [
    ("preschool", 2.2),
    ("primary", 1.5),
    ("lower_secondary", 1.9),
    ("upper_secondary", 2.25),
];

/// One projected school year.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ForecastYear {
    /// `YYYY-YYYY`.
    pub year: String,
    /// Enrolled students per grade code, rounded; grades with 0 left out.
    pub by_grade: BTreeMap<String, u64>,
    /// The sum of `by_grade`.
    pub total: u64,
    /// Σ over grades of ceil(students / the grade's class-size cap).
    pub classes_needed: u64,
    /// Σ over levels of classes × the level's teachers per class.
    pub teachers_needed: f64,
}

/// The method tried one year back: base year b projected from b−1, with the ratios of
/// b−1 over b−2, against what b turned out to be.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Backtest {
    /// The year projected (the base year).
    pub year: String,
    /// What the method projected, per grade code.
    pub projected: BTreeMap<String, u64>,
    /// What the subtree enrolled, per grade code.
    pub actual: BTreeMap<String, u64>,
    /// Mean absolute percentage error over the grades with students (%), `None` when
    /// none had.
    pub mape: Option<f64>,
}

/// A forecast of one unit's subtree.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Forecast {
    /// The unit.
    pub unit: String,
    /// The latest school year with students.
    pub base_year: String,
    /// Always `grade_ratio`.
    pub method: &'static str,
    /// The projected years, b+1 onwards.
    pub years: Vec<ForecastYear>,
    /// The method tried one year back, when the subtree has three years of students.
    pub backtest: Option<Backtest>,
}

/// Enrolled students per grade key.
type Cohorts = BTreeMap<u8, f64>;

/// The school year `by` years after `year` (`2026-2027`, 1 → `2027-2028`).
pub(crate) fn next_year(year: &str, by: i32) -> Option<String> {
    let first: i32 = year.get(..4)?.parse().ok()?;
    let first = first.checked_add(by)?;
    Some(format!("{first}-{}", first + 1))
}

/// The grade before `key` in the chain NT, MG3, MG4, MG5, 1, …, 12 (`None` for NT).
fn prev(key: u8) -> Option<u8> {
    let chain: Vec<u8> = all_grades().collect();
    let at = chain.iter().position(|g| *g == key)?;
    at.checked_sub(1).map(|i| chain[i])
}

/// One projection step from year `from` with ratios `ratio` (entry grades stay at `base`).
fn step(from: &Cohorts, ratio: &BTreeMap<u8, f64>, base: &Cohorts) -> Cohorts {
    let mut next = Cohorts::new();
    for key in all_grades() {
        let v = match (ratio.get(&key), prev(key)) {
            (Some(r), Some(p)) => from.get(&p).copied().unwrap_or(0.0) * r,
            _ => base.get(&key).copied().unwrap_or(0.0),
        };
        if v > 0.0 {
            next.insert(key, v);
        }
    }
    next
}

/// The ratios of year `b` over year `b−1`.
fn ratios(b: &Cohorts, before: &Cohorts) -> BTreeMap<u8, f64> {
    all_grades()
        .filter_map(|g| {
            let p = prev(g)?;
            let was = before.get(&p).copied().filter(|v| *v > 0.0)?;
            Some((g, b.get(&g).copied().unwrap_or(0.0) / was))
        })
        .collect()
}

/// Every grade key, in chain order.
fn all_grades() -> impl Iterator<Item = u8> {
    let preschool = eduioc_records::PRESCHOOL_GROUPS
        .iter()
        .filter_map(|g| grade_key(&Value::Str((*g).to_string())));
    preschool.chain(1..=12)
}

/// Rounded, half away from zero; zeros left out.
fn rounded(c: &Cohorts) -> BTreeMap<u8, u64> {
    c.iter()
        .map(|(g, v)| (*g, v.round() as u64))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn by_code(c: &BTreeMap<u8, u64>) -> BTreeMap<String, u64> {
    c.iter().map(|(g, n)| (grade_code(*g), *n)).collect()
}

impl Figures {
    /// The enrolled students of `unit`'s subtree per grade key in school year `year`.
    fn cohorts(&self, unit: &str, year: &str) -> Cohorts {
        let s = self.subtotal(unit, year).summary;
        s.by_grade.iter().map(|(g, n)| (*g, *n as f64)).collect()
    }

    /// The forecast of `unit`'s subtree (this node's unit when `None`) for `years` school
    /// years (1–10) after the latest with students.
    pub fn forecast(&self, unit: Option<&str>, years: u32) -> Result<Forecast> {
        if !(1..=MAX_FORECAST_YEARS).contains(&years) {
            return Err(Error::Invalid(format!(
                "years must be from 1 to {MAX_FORECAST_YEARS}, got {years}"
            )));
        }
        let unit = unit.unwrap_or(&self.unit);
        if !self.dir.is_ancestor_or_self(&self.unit, unit) {
            return Err(Error::UnknownUnit(unit.to_string()));
        }
        let held = self.school_years();
        let base_year = held
            .iter()
            .rev()
            .find(|y| !self.cohorts(unit, y).is_empty())
            .cloned()
            .ok_or_else(|| {
                Error::Unprocessable(format!("{unit} has no enrolled students in any year"))
            })?;
        let base = self.cohorts(unit, &base_year);
        let before_year = next_year(&base_year, -1).unwrap_or_default();
        let before = self.cohorts(unit, &before_year);
        if before.is_empty() {
            return Err(Error::Unprocessable(format!(
                "a forecast needs enrolled students in two consecutive years; {unit} has \
                 none in {before_year}, the year before {base_year}"
            )));
        }
        let ratio = ratios(&base, &before);
        let mut out = Vec::new();
        let mut cur = base.clone();
        for i in 1..=years {
            cur = step(&cur, &ratio, &base);
            let grades = rounded(&cur);
            let mut classes_by_level: BTreeMap<&str, u64> = BTreeMap::new();
            for (g, n) in &grades {
                if let (Some(cap), Some(level)) = (class_cap(*g), level_of_grade(*g)) {
                    *classes_by_level.entry(level).or_default() += n.div_ceil(cap);
                }
            }
            let teachers_needed = TEACHERS_PER_CLASS
                .iter()
                .map(|(level, norm)| {
                    classes_by_level.get(level).copied().unwrap_or(0) as f64 * norm
                })
                .sum();
            out.push(ForecastYear {
                year: next_year(&base_year, i as i32).unwrap_or_default(),
                total: grades.values().sum(),
                classes_needed: classes_by_level.values().sum(),
                by_grade: by_code(&grades),
                teachers_needed,
            });
        }
        let backtest = next_year(&base_year, -2)
            .map(|y| self.cohorts(unit, &y))
            .filter(|c| !c.is_empty())
            .map(|two_before| {
                let r = ratios(&before, &two_before);
                let projected = rounded(&step(&before, &r, &before));
                let actual = rounded(&base);
                let errors: Vec<f64> = actual
                    .iter()
                    .map(|(g, a)| {
                        let p = projected.get(g).copied().unwrap_or(0) as f64;
                        (p - *a as f64).abs() / *a as f64
                    })
                    .collect();
                let mape = (!errors.is_empty())
                    .then(|| 100.0 * errors.iter().sum::<f64>() / errors.len() as f64);
                Backtest {
                    year: base_year.clone(),
                    projected: by_code(&projected),
                    actual: by_code(&actual),
                    mape,
                }
            });
        Ok(Forecast {
            unit: unit.to_string(),
            base_year,
            method: "grade_ratio",
            years: out,
            backtest,
        })
    }
}
