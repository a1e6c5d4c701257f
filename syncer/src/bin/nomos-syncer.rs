//! `nomos-syncer`: keep clusters in sync with a policy directory until stopped.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use nomos_cluster::ClusterClient;
use nomos_core::SourceFormat;
use nomos_syncer::{ClusterTarget, DirSource, Syncer, SyncerConfig};

/// Sync the policy repository in DIR to one or many clusters and keep them in sync (drift
/// correction, fight detection) until SIGINT/SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "nomos-syncer", version)]
struct Args {
    /// The policy repository: a directory (re-read when its files change) or a Git URL
    /// (`file://…`; fetched every --poll-period, the importer embedded).
    #[arg(long)]
    source: String,
    /// Git: the branch to follow (Config Sync's default).
    #[arg(long, default_value = "master")]
    branch: String,
    /// Git: a tag, commit or ref to pin; wins over --branch.
    #[arg(long)]
    revision: Option<String>,
    /// Git: the policy directory inside the repository.
    #[arg(long, default_value = "")]
    dir: String,
    /// Git: where the bare mirror is kept.
    #[arg(long = "cache-dir")]
    cache_dir: Option<PathBuf>,
    /// kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// kubeconfig context to sync (repeatable; default: the current context).
    #[arg(long = "context", conflicts_with = "all_contexts")]
    contexts: Vec<String>,
    /// Sync every context of the kubeconfig.
    #[arg(long = "all-contexts", default_value_t = false)]
    all_contexts: bool,
    /// Cluster name for cluster selectors (default: the context name). Only with one cluster.
    #[arg(long = "cluster-name")]
    cluster_name: Option<String>,
    /// `hierarchy` or `unstructured`.
    #[arg(long = "source-format", default_value = "hierarchy")]
    source_format: String,
    /// Plan every cluster again this often (e.g. `1h`, `30m`, `90s`).
    #[arg(long = "resync-period", default_value = "1h")]
    resync_period: String,
    /// Re-read the source (or fetch the Git repository) at least this often.
    #[arg(long = "poll-period", default_value = "15s")]
    poll_period: String,
    /// Allow deleting every Namespace or more than half of the managed objects.
    #[arg(long = "allow-mass-prune", default_value_t = false)]
    allow_mass_prune: bool,
    /// `text` or `json`.
    #[arg(long = "log-format", default_value = "text")]
    log_format: String,
    /// Serve Prometheus metrics (`/metrics`, Config Sync's names), `/healthz` and `/readyz` here.
    #[arg(long = "metrics-addr")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// `500ms`, `30s`, `5m`, `1h`, or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid duration unit in {s:?} (use ms, s, m or h)"),
    };
    if !secs.is_finite() || secs <= 0.0 {
        bail!("duration {s:?} must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

fn init_logs(format: &str) -> Result<()> {
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| "info".parse().expect("a valid filter"));
    use tracing_subscriber::prelude::*;
    match format {
        "text" => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .with(filter)
            .init(),
        "json" => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .with(filter)
            .init(),
        other => bail!("--log-format must be text or json, not {other:?}"),
    }
    Ok(())
}

async fn targets(a: &Args) -> Result<Vec<ClusterTarget>> {
    let contexts: Vec<Option<String>> = if a.all_contexts {
        let kc = match &a.kubeconfig {
            Some(p) => kube::config::Kubeconfig::read_from(p),
            None => kube::config::Kubeconfig::read(),
        }
        .context("reading the kubeconfig")?;
        let names: Vec<Option<String>> = kc.contexts.iter().map(|c| Some(c.name.clone())).collect();
        if names.is_empty() {
            bail!("the kubeconfig has no contexts");
        }
        names
    } else if a.contexts.is_empty() {
        vec![None]
    } else {
        a.contexts.iter().cloned().map(Some).collect()
    };
    if a.cluster_name.is_some() && contexts.len() > 1 {
        bail!("--cluster-name names one cluster; give one --context with it (or none)");
    }
    let mut out = Vec::new();
    for ctx in contexts {
        let client = ClusterClient::from_kubeconfig(a.kubeconfig.as_deref(), ctx.as_deref())
            .await
            .with_context(|| {
                format!(
                    "kubeconfig context {}",
                    ctx.as_deref().unwrap_or("(current)")
                )
            })?;
        let key = ctx
            .clone()
            .or_else(|| client.context_name().map(str::to_string))
            .unwrap_or_else(|| "default".into());
        let name = a
            .cluster_name
            .clone()
            .or_else(|| client.context_name().map(str::to_string))
            .unwrap_or_default();
        let client = client.with_cluster_name(name.clone());
        out.push(ClusterTarget::new(key, name, client));
    }
    Ok(out)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(a: Args) -> Result<()> {
    let format = SourceFormat::parse(&a.source_format).map_err(|e| anyhow::anyhow!(e))?;
    let poll = parse_duration(&a.poll_period)?;
    let is_git = a.source.contains("://") || a.source.starts_with("git@");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (source_repo, source_rx, _trigger) = if is_git {
        let mut git = nomos_importer::GitSource::new(a.source.clone())
            .with_branch(a.branch.clone())
            .with_dir(a.dir.clone());
        if let Some(r) = &a.revision {
            git = git.with_revision(r.clone());
        }
        let cache = a
            .cache_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("nomos-git-cache"));
        std::fs::create_dir_all(&cache)
            .with_context(|| format!("--cache-dir {}", cache.display()))?;
        let display = git.display_url();
        let fetcher =
            nomos_importer::Fetcher::new(git, format, nomos_importer::Bounds::default(), &cache)
                .map_err(|e| anyhow::anyhow!("{}", e.diagnostic()))?;
        let (trigger_tx, trigger_rx) = tokio::sync::mpsc::channel(1);
        let rx = nomos_syncer::GitSource::new(Box::new(fetcher), poll).spawn(
            SyncerConfig::default().sleeper,
            trigger_rx,
            stop_rx.clone(),
        );
        (display, rx, Some(trigger_tx))
    } else {
        let path = PathBuf::from(&a.source);
        let root = path
            .canonicalize()
            .with_context(|| format!("--source {}: no such directory", path.display()))?;
        if !root.is_dir() {
            bail!(
                "--source {} is not a directory (or a Git URL such as file:///srv/policy.git)",
                path.display()
            );
        }
        let mut dir = DirSource::new(root.clone(), format);
        dir.poll = poll;
        let rx = dir.spawn(SyncerConfig::default().sleeper, stop_rx.clone());
        (root.to_string_lossy().into_owned(), rx, None)
    };
    let cfg = SyncerConfig {
        format,
        source_repo: source_repo.clone(),
        resync_period: parse_duration(&a.resync_period)?,
        allow_mass_prune: a.allow_mass_prune,
        ..SyncerConfig::default()
    };
    let targets = targets(&a).await?;
    tracing::info!(clusters = targets.len(), source = %source_repo, "nomos-syncer starting");
    let source = source_rx;
    let metrics = cfg.metrics.clone();
    let handle = Syncer::new(cfg).start(targets, source, stop_rx.clone());
    if let Some(addr) = a.metrics_addr {
        let registry = std::sync::Arc::new(nomos_syncer::metrics::registry(
            handle.subscribe_all(),
            &metrics,
        ));
        let bound =
            nomos_syncer::metrics::serve(addr, registry, handle.subscribe_all(), stop_rx.clone())
                .await
                .with_context(|| format!("--metrics-addr {addr}"))?;
        tracing::info!(url = %format!("http://{bound}/metrics"), "serving metrics");
    }
    // Log status transitions (synced, number of errors) per cluster.
    for (key, mut rx) in handle.subscribe_all() {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut last = (false, 0usize);
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    r = rx.changed() => if r.is_err() { return },
                }
                let s = rx.borrow_and_update().clone();
                let now = (s.synced, s.errors.len());
                if now != last {
                    last = now;
                    let first = s
                        .errors
                        .first()
                        .map(|e| format!("{}: {}", e.code, e.message));
                    tracing::info!(cluster = %key, synced = s.synced, errors = s.errors.len(), first_error = ?first, applies = s.applies, prunes = s.prunes, drift_corrections = s.drift_corrections, "status");
                }
            }
        });
    }
    shutdown_signal().await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    handle.join().await;
    Ok(())
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = init_logs(&args.log_format) {
        eprintln!("Error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
