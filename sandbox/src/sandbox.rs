//! The public handle: binds the listeners, runs Init, and hands out what a test or
//! `make run` needs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::SandboxConfig;
use crate::environment::Environment;
use crate::invoke_endpoints::{function_url_router, invoke_endpoint_router};
use crate::outcomes::{InitOutcome, InvokeOutcome, ShutdownReport};
use crate::proc_fs::ProcessInfo;

/// A local Lambda execution environment.
pub struct Sandbox {
    environment: Arc<Environment>,
    tasks: Vec<JoinHandle<()>>,
    function_url: Option<SocketAddr>,
    invoke_url: Option<SocketAddr>,
}

async fn bind(address: Option<SocketAddr>, what: &str) -> anyhow::Result<Option<TcpListener>> {
    match address {
        Some(address) => {
            Ok(Some(TcpListener::bind(address).await.with_context(
                || format!("binding the {what} on {address}"),
            )?))
        }
        None => Ok(None),
    }
}

impl Sandbox {
    /// Binds the listeners and runs Init. Returns `Ok` even when Init failed (see
    /// [`Sandbox::init_outcome`]); `Err` only when the sandbox itself cannot work.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        anyhow::ensure!(
            config.layer_dir.is_dir(),
            "layer directory {} does not exist",
            config.layer_dir.display()
        );
        if let Some(t) = &config.task_dir {
            anyhow::ensure!(t.is_dir(), "task directory {} does not exist", t.display());
        }
        // Orphaned descendants of the sandbox processes are re-parented to this process
        // (instead of init), so they can still be found and reaped.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let api_listener = bind(Some(config.runtime_api_addr), "runtime API")
            .await?
            .expect("an address was given");
        let function_url_listener = bind(config.function_url_addr, "function URL").await?;
        let invoke_listener = bind(config.invoke_addr, "invoke endpoint").await?;
        let environment = Arc::new(Environment::new(config, api_listener.local_addr()?));

        let mut tasks = Vec::new();
        let router = environment.api_router();
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(api_listener, router).await;
        }));
        let mut function_url = None;
        if let Some(listener) = function_url_listener {
            let address = listener.local_addr()?;
            function_url = Some(address);
            let router = function_url_router(environment.clone(), address.port());
            tasks.push(tokio::spawn(async move {
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                let _ = axum::serve(listener, service).await;
            }));
        }
        let mut invoke_url = None;
        if let Some(listener) = invoke_listener {
            invoke_url = Some(listener.local_addr()?);
            let router = invoke_endpoint_router(environment.clone());
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            }));
        }
        let reaper = environment.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                reaper.reap_orphans();
            }
        }));
        environment.initialize().await;
        Ok(Sandbox {
            environment,
            tasks,
            function_url,
            invoke_url,
        })
    }

    /// The outcome of the latest Init (a re-init after a reset replaces it).
    pub fn init_outcome(&self) -> InitOutcome {
        self.environment.init_outcome()
    }

    /// Invokes the function with `payload` (waits for a running invoke first).
    pub async fn invoke(&self, payload: Vec<u8>) -> InvokeOutcome {
        self.environment.invoke(payload).await
    }

    pub fn function_url(&self) -> Option<SocketAddr> {
        self.function_url
    }

    pub fn invoke_url(&self) -> Option<SocketAddr> {
        self.invoke_url
    }

    /// The `AWS_LAMBDA_RUNTIME_API` address.
    pub fn runtime_api(&self) -> SocketAddr {
        self.environment.runtime_api()
    }

    /// Everything printed so far (process lines and platform lines), one per line.
    pub fn logs(&self) -> String {
        self.environment.logs().text()
    }

    /// Waits until a log line satisfies `pred`; false on timeout.
    pub async fn wait_for_log(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        self.environment.logs().wait_for(pred, timeout).await
    }

    /// Every live process of the sandbox tree (including zombies not yet reaped).
    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.environment.tree()
    }

    /// The Shutdown phase with reason `spindown`, then everything left is killed.
    pub async fn shutdown(self) -> ShutdownReport {
        self.environment.shut_down().await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.environment.mark_closed();
        self.environment.kill_now();
    }
}
