//! Replay the fuzz corpus (`fuzz/corpus/*`) through the fuzz entry points on stable Rust.

use std::path::Path;

fn replay(dir: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(dir);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let r = std::panic::catch_unwind(|| f(&data));
        assert!(r.is_ok(), "fuzz input {} panicked", path.display());
        n += 1;
    }
    n
}

#[test]
fn yaml_corpus_replays_cleanly() {
    assert!(replay("yaml", nomos_core::fuzzing::yaml_input) >= 20);
}

#[test]
fn vet_corpus_replays_cleanly() {
    assert!(replay("vet", nomos_core::fuzzing::vet_input) >= 3);
}
