//! Every way the extension fails, each with the error type Lambda reports for it
//! (`Lambda-Extension-Function-Error-Type`).

use crate::blackbox::StartError;
use crate::settings::SettingsError;
use crate::supervisor::GaveUp;

#[derive(Debug, thiserror::Error)]
pub enum ExtensionError {
    #[error(transparent)]
    InvalidSetting(#[from] SettingsError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot handle the replacement signal: {0}")]
    ReplaceSignal(std::io::Error),
    #[error(transparent)]
    RestartFailed(#[from] GaveUp),
    #[error("the supervisor task failed: {0}")]
    SupervisorFailed(String),
}

impl ExtensionError {
    pub fn error_type(&self) -> &'static str {
        match self {
            ExtensionError::InvalidSetting(_) => "Extension.InvalidSetting",
            ExtensionError::Start(start) => start.error_type(),
            ExtensionError::ReplaceSignal(_) | ExtensionError::SupervisorFailed(_) => {
                "Extension.Crash"
            }
            ExtensionError::RestartFailed(_) => "Extension.BlackboxRestartFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_error_type_and_one_line_message() {
        let cases: Vec<(ExtensionError, &str, &str)> = vec![
            (
                SettingsError::new("BLACKBOX_ARGS", "a quote is not closed").into(),
                "Extension.InvalidSetting",
                "BLACKBOX_ARGS: a quote is not closed",
            ),
            (
                GaveUp {
                    failures: 5,
                    last: "exited (exit status: 1)".into(),
                }
                .into(),
                "Extension.BlackboxRestartFailed",
                "blackbox_exporter could not be kept running: 5 restarts in a row failed; the last: exited (exit status: 1)",
            ),
            (
                ExtensionError::SupervisorFailed("task panicked".into()),
                "Extension.Crash",
                "the supervisor task failed: task panicked",
            ),
        ];
        for (error, error_type, message) in cases {
            assert_eq!(error.error_type(), error_type);
            assert_eq!(error.to_string(), message);
        }
    }
}
