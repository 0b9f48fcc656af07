//! The extension's life: start blackbox, register, hold Init until blackbox serves,
//! keep it running, stop it at SHUTDOWN, and report any failure to Lambda.

use std::process::ExitCode;
use std::time::Duration;

use lambda_blackbox_contract::replacement::{write_pid_file, REPLACE_SIGNAL};
use lambda_extension::{service_fn, Extension, LambdaEvent, NextEvent};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

use crate::blackbox::{BlackboxProcess, GuardStatus};
use crate::error::ExtensionError;
use crate::extensions_api::ExtensionsApi;
use crate::guard::GuardMode;
use crate::settings::{layer_root, Settings};
use crate::supervisor::{supervise, StopRequest};

/// How long blackbox gets to exit on SIGTERM at SHUTDOWN (it exits at once).
const STOP_GRACE: Duration = Duration::from_millis(500);
/// Kept free before the SHUTDOWN deadline for reaping and exiting.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

pub async fn run() -> ExitCode {
    let (stop_tx, stop_rx) = mpsc::channel::<StopRequest>(1);
    let events = service_fn(move |event: LambdaEvent| {
        let stop_tx = stop_tx.clone();
        async move {
            if let NextEvent::Shutdown(shutdown) = event.next {
                let reason = shutdown.shutdown_reason.to_ascii_lowercase();
                let left = Duration::from_millis(shutdown.deadline_ms)
                    .saturating_sub(unix_now())
                    .saturating_sub(DEADLINE_MARGIN);
                tracing::info!(reason, left_ms = left.as_millis() as u64, "SHUTDOWN");
                let (done, stopped) = oneshot::channel();
                let grace = STOP_GRACE.min(left);
                if stop_tx.send(StopRequest { grace, done }).await.is_ok() {
                    let _ = stopped.await;
                }
            }
            Ok::<(), lambda_extension::Error>(())
        }
    });

    // blackbox starts first, so that its few milliseconds of start-up overlap our
    // registration and the runtime's Init; failures are reported once registered.
    let exe = std::env::current_exe().unwrap_or_default();
    let prepared = match Settings::from_env(&layer_root(&exe)) {
        Ok(settings) => match BlackboxProcess::spawn(&settings).await {
            Ok(starting) => Ok((settings, starting)),
            Err(error) => Err(ExtensionError::from(error)),
        },
        Err(error) => Err(ExtensionError::from(error)),
    };

    // Init is held open until this extension calls /event/next.
    let extension = match Extension::new()
        .with_events(&["SHUTDOWN"])
        .with_events_processor(events)
        .register()
        .await
    {
        Ok(extension) => extension,
        Err(e) => {
            tracing::error!("could not register with the Extensions API: {e}");
            return ExitCode::FAILURE;
        }
    };
    let api = match ExtensionsApi::new(&extension.extension_id) {
        Ok(api) => api,
        Err(e) => {
            tracing::error!("could not reach the Extensions API: {e}");
            return ExitCode::FAILURE;
        }
    };

    let (mut settings, starting) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            api.report_init_error(&error).await;
            return ExitCode::FAILURE;
        }
    };
    let process = match starting.ready(&settings).await {
        Ok(process) => process,
        Err(e) => {
            api.report_init_error(&e.into()).await;
            return ExitCode::FAILURE;
        }
    };
    // The line an operator looks for to know the guard is on (docs/security.md, "Is the guard on?").
    let guard = process.guard().clone();
    // What Init found holds for the environment's life: a restarted blackbox runs
    // guarded if the first one did (or fails to start), and unguarded restarts do not
    // try again.
    match &guard {
        GuardStatus::On => {
            tracing::info!("connect guard: on");
            settings.connect_guard = GuardMode::Required;
        }
        off => {
            tracing::warn!("connect guard: {off}");
            settings.connect_guard = GuardMode::Off;
        }
    }
    let guard_file = settings.listen_address.guard_status_file();
    if let Err(e) = write_status_file(&guard_file, &format!("{guard}\n")) {
        tracing::warn!(
            path = %guard_file.display(),
            "cannot write the guard's status; the Python and Node.js handlers then refuse probes under a target policy: {e}"
        );
    }

    // The handler signals through this pid file; listen before telling it where we are,
    // since SIGUSR1's default action would end the extension.
    let replace = match signal(SignalKind::from_raw(REPLACE_SIGNAL as i32)) {
        Ok(replace) => replace,
        Err(e) => {
            api.report_init_error(&ExtensionError::ReplaceSignal(e))
                .await;
            return ExitCode::FAILURE;
        }
    };
    let pid_file = settings.listen_address.pid_file();
    if let Err(e) = write_pid_file(&pid_file) {
        tracing::warn!(
            path = %pid_file.display(),
            "cannot write the pid file; the handler cannot ask for a hung blackbox to be replaced: {e}"
        );
    }

    let supervisor = tokio::spawn(supervise(settings, process, stop_rx, replace));
    tokio::select! {
        result = extension.run() => {
            tracing::error!("the Extensions API event loop ended: {result:?}");
            ExitCode::FAILURE
        }
        result = supervisor => match result {
            Ok(Ok(())) => {
                let _ = std::fs::remove_file(&pid_file);
                let _ = std::fs::remove_file(&guard_file);
                ExitCode::SUCCESS
            }
            Ok(Err(gave_up)) => {
                api.report_exit_error(&gave_up.into()).await;
                ExitCode::FAILURE
            }
            Err(e) => {
                api.report_exit_error(&ExtensionError::SupervisorFailed(e.to_string())).await;
                ExitCode::FAILURE
            }
        },
    }
}

fn write_status_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
