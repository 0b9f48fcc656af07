use std::process::ExitCode;
use std::time::Duration;

use blackbox_extension::blackbox::BlackboxProcess;
use blackbox_extension::extensions_api::ExtensionsApi;
use blackbox_extension::settings::{layer_root, Settings};
use blackbox_extension::supervisor::{supervise, StopRequest};
use lambda_blackbox_common::replacement::{write_pid_file, REPLACE_SIGNAL};
use lambda_extension::{service_fn, Extension, LambdaEvent, NextEvent};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

/// How long blackbox gets to exit on SIGTERM at SHUTDOWN (it exits at once).
const STOP_GRACE: Duration = Duration::from_millis(500);
/// Kept free before the SHUTDOWN deadline for reaping and exiting.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

// A current-thread runtime: blackbox's parent-death signal follows the thread that
// forked it (see blackbox.rs), and one thread is all this needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLACKBOX_EXTENSION_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();

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
    let prepared = Settings::from_env(&layer_root(&exe))
        .map_err(|e| ("Extension.InvalidSetting", e.to_string()))
        .and_then(|settings| match BlackboxProcess::spawn(&settings) {
            Ok(starting) => Ok((settings, starting)),
            Err(e) => Err((e.error_type(), e.to_string())),
        });

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

    let (settings, starting) = match prepared {
        Ok(prepared) => prepared,
        Err((error_type, message)) => {
            api.report_init_error(error_type, &message).await;
            return ExitCode::FAILURE;
        }
    };
    let process = match starting.ready(&settings).await {
        Ok(process) => process,
        Err(e) => {
            api.report_init_error(e.error_type(), &e.to_string()).await;
            return ExitCode::FAILURE;
        }
    };

    // The handler signals through this pid file; listen before telling it where we are,
    // since SIGUSR1's default action would end the extension.
    let replace = match signal(SignalKind::from_raw(REPLACE_SIGNAL as i32)) {
        Ok(replace) => replace,
        Err(e) => {
            api.report_init_error("Extension.Crash", &format!("cannot handle SIGUSR1: {e}"))
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
                ExitCode::SUCCESS
            }
            Ok(Err(gave_up)) => {
                api.report_exit_error("Extension.BlackboxRestartFailed", &gave_up.to_string()).await;
                ExitCode::FAILURE
            }
            Err(e) => {
                api.report_exit_error("Extension.Crash", &format!("the supervisor task failed: {e}")).await;
                ExitCode::FAILURE
            }
        },
    }
}

fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
