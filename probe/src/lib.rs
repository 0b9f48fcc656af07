//! One probe, from a target to blackbox_exporter's answer: the target read as the
//! module's prober reads it (`target_reading`), blackbox's modules (`modules`), the
//! target policy (`target_policy`, `admission`), and the client for blackbox on loopback
//! (`blackbox_client`). A scrape and a push run both go through here; nothing here knows
//! of Lambda events or HTTP answers to them.

pub mod admission;
pub mod blackbox_client;
pub mod loopback;
pub mod modules;
pub mod settings;
pub mod target_policy;
pub mod target_reading;

pub use blackbox_client::{BlackboxAnswer, BlackboxClient, BlackboxError, SCRAPE_TIMEOUT_HEADER};
pub use settings::ProbeSettings;
