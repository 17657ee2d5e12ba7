//! School records of EduIOC: import parsing, the Automerge document model,
//! per-document summaries and accent-insensitive search.
//!
//! Main types:
//!
//! - [`Collection`]: which records a document holds (students, staff, classes,
//!   results, health, profile). One Automerge document exists per (unit, collection, school year).
//! - [`parse_import`]: turns an uploaded CSV or XLSX file into validated,
//!   normalised [`Row`]s, or returns every problem found as [`ImportErrors`]
//!   (all or nothing: nothing is returned to apply when any row is bad). Each
//!   [`RowError`] carries a [`Problem`]: the kind of problem as data, with a stable
//!   code and its parameters, so a user interface can say it in its own language;
//!   its `message` is the English sentence.
//! - [`RecordsDoc`]: one Automerge document. Its root map has a key `"records"`
//!   holding a map from record id to a map of field name to scalar ([`Value`]).
//!   [`RecordsDoc::upsert`] writes only the fields that changed, so a one-field
//!   edit produces a tiny change; [`RecordsDoc::take_local_changes`] hands the
//!   new local changes to the replication layer.
//! - [`Summary`] and [`summarize`]: the counts behind the `stats` endpoint,
//!   computed from one document and added up over a subtree with
//!   [`Summary::add`].
//! - [`fold`] and [`matches()`]: the accent- and case-insensitive search used by
//!   the `records/students` endpoint.
//!
//! Errors are a single enum, [`Error`].

mod doc;
mod fields;
mod import;
mod problem;
mod search;
mod summary;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use doc::{RecordsDoc, UpsertOutcome};
pub use fields::{
    export_columns, id_is_first_column, template, vietnamese_header, ColumnType, PROFILE_ID,
};
pub use import::{
    parse_import, parse_import_against, ImportErrors, Roster, Row, RowError, Value,
    MAX_IMPORT_BYTES, MAX_IMPORT_CELLS, MAX_IMPORT_ERRORS, MAX_IMPORT_ROWS, MAX_XLSX_PARTS,
    MAX_XLSX_PART_BYTES, MAX_XLSX_SHARED_STRINGS_BYTES, MAX_XLSX_TOTAL_BYTES, XLSX_CONTENT_TYPE,
};
pub use problem::Problem;
pub use search::{fold, matches, matches_folded};
pub use summary::{
    class_cap, fields_read, grade_code, grade_key, grade_rank, level_of_grade, summarize, Fields,
    HealthCounts, ProfileCounts, Summary, TermResults, PRESCHOOL_GROUPS,
};

/// The error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Automerge document could not be read, loaded or changed.
    #[error("records document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// A collection name that is not one of the known collections.
    #[error(
        "unknown collection {0:?}; expected students, staff, classes, results, health or profile"
    )]
    UnknownCollection(String),
    /// An import was rejected; every problem found is listed.
    #[error("import rejected: {0}")]
    Import(ImportErrors),
}

impl From<ImportErrors> for Error {
    fn from(errors: ImportErrors) -> Self {
        Error::Import(errors)
    }
}

/// Result alias using this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A collection of records: one Automerge document per (unit, collection,
/// school year).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Collection {
    /// Students of a school (importable as `students`).
    Students,
    /// Staff of a school (importable as `staff`).
    Staff,
    /// Classes of a school (importable as `classes`).
    Classes,
    /// Learning and conduct results per student and term (`results`).
    Results,
    /// Health examinations per student and date (`health`).
    Health,
    /// The school's profile: classrooms, toilets, water, national standard, place
    /// (`profile`, one record).
    Profile,
}

impl Collection {
    /// Every collection, in a fixed order.
    /// Every collection, in a fixed order; `POST /api/v1/import/{kind}` takes each.
    pub const ALL: [Collection; 6] = [
        Collection::Students,
        Collection::Staff,
        Collection::Classes,
        Collection::Results,
        Collection::Health,
        Collection::Profile,
    ];

    /// The collection's name: `students`, `staff`, `classes`, `results`, `health` or
    /// `profile`.
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Students => "students",
            Collection::Staff => "staff",
            Collection::Classes => "classes",
            Collection::Results => "results",
            Collection::Health => "health",
            Collection::Profile => "profile",
        }
    }

    /// The columns a file must have, in CONTRACT order (optional ones left out).
    pub fn columns(self) -> &'static [&'static str] {
        fields::columns(self)
    }

    /// Whether its rows name students of the same school and year (`results`, `health`):
    /// they are checked against them ([`parse_import_against`]).
    pub fn refers_to_students(self) -> bool {
        matches!(self, Collection::Results | Collection::Health)
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Collection {
    type Err = Error;

    /// Parses a collection's name (exact, lowercase).
    fn from_str(s: &str) -> Result<Self> {
        Collection::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::UnknownCollection(s.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_round_trip() {
        for c in Collection::ALL {
            assert_eq!(c.as_str().parse::<Collection>().unwrap(), c);
            assert_eq!(c.to_string(), c.as_str());
        }
        assert!("pupils".parse::<Collection>().is_err());
        assert!("Students".parse::<Collection>().is_err());
    }
}
