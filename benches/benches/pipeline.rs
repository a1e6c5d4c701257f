//! `cargo bench -p nomos-benches`: time the core pipeline (read, validate with schemas, hydrate,
//! desired state) in-process on generated hierarchical repositories of 1k, 10k and 100k
//! objects, and print throughput per size so scaling is visible (it should be linear).
//!
//! Whole-command comparisons against `kpt fn source` and `cat` live in `benches/run.sh`; the
//! numbers are recorded in BENCHMARKS.md.

use std::time::{Duration, Instant};

use nomos_benches::{Preset, generate_hierarchical_preset, read_tree};
use nomos_core::{SourceFormat, VetOptions, vet};

fn time<F: FnMut()>(runs: u32, mut f: F) -> Duration {
    f(); // warm up
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    best
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tmp = std::env::temp_dir().join(format!("nomos-bench-{}", std::process::id()));
    println!(
        "{:<8} {:>9} {:>12} {:>14} {:>16}",
        "size", "objects", "vet (best)", "objects/s", "hydrate+desired"
    );
    for (label, preset, runs) in [
        ("1k", Preset::Objects1k, 10),
        ("10k", Preset::Objects10k, 5),
        ("100k", Preset::Objects100k, 2),
    ] {
        if !filter.is_empty() && !filter.iter().any(|f| label.contains(f.as_str())) {
            continue;
        }
        let dir = tmp.join(label);
        let stats = generate_hierarchical_preset(&dir, preset).expect("generate");
        let files = read_tree(&dir).expect("read tree");
        let mut opts = VetOptions::new(SourceFormat::Hierarchy);
        opts.pipeline.k8s_version = Some(nomos_core::k8s::default_version().to_string());
        let mut objects = 0;
        let vet_time = time(runs, || {
            let r = vet(&files, &opts);
            assert!(r.is_ok(), "{}", r.render_errors());
            objects = r.passes[0].objects.len();
        });
        let r = vet(&files, &opts);
        let pass = &r.passes[0];
        let out_time = time(runs, || {
            let files = nomos_core::hydrate::render_files(
                &pass.objects,
                nomos_core::hydrate::OutputFormat::Yaml,
            );
            let state =
                nomos_core::desired::build(pass, |o| r.repository.scope_of(o), &Default::default());
            assert_eq!(state.objects.len(), files.len());
        });
        assert_eq!(objects, stats.objects);
        println!(
            "{label:<8} {objects:>9} {:>10.1}ms {:>14.0} {:>14.1}ms",
            vet_time.as_secs_f64() * 1e3,
            objects as f64 / vet_time.as_secs_f64(),
            out_time.as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
