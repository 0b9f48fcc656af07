//! Every way the function fails, each with the error type Lambda records for it: at Init
//! (sent to `/runtime/init/error`) and in an invocation (its `errorType`).

use lambda_blackbox_contract::SettingsError;
use lambda_http::lambda_runtime::Diagnostic;

use lambda_blackbox_push::PushError;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Init: a `BLACKBOX_*` setting of the handler or of push mode is invalid.
    #[error(transparent)]
    InvalidSetting(#[from] SettingsError),
    /// Init: push mode is set but its remote-write client cannot start.
    #[error("push mode cannot start its remote-write client: {0}")]
    PushModeUnavailable(std::io::Error),
    /// An invocation whose event is neither an HTTP request nor a push run.
    #[error("the event is neither an HTTP request (Function URL, API Gateway, ALB) nor a push run (a Scheduler input with probes, or a Scheduled Event): {0}")]
    UnknownEvent(String),
    /// A push run that could not be done, or whose write failed.
    #[error(transparent)]
    Push(#[from] PushError),
}

impl HandlerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::InvalidSetting(_) => "Runtime.InvalidSetting",
            HandlerError::PushModeUnavailable(_) => "Runtime.PushModeUnavailable",
            HandlerError::UnknownEvent(_) => "Runtime.UnknownEvent",
            HandlerError::Push(PushError::NotConfigured) => "PushMode.NotConfigured",
            HandlerError::Push(PushError::InvalidEvent(_)) => "PushMode.InvalidEvent",
            HandlerError::Push(PushError::NoTargets) => "PushMode.NoTargets",
            HandlerError::Push(PushError::WriteFailed { .. }) => "PushMode.WriteFailed",
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_error_type_and_one_line_message() {
        let cases: Vec<(HandlerError, &str, &str)> = vec![
            (
                SettingsError::new("BLACKBOX_AUTH_TOKEN", "it is empty").into(),
                "Runtime.InvalidSetting",
                "BLACKBOX_AUTH_TOKEN",
            ),
            (
                HandlerError::PushModeUnavailable(std::io::Error::other("no CA bundle")),
                "Runtime.PushModeUnavailable",
                "push mode cannot start its remote-write client: no CA bundle",
            ),
            (
                HandlerError::UnknownEvent("missing field `x`".into()),
                "Runtime.UnknownEvent",
                "nor a push run (a Scheduler input with probes, or a Scheduled Event): missing field `x`",
            ),
            (
                PushError::NotConfigured.into(),
                "PushMode.NotConfigured",
                "push mode is off: set BLACKBOX_REMOTE_WRITE_URL",
            ),
            (
                PushError::InvalidEvent("probes[0]: no target".into()).into(),
                "PushMode.InvalidEvent",
                "the push run's event is wrong: probes[0]: no target",
            ),
            (
                PushError::NoTargets.into(),
                "PushMode.NoTargets",
                "BLACKBOX_PUSH_TARGETS_FILE is not set",
            ),
            (
                PushError::WriteFailed {
                    reason: "Connection refused".into(),
                    summary: "{}".into(),
                }
                .into(),
                "PushMode.WriteFailed",
                "remote write failed: Connection refused; summary: {}",
            ),
        ];
        for (error, error_type, message) in cases {
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, error_type);
            assert!(
                diagnostic.error_message.contains(message),
                "{}",
                diagnostic.error_message
            );
            assert!(!diagnostic.error_message.contains('\n'));
        }
    }
}
