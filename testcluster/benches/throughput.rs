//! Throughput and memory of the fake API server (the targets of issue 3).
//!
//! Serves one cluster on loopback and drives it, in one run, with:
//!
//! * `apply`: server-side applies of ConfigMaps (`Api<DynamicObject>::patch`, `Patch::Apply`,
//!   field manager `bench`, force) from concurrent kube-rs clients: one pass creating every
//!   object, then one pass re-applying each with changed data;
//! * `get`: gets of those objects from the same clients;
//! * `kubectl`: the same apply workload (a create pass, then a re-apply pass with changed data)
//!   through `kubectl apply --server-side -f DIR`, for the kube-rs ÷ kubectl ratio;
//! * `memory`: the growth of the process's resident set while a fresh cluster stores many
//!   ConfigMaps (written in process by server-side apply, so they carry `managedFields`).
//!
//! Usage: `cargo bench -p nomos-testcluster --bench throughput [-- [quick] [PART…]]` where PART is
//! `apply`, `get`, `kubectl`, `memory` (default: all). Sizes come from `quick` or the
//! environment: `BENCH_OBJECTS` (distinct objects, default 10000), `BENCH_GETS` (100000),
//! `BENCH_CLIENTS` (16), `BENCH_KUBECTL_OBJECTS` (2000), `BENCH_MEMORY_OBJECTS` (100000),
//! `KUBECTL` (`kubectl`). Loopback only; fixed request counts; stops by itself.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use nomos_testcluster::Cluster;
use serde_json::{Value, json};

// The allocator of the `nomos-testcluster` binary, so that the bench measures the server as it
// ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Sizes {
    objects: usize,
    gets: usize,
    clients: usize,
    kubectl_objects: usize,
    memory_objects: usize,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Sizes {
    fn new(quick: bool) -> Self {
        let (o, g, k, m) = if quick {
            (1_000, 5_000, 100, 10_000)
        } else {
            (10_000, 100_000, 2_000, 100_000)
        };
        Self {
            objects: env_or("BENCH_OBJECTS", o).max(1),
            gets: env_or("BENCH_GETS", g),
            clients: env_or("BENCH_CLIENTS", 16).max(1),
            kubectl_objects: env_or("BENCH_KUBECTL_OBJECTS", k).max(1),
            memory_objects: env_or("BENCH_MEMORY_OBJECTS", m),
        }
    }
}

/// One line of the results table.
struct Row {
    what: String,
    count: usize,
    secs: f64,
    note: String,
}

impl Row {
    fn rate(&self) -> f64 {
        self.count as f64 / self.secs.max(1e-9)
    }
}

fn cm_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "ConfigMap"), "configmaps")
}

/// A ConfigMap of a few hundred bytes, as a configuration sync would apply it.
fn configmap(prefix: &str, i: usize, generation: u32) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": format!("{prefix}-{i:06}"),
            "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": "bench", "bench/shard": format!("s{}", i % 16)},
            "annotations": {"bench/source": format!("repo/path/{prefix}-{i:06}.yaml")},
        },
        "data": {
            "index": i.to_string(),
            "generation": generation.to_string(),
            "settings.yaml": "logLevel: info\nreplicas: 3\nfeatures:\n  - a\n  - b\n",
        },
    })
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn client_for(kubeconfig: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

/// Runs `total` operations spread over the clients, each client one task doing one request at a
/// time, and returns the elapsed time.
async fn drive<F, Fut>(clients: &[kube::Client], total: usize, op: F) -> Duration
where
    F: Fn(kube::Client, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (c, next, op) = (c.clone(), next.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                op(c.clone(), i).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    start.elapsed()
}

async fn apply_pass(clients: &[kube::Client], objects: usize, generation: u32) -> Duration {
    drive(clients, objects, move |c, i| async move {
        let api: Api<DynamicObject> = Api::namespaced_with(c, "default", &cm_resource());
        let obj: DynamicObject =
            serde_json::from_value(configmap("rs", i, generation)).expect("object");
        let name = obj.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&obj),
        )
        .await
        .expect("apply");
    })
    .await
}

fn write_yaml_dir(dir: &Path, objects: usize, generation: u32) {
    const PER_FILE: usize = 100;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("mkdir");
    for (f, start) in (0..objects).step_by(PER_FILE).enumerate() {
        let mut text = String::new();
        for i in start..(start + PER_FILE).min(objects) {
            // YAML is a superset of JSON: one flow-style document per object.
            text.push_str("---\n");
            text.push_str(&configmap("kubectl", i, generation).to_string());
            text.push('\n');
        }
        std::fs::write(dir.join(format!("cms-{f:04}.yaml")), text).expect("write yaml");
    }
}

