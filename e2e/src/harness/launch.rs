//! Starting the function under either harness: the layer, the function's package and its
//! variables, with the defaults the end-to-end tests share.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_blackbox_contract::{ListenAddress, LISTEN_ADDRESS_VAR};
use lambda_sandbox::{Sandbox, SandboxConfig};

use super::{Front, Function, Harness, Platform};
use crate::rie::RieFunction;
use crate::{free_port, layer_dir};

/// A function to start: the layer `make test` built with a free loopback
/// BLACKBOX_LISTEN_ADDRESS and BLACKBOX_ALLOWED_TARGETS 127.0.0.1, unless the test says
/// otherwise.
#[must_use = "start() starts it"]
pub struct Launch {
    harness: Harness,
    layer: Option<PathBuf>,
    task: Option<PathBuf>,
    env: Vec<(String, String)>,
    echo_logs: bool,
}

impl Launch {
    /// Another layer directory: a stand-in for a part of it, or another build.
    pub fn layer(mut self, layer: &Path) -> Launch {
        self.layer = Some(layer.to_path_buf());
        self
    }

    /// A function package of its own (`task`, the function's /var/task, holding its
    /// `bootstrap`), as when the layer is attached to an existing function.
    pub fn task(mut self, task: &Path) -> Launch {
        self.task = Some(task.to_path_buf());
        self
    }

    /// The function's variables; a later one wins. AWS_LAMBDA_FUNCTION_TIMEOUT and
    /// AWS_REGION are the function's settings, as Lambda passes them.
    pub fn env(mut self, env: &[(&str, &str)]) -> Launch {
        self.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Whether the sandbox copies the environment's log to the test's output (RIE's is
    /// only kept): off for a flood of invokes or a fleet of functions.
    pub fn echo_logs(mut self, echo: bool) -> Launch {
        self.echo_logs = echo;
        self
    }

    pub async fn start(self) -> Function {
        let Launch {
            harness,
            layer,
            task,
            mut env,
            echo_logs,
        } = self;
        let layer = layer.unwrap_or_else(layer_dir);
        let value_of = |env: &[(String, String)], name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if value_of(&env, "BLACKBOX_EXPORTER_BIN").is_none() {
            let blackbox = harness.blackbox_binary();
            env.push((
                "BLACKBOX_EXPORTER_BIN".into(),
                blackbox.display().to_string(),
            ));
        }
        // Loopback is refused by default; these tests probe targets they run on loopback.
        if value_of(&env, "BLACKBOX_ALLOWED_TARGETS").is_none() {
            env.insert(0, ("BLACKBOX_ALLOWED_TARGETS".into(), "127.0.0.1".into()));
        }
        let blackbox_port = match value_of(&env, LISTEN_ADDRESS_VAR) {
            Some(address) => ListenAddress::parse(&address)
                .map(|listen| listen.port())
                .unwrap_or(0),
            None => {
                let port = free_port();
                env.insert(0, (LISTEN_ADDRESS_VAR.into(), format!("127.0.0.1:{port}")));
                port
            }
        };
        let mut config = SandboxConfig::new(&layer);
        config.task_dir = task.clone();
        config.function_url_addr = Some("127.0.0.1:0".parse().unwrap());
        config.invoke_addr = Some("127.0.0.1:0".parse().unwrap());
        config.echo_logs = echo_logs;
        if let Some(seconds) = value_of(&env, "AWS_LAMBDA_FUNCTION_TIMEOUT") {
            let seconds = seconds
                .parse()
                .expect("AWS_LAMBDA_FUNCTION_TIMEOUT in seconds");
            config.function_timeout = Duration::from_secs(seconds);
        }
        if let Some(region) = value_of(&env, "AWS_REGION") {
            config.region = region;
        }
        env.retain(|(name, _)| name != "AWS_LAMBDA_FUNCTION_TIMEOUT" && name != "AWS_REGION");
        let front = match harness.platform {
            Platform::Sandbox => {
                config.env = env;
                Front::Sandbox(Sandbox::start(config).await.expect("the sandbox starts"))
            }
            Platform::Rie => {
                // The same variables, in the order the sandbox would apply them (the
                // later one wins).
                let mut vars = vec![("AWS_REGION".to_string(), config.region.clone())];
                for (name, value) in env {
                    vars.retain(|(n, _)| *n != name);
                    vars.push((name, value));
                }
                let timeout_s = config.function_timeout.as_secs().max(1) as u32;
                Front::Rie(
                    tokio::task::spawn_blocking(move || {
                        let vars: Vec<(&str, &str)> =
                            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                        RieFunction::start(&layer, task.as_deref(), &vars, timeout_s)
                    })
                    .await
                    .expect("RIE starts"),
                )
            }
        };
        Function {
            harness,
            blackbox_port,
            front,
        }
    }
}
impl Function {
    /// The layer with `env` (see [`Launch`]).
    pub async fn start(harness: Harness, env: &[(&str, &str)]) -> Function {
        Function::launch(harness).env(env).start().await
    }

    /// A function to start with more than its variables changed.
    pub fn launch(harness: Harness) -> Launch {
        Launch {
            harness,
            layer: None,
            task: None,
            env: Vec::new(),
            echo_logs: true,
        }
    }
}
