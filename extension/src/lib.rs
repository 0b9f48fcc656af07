//! lambda-blackbox's Lambda extension: runs blackbox_exporter beside the function,
//! holds Init until it serves, keeps it running, and stops it on SHUTDOWN.

pub mod blackbox;
pub mod blackbox_log;
pub mod error;
pub mod extensions_api;
pub mod guard;
pub mod lifecycle;
pub mod settings;
pub mod supervisor;
