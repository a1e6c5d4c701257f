//! `nomos demo`: the whole product on the embedded default. Three in-process test clusters, a
//! local Git repository made from `policy-examples/`, the importer and the syncer running
//! against them; then a drift and a commit, each timed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use nomos_cluster::ClusterClient;
use nomos_core::SourceFormat;
use nomos_syncer::{ClusterTarget, GitSource, SyncStatus, Syncer, SyncerConfig};
use nomos_testcluster::{Cluster, ClusterConfig};
use serde_json::json;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The policy repository to demo (hierarchical); default: the bundled example.
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Cluster names (comma-separated); each gets its own in-process test cluster.
    #[arg(long, default_value = "eks-prod,aks-staging,onprem-dev")]
    pub clusters: String,
    /// Keep running after the demo, so the clusters can be explored with kubectl.
    #[arg(long, default_value_t = false)]
    pub serve: bool,
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=nomos demo",
            "-c",
            "user.email=demo@nomos.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .context("running git (the demo builds a local Git repository with it)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for e in walkdir::WalkDir::new(from) {
        let e = e?;
        let rel = e.path().strip_prefix(from)?;
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest)?;
        } else if e.file_type().is_file() {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

fn step(msg: &str) {
    println!("==> {msg}");
}

async fn wait_all(
    rxs: &mut [(String, tokio::sync::watch::Receiver<SyncStatus>)],
    what: &str,
    pred: impl Fn(&SyncStatus) -> bool,
) -> Result<Duration> {
    let start = Instant::now();
    for (name, rx) in rxs.iter_mut() {
        loop {
            if pred(&rx.borrow_and_update()) {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("{name}: timed out waiting for {what}: {:#?}", rx.borrow());
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), rx.changed()).await;
        }
    }
    Ok(start.elapsed())
}

