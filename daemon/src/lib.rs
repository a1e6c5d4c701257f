//! # nomos-daemon: the shared start and stop of the daemon binaries
//!
//! `nomos-syncer`, `nomos-importer` and `nomos-monitor` log the same way (`--log-format text`
//! or `json`, on stderr, filtered by `RUST_LOG`, default `info`) and stop the same way (SIGINT
//! or SIGTERM), and start the same way ([`main`]); this crate is that, once.

/// `--log-format` was neither `text` nor `json`.
#[derive(Debug, thiserror::Error)]
#[error("--log-format must be text or json, not {0:?}")]
pub struct LogFormatError(pub String);

/// Install the global `tracing` subscriber: `text` (ANSI colours only on a terminal) or `json`
/// lines on stderr; the filter comes from `RUST_LOG` (default `info`).
pub fn init_logs(format: &str) -> Result<(), LogFormatError> {
    use tracing_subscriber::prelude::*;
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| "info".parse().expect("a valid filter"));
    let stderr = std::io::stderr;
    match format {
        "text" => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .with(filter)
            .init(),
        "json" => tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().json().with_writer(stderr))
            .with(filter)
            .init(),
        other => return Err(LogFormatError(other.to_string())),
    }
    Ok(())
}

/// A daemon's `main`: set up logs (`log_format`), start a multi-threaded tokio runtime
/// (`worker_threads`, default one per core), run `daemon` on it, and turn its result into the
/// exit code. Errors are logged and printed on stderr with their causes (`{:#}`).
pub fn main<F, E>(
    log_format: &str,
    worker_threads: Option<usize>,
    daemon: F,
) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    use std::process::ExitCode;
    if let Err(e) = init_logs(log_format) {
        eprintln!("Error: {e}");
        return ExitCode::FAILURE;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n);
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(daemon) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves once `shutdown` holds `true` or its sender is gone: how the daemons' tasks learn
/// that they should stop.
pub async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM (what Kubernetes sends a pod).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_log_formats_are_refused_with_the_flag() {
        let e = super::init_logs("yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--log-format must be text or json, not \"yaml\""
        );
    }
}
