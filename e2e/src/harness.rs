//! One test body, two harnesses: the home-made sandbox (which freezes the environment and
//! fronts a Function URL) and AWS's own Runtime Interface Emulator (the reference where
//! both implement a thing). A test takes the [`Harness`] as a parameter and drives the
//! function through [`Function`]; [`both_harnesses!`](crate::both_harnesses) makes one
//! `#[tokio::test]` per platform of it, on today's blackbox_exporter, and
//! [`on_the_layer_s_blackbox!`](crate::on_the_layer_s_blackbox) one on the older release
//! the layer directory holds in `make test`.
//!
//! RIE has no Function URL: a request is turned into the payload format 2.0 event with the
//! sandbox's own translation (the same headers a Function URL adds), posted to RIE's invoke
//! endpoint, and the answer mapped back as a Function URL maps it (a function error is a
//! 502). RIE runs Init at the first invoke, so an Init failure is read from that invoke's
//! answer, where the sandbox reports it when it starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lambda_sandbox::proc_fs::ProcessInfo;
use lambda_sandbox::{InitOutcome, Sandbox};
use serde_json::Value;

mod ending;
mod launch;
mod requests;

pub use ending::Ended;
pub use launch::Launch;
pub use requests::Invocation;

use crate::rie::RieFunction;
use crate::{init_failure, layer_dir, sid_blackbox, wrapper_script, InitFailure};

/// What runs the execution environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Sandbox,
    Rie,
}

/// Which blackbox_exporter the extension starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlackboxRelease {
    /// Today's release: Debian sid's 0.28 (LAMBDA_BLACKBOX_SID_BLACKBOX), given to the
    /// extension as BLACKBOX_EXPORTER_BIN.
    Newest,
    /// The one in the layer directory: in `make test`, Debian bookworm's 0.23.
    Layer,
}

/// Where a test runs: a platform and a blackbox_exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Harness {
    pub platform: Platform,
    pub blackbox: BlackboxRelease,
}

impl Harness {
    pub const SANDBOX: Harness = Harness {
        platform: Platform::Sandbox,
        blackbox: BlackboxRelease::Newest,
    };
    pub const RIE: Harness = Harness {
        platform: Platform::Rie,
        blackbox: BlackboxRelease::Newest,
    };
    pub const SANDBOX_WITH_LAYER_BLACKBOX: Harness = Harness {
        platform: Platform::Sandbox,
        blackbox: BlackboxRelease::Layer,
    };

    /// The blackbox_exporter binary this harness runs.
    pub fn blackbox_binary(&self) -> PathBuf {
        match self.blackbox {
            BlackboxRelease::Newest => sid_blackbox(),
            BlackboxRelease::Layer => layer_dir().join("bin/blackbox_exporter"),
        }
    }

    /// A stand-in for blackbox_exporter in `dir`: a script that runs `body` with this
    /// harness's binary as $REAL, so a test can delay, break or replace the start.
    pub fn wrapper_binary(&self, dir: &Path, body: &str) -> PathBuf {
        wrapper_script(dir, &self.blackbox_binary(), body)
    }
}

/// Makes `#[tokio::test]`s `sandbox::NAME` and `rie::NAME` of each `async fn NAME(Harness)`,
/// both on today's blackbox_exporter.
#[macro_export]
macro_rules! both_harnesses {
    ($($name:ident),+ $(,)?) => {
        $crate::one_harness!(sandbox, SANDBOX, $($name),+);
        $crate::one_harness!(rie, RIE, $($name),+);
    };
}

/// Makes `#[tokio::test]`s `layer_blackbox::NAME`: the sandbox with the layer's own
/// blackbox_exporter (the older release in `make test`), for the subsets the matrix keeps
/// on it (readiness, Init failures, a probe end to end).
#[macro_export]
macro_rules! on_the_layer_s_blackbox {
    ($($name:ident),+ $(,)?) => {
        $crate::one_harness!(layer_blackbox, SANDBOX_WITH_LAYER_BLACKBOX, $($name),+);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! one_harness {
    ($module:ident, $harness:ident, $($name:ident),+) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Harness::$harness).await
                }
            )+
        }
    };
}

/// The function under test, in either harness.
pub struct Function {
    pub harness: Harness,
    /// BLACKBOX_LISTEN_ADDRESS's port.
    pub blackbox_port: u16,
    front: Front,
}

enum Front {
    Sandbox(Sandbox),
    Rie(RieFunction),
}

impl Function {
    /// The sandbox, for what only it does (freezing, its reports).
    pub fn sandbox(&self) -> Option<&Sandbox> {
        match &self.front {
            Front::Sandbox(sandbox) => Some(sandbox),
            Front::Rie(_) => None,
        }
    }

    /// The sandbox's Function URL, for a client of the test's own (Prometheus, a
    /// keep-alive connection); RIE has none.
    pub fn function_url(&self) -> SocketAddr {
        self.sandbox()
            .and_then(Sandbox::function_url)
            .expect("only the sandbox fronts a Function URL")
    }

