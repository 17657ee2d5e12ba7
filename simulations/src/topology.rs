//! Topology generators: the tiny test federation, Hanoi 2022 and Vietnam 2025, and the
//! plan of the 2025 reform (districts dissolved, schools re-parented).
//!
//! A [`Topology`] lists units with the index of their parent (the root first, every
//! parent before its children). Names and ids come from `eduioc-synth` for Hanoi; for
//! Vietnam the 34 provinces are real and communes and schools are numbered.

use std::collections::BTreeMap;

use eduioc_synth::{SchoolLevel, UnitSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How a school's roster is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rosters {
    /// `eduioc_synth::school(.., Size::Realistic)` for every school: real size
    /// distribution, full-scale totals counted exactly, then scaled down.
    Realistic,
    /// A full-scale size drawn per school ([`drawn_size`]), records from `Size::Tiny`
    /// rosters, scaled down. Used where generating tens of thousands of realistic rosters
    /// would dominate the run.
    Drawn,
}

/// The full-scale enrolment of a school of `level` for a uniform draw `u` in [0, 1): skewed
/// towards small schools (many small rural schools, few large urban ones), `lo + (hi - lo)
/// u²`, mean `lo + (hi - lo) / 3`: primary 100–1,000 (mean 400), lower secondary 120–1,020
/// (420), upper secondary 300–2,100 (900). With Vietnam 2025's mix of levels (53% primary,
/// 39% lower secondary, 8% upper secondary) 53,000 schools enrol about 23.7 million
/// students, the "about 24 million".
pub fn drawn_size(level: SchoolLevel, u: f64) -> u64 {
    let (lo, hi) = match level {
        SchoolLevel::Preschool => (80.0, 300.0),
        SchoolLevel::Primary => (100.0, 1_000.0),
        SchoolLevel::LowerSecondary => (120.0, 1_020.0),
        SchoolLevel::UpperSecondary => (300.0, 2_100.0),
    };
    let u = u.clamp(0.0, 1.0);
    (lo + (hi - lo) * u * u).round() as u64
}

/// One unit of a topology.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Unit id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Level label: ministry, department, district, commune, school.
    pub level: String,
    /// Index of the parent unit (`None` for the root).
    pub parent: Option<usize>,
    /// For schools, their level.
    pub school_level: Option<SchoolLevel>,
}

/// A federation's units.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Short name (`tiny`, `hanoi-2022`, `vietnam-2025`).
    pub name: String,
    /// Units, root first, parents before children.
    pub units: Vec<Unit>,
    /// How rosters are generated.
    pub rosters: Rosters,
}

impl Topology {
    /// Indices of the school units.
    pub fn schools(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.units.len()).filter(|&i| self.units[i].school_level.is_some())
    }

    /// Number of units per level label.
    pub fn count_by_level(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for u in &self.units {
            *m.entry(u.level.clone()).or_default() += 1;
        }
        m
    }

    fn from_specs(name: &str, specs: Vec<UnitSpec>, rosters: Rosters) -> Topology {
        let index: BTreeMap<String, usize> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let units = specs
            .into_iter()
            .map(|s| Unit {
                parent: s.parent.as_ref().and_then(|p| index.get(p).copied()),
                id: s.id,
                name: s.name,
                level: s.level,
                school_level: s.school_level,
            })
            .collect();
        Topology {
            name: name.into(),
            units,
            rosters,
        }
    }
}

/// A department, two districts and three schools in each (every school under its
/// district), realistic rosters: for tests.
pub fn tiny(seed: u64) -> Topology {
    Topology::from_specs(
        "tiny",
        eduioc_synth::province_with(seed, 2, 3..=3, false),
        Rosters::Realistic,
    )
}

/// Hanoi in 2022: the department (Sở GD&ĐT Hà Nội), its 30 districts and exactly 2,835
/// schools with realistic rosters (about 2.2 million students at full scale). Upper
/// secondary schools report to the department, the others to their district, as in
/// Vietnam before the 2025 reform.
pub fn hanoi_2022(seed: u64) -> Topology {
    const SCHOOLS: usize = 2_835;
    let mut specs = eduioc_synth::province_with(seed, 30, 45..=144, true);
    let schools = specs.iter().filter(|s| s.school_level.is_some()).count();
    if schools > SCHOOLS {
        // Drop the surplus from the end (the last districts' last schools).
        let mut surplus = schools - SCHOOLS;
        let mut i = specs.len();
        while surplus > 0 && i > 0 {
            i -= 1;
            if specs[i].school_level.is_some() {
                specs.remove(i);
                surplus -= 1;
            }
        }
    } else if schools < SCHOOLS {
        // Second campuses ("cơ sở 2") of existing schools make up the difference.
        let originals: Vec<UnitSpec> = specs
            .iter()
            .filter(|s| s.school_level.is_some())
            .cloned()
            .collect();
        for s in originals.iter().cycle().take(SCHOOLS - schools) {
            let mut c = s.clone();
            c.id = format!("{}-cs2", s.id.chars().take(60).collect::<String>());
            c.name = format!("{} (cơ sở 2)", s.name);
            let pos = specs
                .iter()
                .position(|x| x.id == s.id)
                .map_or(specs.len(), |p| p + 1);
            specs.insert(pos, c);
        }
    }
    Topology::from_specs("hanoi-2022", specs, Rosters::Realistic)
}

