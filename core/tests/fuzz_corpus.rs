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

use proptest::prelude::*;

fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(dir);
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// A stable-Rust stand-in for the fuzzer: corpus inputs with random byte edits never panic
    /// the YAML reader or the whole vet pipeline.
    #[test]
    fn mutated_corpus_inputs_never_panic(pick in any::<prop::sample::Index>(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8), vet in any::<bool>()) {
        let all = if vet { corpus("vet") } else { corpus("yaml") };
        let mut data = pick.get(&all).clone();
        for (at, byte, op) in edits {
            if data.is_empty() { data.push(byte); continue; }
            let i = at.index(data.len());
            match op {
                0 => data[i] = byte,
                1 => data.insert(i, byte),
                _ => { data.remove(i); }
            }
        }
        if vet { nomos_core::fuzzing::vet_input(&data) } else { nomos_core::fuzzing::yaml_input(&data) }
    }
}
