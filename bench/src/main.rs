//! `make bench`: the layer measured side by side with blackbox alone and with what a
//! user could assemble today, in the local Lambda sandbox. Writes `bench/results.md`,
//! `bench/results.json` and the raw samples for `bench/plot.py`.
//!
//! `lambda-blackbox-bench --layer target/layer [--adapter PATH] [--cold 30] [--warm 1000]
//! [--push 20 (0: push mode left out)] [--out bench] [--work target/bench]`

mod layers;
mod measure;
mod push;
mod report;
mod stats;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

use measure::Bench;

struct Args {
    layer: PathBuf,
    adapter: Option<PathBuf>,
    baseline: Option<PathBuf>,
    trivial: PathBuf,
    cold: usize,
    warm: usize,
    warmup: usize,
    push_runs: usize,
    out: PathBuf,
    work: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut a = Args {
        layer: PathBuf::from("target/layer"),
        adapter: None,
        baseline: None,
        trivial: exe_dir.join("bench-trivial-bootstrap"),
        cold: 30,
        warm: 1000,
        warmup: 20,
        push_runs: 20,
        out: PathBuf::from("bench"),
        work: PathBuf::from("target/bench"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--layer" => a.layer = value()?.into(),
            "--adapter" => {
                a.adapter = Some(value()?.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty())
            }
            "--trivial" => a.trivial = value()?.into(),
            "--baseline" => {
                let dir: PathBuf = value()?.into();
                a.baseline = (!dir.as_os_str().is_empty()).then_some(dir);
            }
            "--cold" => a.cold = value()?.parse().context("--cold")?,
            "--warm" => a.warm = value()?.parse().context("--warm")?,
            "--warmup" => a.warmup = value()?.parse().context("--warmup")?,
            "--push" => a.push_runs = value()?.parse().context("--push")?,
            "--out" => a.out = value()?.into(),
            "--work" => a.work = value()?.into(),
            other => bail!(
                "unknown argument {other:?}; usage: lambda-blackbox-bench --layer DIR \
                 [--adapter PATH] [--trivial PATH] [--cold N] [--warm N] [--warmup N] \
                 [--push N] [--out DIR] [--work DIR]"
            ),
        }
    }
    if a.cold == 0 || a.warm == 0 {
        bail!("--cold and --warm must be at least 1");
    }
    Ok(a)
}

fn first_line(cmd: &Path, arg: &str) -> String {
    std::process::Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let mut all = o.stdout;
            all.extend(o.stderr);
            String::from_utf8_lossy(&all)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

/// `lambda_web_adapter 0.9.1` from the `.crates.toml` that `cargo install --root` wrote.
fn adapter_version(bin: &Path) -> Option<String> {
    let root = bin.parent()?.parent()?;
    let text = std::fs::read_to_string(root.join(".crates.toml")).ok()?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("\"lambda_web_adapter "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(|v| format!("{v} (`cargo install lambda_web_adapter --locked`)"))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine(layer: &Path, adapter: Option<&Path>) -> report::Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu_model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let blackbox = first_line(&layer.join("bin/blackbox_exporter"), "--version");
    report::Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        load_average_at_start: loadavg(),
        load_average_at_end: String::new(),
        nice: read("/proc/self/stat")
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(16)?.parse().ok())
            .unwrap_or(0),
        blackbox_version: blackbox
            .split("version ")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or(&blackbox)
            .to_string(),
        web_adapter_version: adapter
            .map(|a| adapter_version(a).unwrap_or_else(|| a.display().to_string())),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let layer = args
        .layer
        .canonicalize()
        .with_context(|| format!("{} (run `make layer-dir`)", args.layer.display()))?;
    if let Some(a) = &args.adapter {
        if !a.is_file() {
            bail!("--adapter {}: no such file", a.display());
        }
    } else {
        eprintln!("bench: no --adapter given; the Web Adapter baseline is left out");
    }
    std::fs::create_dir_all(&args.work)?;
    let work = args.work.canonicalize()?;
    let mut machine = machine(&layer, args.adapter.as_deref());
    let layers = layers::build(
        &work.join("layers"),
        &layer,
        &args.trivial,
        args.adapter.as_deref(),
        args.baseline.as_deref(),
    )?;
    let adapter_layer = layers.adapter.clone();
    let baseline_layer = layers.baseline.clone();
    let bench = Bench {
        layers,
        token: format!("bench-{}", std::process::id()),
    };

    eprintln!("bench: {} cold-start rounds", args.cold);
    let cold = measure::cold_starts(&bench, args.cold).await?;
    eprintln!("bench: {} warm probes per series", args.warm);
    let warm = measure::warm_probes(&bench, args.warm, args.warmup).await?;
    // `--push 0` leaves push mode out: for a build without it, measured beside this one.
    let push = if args.push_runs == 0 {
        eprintln!("bench: --push 0: push mode left out");
        push::PushRuns::default()
    } else {
        eprintln!("bench: {} push runs per target count", args.push_runs);
        push::push_runs(&bench, args.push_runs).await?
    };
    let sizes = report::sizes(
        &layer,
        adapter_layer.as_deref(),
        baseline_layer.as_deref(),
        &work.join("zip"),
    )?;

    machine.load_average_at_end = loadavg();
    let results = report::results(machine, &cold, &warm, push, sizes);
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("results.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;
    std::fs::write(
        args.out.join("results.md"),
        report::markdown(&results, args.cold, args.warm),
    )?;
    std::fs::write(
        work.join("samples.json"),
        serde_json::to_string(&serde_json::json!({
            "cold_start_ms": cold.samples,
            "warm_probe_ms": warm.samples,
        }))?,
    )?;
    eprintln!(
        "bench: wrote {} and {}; samples in {}",
        args.out.join("results.md").display(),
        args.out.join("results.json").display(),
        work.join("samples.json").display()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lambda-blackbox-bench: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lambda-blackbox-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
