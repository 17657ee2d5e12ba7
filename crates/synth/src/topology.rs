//! The shape of a synthetic province: one department, its districts, their schools.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::names;

/// Id of the department (Sở) unit that [`province`] puts at the root.
pub const DEPARTMENT_ID: &str = "so-hn";
/// Name of the department unit that [`province`] puts at the root.
pub const DEPARTMENT_NAME: &str = "Sở GD&ĐT Hà Nội";
/// How many distinct districts [`province`] knows (Hanoi's 30); larger requests are capped.
pub const MAX_DISTRICTS: usize = names::DISTRICTS.len();

/// The level of a general-education school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchoolLevel {
    /// Mầm non: the groups nhà trẻ (NT) and mẫu giáo 3–4, 4–5, 5–6 years (MG3, MG4, MG5),
    /// as grades 0xF0–0xF3 ([`crate::grade_label`] writes their codes). Not in
    /// [`SchoolLevel::ALL`]: provinces are generated without preschools, the demo adds
    /// them.
    Preschool,
    /// Tiểu học, grades 1–5.
    Primary,
    /// Trung học cơ sở (THCS), grades 6–9.
    LowerSecondary,
    /// Trung học phổ thông (THPT), grades 10–12.
    UpperSecondary,
}

impl SchoolLevel {
    /// Every level, youngest first.
    pub const ALL: [SchoolLevel; 3] = [Self::Primary, Self::LowerSecondary, Self::UpperSecondary];

    /// The grades taught at this level: 1–5, 6–9 or 10–12 (the preschool groups 0xF0–0xF3).
    pub fn grades(self) -> RangeInclusive<u8> {
        match self {
            Self::Preschool => PRESCHOOL_GRADE..=PRESCHOOL_GRADE + 3,
            Self::Primary => 1..=5,
            Self::LowerSecondary => 6..=9,
            Self::UpperSecondary => 10..=12,
        }
    }

    /// The usual abbreviation: "TH", "THCS" or "THPT".
    pub fn abbrev(self) -> &'static str {
        match self {
            Self::Preschool => "MN",
            Self::Primary => "TH",
            Self::LowerSecondary => "THCS",
            Self::UpperSecondary => "THPT",
        }
    }

    /// The word used in a school's name after "Trường": "Tiểu học", "THCS" or "THPT".
    pub fn label(self) -> &'static str {
        match self {
            Self::Preschool => "Mầm non",
            Self::Primary => "Tiểu học",
            Self::LowerSecondary => "THCS",
            Self::UpperSecondary => "THPT",
        }
    }

    /// The prefix of generated unit ids: "th", "thcs" or "thpt".
    pub fn id_prefix(self) -> &'static str {
        match self {
            Self::Preschool => "mn",
            Self::Primary => "th",
            Self::LowerSecondary => "thcs",
            Self::UpperSecondary => "thpt",
        }
    }

    /// The level that teaches `grade`, if any.
    pub fn of_grade(grade: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.grades().contains(&grade))
    }
}

/// The grade number of nhà trẻ (NT); MG3, MG4 and MG5 follow.
pub const PRESCHOOL_GRADE: u8 = 0xF0;

/// How a grade is written in a file: `1` … `12`, or `NT`, `MG3`, `MG4`, `MG5`.
pub fn grade_label(grade: u8) -> String {
    match grade.checked_sub(PRESCHOOL_GRADE) {
        Some(i) => ["NT", "MG3", "MG4", "MG5"]
            .get(usize::from(i))
            .map_or_else(|| grade.to_string(), |g| (*g).to_string()),
        None => grade.to_string(),
    }
}

/// The age at the start of the school year of a child of `grade` (grade 1: 6).
pub fn age_of_grade(grade: u8) -> i32 {
    match grade.checked_sub(PRESCHOOL_GRADE) {
        Some(i) => 2 + i32::from(i),
        None => 5 + i32::from(grade),
    }
}

