//! Seed `fuzz/corpus/` from `policy-examples/` (run from the workspace root):
//! `cargo run -p nomos-benches --bin seed-fuzz-corpus`.

use std::path::{Path, PathBuf};

use nomos_core::SourceFile;

fn files_under(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, p));
            }
        }
    }
    out.sort();
    out
}

fn main() {
    let examples = Path::new("policy-examples");
    let corpus = Path::new("fuzz/corpus");
    std::fs::create_dir_all(corpus.join("yaml")).unwrap();
    std::fs::create_dir_all(corpus.join("vet")).unwrap();
    let mut n_yaml = 0;
    for (rel, path) in files_under(examples) {
        if rel.ends_with(".yaml") || rel.ends_with(".yml") || rel.ends_with(".json") {
            let name = rel.replace('/', "__");
            std::fs::copy(&path, corpus.join("yaml").join(name)).unwrap();
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
        let files: Vec<SourceFile> = files_under(dir)
            .into_iter()
            .map(|(rel, p)| SourceFile::new(rel, std::fs::read(p).unwrap()))
            .collect();
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
