//! The contract crate against `contract/contract.json`, the table the extension's, the
//! Python handler's and the Node.js handler's tests read too.

use std::path::{Path, PathBuf};

use lambda_blackbox_contract::replacement::{EXTENSION_COMM, REPLACE_SIGNAL};
use lambda_blackbox_contract::{
    blackbox_config_path, ListenAddress, CONFIG_VAR, DEFAULT_LISTEN_ADDRESS, LISTEN_ADDRESS_VAR,
    TASK_CONFIG,
};
use serde_json::Value;

fn table() -> Value {
    serde_json::from_str(include_str!("../contract.json")).expect("contract.json")
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {value}"))
}

fn cases<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    let cases = value[key].as_array().map(Vec::as_slice).unwrap_or_default();
    assert!(!cases.is_empty(), "no {key} cases");
    cases
}

#[test]
fn the_replacement_channel_is_the_tables() {
    let table = table();
    assert_eq!(EXTENSION_COMM, text(&table, "extension_comm"));
    assert_eq!(REPLACE_SIGNAL.as_str(), text(&table, "replace_signal"));
}

#[test]
fn the_variables_and_the_config_file_are_the_tables() {
    let table = table();
    let variables = &table["variables"];
    assert_eq!(LISTEN_ADDRESS_VAR, text(variables, "listen_address"));
    assert_eq!(CONFIG_VAR, text(variables, "config"));

    let config = &table["config_file"];
    assert_eq!(TASK_CONFIG, text(config, "task"));
    let layer_root = Path::new(text(config, "layer_root"));
    for (task_config_exists, want) in [(true, text(config, "task")), (false, text(config, "layer"))]
    {
        assert_eq!(
            blackbox_config_path(None, layer_root, task_config_exists),
            PathBuf::from(want),
            "task config exists: {task_config_exists}"
        );
    }
}

#[test]
fn the_layer_s_config_defines_the_default_module() {
    let module = text(&table(), "default_module").to_string();
    let config = include_str!("../../layer/blackbox/blackbox.yml");
    assert!(
        config.lines().any(|l| l == format!("  {module}:")),
        "layer/blackbox/blackbox.yml has no module {module}"
    );
}

#[test]
fn listen_addresses_are_accepted_and_refused_as_the_table_says() {
    let table = table();
    assert_eq!(
        DEFAULT_LISTEN_ADDRESS,
        text(&table, "default_listen_address")
    );
    assert_eq!(
        ListenAddress::default(),
        ListenAddress::parse(DEFAULT_LISTEN_ADDRESS).unwrap()
    );
    let rules = &table["listen_address"];
    for case in cases(rules, "accepted") {
        let value = case["value"].as_str();
        let taken = ListenAddress::from_setting(value)
            .unwrap_or_else(|e| panic!("{value:?} is refused: {e}"));
        assert_eq!(taken.as_str(), text(case, "address"), "{value:?}");
    }
    for case in cases(rules, "refused") {
        let value = case["value"].as_str();
        let refusal = ListenAddress::from_setting(value)
            .expect_err(&format!("{value:?} is accepted"))
            .to_string();
        assert_eq!(refusal, text(case, "message"), "{value:?}");
    }
}

#[test]
fn the_extension_s_files_are_where_the_table_says() {
    let files = &table()["extension_files"];
    for case in cases(files, "cases") {
        let address = ListenAddress::parse(text(case, "listen_address")).unwrap();
        assert_eq!(address.pid_file(), PathBuf::from(text(case, "pid")));
        assert_eq!(
            address.guard_status_file(),
            PathBuf::from(text(case, "guard"))
        );
    }
}
