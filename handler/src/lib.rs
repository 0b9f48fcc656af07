//! lambda-blackbox's bootstrap: checks each event, lets a request through the gate to
//! blackbox_exporter (the probe crate) and hands back its status, content type and body,
//! or runs a scheduled push run (the push crate). `main` only wires these together.

pub mod dispatch;
pub mod error;
pub mod event;
pub mod gate;
pub mod init;
pub mod proxy;
pub mod push_event;
pub mod response;
pub mod runtime_api;
pub mod settings;

pub use dispatch::serve;
pub use proxy::{upstream_timeout, Proxy};
pub use runtime_api::report_init_error;
