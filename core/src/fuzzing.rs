//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the corpus-replay test, so the
//! corpus is exercised on stable Rust in CI.

use crate::read::SourceFile;
use crate::{SourceFormat, VetOptions, vet, yaml};

/// Parse arbitrary bytes as YAML; if it parses, write it back and check that it reads back to
/// the same value (the writer's round-trip promise).
pub fn yaml_input(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = yaml::Limits {
        max_bytes: 1 << 20,
        max_depth: 64,
        max_nodes: 100_000,
    };
    if let Ok(parsed) = yaml::parse(text, &limits) {
        for doc in parsed.documents {
            let written = yaml::to_yaml(&doc.value);
            let back =
                yaml::parse(&written, &yaml::Limits::default()).expect("written YAML parses");
            assert_eq!(
                back.documents.len(),
                1,
                "written YAML is one document:\n{written}"
            );
            assert_eq!(
                back.documents[0].value, doc.value,
                "round trip changed the value:\n{written}"
            );
        }
    }
}

/// Decode a file tree: `path \0 content \0 path \0 content …`.
pub fn decode_tree(data: &[u8]) -> Vec<SourceFile> {
    let mut parts = data.split(|b| *b == 0);
    let mut files = Vec::new();
    while let (Some(path), Some(content)) = (parts.next(), parts.next()) {
        let path = String::from_utf8_lossy(path).trim_matches('/').to_string();
        if !path.is_empty() {
            files.push(SourceFile::new(path, content.to_vec()));
        }
        if files.len() >= 64 {
            break;
        }
    }
    files
}

/// Encode a file tree for [`decode_tree`].
pub fn encode_tree(files: &[SourceFile]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        out.extend_from_slice(f.path.as_bytes());
        out.push(0);
        out.extend_from_slice(&f.bytes);
        out.push(0);
    }
    out
}

/// Run the whole vet pipeline (both formats, with schemas, desired state) on a decoded tree.
pub fn vet_input(data: &[u8]) {
    let files = decode_tree(data);
    for format in [SourceFormat::Hierarchy, SourceFormat::Unstructured] {
        let mut opts = VetOptions::new(format);
        opts.pipeline.limits = yaml::Limits {
            max_bytes: 1 << 20,
            max_depth: 64,
            max_nodes: 100_000,
        };
        opts.pipeline.k8s_version = Some(crate::k8s::default_version().to_string());
        let result = vet(&files, &opts);
        let _ = result.render_errors();
        for pass in &result.passes {
            if pass.is_syncable() {
                let repo = &result.repository;
                let state = crate::desired::build(pass, |o| repo.scope_of(o), &Default::default());
                assert_eq!(state.objects.len(), pass.objects.len());
            }
            let _ = crate::hydrate::render_files(&pass.objects, crate::hydrate::OutputFormat::Yaml);
        }
    }
}
