//! `nomos-monitor`: gather the sync status of many clusters and serve it as one `/metrics`,
//! `/status`, `/healthz` and `/readyz`.
//!
//! Sources: the RootSync objects of kubeconfig contexts (`--kubeconfig`, `--contexts`), and
//! syncers' own endpoints (`--syncer http://host:port`, repeatable), polled every `--poll`.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use nomos_cluster::{ClusterClient, Sleeper, TokioSleeper};
use nomos_monitor::gather;
use nomos_monitor::time::parse_go_duration;
use nomos_monitor::{ClusterReport, Endpoints, Monitor, StatusDocument, report_from_root_sync};

/// Gather the sync status of many clusters (RootSync objects, or syncers' /status and
/// /metrics) and serve it as one /metrics, /status, /healthz and /readyz.
#[derive(Parser, Debug)]
#[command(name = "nomos-monitor", version)]
struct Args {
    /// kubeconfig whose contexts are read (default: $KUBECONFIG, then ~/.kube/config; read
    /// when given, when --contexts is given, or when no --syncer is given).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Comma-separated contexts to read (default: every context of the kubeconfig).
    #[arg(long, value_delimiter = ',')]
    contexts: Vec<String>,
    /// A syncer's metrics address (`http://host:port`, served by `nomos-syncer
    /// --metrics-addr`); repeatable.
    #[arg(long = "syncer")]
    syncers: Vec<String>,
    /// Where to serve /metrics, /status, /healthz and /readyz.
    #[arg(long, default_value = "127.0.0.1:9091")]
    listen: std::net::SocketAddr,
    /// How often to gather (Go duration).
    #[arg(long, default_value = "15s")]
    poll: String,
    /// Timeout per cluster or syncer per round (Go duration).
    #[arg(long, default_value = "15s")]
    timeout: String,
    /// `text` or `json`.
    #[arg(long = "log-format", default_value = "text")]
    log_format: String,
}

/// One syncer's last answer.
#[derive(Debug, Default, Clone)]
struct Remote {
    reports: Vec<ClusterReport>,
    metrics: String,
    ok: bool,
    error: Option<String>,
}

/// What the endpoints serve: clusters read from kubeconfig contexts (in `local`) and what the
/// syncers said.
struct Aggregate {
    local: Monitor,
    /// Per context: gathered at least once (ok or not).
    contexts: RwLock<Vec<(String, bool)>>,
    remotes: RwLock<Vec<(String, Remote)>>,
}

impl Endpoints for Aggregate {
    fn metrics_text(&self) -> String {
        let own = self.local.render();
        let remotes = self.remotes.read().unwrap_or_else(|p| p.into_inner());
        let texts: Vec<&str> = std::iter::once(own.as_str())
            .chain(remotes.iter().map(|(_, r)| r.metrics.as_str()))
            .collect();
        nomos_monitor::exposition::merge(texts)
    }

    fn status(&self) -> StatusDocument {
        let mut clusters = self.local.reports();
        let remotes = self.remotes.read().unwrap_or_else(|p| p.into_inner());
        for (_, r) in remotes.iter() {
            for rep in &r.reports {
                clusters.retain(|c| c.cluster != rep.cluster);
                clusters.push(rep.clone());
            }
        }
        clusters.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        StatusDocument { clusters }
    }

    /// Ready once every source answered at least once.
    fn ready(&self) -> Result<(), String> {
        let mut waiting: Vec<String> = self
            .contexts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, done)| !done)
            .map(|(c, _)| format!("context {c}"))
            .collect();
        waiting.extend(
            self.remotes
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|(_, r)| !r.ok)
                .map(|(u, r)| {
                    format!(
                        "syncer {u}{}",
                        r.error
                            .as_deref()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    )
                }),
        );
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!("not gathered yet: {}", waiting.join(", ")))
        }
    }
}

/// The report key of a RootSync on a context: the context for `root-sync`, else
/// `context:namespace/name`.
fn key_of(context: &str, rs: &serde_json::Value) -> String {
    let name = rs["metadata"]["name"].as_str().unwrap_or("");
    let ns = rs["metadata"]["namespace"].as_str().unwrap_or("");
    if name == nomos_monitor::ROOT_SYNC_NAME && ns == nomos_monitor::CONFIG_MANAGEMENT_SYSTEM {
        context.to_string()
    } else {
        format!("{context}:{ns}/{name}")
    }
}

