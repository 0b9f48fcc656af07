//! The layers the bench runs in the sandbox: ours (built by `make layer-dir`) and the
//! baselines, laid out under a work directory exactly as a layer zip unpacks at `/opt`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};

/// What a user can write without this layer, in bash: start blackbox in the background,
/// sleep 100 ms, then serve the Runtime API with curl, one probe per event.
pub const SLEEP_BOOTSTRAP: &str = r#"#!/bin/bash
# Baseline: blackbox started in the background and a fixed 100 ms sleep instead of a
# readiness check, then a curl loop on the Runtime API.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bb="${BLACKBOX_LISTEN_ADDRESS}"
"$here/bin/blackbox_exporter" --config.file="$here/blackbox/blackbox.yml" --web.listen-address="$bb" &
sleep 0.1
rapi="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
while true; do
  event=$(curl -sS -D "$headers" "$rapi/invocation/next")
  id=$(sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: *//p' "$headers" | tr -d '\r')
  path=$(printf '%s' "$event" | sed -n 's/.*"rawPath":"\([^"]*\)".*/\1/p')
  query=$(printf '%s' "$event" | sed -n 's/.*"rawQueryString":"\([^"]*\)".*/\1/p')
  body=$(curl -sS "http://$bb$path?$query" | base64 -w0)
  curl -sS -o /dev/null -X POST "$rapi/invocation/$id/response" \
    -d "{\"statusCode\":200,\"headers\":{\"content-type\":\"text/plain; version=0.0.4\"},\"body\":\"$body\",\"isBase64Encoded\":true}"
done
"#;

/// The AWS Lambda Web Adapter as its docs set it up for a custom runtime: the adapter
/// in `extensions/`, the web app (blackbox) as the bootstrap, `AWS_LWA_PORT` and
/// `AWS_LWA_READINESS_CHECK_PATH` in the function's environment.
pub const ADAPTER_BOOTSTRAP: &str = r#"#!/bin/sh
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/bin/blackbox_exporter" --config.file="$here/blackbox/blackbox.yml" \
  --web.listen-address="127.0.0.1:${AWS_LWA_PORT}"
"#;

pub struct Layers {
    pub ours: PathBuf,
    pub trivial: PathBuf,
    /// The trivial runtime plus the trivial extension: the sandbox's cost of starting
    /// an extension and a runtime, with nothing else to do.
    pub trivial_ext: PathBuf,
    pub sleep: PathBuf,
    pub adapter: Option<PathBuf>,
    /// Our layer with another build's extension and bootstrap (`--baseline`): the same
    /// blackbox and config, so that only our two binaries differ.
    pub baseline: Option<PathBuf>,
}

fn copy_exec(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn write_exec(to: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(to, text)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// blackbox and its config, copied from our layer so every variant runs the same binary.
fn blackbox_files(ours: &Path, dir: &Path) -> anyhow::Result<()> {
    copy_exec(
        &ours.join("bin/blackbox_exporter"),
        &dir.join("bin/blackbox_exporter"),
    )?;
    std::fs::create_dir_all(dir.join("blackbox"))?;
    std::fs::copy(
        ours.join("blackbox/blackbox.yml"),
        dir.join("blackbox/blackbox.yml"),
    )
    .context("copying blackbox.yml")?;
    Ok(())
}

pub fn build(
    work: &Path,
    ours: &Path,
    trivial_bootstrap: &Path,
    adapter: Option<&Path>,
    baseline: Option<&Path>,
) -> anyhow::Result<Layers> {
    ensure!(
        ours.join("extensions/blackbox-extension").is_file() && ours.join("bootstrap").is_file(),
        "{} is not our layer directory (run `make layer-dir`)",
        ours.display()
    );
    let _ = std::fs::remove_dir_all(work);
    let trivial = work.join("trivial");
    copy_exec(trivial_bootstrap, &trivial.join("bootstrap"))?;
    let trivial_ext = work.join("trivial-ext");
    copy_exec(trivial_bootstrap, &trivial_ext.join("bootstrap"))?;
    copy_exec(
        trivial_bootstrap,
        &trivial_ext.join("extensions/trivial-extension"),
    )?;

    let sleep = work.join("sleep");
    blackbox_files(ours, &sleep)?;
    write_exec(&sleep.join("bootstrap"), SLEEP_BOOTSTRAP)?;

    let adapter = match adapter {
        Some(bin) => {
            let dir = work.join("adapter");
            blackbox_files(ours, &dir)?;
            copy_exec(bin, &dir.join("extensions/lambda-adapter"))?;
            write_exec(&dir.join("bootstrap"), ADAPTER_BOOTSTRAP)?;
            Some(dir)
        }
        None => None,
    };
    let baseline = match baseline {
        Some(other) => {
            let dir = work.join("baseline");
            blackbox_files(ours, &dir)?;
            for binary in ["bootstrap", "extensions/blackbox-extension"] {
                ensure!(
                    other.join(binary).is_file(),
                    "--baseline {}: no {binary} (give an unzipped layer)",
                    other.display()
                );
                copy_exec(&other.join(binary), &dir.join(binary))?;
            }
            Some(dir)
        }
        None => None,
    };
    Ok(Layers {
        ours: ours.to_path_buf(),
        trivial,
        trivial_ext,
        sleep,
        adapter,
        baseline,
    })
}