fn kubectl_pass(kubectl: &str, kubeconfig: &Path, cache: &Path, dir: &Path) -> Duration {
    let start = Instant::now();
    let out = Command::new(kubectl)
        .arg("apply")
        .arg("--server-side")
        .arg("--force-conflicts")
        .arg("--field-manager=bench-kubectl")
        .arg("-f")
        .arg(dir)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .output()
        .expect("running kubectl");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// Stores `n` ConfigMaps in a fresh cluster (in process, server-side apply) and returns the
/// growth of the resident set and the time taken.
fn memory(n: usize) -> (Option<u64>, Duration, usize, usize) {
    let before = rss_bytes();
    let start = Instant::now();
    let cluster = Cluster::new();
    let actor = cluster.external("bench");
    for i in 0..n {
        actor.apply(&configmap("mem", i, 1)).expect("apply");
    }
    let elapsed = start.elapsed();
    let count = cluster.object_count();
    let after = rss_bytes();
    let growth = before.zip(after).map(|(b, a)| a.saturating_sub(b));
    let json_len = cluster
        .get("v1", "ConfigMap", Some("default"), "mem-000000")
        .map_or(0, |v| v.to_string().len());
    drop(cluster);
    (growth, elapsed, count, json_len)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let quick = args.iter().any(|a| a == "quick");
    let mut parts: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| matches!(*a, "apply" | "get" | "kubectl" | "memory"))
        .collect();
    if parts.is_empty() {
        parts = vec!["apply", "get", "kubectl", "memory"];
    }
    let want = |p: &str| parts.contains(&p);
    let s = Sizes::new(quick);
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    println!(
        "testcluster throughput: {} worker threads, {} clients, {} objects, {} gets, {} kubectl objects, {} stored for memory{}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        s.clients,
        s.objects,
        s.gets,
        s.kubectl_objects,
        s.memory_objects,
        if quick { " (quick)" } else { "" }
    );
    let mut rows = Vec::new();
    let mut summary = Vec::new();

    // Memory first, while the process is still small and its heap unfragmented.
    if want("memory") {
        let (growth, elapsed, count, json_len) = memory(s.memory_objects);
        let note = match growth {
            Some(g) => {
                summary.push(format!(
                    "memory: {count} objects stored, RSS grew by {:.1} MiB ({:.0} bytes/object; one object is {json_len} bytes of JSON)",
                    mib(g),
                    g as f64 / count.max(1) as f64
                ));
                format!("RSS +{:.1} MiB", mib(g))
            }
            None => "RSS unavailable".into(),
        };
        rows.push(Row {
            what: "in-process applies (store, memory)".into(),
            count: s.memory_objects,
            secs: elapsed.as_secs_f64(),
            note,
        });
    }

    let cluster = Cluster::new();
    let served = cluster
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let kubeconfig_text = served.kubeconfig();
    let mut clients = Vec::new();
    for _ in 0..s.clients {
        clients.push(client_for(&kubeconfig_text).await);
    }

    let mut rs_apply_rate = None;
    if want("apply") || want("get") {
        let t1 = apply_pass(&clients, s.objects, 1).await;
        let t2 = if want("apply") {
            Some(apply_pass(&clients, s.objects, 2).await)
        } else {
            None
        };
        if want("apply") {
            let t2 = t2.unwrap_or_default();
            rows.push(Row {
                what: "kube-rs SSA create".into(),
                count: s.objects,
                secs: t1.as_secs_f64(),
                note: String::new(),
            });
            rows.push(Row {
                what: "kube-rs SSA re-apply (changed)".into(),
                count: s.objects,
                secs: t2.as_secs_f64(),
                note: String::new(),
            });
            let all = Row {
                what: "kube-rs SSA total".into(),
                count: 2 * s.objects,
                secs: (t1 + t2).as_secs_f64(),
                note: "target >= 5000/s".into(),
            };
            rs_apply_rate = Some(all.rate());
            rows.push(all);
        }
    }
    if want("get") && s.gets > 0 {
        let objects = s.objects;
        let t = drive(&clients, s.gets, move |c, i| async move {
            let api: Api<DynamicObject> = Api::namespaced_with(c, "default", &cm_resource());
            api.get(&format!("rs-{:06}", i % objects))
                .await
                .expect("get");
        })
        .await;
        rows.push(Row {
            what: "kube-rs get".into(),
            count: s.gets,
            secs: t.as_secs_f64(),
            note: "target >= 20000/s".into(),
        });
    }

    if want("kubectl") {
        let tmp = tempfile::tempdir().expect("tempdir");
        let kc = tmp.path().join("kubeconfig");
        std::fs::write(&kc, &kubeconfig_text).expect("write kubeconfig");
        let cache = tmp.path().join("cache");
        let dir = tmp.path().join("manifests");
        write_yaml_dir(&dir, s.kubectl_objects, 1);
        let k1 = kubectl_pass(&kubectl, &kc, &cache, &dir);
        write_yaml_dir(&dir, s.kubectl_objects, 2);
        let k2 = kubectl_pass(&kubectl, &kc, &cache, &dir);
        rows.push(Row {
            what: "kubectl apply --server-side create".into(),
            count: s.kubectl_objects,
            secs: k1.as_secs_f64(),
            note: "one process".into(),
        });
        rows.push(Row {
            what: "kubectl apply --server-side re-apply".into(),
            count: s.kubectl_objects,
            secs: k2.as_secs_f64(),
            note: "one process".into(),
        });
        let all = Row {
            what: "kubectl SSA total".into(),
            count: 2 * s.kubectl_objects,
            secs: (k1 + k2).as_secs_f64(),
            note: String::new(),
        };
        if let Some(rs) = rs_apply_rate {
            summary.push(format!(
                "ratio: kube-rs applies/s ÷ kubectl applies/s = {:.1} / {:.1} = {:.1}",
                rs,
                all.rate(),
                rs / all.rate().max(1e-9)
            ));
        }
        rows.push(all);
    }

    println!();
    println!(
        "| {:<38} | {:>8} | {:>9} | {:>10} | {:<18} |",
        "workload", "requests", "seconds", "per second", "note"
    );
    println!(
        "|{:-<40}|{:->10}|{:->11}|{:->12}|{:-<20}|",
        "", ":", ":", ":", ""
    );
    for r in &rows {
        println!(
            "| {:<38} | {:>8} | {:>9.3} | {:>10.0} | {:<18} |",
            r.what,
            r.count,
            r.secs,
            r.rate(),
            r.note
        );
    }
    println!();
    for l in summary {
        println!("{l}");
    }
    served.shutdown().await;
}
