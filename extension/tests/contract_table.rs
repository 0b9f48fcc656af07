//! What only the extension holds of `contract/contract.json`, the table the contract crate's,
//! the Python handler's and the Node.js handler's tests read too.

use std::path::Path;

use blackbox_extension::blackbox::GuardStatus;
use blackbox_extension::guard::CONNECT_GUARD_VAR;
use lambda_blackbox_address_rules::{ALLOWED_TARGETS_VAR, DENY_PRIVATE_VAR};
use serde_json::Value;

fn table() -> Value {
    serde_json::from_str(include_str!("../../contract/contract.json")).expect("contract.json")
}

#[test]
fn the_comm_name_is_the_binary_s_cut_to_the_kernel_s_15_bytes() {
    let table = table();
    let binary = Path::new(env!("CARGO_BIN_EXE_blackbox-extension"))
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap();
    assert_eq!(binary, table["extension_binary"]);
    assert_eq!(&binary[..15], table["extension_comm"]);
}

#[test]
fn the_variables_the_extension_reads_are_the_tables() {
    let variables = &table()["variables"];
    assert_eq!(CONNECT_GUARD_VAR, variables["connect_guard"]);
    assert_eq!(ALLOWED_TARGETS_VAR, variables["allowed_targets"]);
    assert_eq!(DENY_PRIVATE_VAR, variables["deny_private"]);
}

#[test]
fn the_guard_status_file_says_on_in_the_tables_word() {
    assert_eq!(
        GuardStatus::On.to_string(),
        table()["extension_files"]["guard_on"]
    );
}