/// One unit of a topology, shaped like a `[[unit]]` of the topology file (without the
/// network addresses, which the caller assigns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitSpec {
    /// Stable id, `[a-z0-9-]{1,64}`, unique within the province.
    pub id: String,
    /// Display name in Vietnamese, e.g. "Trường THCS Tam Hiệp".
    pub name: String,
    /// "department", "district" or "school".
    pub level: String,
    /// Id of the parent unit; `None` only for the department.
    pub parent: Option<String>,
    /// For schools, their level; `None` for administrative units.
    pub school_level: Option<SchoolLevel>,
}

/// A Hanoi-like province: the department `so-hn` first, then each district
/// (`pgd-<slug>`, `"Phòng GD&ĐT <district>"`) followed by its schools.
///
/// Takes the first `districts` of Hanoi's 30 districts in a fixed order that mixes inner
/// and outer districts (Ba Đình, Hoàn Kiếm, Đống Đa, Cầu Giấy, Thanh Trì, Sóc Sơn, Ba Vì,
/// Mỹ Đức, ...), capped at [`MAX_DISTRICTS`]. Each district gets a seeded number of
/// schools drawn from `schools_per_district`, about 45% primary, 35% lower secondary and
/// 20% upper secondary, named after its wards and communes or after famous people
/// ("Trường Tiểu học Kim Liên", "Trường THPT Chu Văn An"). School ids are
/// `<th|thcs|thpt>-<slug of the name>`, with the district slug or a number appended when
/// that is already taken. Every school's parent is its district; see [`province_with`]
/// for the real-world arrangement where THPT schools report to the department.
pub fn province(
    seed: u64,
    districts: usize,
    schools_per_district: RangeInclusive<usize>,
) -> Vec<UnitSpec> {
    province_with(seed, districts, schools_per_district, false)
}

/// Like [`province`]; with `thpt_under_department`, upper-secondary schools get the
/// department as parent (as in Vietnam, where the Sở manages THPT schools directly and
/// the Phòng manages primary and lower-secondary ones). Same seed, same units and names.
pub fn province_with(
    seed: u64,
    districts: usize,
    schools_per_district: RangeInclusive<usize>,
    thpt_under_department: bool,
) -> Vec<UnitSpec> {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::mix(seed, &[b"province"]));
    let (lo, hi) = (
        *schools_per_district.start(),
        (*schools_per_district.end()).max(*schools_per_district.start()),
    );
    let mut out = vec![UnitSpec {
        id: DEPARTMENT_ID.to_owned(),
        name: DEPARTMENT_NAME.to_owned(),
        level: "department".to_owned(),
        parent: None,
        school_level: None,
    }];
    let mut ids: HashSet<String> = HashSet::from([DEPARTMENT_ID.to_owned()]);
    let mut famous_used: HashSet<(SchoolLevel, &str)> = HashSet::new();
    for (district, wards) in names::DISTRICTS.iter().take(districts) {
        let dslug = slug(district);
        let did = format!("pgd-{dslug}");
        ids.insert(did.clone());
        out.push(UnitSpec {
            id: did.clone(),
            name: format!("Phòng GD&ĐT {district}"),
            level: "district".to_owned(),
            parent: Some(DEPARTMENT_ID.to_owned()),
            school_level: None,
        });
        let n = rng.gen_range(lo..=hi);
        let mut wards = wards.to_vec();
        wards.shuffle(&mut rng);
        let mut famous = names::FAMOUS.to_vec();
        famous.shuffle(&mut rng);
        let mut wards_used: HashSet<(SchoolLevel, &str)> = HashSet::new();
        for (k, level) in level_mix(&mut rng, n).into_iter().enumerate() {
            let p_famous = match level {
                SchoolLevel::Preschool => 0.05,
                SchoolLevel::Primary => 0.15,
                SchoolLevel::LowerSecondary => 0.2,
                SchoolLevel::UpperSecondary => 0.5,
            };
            let prefer_famous = rng.gen_bool(p_famous);
            let ward = wards
                .iter()
                .copied()
                .find(|w| !wards_used.contains(&(level, *w)));
            let person = famous
                .iter()
                .copied()
                .find(|f| !famous_used.contains(&(level, *f)));
            let base = match (prefer_famous, ward, person) {
                (true, _, Some(f)) | (false, None, Some(f)) => {
                    famous_used.insert((level, f));
                    f.to_owned()
                }
                (_, Some(w), _) => {
                    wards_used.insert((level, w));
                    w.to_owned()
                }
                (_, None, None) => format!("số {} {district}", k + 1),
            };
            let stem = format!("{}-{}", level.id_prefix(), slug(&base));
            let id = unique_id(&mut ids, &stem, &dslug);
            let parent = if thpt_under_department && level == SchoolLevel::UpperSecondary {
                DEPARTMENT_ID.to_owned()
            } else {
                did.clone()
            };
            out.push(UnitSpec {
                id,
                name: format!("Trường {} {base}", level.label()),
                level: "school".to_owned(),
                parent: Some(parent),
                school_level: Some(level),
            });
        }
    }
    out
}

