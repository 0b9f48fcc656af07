//! `lambda-sandbox`: a local AWS Lambda execution environment for tests and `make run`,
//! following the AWS Lambda Developer Guide (Extensions API, Runtime API, execution
//! environment lifecycle, function URLs).

pub mod config;
mod environment;
pub mod function_url;
mod invoke_endpoints;
pub mod logs;
mod outcomes;
pub mod proc_fs;
mod sandbox;
pub mod test_support;
pub mod util;

pub use config::{parse_env_file, parse_kv, SandboxConfig};
pub use function_url::{
    add_front_headers, function_url_error_response, function_url_event, function_url_response,
    UrlContext, UrlResponse,
};
pub use outcomes::{FunctionError, InitOutcome, InvokeOutcome, ShutdownReport};
pub use proc_fs::ProcessInfo;
pub use sandbox::Sandbox;
