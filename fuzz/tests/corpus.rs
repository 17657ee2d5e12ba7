//! Replays the committed seeds and corpora through every target's body, without the
//! fuzzer: a regression test for everything the campaign found.

use std::path::PathBuf;

#[test]
fn every_committed_input_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for (name, target) in eduioc_fuzz::targets::ALL {
        let mut n = 0;
        for dir in ["seeds", "corpus", "regressions"] {
            let Ok(files) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for f in files {
                let path = f.expect("a readable corpus directory").path();
                let data = std::fs::read(&path).expect("a readable corpus file");
                target(&data);
                n += 1;
            }
        }
        println!("{name}: {n} inputs");
        assert!(n > 0, "no input for {name}");
        total += n;
    }
    println!("{total} inputs replayed");
}
