use super::*;
use lambda_blackbox_contract::Environment;

fn rules(vars: &[(&str, &str)], resolv_conf: &str) -> AddressRules {
    AddressRules::from_environment(&Environment::from_pairs(vars, &[]), resolv_conf).unwrap()
}

const LAMBDA: &[(&str, &str)] = &[
    ("AWS_LAMBDA_RUNTIME_API", "169.254.100.1:9001"),
    ("AWS_LAMBDA_METADATA_API", "169.254.100.1:9002"),
];
const RESOLV: &str = "# Lambda\nnameserver 169.254.78.1\noptions timeout:2\n";

fn verdict(rules: &AddressRules, address: &str) -> String {
    let (ip, port) = host_port(address).unwrap();
    match rules.check(ip, Some(port)) {
        Ok(()) => "allowed".into(),
        Err(refusal) => refusal.to_string(),
    }
}

#[test]
fn the_default_rules_refuse_the_environment_and_special_blocks() {
    let default = rules(LAMBDA, RESOLV);
    let cases = [
        ("93.184.215.14:443", "allowed"),
        ("10.0.0.5:5432", "allowed"),
        ("169.254.100.1:9001", "the Lambda Runtime API"),
        ("169.254.100.1:9002", "the Lambda metadata API"),
        ("169.254.100.1:9003", "link-local"),
        ("169.254.169.254:80", "link-local"),
        ("169.254.78.1:53", "allowed"),
        ("169.254.78.1:80", "link-local"),
        ("127.0.0.1:9115", "blackbox_exporter's own listener"),
        ("127.0.0.9:9115", "blackbox_exporter's own listener"),
        ("[::1]:9115", "blackbox_exporter's own listener"),
        ("0.0.0.0:9115", "blackbox_exporter's own listener"),
        ("127.0.0.1:8080", "loopback"),
        ("[::ffff:127.0.0.1]:8080", "loopback"),
        ("[64:ff9b::a9fe:a9fe]:80", "link-local"),
        ("192.0.0.1:80", "IETF protocol assignments (192.0.0.0/24)"),
        ("198.18.0.1:80", "benchmarking (198.18.0.0/15)"),
        ("[fd00:ec2::254]:80", "the EC2 metadata endpoint"),
    ];
    for (address, want) in cases {
        assert_eq!(verdict(&default, address), want, "{address}");
    }
}

#[test]
fn deny_private_adds_the_private_ranges_and_keeps_the_nameservers() {
    let mut vars = LAMBDA.to_vec();
    vars.push(("BLACKBOX_DENY_PRIVATE", "true"));
    let strict = rules(&vars, "nameserver 10.0.0.2\n");
    assert_eq!(verdict(&strict, "10.0.0.5:5432"), "a private range");
    assert_eq!(verdict(&strict, "10.0.0.2:53"), "allowed");
    assert_eq!(verdict(&strict, "10.0.0.2:5353"), "a private range");
    assert_eq!(verdict(&strict, "100.64.1.1:80"), "a shared (CGNAT) range");
    assert_eq!(verdict(&strict, "93.184.215.14:443"), "allowed");
}

#[test]
fn an_allow_list_of_addresses_is_all_that_is_reached_but_never_an_endpoint() {
    let mut vars = LAMBDA.to_vec();
    vars.push((
        "BLACKBOX_ALLOWED_TARGETS",
        "127.0.0.1:8080, 192.0.2.0/24, [2001:db8::/32]:443, 169.254.100.1",
    ));
    let listed = rules(&vars, RESOLV);
    let cases = [
        ("127.0.0.1:8080", "allowed"),
        ("127.0.0.1:8081", "not in BLACKBOX_ALLOWED_TARGETS"),
        ("192.0.2.9:25", "allowed"),
        ("[2001:db8::1]:443", "allowed"),
        ("[2001:db8::1]:80", "not in BLACKBOX_ALLOWED_TARGETS"),
        ("93.184.215.14:443", "not in BLACKBOX_ALLOWED_TARGETS"),
        ("169.254.78.1:53", "allowed"),
        ("169.254.100.1:9001", "the Lambda Runtime API"),
        ("169.254.100.1:8000", "allowed"),
    ];
    for (address, want) in cases {
        assert_eq!(verdict(&listed, address), want, "{address}");
    }
}

#[test]
fn an_allow_list_with_names_leaves_addresses_to_the_address_rules() {
    let mut vars = LAMBDA.to_vec();
    vars.push((
        "BLACKBOX_ALLOWED_TARGETS",
        "*.example.com:443,127.0.0.1:8080",
    ));
    let named = rules(&vars, RESOLV);
    assert_eq!(verdict(&named, "93.184.215.14:443"), "allowed");
    assert_eq!(verdict(&named, "93.184.215.14:22"), "allowed");
    assert_eq!(verdict(&named, "127.0.0.1:8080"), "allowed");
    assert_eq!(verdict(&named, "127.0.0.1:8081"), "loopback");
    assert_eq!(verdict(&named, "169.254.169.254:80"), "link-local");
}

#[test]
fn a_target_without_a_port_meets_every_port_of_an_endpoint() {
    let default = rules(LAMBDA, RESOLV);
    let runtime: IpAddr = "169.254.100.1".parse().unwrap();
    assert_eq!(
        default.check(runtime, None),
        Err(Refusal::Is("the Lambda Runtime API"))
    );
    // ...and is no nameserver query.
    let nameserver: IpAddr = "169.254.78.1".parse().unwrap();
    assert_eq!(
        default.check(nameserver, None),
        Err(Refusal::Is("link-local"))
    );
}

#[test]
fn nameservers_are_read_as_go_reads_them() {
    let cases: &[(&str, &[&str])] = &[
        ("nameserver 169.254.78.1\n", &["169.254.78.1"]),
        (
            "nameserver fe80::1%eth0\nnameserver 10.0.0.2 # x\n",
            &["fe80::1", "10.0.0.2"],
        ),
        ("search example.com\n", &["127.0.0.1", "::1"]),
        ("", &["127.0.0.1", "::1"]),
        ("nameserver not-an-address\n", &["127.0.0.1", "::1"]),
    ];
    for (text, want) in cases {
        let want: Vec<IpAddr> = want.iter().map(|ip| ip.parse().unwrap()).collect();
        assert_eq!(nameservers(text), want, "{text:?}");
    }
}

#[test]
fn a_bad_setting_names_its_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("BLACKBOX_ALLOWED_TARGETS", "example.com,,b.example")],
            "BLACKBOX_ALLOWED_TARGETS: an entry is empty",
        ),
        (
            &[("BLACKBOX_DENY_PRIVATE", "maybe")],
            "BLACKBOX_DENY_PRIVATE: \"maybe\" is not true or false",
        ),
        (
            &[("AWS_LAMBDA_METADATA_API", "169.254.100.1")],
            "AWS_LAMBDA_METADATA_API: \"169.254.100.1\" is not host:port",
        ),
    ];
    for (vars, message) in cases {
        let error =
            AddressRules::from_environment(&Environment::from_pairs(vars, &[]), "").unwrap_err();
        assert_eq!(error.to_string(), *message);
    }
}