/// `nomos status` of every demo cluster (what a person would run), once every RootSync
/// reports `commit` as synced (the monitor writes them asynchronously).
async fn status_table(kc: &Path, commit: &str) -> Result<String> {
    let query = nomos_monitor::gather::Query {
        resources: false,
        ..Default::default()
    };
    let t = Instant::now();
    loop {
        let text =
            nomos_monitor::gather::status_text(Some(kc), &[], &query, Duration::from_secs(5))
                .await?;
        let synced = text.matches("SYNCED @").count();
        let contexts = text.matches("--------------------").count();
        if (synced == contexts && text.contains(&commit[..8]))
            || t.elapsed() > Duration::from_secs(10)
        {
            return Ok(text);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn run(a: DemoArgs) -> Result<ExitCode> {
    let source = a.path.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-examples/hierarchical")
    });
    if !source.is_dir() {
        bail!(
            "{} is not a directory; pass --path to a hierarchical policy repository",
            source.display()
        );
    }
    let names: Vec<String> = a
        .clusters
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let work = tempfile::Builder::new().prefix("nomos-demo-").tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(demo(a, &source, &names, work.path()))
}

async fn demo(a: DemoArgs, source: &Path, names: &[String], work: &Path) -> Result<ExitCode> {
    step(&format!(
        "starting {} in-process test clusters: {}",
        names.len(),
        names.join(", ")
    ));
    let mut clusters = Vec::new();
    let mut kubeconfig = Vec::new();
    let mut handles = Vec::new();
    for n in names {
        let c = Cluster::with_config(ClusterConfig {
            name: n.clone(),
            ..Default::default()
        })?;
        let h = c.serve("127.0.0.1:0".parse()?).await?;
        kubeconfig.push((n.clone(), h.url()));
        handles.push(h);
        clusters.push(c);
    }
    let kc = work.join("kubeconfig");
    std::fs::write(&kc, nomos_testcluster::kubeconfig(&kubeconfig))?;

    step(&format!(
        "creating a Git repository from {}",
        source.display()
    ));
    let repo = work.join("policy");
    copy_dir(source, &repo)?;
    git(&repo, &["init", "-q", "-b", "master"])?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "Initial policy"])?;
    let first = git(&repo, &["rev-parse", "HEAD"])?;

    step("starting the importer and the syncer");
    let fetcher = nomos_importer::Fetcher::new(
        nomos_importer::GitSource::new(format!("file://{}", repo.display())),
        SourceFormat::Hierarchy,
        nomos_importer::Bounds::default(),
        &work.join("git-cache"),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (trigger, trigger_rx) = tokio::sync::mpsc::channel(1);
    let monitor = Arc::new(nomos_monitor::Monitor::new());
    let cfg = SyncerConfig {
        format: SourceFormat::Hierarchy,
        source_repo: repo.display().to_string(),
        source_kind: "git",
        metrics: monitor.metrics().clone(),
        ..SyncerConfig::default()
    };
    let report_ctx = nomos_syncer::report::ReportContext {
        sync: cfg.sync.clone(),
        source: nomos_monitor::SourceSpec {
            source_format: "hierarchy".into(),
            repo: format!("file://{}", repo.display()),
            branch: "master".into(),
            period: "15s".into(),
            auth: "none".into(),
            ..Default::default()
        },
    };
    let rx = GitSource::new(Box::new(fetcher), Duration::from_secs(15)).spawn(
        Arc::new(nomos_cluster::TokioSleeper),
        trigger_rx,
        stop.clone(),
    );
    let mut targets = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let client = ClusterClient::from_kubeconfig(Some(&kc), Some(n))
            .await?
            .with_cluster_name(n.clone());
        let _ = i;
        targets.push(ClusterTarget::new(n.clone(), n.clone(), client));
    }
    let clients: Vec<(String, ClusterClient)> = targets
        .iter()
        .map(|t| (t.key.clone(), t.client.clone()))
        .collect();
    let started = Instant::now();
    let handle = Syncer::new(cfg).start(targets, rx, stop.clone());
    // The monitor: each cluster's RootSync (status where `nomos status` reads it) and the
    // metrics endpoint.
    for (key, client) in clients {
        let ctx = report_ctx.clone();
        tokio::spawn(nomos_monitor::reporter::run_reporter(
            handle.subscribe(&key).expect("a target"),
            move |s: &nomos_syncer::SyncStatus| {
                nomos_syncer::report::report_of(s, &ctx, std::time::SystemTime::now())
            },
            monitor.clone(),
            Some(nomos_monitor::Publisher::new(client)),
            Default::default(),
            stop.clone(),
        ));
    }
    let metrics_addr =
        nomos_monitor::metrics::serve("127.0.0.1:0".parse()?, monitor.clone(), stop.clone())
            .await?;
    let mut rxs: Vec<(String, _)> = names
        .iter()
        .map(|n| (n.clone(), handle.subscribe(n).expect("a target")))
        .collect();
    wait_all(&mut rxs, "the first sync", |s| {
        s.synced && s.commit.as_deref() == Some(first.as_str())
    })
    .await?;
    step(&format!(
        "all clusters synced to {} in {:.2} s",
        &first[..12],
        started.elapsed().as_secs_f64()
    ));
    println!("\n{}", status_table(&kc, &first).await?);

    // Drift: someone edits a managed object behind Git's back.
    let (ns, name, key) = ("payments-api", "payments-api-config", "LOG_LEVEL");
    let target = &clusters[0];
    let declared = target
        .get("v1", "ConfigMap", Some(ns), name)
        .and_then(|v| v["data"][key].as_str().map(str::to_string));
    if let Some(declared) = declared {
        step(&format!(
            "drift: kubectl-like edit of ConfigMap {ns}/{name} on {} ({key}: debug)",
            names[0]
        ));
        let t = Instant::now();
        target
            .external("kubectl-edit")
            .merge_patch(
                "v1",
                "ConfigMap",
                Some(ns),
                name,
                &json!({"data": {key: "debug"}}),
            )
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        loop {
            let now = target
                .get("v1", "ConfigMap", Some(ns), name)
                .and_then(|v| v["data"][key].as_str().map(str::to_string));
            if now.as_deref() == Some(declared.as_str()) {
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                bail!("the drift was not reverted within 10 s");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        println!(
            "drift reverted in {:.1} ms ({key} back to {declared:?})\n",
            t.elapsed().as_secs_f64() * 1e3
        );

        // A commit: change the declared value and push it (the trigger is what a webhook does).
        let file = walkdir::WalkDir::new(&repo)
            .into_iter()
            .filter_map(|e| e.ok())
            .find(|e| {
                e.file_type().is_file()
                    && std::fs::read_to_string(e.path()).is_ok_and(|t| {
                        t.contains(&format!("name: {name}")) && t.contains(&format!("{key}:"))
                    })
            })
            .map(|e| e.into_path());
        if let Some(file) = file {
            let text = std::fs::read_to_string(&file)?;
            std::fs::write(
                &file,
                text.replacen(&format!("{key}: {declared}"), &format!("{key}: warn"), 1),
            )?;
            git(
                &repo,
                &["commit", "-q", "-am", "Payments: log warnings only"],
            )?;
            let second = git(&repo, &["rev-parse", "HEAD"])?;
            step(&format!(
                "commit {}: {ns}/{name} {key}: warn",
                &second[..12]
            ));
            let t = Instant::now();
            trigger.send(()).await.ok();
            let took = wait_all(&mut rxs, "the commit", |s| {
                s.synced && s.commit.as_deref() == Some(second.as_str())
            })
            .await?;
            let _ = t;
            println!(
                "every cluster had the commit {:.1} ms after it was made\n",
                took.as_secs_f64() * 1e3
            );
            println!("{}", status_table(&kc, &second).await?);
        }
    }

    if a.serve {
        step(&format!(
            "serving; explore with: kubectl --kubeconfig {} --context {} get namespaces",
            kc.display(),
            names[0]
        ));
        step(&format!(
            "the policy repository is {}; commit to it and the clusters follow within 15 s",
            repo.display()
        ));
        step(&format!(
            "metrics: http://{metrics_addr}/metrics, status: http://{metrics_addr}/status; `nomos status --kubeconfig {}` shows the table above",
            kc.display()
        ));
        step("Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
    }
    stop_tx.send(true).ok();
    handle.join().await;
    for h in handles {
        h.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}
