//! Seed `fuzz/corpus/` from `policy-examples/` (run from the workspace root):
//! `cargo run -p nomos-benches --bin seed-fuzz-corpus`.

use std::path::{Path, PathBuf};

use nomos_benches::read_tree;

fn main() {
    let examples = Path::new("policy-examples");
    let corpus = Path::new("fuzz/corpus");
    std::fs::create_dir_all(corpus.join("yaml")).unwrap();
    std::fs::create_dir_all(corpus.join("vet")).unwrap();
    let mut n_yaml = 0;
    for f in read_tree(examples).unwrap() {
        if [".yaml", ".yml", ".json"]
            .iter()
            .any(|e| f.path.ends_with(e))
        {
            std::fs::write(
                corpus.join("yaml").join(f.path.replace('/', "__")),
                &f.bytes,
            )
            .unwrap();
            n_yaml += 1;
        }
    }
    let hostile: [(&str, String); 4] = [
        ("hostile__aliases.yaml", "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n".into()),
        ("hostile__deep.yaml", format!("{}{}", "[".repeat(100), "]".repeat(100))),
        ("hostile__dupkeys.yaml", "a: 1\nb: 2\na: 3\n".into()),
        ("hostile__scalars.yaml", "a: yes\nb: 0755\nc: 0x1F\nd: 1_000\ne: ~\nf: .inf\ng: 'on'\nh: 1e3\n".into()),
    ];
    for (name, text) in hostile {
        std::fs::write(corpus.join("yaml").join(name), text).unwrap();
    }
    let mut repos: Vec<(String, PathBuf)> = vec![
        ("hierarchical".into(), examples.join("hierarchical")),
        ("unstructured".into(), examples.join("unstructured")),
    ];
    for e in std::fs::read_dir(examples.join("invalid")).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            repos.push((
                format!("invalid__{}", p.file_name().unwrap().to_string_lossy()),
                p,
            ));
        }
    }
    repos.sort();
    for (name, dir) in &repos {
        let files = read_tree(dir).unwrap();
        std::fs::write(
            corpus.join("vet").join(name),
            nomos_core::fuzzing::encode_tree(&files),
        )
        .unwrap();
    }
    println!(
        "seeded {n_yaml} YAML inputs (+4 hostile) and {} trees",
        repos.len()
    );
}
