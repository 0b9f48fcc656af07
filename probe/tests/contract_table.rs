//! What the probe crate holds of `contract/contract.json`: the module a request without one
//! gets, the header the scrape timeout travels in, the target policy's variables.

use lambda_blackbox_address_rules::{ALLOWED_TARGETS_VAR, DENY_PRIVATE_VAR};
use lambda_blackbox_probe::modules::DEFAULT_MODULE;
use lambda_blackbox_probe::SCRAPE_TIMEOUT_HEADER;
use serde_json::Value;

#[test]
fn the_probe_crate_s_names_are_the_tables() {
    let table: Value = serde_json::from_str(include_str!("../../contract/contract.json")).unwrap();
    assert_eq!(table["default_module"], DEFAULT_MODULE);
    assert_eq!(table["scrape_timeout_header"], SCRAPE_TIMEOUT_HEADER);
    assert_eq!(table["variables"]["allowed_targets"], ALLOWED_TARGETS_VAR);
    assert_eq!(table["variables"]["deny_private"], DENY_PRIVATE_VAR);
}
