//! `nomos-importer`: fetch a policy repository, validate each new commit once, and serve
//! per-cluster snapshots to syncers over HTTP (`nomos-syncer --source http://HOST:PORT`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use nomos_core::{Options, SourceFormat};
use nomos_importer::serve::{self, Hub, ServeConfig, Service};
use nomos_importer::webhook::{Secret, WebhookConfig};
use nomos_importer::{Bounds, Fetcher, ImportConfig, ImportOutcome, Importer, TokioSleeper};

/// Fetch a Config Sync policy repository every --period (or at once on a verified webhook
/// push), validate each new commit, and serve the desired state of each cluster at
/// `GET /v1/clusters/{cluster-name}/snapshot` until SIGINT/SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "nomos-importer", version)]
struct Args {
    /// The repository URL (`https://…`, `ssh://…`, `git@host:org/repo`, `file://…` or a local
    /// path).
    #[arg(long)]
    source: String,
    /// Fetch at least this often (e.g. `15s`, `1m`).
    #[arg(long, default_value = "15s")]
    period: String,
    /// `hierarchy` or `unstructured`.
    #[arg(long = "source-format", default_value = "hierarchy")]
    source_format: String,
    #[command(flatten)]
    git: nomos_importer::cli::GitArgs,
    /// Serve snapshots, `/webhook`, `/healthz` and `/readyz` here (e.g. `0.0.0.0:8080`).
    #[arg(long)]
    listen: SocketAddr,
    /// A file holding the webhook's shared secret (GitHub HMAC secret or GitLab token);
    /// without it `POST /webhook` is disabled.
    #[arg(long = "webhook-secret-file")]
    webhook_secret_file: Option<PathBuf>,
    /// Cluster names to build from the start (repeatable). Others are added when a syncer asks
    /// for them; without any, the clusters the repository names and the unnamed cluster.
    #[arg(long = "cluster-name")]
    cluster_names: Vec<String>,
    /// Longest long poll honoured (`?wait=`).
    #[arg(long = "max-wait", default_value = "60s")]
    max_wait: String,
    /// `text` or `json`.
    #[arg(long = "log-format", default_value = "text")]
    log_format: String,
}

fn parse_duration(flag: &str, s: &str) -> Result<Duration> {
    match serve::parse_duration(s) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => bail!("{flag} {s:?}: use a positive duration such as 500ms, 15s, 2m or 1h"),
    }
}

async fn run(a: Args) -> Result<()> {
    let format = SourceFormat::parse(&a.source_format).map_err(|e| anyhow::anyhow!(e))?;
    let period = parse_duration("--period", &a.period)?;
    let max_wait = parse_duration("--max-wait", &a.max_wait)?;
    let git = a.git.git_source(&a.source).map_err(anyhow::Error::msg)?;
    let webhook = match &a.webhook_secret_file {
        None => None,
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("--webhook-secret-file {}", path.display()))?;
            let secret = Secret::new(bytes);
            if secret.is_empty() {
                bail!(
                    "--webhook-secret-file {} is empty: put the webhook's shared secret in it",
                    path.display()
                );
            }
            // A pinned revision can move with any push; a branch only with pushes to it.
            let branch = git
                .effective_revision()
                .is_none()
                .then(|| git.branch.clone());
            Some(WebhookConfig::new(secret, branch))
        }
    };
    let cache = a.git.cache_dir();
    std::fs::create_dir_all(&cache).with_context(|| format!("--cache-dir {}", cache.display()))?;
    let repo_url = git.display_url();
    let fetcher = Fetcher::new(git, format, Bounds::default(), &cache)
        .map_err(|e| anyhow::anyhow!("{}", e.diagnostic()))?;
    let config = ImportConfig {
        options: Options::new(format),
        // Objects do not carry the commit: a commit rewrites only the objects it changes.
        omit_token: true,
        ..ImportConfig::default()
    };
    let importer = Importer::new(fetcher, config);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (trigger_tx, trigger_rx) = tokio::sync::mpsc::channel(1);
    let mut names = a.cluster_names.clone();
    names.sort();
    names.dedup();
    let (names_tx, names_rx) = tokio::sync::watch::channel(names);
    let hub = Arc::new(Hub::new());
    let sleeper = Arc::new(TokioSleeper);
    let service = Arc::new(Service::new(
        ServeConfig {
            format,
            max_wait,
            webhook,
            ..ServeConfig::default()
        },
        hub.clone(),
        names_tx,
        trigger_tx,
        sleeper.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("--listen {}", a.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    tracing::info!(source = %repo_url, url = %format!("http://{bound}"), webhook = a.webhook_secret_file.is_some(), "nomos-importer serving");
    let server = tokio::spawn(serve::serve(listener, service, stop_rx.clone()));
    let importer = tokio::spawn(async move {
        nomos_importer::run_with_names(
            importer,
            names_rx,
            period,
            sleeper.as_ref(),
            trigger_rx,
            stop_rx,
            |o: &ImportOutcome| hub.record(o),
        )
        .await;
    });
    nomos_daemon::shutdown_signal().await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    let _ = server.await;
    let _ = importer.await;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let format = args.log_format.clone();
    nomos_daemon::main(&format, None, run(args))
}

/// mimalloc without transparent huge pages (see the workspace's Cargo.toml): a long-running
/// daemon whose parse peaks are freed between commits.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
