//! `nomos-gen`: writes a deterministic benchmark policy repository.
//!
//! ```text
//! nomos-gen hierarchical|unstructured --out DIR [--objects N | --preset 1k|10k|100k]
//!           [--namespaces N] [--objects-per-ns M] [--force]
//! ```
//! `--objects` (default 10000) picks the hierarchical parameters automatically; `--namespaces`
//! and `--objects-per-ns` override them (hierarchical only). `--force` deletes DIR first.
//! On success the statistics are printed as one `key=value` line.

use std::path::PathBuf;
use std::process::ExitCode;

use nomos_benches::{
    HierarchicalParams, Preset, generate_hierarchical_with, generate_unstructured,
};

const USAGE: &str = "usage: nomos-gen hierarchical|unstructured --out DIR \
[--objects N | --preset 1k|10k|100k] [--namespaces N] [--objects-per-ns M] [--force]";

struct Args {
    format: String,
    out: PathBuf,
    objects: usize,
    namespaces: Option<usize>,
    objects_per_ns: Option<usize>,
    force: bool,
}

fn parse_number(flag: &str, value: Option<String>) -> Result<usize, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: not a number: {value:?}"))
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut format = None;
    let mut out = None;
    let mut objects = 10_000;
    let mut namespaces = None;
    let mut objects_per_ns = None;
    let mut force = false;
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next());
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--out" | "-o" => out = Some(PathBuf::from(value().ok_or("--out needs a value")?)),
            "--objects" => objects = parse_number("--objects", value())?,
            "--preset" => {
                let preset: Preset = value().ok_or("--preset needs a value")?.parse()?;
                objects = preset.objects();
            }
            "--namespaces" => namespaces = Some(parse_number("--namespaces", value())?),
            "--objects-per-ns" => {
                objects_per_ns = Some(parse_number("--objects-per-ns", value())?);
            }
            "--force" => force = true,
            "hierarchical" | "hierarchy" | "unstructured" if format.is_none() => {
                format = Some(flag.clone());
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(Args {
        format: format.ok_or("missing format (hierarchical or unstructured)")?,
        out: out.ok_or("missing --out DIR")?,
        objects,
        namespaces,
        objects_per_ns,
        force,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("nomos-gen: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.force
        && args.out.exists()
        && let Err(e) = std::fs::remove_dir_all(&args.out)
    {
        eprintln!("nomos-gen: cannot remove {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let result = if args.format == "unstructured" {
        if args.namespaces.is_some() || args.objects_per_ns.is_some() {
            eprintln!("nomos-gen: --namespaces/--objects-per-ns only apply to hierarchical");
            return ExitCode::from(2);
        }
        generate_unstructured(&args.out, args.objects)
    } else {
        let mut params = HierarchicalParams::for_objects(args.objects);
        if let Some(n) = args.namespaces {
            params.namespaces = n;
        }
        if let Some(m) = args.objects_per_ns {
            params.objects_per_ns = m;
        }
        generate_hierarchical_with(&args.out, &params)
    };
    match result {
        Ok(stats) => {
            println!("format={} out={} {stats}", args.format, args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nomos-gen: {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}