/// The 34 provinces and cities of Vietnam since 1 July 2025.
const PROVINCES: [&str; 34] = [
    "Hà Nội",
    "Hồ Chí Minh",
    "Hải Phòng",
    "Đà Nẵng",
    "Cần Thơ",
    "Huế",
    "Lai Châu",
    "Điện Biên",
    "Sơn La",
    "Lạng Sơn",
    "Quảng Ninh",
    "Thanh Hóa",
    "Nghệ An",
    "Hà Tĩnh",
    "Cao Bằng",
    "Tuyên Quang",
    "Lào Cai",
    "Thái Nguyên",
    "Phú Thọ",
    "Bắc Ninh",
    "Hưng Yên",
    "Ninh Bình",
    "Quảng Trị",
    "Quảng Ngãi",
    "Gia Lai",
    "Khánh Hòa",
    "Lâm Đồng",
    "Đắk Lắk",
    "Đồng Nai",
    "Tây Ninh",
    "Vĩnh Long",
    "Đồng Tháp",
    "Cà Mau",
    "An Giang",
];

/// Vietnam in 2025: the Ministry (Bộ GD&ĐT) at the root, 34 provincial departments,
/// 3,321 communes and wards, and about 53,000 schools: primary and lower-secondary
/// schools under their commune, upper-secondary schools under their department.
/// Rosters are [`Rosters::Drawn`].
pub fn vietnam_2025(seed: u64) -> Topology {
    vietnam_2025_provinces(seed, PROVINCES.len())
}

/// The first `provinces` provinces of [`vietnam_2025`] (the same units, ids, rosters and
/// seeded choices as in the whole country; the ministry keeps only these departments).
/// For measuring how a run grows with the federation, and for runs that do not fit whole.
pub fn vietnam_2025_provinces(seed: u64, provinces: usize) -> Topology {
    const COMMUNES: usize = 3_321;
    const SCHOOLS: usize = 53_000;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0056_544e_3230_3235);
    let mut units = vec![Unit {
        id: "bo-gddt".into(),
        name: "Bộ Giáo dục và Đào tạo".into(),
        level: "ministry".into(),
        parent: None,
        school_level: None,
    }];
    // Communes per province: seeded weights, exact total.
    let weights: Vec<f64> = PROVINCES.iter().map(|_| rng.gen_range(0.4..1.6)).collect();
    let wsum: f64 = weights.iter().sum();
    let mut per: Vec<usize> = weights
        .iter()
        .map(|w| ((w / wsum) * COMMUNES as f64).floor() as usize)
        .collect();
    let mut k = 0;
    while per.iter().sum::<usize>() < COMMUNES {
        let len = per.len();
        per[k % len] += 1;
        k += 1;
    }
    let per_commune = SCHOOLS as f64 / COMMUNES as f64;
    let mut made = 0usize;
    let mut communes_made = 0usize;
    for (p, name) in PROVINCES.iter().enumerate() {
        let pslug = eduioc_synth::slug(name);
        let pidx = units.len();
        units.push(Unit {
            id: format!("so-{pslug}"),
            name: format!("Sở GD&ĐT {name}"),
            level: "department".into(),
            parent: Some(0),
            school_level: None,
        });
        let mut thpt = Vec::new();
        for c in 0..per[p] {
            communes_made += 1;
            let cidx = units.len();
            let cid = format!("{pslug}-x{:03}", c + 1);
            units.push(Unit {
                id: cid.clone(),
                name: format!("UBND xã/phường số {} ({name})", c + 1),
                level: "commune".into(),
                parent: Some(pidx),
                school_level: None,
            });
            // Schools so that the running total tracks SCHOOLS exactly.
            let target = ((communes_made as f64) * per_commune).round() as usize;
            let n = target.saturating_sub(made);
            for s in 0..n {
                made += 1;
                let roll: f64 = rng.gen();
                let level = if roll < 0.53 {
                    SchoolLevel::Primary
                } else if roll < 0.92 {
                    SchoolLevel::LowerSecondary
                } else {
                    SchoolLevel::UpperSecondary
                };
                let unit = Unit {
                    id: format!("{}-{cid}-{}", level.id_prefix(), s + 1),
                    name: format!("Trường {} số {} xã {}", level.label(), s + 1, c + 1),
                    level: "school".into(),
                    parent: Some(cidx),
                    school_level: Some(level),
                };
                if level == SchoolLevel::UpperSecondary {
                    thpt.push(unit);
                } else {
                    units.push(unit);
                }
            }
        }
        for mut u in thpt {
            u.parent = Some(pidx);
            units.push(u);
        }
    }
    let keep = provinces.clamp(1, PROVINCES.len());
    if keep < PROVINCES.len() {
        // Provinces are laid out one after the other: cut before the first one dropped.
        if let Some(cut) = units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.level == "department")
            .nth(keep)
            .map(|(i, _)| i)
        {
            units.truncate(cut);
        }
    }
    let name = if keep < PROVINCES.len() {
        format!("vietnam-2025 (first {keep} of 34 provinces)")
    } else {
        "vietnam-2025".into()
    };
    Topology {
        name,
        units,
        rosters: Rosters::Drawn,
    }
}