async fn gather_context(
    agg: &Aggregate,
    kubeconfig: Option<&std::path::Path>,
    context: &str,
    skip: &[String],
    timeout: Duration,
) {
    // The RootSyncs with their managed-object counts (none when not installed or configured).
    let work = async {
        let client = ClusterClient::from_kubeconfig(kubeconfig, Some(context)).await?;
        let Some(gvk) = gather::root_sync_gvk(&client).await? else {
            return Ok::<_, nomos_monitor::Error>(Vec::new());
        };
        let mut out = Vec::new();
        for rs in client.list(&gvk, "").await? {
            let n = gather::managed_objects(&client, &rs).await?.len();
            out.push((rs, n));
        }
        Ok(out)
    };
    let result = tokio::time::timeout(timeout, work).await;
    let known: Vec<String> = agg
        .local
        .reports()
        .into_iter()
        .map(|r| r.cluster)
        .filter(|k| k == context || k.starts_with(&format!("{context}:")))
        .collect();
    match result {
        Ok(Ok(syncs)) => {
            let mut seen = Vec::new();
            for (rs, managed) in syncs {
                let key = key_of(context, &rs);
                if skip.contains(&key) {
                    continue;
                }
                let mut report = report_from_root_sync(&key, &rs);
                report.cluster_name = context.to_string();
                report.managed_objects = managed as u64;
                agg.local.update(report);
                seen.push(key);
            }
            for k in known.iter().filter(|k| !seen.contains(k)) {
                agg.local.remove(k);
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(context, error = %e, "reading the cluster failed");
            mark_unreachable(agg, &known);
        }
        Err(_) => {
            tracing::warn!(context, ?timeout, "the cluster did not answer in time");
            mark_unreachable(agg, &known);
        }
    }
    if let Some(c) = agg
        .contexts
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .iter_mut()
        .find(|(c, _)| c == context)
    {
        c.1 = true;
    }
}

fn mark_unreachable(agg: &Aggregate, keys: &[String]) {
    for k in keys {
        if let Some(mut r) = agg.local.report(k) {
            r.reachable = false;
            agg.local.update(r);
        }
    }
}

async fn gather_syncer(url: &str, timeout: Duration) -> Remote {
    let status = nomos_monitor::scrape::status(url, timeout).await;
    let metrics = nomos_monitor::scrape::metrics(url, timeout).await;
    match (status, metrics) {
        (Ok(s), Ok(m)) => Remote {
            reports: s.clusters,
            metrics: m,
            ok: true,
            error: None,
        },
        (Err(e), _) | (_, Err(e)) => Remote {
            error: Some(e.to_string()),
            ..Remote::default()
        },
    }
}

async fn gather_all(agg: &Aggregate, args: &Args, contexts: &[String], timeout: Duration) {
    let remotes = futures::future::join_all(args.syncers.iter().map(|u| async move {
        let r = gather_syncer(u, timeout).await;
        if let Some(e) = &r.error {
            tracing::warn!(syncer = %u, error = %e, "gathering a syncer failed");
        }
        (u.clone(), r)
    }))
    .await;
    {
        let mut cur = agg.remotes.write().unwrap_or_else(|p| p.into_inner());
        for (u, r) in remotes {
            if let Some(slot) = cur.iter_mut().find(|(x, _)| *x == u) {
                // Keep the last good answer when a syncer does not answer this round.
                if r.ok {
                    slot.1 = r;
                } else {
                    slot.1.error = r.error;
                }
            }
        }
    }
    // Clusters a syncer reports on are its to report: not read twice.
    let skip: Vec<String> = agg
        .remotes
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flat_map(|(_, r)| r.reports.iter().map(|c| c.cluster.clone()))
        .collect();
    let kubeconfig = args.kubeconfig.as_deref();
    futures::future::join_all(
        contexts
            .iter()
            .map(|c| gather_context(agg, kubeconfig, c, &skip, timeout)),
    )
    .await;
}

async fn run(args: Args) -> Result<()> {
    let poll = parse_go_duration(&args.poll).map_err(anyhow::Error::msg)?;
    if poll.is_zero() {
        bail!("--poll must be positive (e.g. 15s)");
    }
    let timeout = parse_go_duration(&args.timeout).map_err(anyhow::Error::msg)?;
    let read_kube =
        args.kubeconfig.is_some() || !args.contexts.is_empty() || args.syncers.is_empty();
    let contexts: Vec<String> = if !read_kube {
        Vec::new()
    } else if !args.contexts.is_empty() {
        args.contexts.clone()
    } else {
        gather::kubeconfig_contexts(args.kubeconfig.as_deref())
            .context("--kubeconfig")?
            .0
    };
    if contexts.is_empty() && args.syncers.is_empty() {
        bail!("no clusters found: the kubeconfig has no contexts and no --syncer was given");
    }
    let agg = Arc::new(Aggregate {
        local: Monitor::new(),
        contexts: RwLock::new(contexts.iter().map(|c| (c.clone(), false)).collect()),
        remotes: RwLock::new(
            args.syncers
                .iter()
                .map(|u| (u.clone(), Remote::default()))
                .collect(),
        ),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let bound = nomos_monitor::metrics::serve(args.listen, agg.clone(), stop_rx.clone())
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    tracing::info!(url = %format!("http://{bound}/status"), contexts = contexts.len(), syncers = args.syncers.len(), "nomos-monitor serving");
    let sleeper: Arc<dyn Sleeper> = Arc::new(TokioSleeper);
    let loop_agg = agg.clone();
    let mut stop = stop_rx.clone();
    let gatherer = tokio::spawn(async move {
        loop {
            gather_all(&loop_agg, &args, &contexts, timeout).await;
            tokio::select! {
                _ = sleeper.sleep(poll) => {}
                _ = stop.changed() => return,
            }
        }
    });
    nomos_daemon::shutdown_signal().await;
    let _ = stop_tx.send(true);
    let _ = gatherer.await;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let format = args.log_format.clone();
    nomos_daemon::main(&format, Some(2), run(args))
}
