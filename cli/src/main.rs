//! `nomos`: validate, hydrate and initialise Config Sync policy repositories.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod files;
mod hydrate;
mod init;
mod status;
mod sync;
mod vet;

// The same allocator as the daemons: `nomos sync`/`plan`/`vet` allocate many small objects, and
// glibc's malloc spent a fifth of a 10,000-object sync faulting in fresh heap pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Keep Kubernetes clusters equal to a Git repository: offline tools for policy repositories.
#[derive(Parser, Debug)]
#[command(name = "nomos", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a policy repository (offline) and report Config Sync KNV errors.
    Vet(vet::VetArgs),
    /// Write the fully processed configuration each cluster will get.
    Hydrate(hydrate::HydrateArgs),
    /// Print what a sync would do to each cluster (exit 0: in sync, 2: changes pending).
    Plan(sync::ClusterArgs),
    /// Sync the repository to the cluster(s) once, then exit with the result.
    Sync(sync::SyncArgs),
    /// Create a hierarchical repository skeleton.
    Init(init::InitArgs),
    /// Print the sync status (RootSyncs) of every cluster in the kubeconfig.
    Status(status::StatusArgs),
    /// Run the whole product on in-process test clusters: Git, importer, syncer, drift, a commit.
    Demo(demo::DemoArgs),
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Vet(a) => vet::run(a),
        Command::Hydrate(a) => hydrate::run(a),
        Command::Init(a) => init::run(a),
        Command::Plan(a) => sync::run_plan(a),
        Command::Demo(a) => demo::run(a),
        Command::Sync(a) => sync::run_sync(a),
        Command::Status(a) => status::run(a),
        Command::Version => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
