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
use nomos_importer::{
    AuthType, Bounds, Fetcher, GitSource, HostKeyCheck, ImportConfig, ImportOutcome, Importer,
    TokioSleeper,
};

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
    /// The branch to follow (Config Sync's default).
    #[arg(long, default_value = "master")]
    branch: String,
    /// A tag, commit or ref to pin; wins over --branch.
    #[arg(long)]
    revision: Option<String>,
    /// The policy directory inside the repository.
    #[arg(long, default_value = "")]
    dir: String,
    /// Fetch at least this often (e.g. `15s`, `1m`).
    #[arg(long, default_value = "15s")]
    period: String,
    /// `hierarchy` or `unstructured`.
    #[arg(long = "source-format", default_value = "hierarchy")]
    source_format: String,
    /// Where the bare mirror is kept (default: a directory in the system's temporary directory).
    #[arg(long = "cache-dir")]
    cache_dir: Option<PathBuf>,
    /// How to authenticate (Config Sync's spec.git.auth): none, token, cookiefile or ssh.
    #[arg(long, default_value = "none")]
    auth: String,
    /// The mounted Secret with the credentials, files named as Config Sync's secret keys:
    /// `username` and `token` (token), `cookie_file` (cookiefile), `ssh` and optionally
    /// `known_hosts` (ssh). Read at every fetch; never logged.
    #[arg(long = "secret-dir")]
    secret_dir: Option<PathBuf>,
    /// Git over https: trust the CA certificate(s) in this PEM file instead of the system's
    /// roots (Config Sync's caCertSecretRef, key `cert`).
    #[arg(long = "ca-cert-file")]
    ca_cert_file: Option<PathBuf>,
    /// Git over https: accept any server certificate (Config Sync's noSSLVerify; insecure).
    #[arg(long = "no-ssl-verify", default_value_t = false)]
    no_ssl_verify: bool,
    /// Git over ssh: trust only the host keys in this known_hosts file (default: the secret's
    /// `known_hosts`, else ssh's own known_hosts files; checking is strict).
    #[arg(long = "ssh-known-hosts", conflicts_with = "ssh_no_host_key_check")]
    ssh_known_hosts: Option<PathBuf>,
    /// Git over ssh: accept any host key (insecure: man-in-the-middle attacks go unnoticed).
    #[arg(long = "ssh-no-host-key-check", default_value_t = false)]
    ssh_no_host_key_check: bool,
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
    let period = parse_duration("--period", &a.period)?;
    let max_wait = parse_duration("--max-wait", &a.max_wait)?;
    let mut git = GitSource::new(a.source.clone())
        .with_branch(a.branch.clone())
        .with_dir(a.dir.clone());
    if let Some(r) = &a.revision {
        git = git.with_revision(r.clone());
    }
    let auth = AuthType::parse(&a.auth).map_err(|e| anyhow::anyhow!("--auth: {e}"))?;
    match (&a.secret_dir, auth) {
        (None, AuthType::None) => {}
        (Some(_), AuthType::None) => bail!("--secret-dir needs --auth token, cookiefile or ssh"),
        (None, auth) => bail!("--auth {auth} needs --secret-dir (the mounted Secret)"),
        (Some(dir), auth) => {
            git = git
                .with_secret_dir(auth, dir)
                .map_err(|e| anyhow::anyhow!("--secret-dir: {}", e.diagnostic()))?;
        }
    }
    if let Some(ca) = &a.ca_cert_file {
        git = git.with_ca_cert_file(ca.clone());
    }
    git = git.with_no_ssl_verify(a.no_ssl_verify);
    if let Some(known_hosts) = &a.ssh_known_hosts {
        git = git.with_known_hosts(known_hosts.clone());
    }
    if a.ssh_no_host_key_check {
        git = git.with_host_key_check(HostKeyCheck::Disabled);
    }
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
    let cache = a
        .cache_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("nomos-importer-cache"));
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
    shutdown_signal().await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    let _ = server.await;
    let _ = importer.await;
    Ok(())
}

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

/// mimalloc without transparent huge pages (see the workspace's Cargo.toml): a long-running
/// daemon whose parse peaks are freed between commits.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
