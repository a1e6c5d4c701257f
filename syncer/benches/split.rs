//! `cargo bench -p nomos-syncer --bench split`: a webhook-triggered commit through a split
//! deployment (one importer serving snapshots over HTTP, syncers long-polling it).
//!
//! A Git repository of N ConfigMaps (10 namespaces) is synced to C test clusters served on
//! loopback (the syncer talks HTTP to them through kubeconfigs, as in production) by one syncer
//! process fed by `HttpSource` from an in-process importer (`nomos_importer::serve` on
//! loopback). Then, R times: a commit changes one ConfigMap, a signed GitHub push is POSTed to
//! the importer's `/webhook`, and we time from the POST until every cluster holds the new value
//! (and until every cluster reports the commit synced). Writes are counted per round from each
//! cluster's resourceVersion (one per effective write) and the syncer's apply counter: only the
//! changed object should be written. `BENCH_OBJECTS` (default 10000), `BENCH_CLUSTERS`
//! (default 10) and `BENCH_ROUNDS` (default 5) size it. Bounded: loopback only, fixed counts,
//! stops by itself.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use nomos_core::{Options, SourceFormat};
use nomos_importer::serve::{self, Hub, ServeConfig, Service};
use nomos_importer::webhook::{Secret, WebhookConfig, hmac_sha256};
use nomos_importer::{Bounds, Fetcher, GitSource, ImportConfig, Importer};
use nomos_syncer::{ClusterTarget, HttpSource, Syncer, SyncerConfig};
use nomos_testcluster::Cluster;
use nomos_testgit::git;
use tokio::sync::watch;

// The allocator of the shipped binaries (nomos-importer, nomos-syncer, nomos-testcluster), so
// that the bench measures what runs in production rather than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NAMESPACES: usize = 10;
const SECRET: &str = "bench-webhook-secret";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The file holding ConfigMaps `chunk*100 .. chunk*100+99`; `changed` maps an index to its
/// value (default `declared`).
fn chunk_file(chunk: usize, objects: usize, changed: &HashMap<usize, String>) -> String {
    let mut text = String::new();
    for i in chunk * 100..((chunk + 1) * 100).min(objects) {
        let v = changed.get(&i).map_or("declared", String::as_str);
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: bench-{}\ndata:\n  k: {v}\n",
            i % NAMESPACES
        ));
    }
    text
}

struct Never;
impl nomos_importer::Sleeper for Never {
    fn sleep(&self, _: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::pending())
    }
}

