//! The page generator builds what a peer would send: an honest page is taken whole, and
//! the damage it is asked for is refused for the right reason.

use eduioc_fuzz::page::{
    invariants, receiver, Beside, DocPick, EntrySpec, Generator, Item, Op, PageSpec, PayloadSpec,
    ReplacesSpec, Scalar, SeqSpec,
};
use eduioc_engine::Engine;
use eduioc_fuzz::world::world;
use eduioc_protocol::LogSource;

fn students() -> DocPick {
    DocPick {
        unit: 2,
        collection: 0,
        other_year: false,
    }
}

fn changes(seq: SeqSpec, grade: i64) -> Item {
    Item::Entry(EntrySpec {
        author: 2,
        seq,
        timestamp_ms: 0,
        payload: PayloadSpec::Changes {
            doc: students(),
            ops: vec![Op::Put {
                id: 1,
                field: 3,
                value: Scalar::Int(grade),
            }],
            foreign_actor: None,
        },
        damage: None,
    })
}

fn snapshot(beside: Beside) -> Item {
    Item::Entry(EntrySpec {
        author: 2,
        seq: SeqSpec::Next,
        timestamp_ms: 0,
        payload: PayloadSpec::Snapshot {
            doc: students(),
            replaces: ReplacesSpec::Earlier,
            heads: None,
            beside,
        },
        damage: None,
    })
}

fn district() -> Engine {
    receiver(1)
}

#[test]
fn an_honest_page_is_taken_whole() {
    let mut g = Generator::default();
    let spec = PageSpec {
        items: vec![
            changes(SeqSpec::Next, 5),
            changes(SeqSpec::Next, 6),
            snapshot(Beside::Nothing),
        ],
        stray_docs: vec![],
    };
    let (entries, docs) = g.page(&spec);
    let mut node = district();
    let out = node.ingest_page(&entries, &docs).unwrap();
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    let school = world().keys[2].id();
    assert_eq!(node.height(&school), 3);
    invariants(&node, true);
}

#[test]
fn a_hole_needs_the_document_beside_its_snapshot() {
    // The receiver gets only the snapshot entry (seq 3) of a log whose seqs 1 and 2 it
    // never saw: with the saved document beside it, the hole is taken; without, refused.
    for (beside, taken) in [(Beside::Save, true), (Beside::Nothing, false)] {
        let mut g = Generator::default();
        let _ = g.page(&PageSpec {
            items: vec![changes(SeqSpec::Next, 5), changes(SeqSpec::Next, 6)],
            stray_docs: vec![],
        });
        let (entries, docs) = g.page(&PageSpec {
            items: vec![snapshot(beside)],
            stray_docs: vec![],
        });
        let mut node = district();
        let out = node.ingest_page(&entries, &docs).unwrap();
        let school = world().keys[2].id();
        assert_eq!(node.height(&school) == 3, taken, "{:?}", out.rejected);
        assert_eq!(out.rejected.is_empty(), taken, "{:?}", out.rejected);
        if taken {
            assert_eq!(node.holes(&school), vec![(1, 2)]);
        }
        invariants(&node, true);
    }
}