    /// How Init failed. The sandbox ran Init at start; RIE runs it at the first invoke,
    /// records the platform's type in its log ("First fatal error stored in appctx"),
    /// and answers with the runtime's error document, or with a bare 502 when an
    /// extension failed (its retry of Init in the invoke trips over the extension it
    /// already registered: ErrAgentNameCollision). The extension's own type and message
    /// are then read from its log line, as a user would read them in CloudWatch.
    pub async fn init_failure(&self) -> InitFailure {
        match &self.front {
            Front::Sandbox(sandbox) => init_failure(sandbox.init_outcome()),
            Front::Rie(_) => {
                let answer = self.invoke(b"{}".to_vec()).await;
                let logs = self.logs();
                let platform_type = logs
                    .lines()
                    .find_map(|l| l.split("First fatal error stored in appctx: ").nth(1))
                    .unwrap_or_else(|| panic!("RIE recorded no Init failure:\n{logs}"))
                    .trim()
                    .to_string();
                let document = serde_json::from_str::<Value>(&answer.body).ok();
                let (reported_type, message) = match document {
                    Some(document) => {
                        let field =
                            |name: &str| document[name].as_str().unwrap_or_default().to_string();
                        (field("errorType"), field("errorMessage"))
                    }
                    None => extension_error_line(&logs)
                        .unwrap_or_else(|| panic!("{answer:?}: no extension error line:\n{logs}")),
                };
                InitFailure {
                    platform_type,
                    reported_type,
                    message,
                }
            }
        }
    }

    /// Asserts that an extension failed Init with `reported_type` and the platform
    /// recorded `Extension.InitError`; returns the extension's message.
    pub async fn extension_init_failure(&self, reported_type: &str) -> String {
        let failure = self.init_failure().await;
        assert_eq!(
            failure.platform_type,
            "Extension.InitError",
            "{failure:?}\n{}",
            self.logs()
        );
        assert_eq!(failure.reported_type, reported_type, "{failure:?}");
        failure.message
    }

    /// Asserts that Init went well (the sandbox's outcome; under RIE, Init runs at the
    /// first invoke and a failure shows in that invoke's answer).
    pub fn assert_initialized(&self) {
        if let Front::Sandbox(sandbox) = &self.front {
            assert!(
                matches!(sandbox.init_outcome(), InitOutcome::Ok { .. }),
                "{:?}\n{}",
                sandbox.init_outcome(),
                sandbox.logs()
            );
        }
    }

    /// The platform's line that ends Init.
    pub fn init_report_marker(&self) -> &'static str {
        match self.harness.platform {
            Platform::Sandbox => "INIT_REPORT",
            Platform::Rie => "INIT REPORT",
        }
    }

    /// The invoke endpoint: RIE's, or the sandbox's copy of it.
    pub fn invoke_addr(&self) -> SocketAddr {
        match &self.front {
            Front::Sandbox(sandbox) => sandbox
                .invoke_url()
                .expect("the sandbox serves the invoke endpoint"),
            Front::Rie(rie) => rie.invoke_addr,
        }
    }

    pub fn logs(&self) -> String {
        match &self.front {
            Front::Sandbox(sandbox) => sandbox.logs(),
            Front::Rie(rie) => rie.logs(),
        }
    }

    /// Waits until a log line satisfies `pred`; false after `timeout`.
    pub async fn wait_for_log(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if self.logs().lines().any(&pred) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every process of the environment: the extension, blackbox, the bootstrap (and RIE).
    pub fn processes(&self) -> Vec<ProcessInfo> {
        match &self.front {
            Front::Sandbox(sandbox) => sandbox.processes(),
            Front::Rie(rie) => rie.processes(),
        }
    }

    pub fn blackbox_pids(&self) -> Vec<i32> {
        crate::blackbox_pids(&self.processes())
    }

    /// AWS_LAMBDA_RUNTIME_API's port.
    pub fn runtime_api_port(&self) -> u16 {
        match &self.front {
            Front::Sandbox(sandbox) => sandbox.runtime_api().port(),
            Front::Rie(rie) => rie.runtime_api.port(),
        }
    }

    /// Waits until `count` invokes have started.
    pub async fn wait_for_invokes(&self, count: usize) {
        self.wait_for_count("START RequestId", count, "started")
            .await
    }

    /// Waits until `count` invokes have ended: the sandbox prints REPORT after it froze
    /// the environment again, RIE when the runtime asked for the next event.
    pub async fn wait_for_reports(&self, count: usize) {
        self.wait_for_count("REPORT RequestId", count, "ended")
            .await
    }

    async fn wait_for_count(&self, line: &str, count: usize, what: &str) {
        let started = Instant::now();
        while self.logs().matches(line).count() < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "invoke {count} has not {what} after 10 s:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Asserts that a log line holding `text` comes within `timeout`.
    pub async fn expect_log(&self, text: &str, timeout: Duration) {
        assert!(
            self.wait_for_log(|l| l.contains(text), timeout).await,
            "no line with {text:?} after {timeout:?}:\n{}",
            self.logs()
        );
    }

    /// The runtime's processes (the bootstrap).
    pub fn runtime_pids(&self) -> Vec<i32> {
        self.processes()
            .into_iter()
            .filter(|p| p.comm == "bootstrap")
            .map(|p| p.pid)
            .collect()
    }
}

/// The extension's own report of a failure, from its log line
/// `ERROR blackbox_extension::…: MESSAGE error_type="TYPE"`: (TYPE, MESSAGE).
fn extension_error_line(logs: &str) -> Option<(String, String)> {
    logs.lines()
        .filter(|l| l.contains("ERROR blackbox_extension"))
        .find_map(|line| {
            let (head, error_type) = line.rsplit_once(" error_type=\"")?;
            let (_, message) = head.split_once(": ")?;
            Some((
                error_type.trim_end_matches('"').to_string(),
                message.to_string(),
            ))
        })
}
