//! The overview of a unit's subtree, as the dashboard shows it: computed from the
//! published [`Figures`], never through the engine. The web server renders it.

use crate::views::Figures;
use crate::{Result, Stats};

/// A unit's figures with its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitFigures {
    /// Unit id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its level (`school`, `district`, ...).
    pub level: String,
    /// The figures of its subtree.
    pub stats: Stats,
}

/// Everything the overview of one unit shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// The unit itself.
    pub me: UnitFigures,
    /// From this node's unit down to the shown unit: (id, name).
    pub crumbs: Vec<(String, String)>,
    /// Children, largest (enrolled students) first.
    pub children: Vec<UnitFigures>,
    /// Enrolled students by school level: preschool, primary, lower secondary, upper
    /// secondary, other.
    pub by_level: [u64; 5],
    /// Enrolled students in each school year this node holds data for, oldest first.
    pub by_year: Vec<(String, u64)>,
}

/// School level of a school: from its id prefix (`mn-`, `th-`, `thcs-`, `thpt-`), else from
/// the highest grade taught. Index into [`Overview::by_level`].
pub fn school_level(id: &str, stats: &Stats) -> usize {
    for (i, prefix) in ["mn-", "th-", "thcs-", "thpt-"].iter().enumerate() {
        if id.starts_with(prefix) {
            return i;
        }
    }
    let ranks: Vec<u8> = stats
        .students
        .by_grade
        .keys()
        .filter_map(|g| eduioc_records::grade_rank(g))
        .collect();
    // Ranks: 0–3 the preschool groups, 4–8 grades 1–5, 9–12 grades 6–9, 13–15 grades 10–12.
    match ranks.iter().max() {
        Some(13..) => 3,
        Some(9..=12) => 2,
        Some(4..=8) => 1,
        Some(_) => 0,
        None => 4,
    }
}

fn unit_figures(e: &Figures, unit: &str) -> Result<UnitFigures> {
    let dir = e.directory();
    Ok(UnitFigures {
        id: unit.to_string(),
        name: dir.name(unit).unwrap_or(unit).to_string(),
        level: dir.level(unit).unwrap_or_default().to_string(),
        stats: e.stats(Some(unit))?,
    })
}

impl Figures {
    /// The overview of `unit` (which must be in this node's subtree): its figures, the
    /// path from this node's unit, its children ranked, enrolment by school level and by
    /// school year.
    pub fn overview(&self, unit: &str) -> Result<Overview> {
        overview_of(self, unit)
    }
}

fn overview_of(e: &Figures, unit: &str) -> Result<Overview> {
    let me = unit_figures(e, unit)?;
    let dir = e.directory();
    let mut crumbs = Vec::new();
    for u in dir.ancestors_or_self(unit) {
        let done = u == e.unit();
        crumbs.push((u.clone(), dir.name(&u).unwrap_or(&u).to_string()));
        if done {
            break;
        }
    }
    crumbs.reverse();
    let kids: Vec<String> = dir.children(unit).map(str::to_string).collect();
    let mut children = kids
        .iter()
        .map(|c| unit_figures(e, c))
        .collect::<Result<Vec<_>, _>>()?;
    children.sort_by(|a, b| {
        b.stats
            .students
            .enrolled
            .cmp(&a.stats.students.enrolled)
            .then(a.name.cmp(&b.name))
    });
    let mut by_level = [0u64; 5];
    for u in dir.subtree(unit) {
        if dir.level(&u) == Some("school") {
            let s = e.stats(Some(&u))?;
            by_level[school_level(&u, &s)] += s.students.enrolled;
        }
    }
    let by_year = e
        .school_years()
        .into_iter()
        .map(|y| Ok((y.clone(), e.stats_in(Some(unit), &y)?.students.enrolled)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Overview {
        me,
        crumbs,
        children,
        by_level,
        by_year,
    })
}
