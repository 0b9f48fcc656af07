//! Sandbox configuration and the environment variables of the sandbox processes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

/// What a Lambda function configuration would say, plus where the sandbox listens.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// What the layer zip unpacks to at `/opt` (`extensions/`, `bootstrap`, `bin/`...).
    pub layer_dir: PathBuf,
    /// The function code (`/var/task`), if any.
    pub task_dir: Option<PathBuf>,
    /// The function's own environment variables (override the sandbox's).
    pub env: Vec<(String, String)>,
    pub function_name: String,
    pub memory_mb: u32,
    pub function_timeout: Duration,
    pub init_timeout: Duration,
    pub handler: String,
    pub region: String,
    pub account_id: String,
    /// Runtime/Extensions API listener (port 0 allowed).
    pub runtime_api_addr: SocketAddr,
    /// Function URL front (payload format 2.0), if wanted.
    pub function_url_addr: Option<SocketAddr>,
    /// RIE-compatible `POST /2015-03-31/functions/function/invocations`, if wanted.
    pub invoke_addr: Option<SocketAddr>,
    /// SIGSTOP every sandbox process between invokes.
    pub freeze: bool,
    /// Print process output and platform lines to the sandbox's stderr.
    pub echo_logs: bool,
}

fn loopback0() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl SandboxConfig {
    pub fn new(layer_dir: impl Into<PathBuf>) -> Self {
        SandboxConfig {
            layer_dir: layer_dir.into(),
            task_dir: None,
            env: Vec::new(),
            function_name: "lambda-sandbox".to_string(),
            memory_mb: 128,
            function_timeout: Duration::from_secs(30),
            // Lifecycle doc, Init phase: "The Init phase is limited to 10 seconds."
            init_timeout: Duration::from_secs(10),
            handler: "handler".to_string(),
            region: "us-east-1".to_string(),
            account_id: "123456789012".to_string(),
            runtime_api_addr: loopback0(),
            function_url_addr: None,
            invoke_addr: None,
            freeze: true,
            echo_logs: true,
        }
    }

    /// The directory processes run in (`/var/task` in Lambda).
    pub fn work_dir(&self) -> &Path {
        self.task_dir.as_deref().unwrap_or(&self.layer_dir)
    }

    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.account_id, self.function_name
        )
    }
}

/// Who a process environment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRole {
    Runtime,
    Extension,
}

/// The `PATH` Lambda gives (`/usr/local/bin:/usr/bin/:/bin:/opt/bin`), with `/opt/bin`
/// pointing at the layer's `bin/`, followed by the host's `PATH` so local tools resolve.
pub fn lambda_path(layer_dir: &Path, host_path: Option<&str>) -> String {
    let mut p = format!(
        "/usr/local/bin:/usr/bin/:/bin:{}",
        layer_dir.join("bin").display()
    );
    if let Some(h) = host_path.filter(|h| !h.is_empty()) {
        p.push(':');
        p.push_str(h);
    }
    p
}

/// The environment of a sandbox process: an empty environment plus Lambda's reserved
/// variables, then the function's own variables (which override).
pub fn process_env(
    cfg: &SandboxConfig,
    runtime_api: SocketAddr,
    role: ProcessRole,
    log_stream: &str,
    host_path: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string());
    set("AWS_REGION", cfg.region.clone());
    set("AWS_DEFAULT_REGION", cfg.region.clone());
    set("AWS_LAMBDA_FUNCTION_NAME", cfg.function_name.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", cfg.memory_mb.to_string());
    set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string());
    set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string());
    set("TZ", ":UTC".to_string());
    set("LANG", "en_US.UTF-8".to_string());
    set("PATH", lambda_path(&cfg.layer_dir, host_path));
    if role == ProcessRole::Runtime {
        // Extensions API doc, "Permissions and configuration" / environment variables:
        // extensions get the function's environment "except for the following variables
        // that are specific to the runtime process": AWS_LAMBDA_LOG_GROUP_NAME,
        // AWS_LAMBDA_LOG_STREAM_NAME, LAMBDA_TASK_ROOT, _HANDLER (and X-Ray/runtime-dir ones).
        set("LAMBDA_TASK_ROOT", cfg.work_dir().display().to_string());
        set("_HANDLER", cfg.handler.clone());
        set(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", cfg.function_name),
        );
        set("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_string());
    }
    for (k, v) in &cfg.env {
        set(k, v.clone());
    }
    env.into_iter().collect()
}