/// A re-organisation of the hierarchy: units created, schools re-parented (new
/// certificate versions), offices dissolved. See [`plan_reform`].
#[derive(Debug, Clone)]
pub struct Reform {
    /// New commune units to create (their parent is the root).
    pub communes: Vec<Unit>,
    /// (school index, its new parent).
    pub moves: Vec<(usize, NewParent)>,
    /// Indices of the dissolved offices.
    pub dissolved: Vec<usize>,
}

/// Where a re-parented school goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewParent {
    /// `Reform::communes[i]`, created by the reform.
    NewCommune(usize),
    /// An existing unit of the topology, by index.
    Unit(usize),
}

/// Plans the reform of `topo`.
///
/// - With districts (Hanoi 2022): the 2025 reform. New commune units (about one per 18
///   schools of a district, at least one); every school under a district goes to a
///   commune of the same district, or (every 20th school) to the department; the
///   districts are dissolved. Schools already under the department keep it.
/// - Without districts (Vietnam 2025, already reformed): commune mergers. In every
///   department, every 10th commune is merged into the commune before it: its schools
///   are re-parented there and it is dissolved.
pub fn plan_reform(topo: &Topology) -> Reform {
    if topo.units.iter().any(|u| u.level == "district") {
        plan_district_reform(topo)
    } else {
        plan_commune_mergers(topo)
    }
}

fn plan_commune_mergers(topo: &Topology) -> Reform {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); topo.units.len()];
    for (i, u) in topo.units.iter().enumerate() {
        if let Some(p) = u.parent {
            children[p].push(i);
        }
    }
    let mut moves = Vec::new();
    let mut dissolved = Vec::new();
    for (d, unit) in topo.units.iter().enumerate() {
        if unit.level != "department" {
            continue;
        }
        let communes: Vec<usize> = children[d]
            .iter()
            .copied()
            .filter(|&c| topo.units[c].level == "commune")
            .collect();
        for k in (9..communes.len()).step_by(10) {
            let (gone, into) = (communes[k], communes[k - 1]);
            dissolved.push(gone);
            for &s in &children[gone] {
                if topo.units[s].school_level.is_some() {
                    moves.push((s, NewParent::Unit(into)));
                }
            }
        }
    }
    Reform {
        communes: Vec::new(),
        moves,
        dissolved,
    }
}

fn plan_district_reform(topo: &Topology) -> Reform {
    let mut communes = Vec::new();
    let mut moves = Vec::new();
    let mut dissolved = Vec::new();
    for (d, unit) in topo.units.iter().enumerate() {
        if unit.level != "district" {
            continue;
        }
        dissolved.push(d);
        let schools: Vec<usize> = topo
            .schools()
            .filter(|&s| topo.units[s].parent == Some(d))
            .collect();
        let n = (schools.len() / 18).max(1);
        let first = communes.len();
        let stem: String = unit
            .id
            .trim_start_matches("pgd-")
            .chars()
            .take(50)
            .collect();
        for i in 0..n {
            communes.push(Unit {
                id: format!("{stem}-xa{}", i + 1),
                name: format!("UBND phường/xã {} ({})", i + 1, unit.name),
                level: "commune".into(),
                parent: Some(0),
                school_level: None,
            });
        }
        for (k, s) in schools.into_iter().enumerate() {
            let to = if k % 20 == 19 {
                NewParent::Unit(0)
            } else {
                NewParent::NewCommune(first + k % n)
            };
            moves.push((s, to));
        }
    }
    Reform {
        communes,
        moves,
        dissolved,
    }
}
