//! `nomos status`: the sync status of the RootSyncs of every cluster in a kubeconfig, in
//! Config Sync's layout (see `nomos_monitor::view`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{ArgAction, Args};
use nomos_monitor::gather::{Query, status_text};
use nomos_monitor::time::parse_go_duration;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Comma-separated contexts to show (default: every context of the kubeconfig).
    #[arg(long, value_delimiter = ',')]
    pub contexts: Vec<String>,
    /// Print again at this interval (Go duration, e.g. 5s); 0 prints once.
    #[arg(long, default_value = "0")]
    pub poll: String,
    /// Timeout for reading each cluster (Go duration).
    #[arg(long, default_value = "15s")]
    pub timeout: String,
    /// Only the RootSync of this name.
    #[arg(long)]
    pub name: Option<String>,
    /// Only RootSyncs in this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Show the managed resources of synced RootSyncs (`--resources=false` hides them).
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    pub resources: bool,
}

pub fn run(a: StatusArgs) -> Result<ExitCode> {
    let poll = parse_go_duration(&a.poll)
        .map_err(anyhow::Error::msg)
        .context("--poll")?;
    let timeout = parse_go_duration(&a.timeout)
        .map_err(anyhow::Error::msg)
        .context("--timeout")?;
    let query = Query {
        name: a.name.clone(),
        namespace: a.namespace.clone(),
        resources: a.resources,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    println!("Connecting to clusters...");
    let clear = !poll.is_zero() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let text = rt.block_on(status_text(
            a.kubeconfig.as_deref(),
            &a.contexts,
            &query,
            timeout,
        ))?;
        let mut out = std::io::stdout().lock();
        if clear {
            // Clear the screen and go home, as `clear` does.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        drop(out);
        if poll.is_zero() {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(poll);
    }
}
