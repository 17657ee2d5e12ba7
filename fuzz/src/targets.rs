//! The body of each fuzz target, as a function of the input bytes, so the corpora can be
//! replayed by `cargo test` here without the fuzzer (`tests/corpus.rs`). A panic is a
//! finding.

use arbitrary::{Arbitrary, Unstructured};
use eduioc_protocol::validate::{self, LogState};
use eduioc_protocol::wire::{self, Request, Response};
use eduioc_protocol::{snapshot, Entry};
use eduioc_records::{
    parse_import, Collection, ImportErrors, Row, MAX_IMPORT_ERRORS, MAX_IMPORT_ROWS,
    XLSX_CONTENT_TYPE,
};

use crate::world::world;

/// Lets a panic that starts inside Automerge's parser unwind instead of aborting, so the
/// code under test can show that it catches it (validation turns it into a `malformed`
/// rejection). Any other panic still aborts (libFuzzer's hook is kept for them), and one
/// of Automerge's that our code does not catch still ends the run: libFuzzer treats a
/// panic leaving the target as a crash.
fn tolerate_caught_automerge_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_automerge = info
                .location()
                .is_some_and(|l| l.file().contains("/automerge-"));
            if !in_automerge {
                previous(info);
            }
        }));
    });
}

/// Entry decoding: any bytes a peer sends as an entry. A decoded entry must re-encode to
/// exactly the bytes it came from (one encoding, one hash), and validation must classify
/// it without panicking, whatever its payload (the signature is taken as good so the
/// checks after it are reached: authority, Automerge change parsing, actors, continuity).
pub fn entry_decode(data: &[u8]) {
    tolerate_caught_automerge_panics();
    let Ok(entry) = Entry::decode(data) else {
        return;
    };
    assert_eq!(entry.bytes(), data, "a decoded entry re-encodes differently");
    match Entry::decode(entry.bytes()) {
        Ok(again) => {
            assert_eq!(again, entry);
            assert_eq!(again.hash(), entry.hash());
        }
        Err(e) => panic!("a decoded entry's bytes do not decode again: {e}"),
    }
    let _ = entry.verify();
    let dir = &world().dir;
    let states = [
        LogState::default(),
        LogState {
            head: Some((
                entry.seq().saturating_sub(1),
                entry.body.backlink.unwrap_or_default(),
            )),
            ..LogState::default()
        },
        LogState {
            head: Some((entry.seq(), entry.hash())),
            at_seq: Some(entry.hash()),
            ..LogState::default()
        },
        LogState {
            sparse: true,
            gap_covered: true,
            ..LogState::default()
        },
    ];
    for log in states {
        let _ = validate::check(&entry, true, dir, log);
    }
}

/// Frame decoding: any bytes a peer sends as a request or a response. A decoded message
/// must encode back to a frame that decodes to the same message; the entries, saved
/// documents and certificates inside are decoded as a node would.
pub fn frame_decode(data: &[u8]) {
    if let Ok(req) = wire::decode::<Request>(data) {
        match wire::decode::<Request>(&wire::encode(&req)) {
            Ok(again) => assert_eq!(again, req),
            Err(e) => panic!("an encoded request does not decode: {e}"),
        }
        match &req {
            Request::Page { entries, docs } => {
                for e in entries {
                    let _ = Entry::decode(e);
                }
                for (_, d) in docs {
                    let _ = snapshot::parse_doc_header(d);
                }
            }
            Request::Hello { certs, .. } => {
                for c in certs {
                    let _ = c.signature_ok();
                    let _ = world().dir.clone().insert(c.clone());
                }
            }
            Request::Heights { .. } => {}
        }
    }
    if let Ok(resp) = wire::decode::<Response>(data) {
        match wire::decode::<Response>(&wire::encode(&resp)) {
            Ok(again) => assert_eq!(again, resp),
            Err(e) => panic!("an encoded response does not decode: {e}"),
        }
        if let Response::Welcome { certs, .. } = &resp {
            for c in certs {
                let _ = world().dir.clone().insert(c.clone());
            }
        }
    }
}

/// Page validation, structure-aware ([`crate::page`]).
pub fn page_validate(data: &[u8]) {
    if let Ok(input) = crate::page::Input::arbitrary_take_rest(Unstructured::new(data)) {
        crate::page::run(&input);
    }
}

/// CSV import: the first byte picks the kind (`% 4`, in `Collection::ALL` order) and
/// the content type (`/ 4 % 3`: none, `text/csv`, with a charset); the rest is the file.
pub fn import_csv(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let collection = Collection::ALL[pick as usize % Collection::ALL.len()];
    let content_type = match (pick / 4) % 3 {
        0 => None,
        1 => Some("text/csv"),
        _ => Some("text/csv; charset=utf-8"),
    };
    outcome(parse_import(collection, content_type, body));
}

/// XLSX import, with the XLSX content type. The first byte picks the kind (`/ 2 % 4`)
/// and the shape of the rest: odd, the rest is a whole file (a real workbook's bytes);
/// even, it is the XML of the first sheet, the shared strings and the styles, separated
/// by [`crate::zip::PART_SEPARATOR`], zipped here (stored, valid CRCs) into a workbook,
/// so the fuzzer mutates the XML the reader parses rather than compressed bytes.
pub fn import_xlsx(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let collection = Collection::ALL[(pick as usize / 2) % Collection::ALL.len()];
    let body = if pick % 2 == 1 {
        rest.to_vec()
    } else {
        crate::zip::workbook(rest)
    };
    outcome(parse_import(collection, Some(XLSX_CONTENT_TYPE), &body));
}

/// What holds of any import's outcome: at most the row limit accepted; a refusal names
/// at least one problem, at most the error limit, each with a message.
fn outcome(result: Result<Vec<Row>, ImportErrors>) {
    match result {
        Ok(rows) => assert!(rows.len() <= MAX_IMPORT_ROWS),
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "a refusal names no problem");
            assert!(errors.errors.len() <= MAX_IMPORT_ERRORS);
            for e in &errors.errors {
                assert!(!e.message.is_empty(), "a problem without a message");
            }
        }
    }
}

/// The targets by name, for replaying corpora.
pub const ALL: [(&str, fn(&[u8])); 5] = [
    ("entry_decode", entry_decode),
    ("frame_decode", frame_decode),
    ("page_validate", page_validate),
    ("import_csv", import_csv),
    ("import_xlsx", import_xlsx),
];