/// Levels for `n` schools of one district, primary first: proportions 45/35/20 with
/// random rounding, and at least one primary school.
fn level_mix(rng: &mut ChaCha8Rng, n: usize) -> Vec<SchoolLevel> {
    let mut round = |x: f64| {
        let whole = x.floor();
        whole as usize + usize::from(rng.gen_bool(x - whole))
    };
    let primary = round(n as f64 * 0.45).max(1).min(n);
    let upper = round(n as f64 * 0.2).min(n - primary);
    let lower = n - primary - upper;
    let mut out = vec![SchoolLevel::Primary; primary];
    out.extend(std::iter::repeat_n(SchoolLevel::LowerSecondary, lower));
    out.extend(std::iter::repeat_n(SchoolLevel::UpperSecondary, upper));
    out
}

/// `stem`, else `stem-<district>`, else `stem-<district>-2`, ... whichever is free; at
/// most 64 characters.
fn unique_id(ids: &mut HashSet<String>, stem: &str, district: &str) -> String {
    let clip = |s: String| -> String {
        let mut s: String = s.chars().take(64).collect();
        while s.ends_with('-') {
            s.pop();
        }
        s
    };
    let mut candidates = vec![clip(stem.to_owned()), clip(format!("{stem}-{district}"))];
    let mut n = 2;
    loop {
        if let Some(id) = candidates.drain(..).find(|c| !ids.contains(c)) {
            ids.insert(id.clone());
            return id;
        }
        let suffix = format!("-{n}");
        let head: String = format!("{stem}-{district}")
            .chars()
            .take(64 - suffix.len())
            .collect();
        candidates.push(format!("{}{suffix}", head.trim_end_matches('-')));
        n += 1;
    }
}

/// ASCII slug of a Vietnamese text: diacritics stripped, "đ" → "d", lowercase, every run
/// of other characters turned into one '-', no leading or trailing '-'.
/// "Đống Đa" → "dong-da", "Sở GD&ĐT Hà Nội" → "so-gd-dt-ha-noi". Accepts composed and
/// decomposed (NFD) input.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut dash = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue; // combining diacritic of decomposed input
        }
        match fold_char(c) {
            Some(a) => {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(a);
            }
            None => dash = true,
        }
    }
    out
}

/// The ASCII letter or digit a lowercase Vietnamese character folds to.
fn fold_char(c: char) -> Option<char> {
    const GROUPS: [(char, &str); 7] = [
        ('a', "àáảãạăằắẳẵặâầấẩẫậ"),
        ('e', "èéẻẽẹêềếểễệ"),
        ('i', "ìíỉĩị"),
        ('o', "òóỏõọôồốổỗộơờớởỡợ"),
        ('u', "ùúủũụưừứửữự"),
        ('y', "ỳýỷỹỵ"),
        ('d', "đ"),
    ];
    if c.is_ascii_alphanumeric() {
        return Some(c);
    }
    GROUPS.iter().find(|(_, g)| g.contains(c)).map(|(a, _)| *a)
}
