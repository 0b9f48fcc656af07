//! What the sandbox tells its caller: how Init went, what an invoke returned, what the
//! Shutdown phase did.

use std::time::{Duration, Instant};

/// How Init went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    Ok {
        duration: Duration,
    },
    Failed {
        error_type: String,
        error_message: String,
        /// The body the failing process posted (or a synthesized `{errorMessage, errorType}`).
        body: String,
    },
}

/// An invoke that did not produce a function response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub error_type: String,
    /// JSON error document (what the Lambda Invoke API would return as payload).
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    pub request_id: String,
    pub result: Result<Vec<u8>, FunctionError>,
    pub duration: Duration,
    pub max_memory_used_mb: u64,
}

#[derive(Debug, Clone)]
pub struct ShutdownReport {
    /// `spindown`, `timeout` or `failure`.
    pub reason: String,
    /// The Shutdown phase deadline (start + 2000 ms).
    pub deadline: Instant,
    /// Every extension launched in the environment and when its process exited on its
    /// own (`None`: still running at the deadline, then killed).
    pub extensions: Vec<(String, Option<Instant>)>,
    /// Pids that had to be SIGKILLed.
    pub killed: Vec<i32>,
    /// Processes of the sandbox still present at the end (should be empty).
    pub leftover: Vec<i32>,
    /// Everything printed up to the end of the phase (the handle is gone after it).
    pub logs: String,
}
