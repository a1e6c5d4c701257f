//! `cargo bench -p nomos-syncer --bench drift`: drift-correction latency with N managed objects.
//!
//! One test cluster served on loopback (the syncer talks HTTP to it through a kubeconfig, as in
//! production); the syncer manages N ConfigMaps; then, one at a time, an external actor rewrites
//! a declared field of a random managed object, and we time from the moment that write returns
//! to the moment the cluster holds the declared value again (the restoring write landed).
//! Prints count, median, p90, p99 and max. `BENCH_OBJECTS` (default 10000) and `BENCH_EVENTS`
//! (default 1000) size it. Bounded: loopback only, fixed counts, stops by itself.

use std::time::{Duration, Instant};

use nomos_core::{SourceFile, SourceFormat};
use nomos_syncer::{ClusterTarget, Snapshot, Syncer, SyncerConfig};
use nomos_testcluster::Cluster;
use serde_json::json;
use tokio::sync::watch;

// The allocator of the shipped binaries (nomos-syncer, nomos-testcluster), so that the bench
// measures what runs in production rather than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let objects = env("BENCH_OBJECTS", 10_000);
    let events = env("BENCH_EVENTS", 1_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let cluster = Cluster::new();
        let served = cluster.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kc = dir.path().join("kubeconfig");
        std::fs::write(&kc, served.kubeconfig()).unwrap();
        let client = nomos_cluster::ClusterClient::from_kubeconfig(Some(&kc), None).await.unwrap();

        let namespaces = 10;
        let mut files = vec![];
        for n in 0..namespaces {
            files.push(SourceFile::new(format!("ns-{n}.yaml"), format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{n}\n")));
        }
        for chunk in 0..objects.div_ceil(100) {
            let mut text = String::new();
            for i in chunk * 100..((chunk + 1) * 100).min(objects) {
                text.push_str(&format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: bench-{}\ndata:\n  k: declared\n",
                    i % namespaces
                ));
            }
            files.push(SourceFile::new(format!("cm-{chunk:05}.yaml"), text));
        }
        let (_source_tx, source) = watch::channel(Some(Snapshot::from_files(files, None)));
        let (stop_tx, stop) = watch::channel(false);
        let cfg = SyncerConfig { format: SourceFormat::Unstructured, k8s_version: None, ..SyncerConfig::default() };
        let t = Instant::now();
        let handle = Syncer::new(cfg).start(vec![ClusterTarget::new("bench", "bench", client)], source, stop);
        let mut st = handle.subscribe("bench").unwrap();
        while !st.borrow_and_update().synced {
            tokio::time::timeout(Duration::from_secs(120), st.changed()).await.expect("initial sync").unwrap();
        }
        println!("initial sync of {objects} ConfigMaps (+{namespaces} Namespaces): {:.3} s", t.elapsed().as_secs_f64());
        // Let the watches settle.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let mut lat = Vec::with_capacity(events);
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for e in 0..events {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed % objects as u64) as usize;
            let (ns, name) = (format!("bench-{}", i % namespaces), format!("cm-{i}"));
            let actor = cluster.external("someone-else");
            let t0 = Instant::now();
            actor.merge_patch("v1", "ConfigMap", Some(&ns), &name, &json!({"data": {"k": format!("drift-{e}")}})).unwrap();
            loop {
                let v = cluster.get("v1", "ConfigMap", Some(&ns), &name).unwrap();
                if v["data"]["k"] == "declared" {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(10) {
                    panic!("drift on {ns}/{name} not corrected within 10 s");
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            lat.push(t0.elapsed());
            // Stay below the fight threshold per object (random objects make repeats rare).
        }
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
        println!(
            "drift corrections: {} events over {objects} managed objects: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            lat.len(),
            pct(0.5),
            pct(0.9),
            pct(0.99),
            lat.last().unwrap().as_secs_f64() * 1e3
        );
        let s = handle.status("bench").unwrap();
        println!("syncer status: drift_corrections {}, errors {}", s.drift_corrections, s.errors.len());
        stop_tx.send(true).ok();
        handle.join().await;
        served.shutdown().await;
    });
}
