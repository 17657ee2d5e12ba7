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

mod extras;
#[rustfmt::skip]
mod names;
mod roster;
mod topology;

pub use extras::{
    crowd_first_class, health_csv, more_dropouts, profile_csv, results_csv, school_place,
    HEALTH_HEADER, PROFILE_HEADER, RESULTS_HEADER,
};
pub use roster::{
    classes_csv, next_year, school, staff_csv, students_csv, Class, SchoolData, Size, Staff,
    Student, CLASSES_HEADER, STAFF_HEADER, STUDENTS_HEADER,
};
pub use topology::{
    age_of_grade, grade_label, province, province_with, slug, SchoolLevel, UnitSpec, DEPARTMENT_ID,
    DEPARTMENT_NAME, MAX_DISTRICTS, PRESCHOOL_GRADE,
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

/// A students file (CSV with [`STUDENTS_HEADER`]) of `n` enrolled students whose ids are
/// `{prefix}-{i}` and whose names are about 150 characters of Vietnamese syllables, from
/// a seeded generator: the longest names a clerk's file plausibly holds, for tests of
/// large imports (such a file must not yield an entry larger than a parent accepts).
pub fn long_named_students(prefix: &str, n: usize, seed: u64) -> String {
    const ONSETS: &[&str] = &[
        "", "B", "C", "Ch", "D", "Đ", "G", "Gh", "Gi", "H", "K", "Kh", "L", "M", "N", "Ng", "Nh",
        "P", "Ph", "Qu", "R", "S", "T", "Th", "Tr", "V", "X",
    ];
    const VOWELS: &[&str] = &[
        "a", "à", "á", "ả", "ã", "ạ", "ă", "ằ", "ắ", "ẳ", "ẵ", "ặ", "â", "ầ", "ấ", "ẩ", "ẫ", "ậ",
        "e", "è", "é", "ẻ", "ẽ", "ẹ", "ê", "ề", "ế", "ể", "ễ", "ệ", "i", "ì", "í", "ỉ", "ĩ", "ị",
        "o", "ò", "ó", "ỏ", "õ", "ọ", "ô", "ồ", "ố", "ổ", "ỗ", "ộ", "ơ", "ờ", "ớ", "ở", "ỡ", "ợ",
        "u", "ù", "ú", "ủ", "ũ", "ụ", "ư", "ừ", "ứ", "ử", "ữ", "ự", "y", "ỳ", "ý", "ỷ", "ỹ", "ỵ",
    ];
    const CODAS: &[&str] = &["", "c", "ch", "m", "n", "ng", "nh", "p", "t", "i", "o", "u"];
    let mut x = seed.max(1);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut s = String::from(STUDENTS_HEADER);
    for i in 0..n {
        let mut name = String::new();
        while name.chars().count() < 145 {
            if !name.is_empty() {
                name.push(' ');
            }
            for part in [ONSETS, VOWELS, CODAS] {
                name.push_str(part[(next() % part.len() as u64) as usize]);
            }
        }
        s.push_str(&format!(
            "\n{prefix}-{i},{name},{},2015-05-0{},{},{}a,Kinh,enrolled",
            if next() % 2 == 0 { "M" } else { "F" },
            1 + next() % 9,
            1 + next() % 5,
            1 + next() % 9,
        ));
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
