//! Alerts: every rule evaluated where the data is, the same ids at every node,
//! acknowledgements travelling up, escalation above the unit.

use std::sync::atomic::{AtomicI64, Ordering};

use super::*;

const DAY: i64 = 86_400_000;
/// 2026-10-01, in the school year the test world is configured for.
const T0: i64 = 1_790_812_800_000;

fn open_at(w: &World, unit: &str, now: &Arc<AtomicI64>) -> Engine {
    let now = Arc::clone(now);
    Engine::open_with(
        w.config(unit, unit, 8),
        Store::in_memory().unwrap(),
        Clock::new(move || now.load(Ordering::Relaxed)),
    )
    .unwrap()
}

fn ids(e: &Engine, unit: Option<&str>) -> Vec<(String, Severity)> {
    e.views()
        .figures()
        .alerts(unit, None)
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.severity))
        .collect()
}

#[test]
fn alerts_are_the_same_everywhere_escalate_above_and_acknowledgements_travel_up() {
    let w = World::new();
    let now = Arc::new(AtomicI64::new(T0));
    let mut s1 = open_at(&w, "s1", &now);
    let mut d = open_at(&w, "pgd", &now);
    // Last year 40 enrolled and nobody left; this year 36 in 5A (cap 35), 2 dropped out.
    let mut last = String::from(HEADER);
    for i in 0..40 {
        last.push_str(&format!("\nL{i},A,F,2015-01-01,4,4A,Kinh,enrolled"));
    }
    s1.import_into("2025-2026", "students", Some("text/csv"), last.as_bytes())
        .unwrap();
    let mut this = String::from(HEADER);
    for i in 0..38 {
        let status = if i < 36 { "enrolled" } else { "dropped_out" };
        this.push_str(&format!("\nL{i},A,F,2015-01-01,5,5A,Kinh,{status}"));
    }
    s1.import("students", Some("text/csv"), this.as_bytes())
        .unwrap();
    s1.import(
        "classes",
        Some("text/csv"),
        b"class_id,name,grade,homeroom_staff_id\n5A,Lop 5A,5,\n",
    )
    .unwrap();
    let target = d
        .set_target("s1", "2026-2027", "dropout_rate", "<=", 1.0)
        .unwrap();
    sync(&s1, &mut d);
    sync(&d, &mut s1);

    let over = "class_over_size:s1:2026-2027:5A".to_string();
    let rising = "dropout_rising:s1:2026-2027".to_string();
    let missed = format!("target_not_met:s1:{target}");
    let silent = "not_reporting:s2:2026-2027".to_string();
    let w_ = Severity::Warning;
    // At the district: s2 never sent anything (critical), and s1's three.
    assert_eq!(
        ids(&d, None),
        [
            (silent.clone(), Severity::Critical),
            (over.clone(), w_),
            (rising.clone(), w_),
            (missed.clone(), w_),
        ]
    );
    // The school sees its own, with the same ids.
    let at_school = [
        (over.clone(), w_),
        (rising.clone(), w_),
        (missed.clone(), w_),
    ];
    assert_eq!(ids(&s1, None), at_school);
    let a = d.views().figures().alerts(Some("s1"), None).unwrap();
    assert_eq!(
        a[0].details,
        serde_json::json!({"class_id": "5A", "grade": "5", "size": 36, "cap": 35})
    );
    let r = &a[1].details;
    assert_eq!(r["previous_rate"], 0.0);
    assert!(
        (r["rate"].as_f64().unwrap() - 200.0 / 38.0).abs() < 1e-9,
        "{r}"
    );
    assert_eq!(a[2].details["target_id"], target.as_str());

    // Four days on, unacknowledged: one severity higher above the school, not at it.
    now.store(T0 + 4 * DAY, Ordering::Relaxed);
    assert!(ids(&d, Some("s1"))
        .iter()
        .all(|(_, s)| *s == Severity::Critical));
    assert_eq!(ids(&s1, None), at_school);

    // The school acknowledges the oversized class; the district sees it and who did.
    assert!(matches!(
        s1.ack_alert("class_over_size:s1:2026-2027:9Z", "x"),
        Err(Error::NotFound(_))
    ));
    let ack = s1.ack_alert(&over, "Tách lớp 5A từ tuần sau").unwrap();
    assert_eq!(ack.by, "s1");
    sync(&s1, &mut d);
    let a = d.views().figures().alerts(Some("s1"), None).unwrap();
    let acked = a.iter().find(|x| x.id == over).unwrap();
    assert_eq!(acked.severity, w_, "acknowledged: not escalated");
    let by = acked.acknowledged.as_ref().unwrap();
    assert_eq!(
        (by.by.as_str(), by.note.as_str()),
        ("s1", "Tách lớp 5A từ tuần sau")
    );

    // Eight days after its last entry (the acknowledgement) the school is not reporting
    // any more.
    now.store(T0 + 12 * DAY, Ordering::Relaxed);
    let silent_s1 = d.views().figures().alerts(Some("s1"), None).unwrap();
    let nr = silent_s1
        .iter()
        .find(|x| x.rule == "not_reporting")
        .unwrap();
    assert_eq!(nr.id, "not_reporting:s1:2026-2027");
    assert_eq!(nr.details["last_data_at"], rfc_of(T0 + 4 * DAY));
}

