//! Seeded synthetic data for EduIOC: a province that a Vietnamese education official
//! would find believable.
//!
//! - [`province`] builds a topology: the department `so-hn` (Sở GD&ĐT Hà Nội), real
//!   Hanoi districts (`pgd-<slug>`, Phòng GD&ĐT …) and their primary, lower- and
//!   upper-secondary schools ("Trường THCS Tam Hiệp", id `thcs-tam-hiep`).
//! - [`school`] fills one school for one school year: classes ("6A1"), students with
//!   Vietnamese names, birth dates matching their grade, ethnic groups and statuses,
//!   teachers, managers and support staff, a homeroom teacher per class; as records and
//!   as CSV with exactly the import columns of CONTRACT.md.
//! - [`next_year`] turns one year into the next: promotions, graduation, dropouts,
//!   transfers, a new intake, retirements and hires.
//!
//! Everything is a pure function of its arguments (randomness comes from
//! `ChaCha8Rng::seed_from_u64` on a seed mixed with the unit and year): the same seed
//! gives byte-identical output on every machine.

#[rustfmt::skip]
mod names;
mod roster;
mod topology;

pub use roster::{
    classes_csv, next_year, school, staff_csv, students_csv, Class, SchoolData, Size, Staff,
    Student, CLASSES_HEADER, STAFF_HEADER, STUDENTS_HEADER,
};
pub use topology::{
    province, province_with, slug, SchoolLevel, UnitSpec, DEPARTMENT_ID, DEPARTMENT_NAME,
    MAX_DISTRICTS,
};

/// The label of the school year starting in `start`: `2026` → `"2026-2027"`.
pub fn school_year_label(start: i32) -> String {
    format!("{start}-{}", start + 1)
}

/// Mixes `seed` with byte strings (FNV-1a, then a SplitMix64 finaliser) so that
/// different units and years draw from unrelated random streams.
pub(crate) fn mix(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
