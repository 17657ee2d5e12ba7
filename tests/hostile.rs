//! Hostile input against a running district node: each kind of bad entry or frame is
//! rejected with a logged reason and counted in `status.rejected`, the node keeps serving,
//! and nothing valid is lost.
//!
//! The attacker is `eduioc_net::raw`: a real libp2p peer that sends arbitrary frames. For
//! most cases it holds the stolen key of school `th-a1` (whose own node is never started),
//! so its frames pass the transport and hello checks and reach entry validation.
#![allow(clippy::unwrap_used, missing_docs)]

mod harness;

use std::time::Duration;

use eduioc_protocol::wire::{self, Request, Response};
use eduioc_protocol::{Certificate, DocId, Entry, NodeKey, Payload};
use eduioc_records::{Collection, RecordsDoc};
use harness::Net;

fn key_of(net: &Net, unit: &str) -> NodeKey {
    let hex_key = std::fs::read_to_string(net.node_dir(unit).join("node.key")).unwrap();
    NodeKey::from_secret(hex::decode(hex_key.trim()).unwrap().try_into().unwrap())
}

fn certs_of(net: &Net, unit: &str) -> Vec<Certificate> {
    postcard::from_bytes(&std::fs::read(net.node_dir(unit).join("certs.bin")).unwrap()).unwrap()
}

/// Real Automerge changes adding one student to `doc`.
fn add(doc: &mut RecordsDoc, student: &str) -> Vec<Vec<u8>> {
    let csv = format!(
        "student_id,full_name,gender,birth_date,grade,class_id,ethnicity,status\n{student},Lê Văn Tám,M,2016-03-04,4,4a,Kinh,enrolled\n"
    );
    let rows = eduioc_records::parse_import(Collection::Students, Some("text/csv"), csv.as_bytes())
        .unwrap();
    doc.upsert(&rows).unwrap();
    doc.take_local_changes()
        .into_iter()
        .map(|mut c| c.bytes().to_vec())
        .collect()
}

/// Changes adding one student to a fresh document of `actor`.
fn changes(actor: &[u8], student: &str) -> Vec<Vec<u8>> {
    add(&mut RecordsDoc::new(actor), student)
}

fn doc_of(unit: &str) -> DocId {
    DocId {
        unit: unit.into(),
        collection: "students".into(),
        year: eduioc_engine::school_year_at(chrono::Utc::now().timestamp_millis()),
    }
}

fn page(entries: &[&Entry]) -> Vec<u8> {
    wire::encode(&Request::Page {
        entries: entries.iter().map(|e| e.bytes().to_vec()).collect(),
        docs: Vec::new(),
    })
}

fn decode(r: &Result<Vec<u8>, String>) -> Response {
    wire::decode(r.as_ref().unwrap()).unwrap()
}

fn acked(r: &Result<Vec<u8>, String>) -> (u64, u32) {
    match decode(r) {
        Response::Acked { heights, rejected } => (heights.first().map_or(0, |h| h.1), rejected),
        other => panic!("expected Acked, got {other:?}"),
    }
}

