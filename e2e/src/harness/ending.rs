//! Ending the function as its platform does, and what is checked once it has ended.

use std::time::Duration;

use lambda_blackbox_contract::replacement::EXTENSION_COMM;
use lambda_sandbox::proc_fs::ProcessInfo;
use lambda_sandbox::ShutdownReport;

use super::{Front, Function};

/// How the environment ended: its whole log, and the processes that were there before.
pub struct Ended {
    pub logs: String,
    pub processes_before: Vec<ProcessInfo>,
}
impl Function {
    /// Ends the environment as its platform does when it is done with it: the sandbox's
    /// Shutdown phase (`spindown`), SIGTERM to RIE (`SandboxTerminated`, as a container
    /// stop). Asserts that the extension and blackbox ended by themselves within the 2 s
    /// Shutdown deadline: the sandbox killed nothing; under RIE (whose PID namespace takes
    /// every process with it when RIE exits) each was gone within 1.5 s of SIGTERM.
    pub async fn shutdown(self) -> Ended {
        let processes_before = self.processes();
        let logs = match self.front {
            Front::Sandbox(sandbox) => {
                let report = sandbox.shutdown().await;
                assert!(
                    report.killed.is_empty() && report.leftover.is_empty(),
                    "the sandbox had to kill {:?}, left {:?}:\n{}",
                    report.killed,
                    report.leftover,
                    report.logs
                );
                report.logs
            }
            Front::Rie(rie) => {
                let watched: Vec<ProcessInfo> = processes_before
                    .iter()
                    .filter(|p| {
                        p.comm == EXTENSION_COMM
                            || crate::blackbox_pids(&processes_before).contains(&p.pid)
                    })
                    .cloned()
                    .collect();
                let (status, logs, gone) = tokio::task::spawn_blocking(move || {
                    let gone = rie.terminate_watching(Duration::from_secs(5), &watched);
                    (gone, watched)
                })
                .await
                .map(|((status, logs, gone), watched)| {
                    (
                        status,
                        logs,
                        watched.into_iter().zip(gone).collect::<Vec<_>>(),
                    )
                })
                .expect("RIE ends");
                assert!(status.success(), "RIE exits 0 on SIGTERM: {status}\n{logs}");
                for (process, gone_after) in &gone {
                    assert!(
                        gone_after.is_some_and(|after| after < Duration::from_millis(1500)),
                        "{} ({}) did not end by itself after SIGTERM ({gone_after:?}):\n{logs}",
                        process.pid,
                        process.comm
                    );
                }
                logs
            }
        };
        Ended {
            logs,
            processes_before,
        }
    }

    /// Ends the sandbox as [`Function::shutdown`] does and returns its own report of the
    /// Shutdown phase (when each extension exited, what it had to kill), asserting
    /// nothing; the sandbox only.
    pub async fn shutdown_sandbox(self) -> ShutdownReport {
        match self.front {
            Front::Sandbox(sandbox) => sandbox.shutdown().await,
            Front::Rie(_) => panic!("only the sandbox reports its Shutdown phase"),
        }
    }
}

impl Ended {
    /// Asserts that none of the environment's processes is left (a pid reused by an
    /// unrelated process does not count: the start time tells them apart).
    pub fn assert_no_process_left(&self) {
        for before in &self.processes_before {
            let now = lambda_sandbox::proc_fs::read_process(before.pid);
            assert!(
                now.is_none_or(|p| p.start_time != before.start_time),
                "{} ({}) is left:\n{}",
                before.pid,
                before.comm,
                self.logs
            );
        }
    }
}