/// `KEY=VALUE` (the value may contain `=`; the key must be non-empty).
pub fn parse_kv(s: &str) -> anyhow::Result<(String, String)> {
    let Some((k, v)) = s.split_once('=') else {
        bail!("expected KEY=VALUE, got {s:?}");
    };
    let k = k.trim();
    if k.is_empty() || k.contains(char::is_whitespace) {
        bail!("bad variable name in {s:?}");
    }
    Ok((k.to_string(), v.to_string()))
}

/// An env file: `KEY=VALUE` lines; blank lines and `#` comments ignored; an optional
/// `export ` prefix and one pair of surrounding quotes are removed.
pub fn parse_env_file(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = parse_kv(line).with_context(|| format!("line {}", n + 1))?;
        let v = v.trim();
        let v = [('"', '"'), ('\'', '\'')]
            .iter()
            .find_map(|(a, b)| v.strip_prefix(*a).and_then(|x| x.strip_suffix(*b)))
            .filter(|_| v.len() >= 2)
            .unwrap_or(v);
        out.push((k, v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn runtime_and_extension_env() {
        let mut cfg = SandboxConfig::new("/l");
        cfg.task_dir = Some("/t".into());
        cfg.env = vec![
            ("FOO".into(), "bar".into()),
            ("AWS_REGION".into(), "eu-west-1".into()),
        ];
        let api: SocketAddr = "127.0.0.1:9001".parse().expect("addr");
        let rt = process_env(&cfg, api, ProcessRole::Runtime, "s", Some("/host/bin"));
        assert_eq!(get(&rt, "AWS_LAMBDA_RUNTIME_API"), Some("127.0.0.1:9001"));
        assert_eq!(get(&rt, "LAMBDA_TASK_ROOT"), Some("/t"));
        assert_eq!(get(&rt, "_HANDLER"), Some("handler"));
        assert_eq!(get(&rt, "AWS_REGION"), Some("eu-west-1"));
        assert_eq!(get(&rt, "AWS_DEFAULT_REGION"), Some("us-east-1"));
        assert_eq!(get(&rt, "FOO"), Some("bar"));
        assert_eq!(get(&rt, "TZ"), Some(":UTC"));
        assert_eq!(
            get(&rt, "PATH"),
            Some("/usr/local/bin:/usr/bin/:/bin:/l/bin:/host/bin")
        );
        let ext = process_env(&cfg, api, ProcessRole::Extension, "s", None);
        assert_eq!(get(&ext, "LAMBDA_TASK_ROOT"), None);
        assert_eq!(get(&ext, "_HANDLER"), None);
        assert_eq!(get(&ext, "AWS_LAMBDA_LOG_GROUP_NAME"), None);
        assert_eq!(get(&ext, "AWS_LAMBDA_FUNCTION_VERSION"), Some("$LATEST"));
        assert_eq!(get(&ext, "FOO"), Some("bar"));
        assert_eq!(get(&ext, "HOME"), None);
    }

    #[test]
    fn env_file() {
        let v = parse_env_file("# c\n\nA=1\nexport B=\"x=y\"\nC='q'\nD=\n").expect("parse");
        assert_eq!(
            v,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), "q".into()),
                ("D".into(), "".into())
            ]
        );
        assert!(parse_env_file("novalue\n").is_err());
        assert!(parse_kv("=x").is_err());
    }
}