#[test]
fn hostile_input_is_rejected_counted_and_harmless() {
    let mut net = Net::new(&[
        ("so", "department", None),
        ("pgd-a", "district", Some("so")),
        ("th-a1", "school", Some("pgd-a")),
        ("th-a2", "school", Some("pgd-a")),
    ]);
    for u in ["so", "pgd-a", "th-a2"] {
        net.start(u);
    }
    let honest = harness::synth_files(5, "th-a2", eduioc_synth::Size::Tiny);
    for (kind, csv) in &honest.files {
        net.import("th-a2", kind, csv);
    }

    let thief = key_of(&net, "th-a1");
    let district = key_of(&net, "pgd-a");
    let peer = eduioc_net::peer_id_of(&district.id()).unwrap();
    let addr: libp2p::Multiaddr = net.unit("pgd-a").p2p.parse().unwrap();
    let ts = chrono::Utc::now().timestamp_millis();

    let mut thief_doc = RecordsDoc::new(thief.id().as_bytes());
    let good = Entry::sign(
        &thief,
        1,
        None,
        ts,
        Payload::Changes {
            doc: doc_of("th-a1"),
            changes: add(&mut thief_doc, "hs-1"),
        },
    );
    let mut bad_sig = Entry::sign(
        &thief,
        2,
        Some(good.hash()),
        ts,
        Payload::Changes {
            doc: doc_of("th-a1"),
            changes: changes(thief.id().as_bytes(), "hs-2"),
        },
    )
    .into_bytes();
    let n = bad_sig.len();
    bad_sig[n - 1] ^= 0x01;
    let bad_sig = Entry::decode(&bad_sig).unwrap();
    let other_school = Entry::sign(
        &thief,
        2,
        Some(good.hash()),
        ts,
        Payload::Changes {
            doc: doc_of("th-a2"),
            changes: changes(thief.id().as_bytes(), "hs-3"),
        },
    );
    let fork = Entry::sign(
        &thief,
        1,
        None,
        ts + 1,
        Payload::Changes {
            doc: doc_of("th-a1"),
            changes: changes(thief.id().as_bytes(), "hs-4"),
        },
    );
    let bad_actor = Entry::sign(
        &thief,
        2,
        Some(good.hash()),
        ts,
        Payload::Changes {
            doc: doc_of("th-a1"),
            changes: changes(&[9u8; 32], "hs-5"),
        },
    );
    // Validly signed and chained, but its Automerge change reuses the actor's seq 1.
    let conflicting = Entry::sign(
        &thief,
        2,
        Some(good.hash()),
        ts,
        Payload::Changes {
            doc: doc_of("th-a1"),
            changes: changes(thief.id().as_bytes(), "hs-6"),
        },
    );
    let next_good = Entry::sign(
        &thief,
        2,
        Some(good.hash()),
        ts,
        Payload::Changes {
            doc: doc_of("th-a1"),
            changes: add(&mut thief_doc, "hs-6"),
        },
    );

    let hello = wire::encode(&Request::Hello {
        unit: "th-a1".into(),
        certs: certs_of(&net, "th-a1"),
    });
    // A page cut in half: it has the current version byte, so the message decoder reads
    // it and fails (an old version byte would be refused before the decoder).
    let garbage = {
        let mut f = page(&[&next_good]);
        f.truncate(f.len() / 2);
        f
    };
    assert_eq!(garbage[0], wire::WIRE_VERSION);
    let mut oversized = vec![wire::WIRE_VERSION];
    oversized.resize(wire::MAX_FRAME_BYTES + 1024, 0);
    let frames = vec![
        hello,
        page(&[&good]),
        page(&[&bad_sig]),
        page(&[&other_school]),
        page(&[&fork]),
        page(&[&bad_actor]),
        garbage,
        page(&[&conflicting]),
        page(&[&next_good]),
        oversized,
    ];
    let malformed_before = net.status("pgd-a")["rejected"]["malformed"]
        .as_u64()
        .unwrap_or(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let replies = rt
        .block_on(eduioc_net::raw::exchange(
            thief.secret(),
            peer,
            addr.clone(),
            frames,
            Duration::from_secs(20),
        ))
        .unwrap();
    assert!(
        matches!(decode(&replies[0]), Response::Welcome { .. }),
        "{:?}",
        decode(&replies[0])
    );
    assert_eq!(acked(&replies[1]), (1, 0), "the valid entry is accepted");
    for (i, what) in [
        (2, "bad signature"),
        (3, "another school's document"),
        (4, "fork"),
        (5, "foreign actor"),
    ] {
        assert_eq!(
            acked(&replies[i]),
            (1, 1),
            "{what} must be rejected and the log stay at 1"
        );
    }
    match decode(&replies[6]) {
        Response::Refused { key, reason } => {
            assert_eq!(key, "malformed", "{reason}");
            assert!(
                reason.starts_with("malformed frame") && !reason.contains("version"),
                "the garbage was not refused by the message decoder: {reason}"
            );
        }
        other => panic!("expected the garbage refused, got {other:?}"),
    }
    assert_eq!(
        acked(&replies[7]),
        (1, 1),
        "an unappliable change is rejected"
    );
    assert_eq!(
        acked(&replies[8]),
        (2, 0),
        "valid input after the garbage is still accepted"
    );
    assert!(
        replies.get(9).is_none_or(|r| r.is_err()),
        "an oversized frame gets no answer"
    );

    // An uncertified key: its hello and its pages are refused.
    let stranger = NodeKey::from_secret([77; 32]);
    let frames = vec![
        wire::encode(&Request::Hello {
            unit: "th-a1".into(),
            certs: vec![],
        }),
        page(&[&Entry::sign(
            &stranger,
            1,
            None,
            ts,
            Payload::Changes {
                doc: doc_of("th-a1"),
                changes: changes(stranger.id().as_bytes(), "hs-7"),
            },
        )]),
    ];
    let replies = rt
        .block_on(eduioc_net::raw::exchange(
            stranger.secret(),
            peer,
            addr,
            frames,
            Duration::from_secs(60),
        ))
        .unwrap();
    for r in &replies {
        assert!(
            matches!(decode(r), Response::Refused { ref key, .. } if key == "uncertified"),
            "{:?}",
            decode(r)
        );
    }

    // Every reason is counted; the node still serves; valid data is intact and flows up.
    net.wait_for("every rejection counted", || {
        let st = net.status("pgd-a");
        for key in [
            "bad_signature",
            "unauthorized",
            "fork",
            "bad_actor",
            "malformed",
            "oversized",
            "uncertified",
        ] {
            if st["rejected"][key].as_u64().unwrap_or(0) < 1 {
                return Err(format!("{key} not counted: {}", st["rejected"]));
            }
        }
        Ok(())
    });
    let st = net.status("pgd-a");
    eprintln!("rejected at the district: {}", st["rejected"]);
    // Two malformed: the garbage frame, and the entry whose change cannot be applied.
    assert_eq!(
        st["rejected"]["malformed"].as_u64().unwrap_or(0),
        malformed_before + 2,
        "the garbage frame and the unappliable change are each counted once as malformed: {}",
        st["rejected"]
    );
    assert_eq!(st["quarantined"], 1);
    // The fork is an alert at the district, critical, about the forked school's log.
    let fork_seq = serde_json::json!(fork.seq());
    let (code, alerts) = net.get("pgd-a", "/api/v1/alerts");
    assert_eq!(code, 200, "{alerts}");
    let forks: Vec<&serde_json::Value> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "fork")
        .collect();
    assert_eq!(forks.len(), 1, "{alerts}");
    assert_eq!(
        (
            &forks[0]["unit"],
            &forks[0]["severity"],
            &forks[0]["details"]["seq"]
        ),
        (
            &serde_json::json!("th-a1"),
            &serde_json::json!("critical"),
            &fork_seq
        ),
        "{alerts}"
    );
    let mut truth = harness::Truth::default();
    truth.add_school(&honest);
    net.wait_for("honest data at the department", || {
        truth.check(&net.stats("so", "th-a2"))
    });
    net.wait_for("the stolen key's valid entries upstream", || {
        let s = net.stats("so", "th-a1");
        if s["students"]["enrolled"] == 2 {
            Ok(())
        } else {
            Err(format!("{s}"))
        }
    });
}
