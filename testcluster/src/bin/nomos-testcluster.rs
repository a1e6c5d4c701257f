//! `nomos-testcluster`: serves in-memory Kubernetes-compatible clusters over plain HTTP.
//!
//! Prints each cluster's URL on its own line (the first cluster's URL is the first line of
//! stdout), writes a kubeconfig if asked, and serves until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use nomos_testcluster::{Cluster, ClusterConfig, ServeHandle, kubeconfig};

/// An in-memory, Kubernetes-compatible API server (a fake: no controllers, no admission).
#[derive(Debug, Parser)]
#[command(name = "nomos-testcluster", version)]
struct Args {
    /// Address to listen on; port 0 picks an ephemeral port. Loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write a kubeconfig with one context per cluster to this file.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Number of clusters, served on consecutive ports.
    #[arg(long, default_value_t = 1)]
    clusters: u16,
    /// Cluster (and context) name; with several clusters, NAME-0, NAME-1, …
    #[arg(long, default_value = "testcluster")]
    name: String,
    /// Keep each cluster's objects in DIR/NAME.json across restarts.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Events kept per cluster; a watch from an older resourceVersion gets 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    event_retention: usize,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 60)]
    bookmark_interval: u64,
    /// Log requests to stderr.
    #[arg(long, short)]
    verbose: bool,
}

fn names(args: &Args) -> Vec<String> {
    if args.clusters <= 1 {
        vec![args.name.clone()]
    } else {
        (0..args.clusters)
            .map(|i| format!("{}-{i}", args.name))
            .collect()
    }
}

async fn serve_all(args: &Args, clusters: &[Cluster]) -> anyhow::Result<Vec<ServeHandle>> {
    let n = clusters.len();
    let attempts = if args.listen.port() == 0 { 20 } else { 1 };
    let mut last_err = None;
    for _ in 0..attempts {
        let first = clusters[0].serve(args.listen).await?;
        let base = first.addr();
        let mut handles = vec![first];
        for (i, c) in clusters.iter().enumerate().skip(1) {
            let port = u16::try_from(usize::from(base.port()) + i)
                .map_err(|_| anyhow::anyhow!("port range overflows"))?;
            match c.serve(SocketAddr::new(base.ip(), port)).await {
                Ok(h) => handles.push(h),
                Err(e) => {
                    last_err = Some(e);
                    break;
                }
            }
        }
        if handles.len() == n {
            return Ok(handles);
        }
    }
    Err(anyhow::anyhow!(
        "could not bind {n} consecutive ports: {}",
        last_err.map(|e| e.to_string()).unwrap_or_default()
    ))
}

// The allocator of nomos' own binaries: an API server that parses, merges and serialises a JSON
// object per request spends a fifth of its time in glibc's malloc otherwise.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clusters == 0 {
        anyhow::bail!("--clusters must be at least 1");
    }
    let filter = if args.verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(d) = &args.state_dir {
        std::fs::create_dir_all(d)?;
    }
    let mut clusters = Vec::new();
    for name in names(&args) {
        let cfg = ClusterConfig {
            event_retention: args.event_retention,
            bookmark_interval: Duration::from_secs(args.bookmark_interval.max(1)),
            state_file: args
                .state_dir
                .as_ref()
                .map(|d| d.join(format!("{name}.json"))),
            ..ClusterConfig::named(name)
        };
        clusters.push(Cluster::with_config(cfg)?);
    }
    let handles = serve_all(&args, &clusters).await?;
    let entries: Vec<(String, String)> = clusters
        .iter()
        .zip(&handles)
        .map(|(c, h)| (c.name().to_string(), h.url()))
        .collect();
    if let Some(path) = &args.kubeconfig {
        std::fs::write(path, kubeconfig(&entries))?;
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (_, url) in &entries {
            writeln!(out, "{url}")?;
        }
        out.flush()?;
    }
    let save = |clusters: &[Cluster]| {
        for c in clusters {
            if let Err(e) = c.save_state() {
                tracing::error!(cluster = %c.name(), error = %e, "saving state");
            }
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut last_rv: Vec<u64> = clusters.iter().map(Cluster::resource_version).collect();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tick.tick(), if args.state_dir.is_some() => {
                for (i, c) in clusters.iter().enumerate() {
                    let rv = c.resource_version();
                    if rv != last_rv[i] {
                        last_rv[i] = rv;
                        save(std::slice::from_ref(c));
                    }
                }
            }
        }
    }
    save(&clusters);
    for h in handles {
        h.shutdown().await;
    }
    Ok(())
}
