//! `lambda-sandbox --layer DIR [--task DIR] [--env K=V]... [--env-file F]
//! [--listen 127.0.0.1:9000] [--invoke-listen 127.0.0.1:9002]
//! [--runtime-api 127.0.0.1:9001] [--function-name N] [--memory 128] [--timeout 30]
//! [--init-timeout 10] [--handler H] [--region R] [--no-freeze] [--exit-on-init-failure]`

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use lambda_sandbox::{parse_env_file, parse_kv, InitOutcome, Sandbox, SandboxConfig};

const USAGE: &str = "usage: lambda-sandbox --layer DIR [--task DIR] [--env K=V]... [--env-file F] \
[--listen 127.0.0.1:9000] [--invoke-listen 127.0.0.1:9002] [--runtime-api 127.0.0.1:9001] \
[--function-name N] [--memory 128] [--timeout 30] [--init-timeout 10] [--handler H] \
[--region R] [--no-freeze] [--exit-on-init-failure]";

/// The command line: the sandbox's configuration and what the CLI itself does.
struct Cli {
    config: SandboxConfig,
    /// Exit (status 1) when Init fails, instead of answering every invoke with its error
    /// as Lambda does: what `make run` wants.
    exit_on_init_failure: bool,
}

fn parse_args(args: Vec<String>) -> anyhow::Result<Cli> {
    let mut layer = None;
    let mut exit_on_init_failure = false;
    let mut cfg = SandboxConfig::new("");
    cfg.function_url_addr = Some(SocketAddr::from(([127, 0, 0, 1], 9000)));
    cfg.invoke_addr = Some(SocketAddr::from(([127, 0, 0, 1], 9002)));
    cfg.runtime_api_addr = SocketAddr::from(([127, 0, 0, 1], 9001));
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || -> anyhow::Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| anyhow!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "--layer" => layer = Some(value()?),
            "--task" => cfg.task_dir = Some(value()?.into()),
            "--env" => cfg.env.push(parse_kv(&value()?)?),
            "--env-file" => {
                let f = value()?;
                let text = std::fs::read_to_string(&f).with_context(|| format!("reading {f}"))?;
                cfg.env
                    .extend(parse_env_file(&text).with_context(|| format!("in {f}"))?);
            }
            "--listen" => cfg.function_url_addr = Some(value()?.parse()?),
            "--invoke-listen" => cfg.invoke_addr = Some(value()?.parse()?),
            "--runtime-api" => cfg.runtime_api_addr = value()?.parse()?,
            "--function-name" => cfg.function_name = value()?,
            "--handler" => cfg.handler = value()?,
            "--region" => cfg.region = value()?,
            "--memory" => cfg.memory_mb = value()?.parse().context("--memory")?,
            "--timeout" => {
                cfg.function_timeout =
                    Duration::from_secs_f64(value()?.parse().context("--timeout")?)
            }
            "--init-timeout" => {
                cfg.init_timeout =
                    Duration::from_secs_f64(value()?.parse().context("--init-timeout")?)
            }
            "--no-freeze" => cfg.freeze = false,
            "--exit-on-init-failure" => exit_on_init_failure = true,
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    cfg.layer_dir = layer
        .ok_or_else(|| anyhow!("--layer is required\n{USAGE}"))?
        .into();
    Ok(Cli {
        config: cfg,
        exit_on_init_failure,
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut cfg = cli.config;
    // Processes start in the task (or layer) directory: relative paths would not resolve.
    cfg.layer_dir = std::fs::canonicalize(&cfg.layer_dir)
        .with_context(|| format!("--layer {}", cfg.layer_dir.display()))?;
    if let Some(task) = &cfg.task_dir {
        cfg.task_dir = Some(
            std::fs::canonicalize(task).with_context(|| format!("--task {}", task.display()))?,
        );
    }
    let sandbox = Sandbox::start(cfg).await?;
    if let InitOutcome::Failed {
        error_type,
        error_message,
        ..
    } = sandbox.init_outcome()
    {
        if cli.exit_on_init_failure {
            let (error_type, error_message) = (error_type.clone(), error_message.clone());
            sandbox.shutdown().await;
            bail!("Init failed ({error_type}): {error_message}");
        }
        eprintln!("lambda-sandbox: Init failed ({error_type}: {error_message}); invokes will return this error");
    }
    eprintln!("lambda-sandbox: runtime API  {}", sandbox.runtime_api());
    if let Some(a) = sandbox.function_url() {
        eprintln!("lambda-sandbox: function URL http://{a}/");
    }
    if let Some(a) = sandbox.invoke_url() {
        eprintln!(
            "lambda-sandbox: invoke       http://{a}/2015-03-31/functions/function/invocations"
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("lambda-sandbox: shutting down");
    let report = sandbox.shutdown().await;
    for (name, exited) in &report.extensions {
        match exited {
            Some(t) if *t <= report.deadline => eprintln!(
                "lambda-sandbox: extension {name} exited {} ms before the deadline",
                report.deadline.duration_since(*t).as_millis()
            ),
            Some(_) => eprintln!("lambda-sandbox: extension {name} exited after the deadline"),
            None => eprintln!("lambda-sandbox: extension {name} did not exit; killed"),
        }
    }
    if !report.killed.is_empty() {
        eprintln!("lambda-sandbox: killed {:?}", report.killed);
    }
    if !report.leftover.is_empty() {
        bail!("processes left behind: {:?}", report.leftover);
    }
    Ok(())
}

fn main() -> ExitCode {
    let cfg = match parse_args(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lambda-sandbox: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lambda-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lambda-sandbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_flags() {
        let cli = parse_args(args(
            "--layer /l --task /t --env A=1 --env=B=2 --listen 127.0.0.1:1 --memory 256 --timeout 3 --no-freeze",
        ))
        .expect("parse");
        assert!(!cli.exit_on_init_failure);
        let c = cli.config;
        assert_eq!(c.layer_dir, std::path::PathBuf::from("/l"));
        assert_eq!(c.task_dir, Some("/t".into()));
        assert_eq!(
            c.env,
            vec![("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(
            c.function_url_addr,
            Some("127.0.0.1:1".parse().expect("addr"))
        );
        assert_eq!(c.invoke_addr, Some("127.0.0.1:9002".parse().expect("addr")));
        assert_eq!(c.memory_mb, 256);
        assert_eq!(c.function_timeout, Duration::from_secs(3));
        assert!(!c.freeze);
        assert!(
            parse_args(args("--layer /l --exit-on-init-failure"))
                .expect("parse")
                .exit_on_init_failure
        );
        assert!(parse_args(args("--task /t")).is_err());
        assert!(parse_args(args("--layer /l --bogus")).is_err());
    }
}