async fn post_webhook(addr: std::net::SocketAddr, body: &[u8]) -> hyper::StatusCode {
    let sig: String = hmac_sha256(SECRET.as_bytes(), body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post("/webhook")
        .header("host", addr.to_string())
        .header("x-github-event", "push")
        .header("x-hub-signature-256", format!("sha256={sig}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    send.send_request(req).await.unwrap().status()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let objects = env("BENCH_OBJECTS", 10_000);
    let clusters = env("BENCH_CLUSTERS", 10);
    let rounds = env("BENCH_ROUNDS", 5);
    // `BENCH_LOG=info` (a tracing filter) shows where the time goes.
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        use tracing_subscriber::prelude::*;
        let filter: tracing_subscriber::filter::Targets = filter.parse().expect("a filter");
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .with(filter)
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // The repository.
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "master"]);
        for n in 0..NAMESPACES {
            std::fs::write(
                repo.join(format!("ns-{n}.yaml")),
                format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{n}\n"),
            )
            .unwrap();
        }
        for chunk in 0..objects.div_ceil(100) {
            std::fs::write(
                repo.join(format!("cm-{chunk:05}.yaml")),
                chunk_file(chunk, objects, &HashMap::new()),
            )
            .unwrap();
        }
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", "seed"]);

        // The importer, on loopback, fetching only when a webhook says so.
        let names: Vec<String> = (0..clusters).map(|i| format!("c{i}")).collect();
        let fetcher = Fetcher::new(
            GitSource::new(format!("file://{}", repo.display())),
            SourceFormat::Unstructured,
            Bounds::default(),
            &tmp.path().join("cache"),
        )
        .unwrap();
        let importer = Importer::new(
            fetcher,
            ImportConfig {
                options: Options::new(SourceFormat::Unstructured),
                omit_token: true,
                ..ImportConfig::default()
            },
        );
        let (stop_tx, stop) = watch::channel(false);
        let (trigger_tx, trigger_rx) = tokio::sync::mpsc::channel(1);
        let (names_tx, names_rx) = watch::channel(names.clone());
        let hub = Arc::new(Hub::new());
        let service = Arc::new(Service::new(
            ServeConfig {
                format: SourceFormat::Unstructured,
                webhook: Some(WebhookConfig::new(
                    Secret::new(SECRET),
                    Some("master".into()),
                )),
                ..ServeConfig::default()
            },
            hub.clone(),
            names_tx,
            trigger_tx,
            Arc::new(nomos_importer::TokioSleeper),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let importer_addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve::serve(listener, service, stop.clone()));
        let h = hub.clone();
        let t = Instant::now();
        let import_loop = tokio::spawn({
            let stop = stop.clone();
            async move {
                nomos_importer::run_with_names(
                    importer,
                    names_rx,
                    Duration::from_secs(3600),
                    &Never,
                    trigger_rx,
                    stop,
                    move |o| h.record(o),
                )
                .await;
            }
        });

        // The clusters, served on loopback, and one syncer for all of them.
        let mut served = Vec::new();
        let mut cs = Vec::new();
        let mut targets = Vec::new();
        for n in &names {
            let c = Cluster::new();
            let s = c.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let kc = tmp.path().join(format!("kubeconfig-{n}"));
            std::fs::write(&kc, s.kubeconfig()).unwrap();
            let client = nomos_cluster::ClusterClient::from_kubeconfig(Some(&kc), None)
                .await
                .unwrap()
                .with_cluster_name(n.clone());
            targets.push(ClusterTarget::new(n.clone(), n.clone(), client));
            served.push(s);
            cs.push(c);
        }
        let cfg = SyncerConfig {
            format: SourceFormat::Unstructured,
            k8s_version: None,
            ..SyncerConfig::default()
        };
        let source = HttpSource::new(&format!("http://{importer_addr}")).unwrap();
        let handle = Syncer::new(cfg).start_remote(targets, source, stop.clone());
        let all_synced_at = |commit: &str| {
            handle
                .statuses()
                .iter()
                .all(|s| s.synced && s.commit.as_deref() == Some(commit))
        };
        let c0 = git(&repo, &["rev-parse", "HEAD"]);
        while !all_synced_at(&c0) {
            assert!(t.elapsed() < Duration::from_secs(900), "initial sync");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "initial sync of {objects} ConfigMaps (+{NAMESPACES} Namespaces) to {clusters} clusters through the importer: {:.2} s",
            t.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;

        let (mut have, mut synced) = (Vec::new(), Vec::new());
        let (mut writes, mut applies) = (Vec::new(), Vec::new());
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut changed = HashMap::new();
        for r in 0..rounds {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed % objects as u64) as usize;
            let value = format!("round-{r}");
            changed.insert(i, value.clone());
            std::fs::write(
                repo.join(format!("cm-{:05}.yaml", i / 100)),
                chunk_file(i / 100, objects, &changed),
            )
            .unwrap();
            git(&repo, &["commit", "-q", "-am", &value]);
            let commit = git(&repo, &["rev-parse", "HEAD"]);
            let rv0: Vec<u64> = cs.iter().map(|c| c.resource_version()).collect();
            let applies0: u64 = handle.statuses().iter().map(|s| s.applies).sum();
            let (ns, name) = (format!("bench-{}", i % NAMESPACES), format!("cm-{i}"));

            let t0 = Instant::now();
            let status = post_webhook(importer_addr, br#"{"ref":"refs/heads/master"}"#).await;
            assert_eq!(status, hyper::StatusCode::ACCEPTED);
            let mut t_published = None;
            loop {
                if t_published.is_none()
                    && hub
                        .current()
                        .snapshot
                        .is_some_and(|s| s.commit == commit)
                {
                    t_published = Some(t0.elapsed());
                }
                let done = cs.iter().all(|c| {
                    c.get("v1", "ConfigMap", Some(&ns), &name)
                        .is_some_and(|v| v["data"]["k"] == value.as_str())
                });
                if done {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(120), "round {r}: change not everywhere");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let t_have = t0.elapsed();
            while !all_synced_at(&commit) {
                assert!(t0.elapsed() < Duration::from_secs(300), "round {r}: not synced");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let t_synced = t0.elapsed();
            let w: u64 = cs
                .iter()
                .zip(&rv0)
                .map(|(c, rv)| c.resource_version() - rv)
                .sum();
            let a: u64 = handle.statuses().iter().map(|s| s.applies).sum::<u64>() - applies0;
            println!(
                "round {r}: cm-{i} changed; the importer published it after {:.1} ms, every cluster has it after {:.1} ms, all report the commit synced after {:.1} ms; writes {w} (resourceVersion), applies {a}",
                t_published.unwrap_or(t_have).as_secs_f64() * 1e3,
                t_have.as_secs_f64() * 1e3,
                t_synced.as_secs_f64() * 1e3
            );
            have.push(t_have.as_secs_f64() * 1e3);
            synced.push(t_synced.as_secs_f64() * 1e3);
            writes.push(w);
            applies.push(a);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!(
            "webhook -> change on all {clusters} clusters: median {:.1} ms (max {:.1}); -> all synced: median {:.1} ms (max {:.1}); writes per round {:?}, applies per round {:?} (expected {clusters})",
            median(&mut have.clone()),
            have.iter().copied().fold(0.0, f64::max),
            median(&mut synced.clone()),
            synced.iter().copied().fold(0.0, f64::max),
            writes,
            applies
        );
        stop_tx.send(true).ok();
        handle.join().await;
        let _ = server.await;
        let _ = import_loop.await;
        for s in served {
            s.shutdown().await;
        }
    });
}