fn rfc_of(ms: i64) -> String {
    crate::stats::rfc3339(ms)
}

/// One personal id enrolled at two schools is raised at their district, at the district
/// and above; a student who left does not count.
#[test]
fn a_personal_id_enrolled_at_two_schools_is_a_duplicate_at_their_district() {
    let w = World::new();
    let mut so = w.open("so", 8);
    let mut d = w.open("pgd", 8);
    let mut s1 = w.open("s1", 8);
    let mut s2 = w.open("s2", 8);
    let roster = |rows: &[(&str, &str, &str)]| {
        let mut s = format!("{HEADER},personal_id");
        for (id, status, pid) in rows {
            s.push_str(&format!("\n{id},A,F,2015-01-01,5,5A,Kinh,{status},{pid}"));
        }
        s
    };
    let (a, b, c) = ("001015000001", "001015000002", "001015000003");
    s1.import(
        "students",
        Some("text/csv"),
        roster(&[("X1", "enrolled", a), ("X2", "enrolled", b)]).as_bytes(),
    )
    .unwrap();
    s2.import(
        "students",
        Some("text/csv"),
        roster(&[
            ("Y1", "enrolled", b),
            ("Y2", "enrolled", c),
            ("Y3", "dropped_out", a),
        ])
        .as_bytes(),
    )
    .unwrap();
    sync(&s1, &mut d);
    sync(&s2, &mut d);
    sync(&d, &mut so);
    let id = format!("duplicate_student:pgd:2026-2027:{b}");
    for e in [&d, &so] {
        let dup: Vec<Alert> = e
            .views()
            .figures()
            .alerts(None, None)
            .unwrap()
            .into_iter()
            .filter(|x| x.rule == "duplicate_student")
            .collect();
        assert_eq!(dup.len(), 1, "at {}: {dup:?}", e.unit());
        assert_eq!(dup[0].id, id);
        assert_eq!(dup[0].unit, "pgd");
        assert_eq!(
            dup[0].details,
            serde_json::json!({"personal_id": b, "schools": ["s1", "s2"]})
        );
    }
    // A school alone sees no duplicate; nor does the district once one of them leaves.
    let none = |e: &Engine| {
        e.views()
            .figures()
            .alerts(None, None)
            .unwrap()
            .iter()
            .all(|x| x.rule != "duplicate_student")
    };
    assert!(none(&s1));
    s2.import(
        "students",
        Some("text/csv"),
        roster(&[("Y1", "transferred_out", b)]).as_bytes(),
    )
    .unwrap();
    sync(&s2, &mut d);
    assert!(none(&d));
}
