use super::*;

const HTTP: &[Prober] = &[Prober::Http { http3: false }];
const HTTP3: &[Prober] = &[Prober::Http { http3: true }];
const GRPC: &[Prober] = &[Prober::Grpc { tls: false }];
const GRPC_TLS: &[Prober] = &[Prober::Grpc { tls: true }];
const TCP: &[Prober] = &[Prober::Tcp];
const DNS: &[Prober] = &[Prober::Dns { over_tls: false }];
const DOT: &[Prober] = &[Prober::Dns { over_tls: true }];
const ICMP: &[Prober] = &[Prober::Icmp];
const WEBSOCKET: &[Prober] = &[Prober::Websocket];
const UNIX: &[Prober] = &[Prober::Unix];

/// Each reading as "prober host:port".
fn read(target: &str, probers: &[Prober]) -> Result<Vec<String>, String> {
    read_target(target, probers)
        .map(|readings| {
            readings
                .iter()
                .map(|r| format!("{} {}", r.prober, r.dials))
                .collect()
        })
        .map_err(|e| e.to_string())
}

#[test]
fn each_prober_dials_what_its_go_code_dials() {
    let cases: &[(&str, &[Prober], &[&str])] = &[
        ("http://example.com/", HTTP, &["http example.com:80"]),
        (
            "https://Example.COM.:8443/x?y#z",
            HTTP,
            &["http example.com:8443"],
        ),
        ("example.com", HTTP, &["http example.com:80"]),
        ("example.com:443", HTTP, &["http example.com:443"]),
        (
            "http://good.example@127.0.0.1/",
            HTTP,
            &["http 127.0.0.1:80"],
        ),
        ("http://a@b@127.0.0.1:9001/", HTTP, &["http 127.0.0.1:9001"]),
        (
            "127.0.0.1:9001/2018-06-01/runtime/invocation/next",
            HTTP,
            &["http 127.0.0.1:9001"],
        ),
        ("http://2130706433/", HTTP, &["http 127.0.0.1:80"]),
        ("0x7f.1:9001", HTTP, &["http 127.0.0.1:9001"]),
        ("http://[::1]:9115/", HTTP, &["http [::1]:9115"]),
        ("[::ffff:127.0.0.1]:80", HTTP, &["http 127.0.0.1:80"]),
        ("[::ffff:7f00:1]", HTTP, &["http 127.0.0.1:80"]),
        ("[64:ff9b::7f00:1]", HTTP, &["http 127.0.0.1:80"]),
        ("http://127.0.0.%31/", HTTP, &["http 127.0.0.1:80"]),
        ("http://[fe80::1%25eth0]:80/", HTTP, &["http [fe80::1]:80"]),
        ("https://%6c%6fcalhost/", HTTP, &["http localhost:443"]),
        (
            "127.0.0.1:9001/x?a=://example.com",
            HTTP,
            &["http 127.0.0.1:9001"],
        ),
        ("localhost://example.com", HTTP, &["http localhost:80"]),
        (
            "169.254.169.254/latest/#://example.com",
            HTTP,
            &["http 169.254.169.254:80"],
        ),
        // 0.28 prefixes http:// to HTTP://… (host "HTTP"); its main branch does not.
        (
            "HTTP://127.0.0.1/",
            HTTP,
            &["http http:80", "http 127.0.0.1:80"],
        ),
        // The main branch unescapes the target once more.
        (
            "http://127.0.0.1:9001%2F@example.com/",
            HTTP,
            &["http example.com:80", "http 127.0.0.1:9001"],
        ),
        (
            "https://example.com/?q=a%2Bb",
            HTTP,
            &["http example.com:443"],
        ),
        ("example.com", HTTP3, &["http example.com:443"]),
        (
            "http://example.com:8080/",
            HTTP3,
            &["http example.com:8080"],
        ),
        ("example.com", GRPC, &["grpc example.com:80"]),
        ("example.com", GRPC_TLS, &["grpc example.com:443"]),
        (
            "https://example.com:50051",
            GRPC,
            &["grpc example.com:50051"],
        ),
        ("[2001:db8::1]", GRPC, &["grpc [2001:db8::1]:80"]),
        ("example.com:22", TCP, &["tcp example.com:22"]),
        ("[::1]:9001", TCP, &["tcp [::1]:9001"]),
        ("example.com:", TCP, &["tcp example.com:0"]),
        ("8.8.8.8", DNS, &["dns 8.8.8.8:53"]),
        ("8.8.8.8:5353", DNS, &["dns 8.8.8.8:5353"]),
        (
            "2001:4860:4860::8888",
            DNS,
            &["dns [2001:4860:4860::8888]:53"],
        ),
        (
            "[2001:4860:4860::8888]:53",
            DNS,
            &["dns [2001:4860:4860::8888]:53"],
        ),
        ("dns.example", DOT, &["dns dns.example:853"]),
        ("::ffff:7f00:1:9380", DNS, &["dns [::ffff:7f00:1:9380]:53"]),
        ("2001:db8::a", ICMP, &["icmp [2001:db8::a]"]),
        ("example.com", ICMP, &["icmp example.com"]),
        (
            "ws://example.com/socket",
            WEBSOCKET,
            &["websocket example.com:80"],
        ),
        ("wss://[::1]/", WEBSOCKET, &["websocket [::1]:443"]),
        (
            "WsS://example.com",
            WEBSOCKET,
            &["websocket example.com:443"],
        ),
        // A module the handler cannot read: every prober's reading.
        (
            "example.com:443",
            &modules_any(),
            &[
                "http example.com:443",
                "grpc example.com:443",
                "tcp example.com:443",
                "dns example.com:443",
            ],
        ),
    ];
    for (target, probers, want) in cases {
        let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
        assert_eq!(read(target, probers), Ok(want), "{target} {probers:?}");
    }
}

fn modules_any() -> Vec<Prober> {
    Prober::ALL
        .into_iter()
        .filter(|p| *p != Prober::Unix)
        .collect()
}

#[test]
fn forms_read_two_ways_or_not_at_all_are_refused_with_the_reason() {
    let unbracketed = |host: &str, port: &str| {
        format!("an IPv6 address with a port must be in brackets: Go's URL parser reads this as host {host:?}, port {port:?} ([{host}]:{port} if that is meant)")
    };
    let cases: &[(&str, &[Prober], String)] = &[
        ("", HTTP, "the target is empty".into()),
        (" 127.0.0.1", HTTP, "the target's host is malformed".into()),
        ("http://a b/", HTTP, "the target's host is malformed".into()),
        ("http://a\\b/", HTTP, "the target's host is malformed".into()),
        ("example.com/x@127.0.0.1:9001", HTTP, "the target's host is malformed".into()),
        ("http%3A%2F%2F127.0.0.1%3A9001%2F", HTTP, "the target's host is malformed".into()),
        ("::ffff:7f00:1:9380", HTTP, unbracketed("::ffff:7f00:1", "9380")),
        ("http://::ffff:7f00:1:9380/", HTTP, unbracketed("::ffff:7f00:1", "9380")),
        ("https://::FFFF:7F00:1:9380/x", HTTP, unbracketed("::FFFF:7F00:1", "9380")),
        ("0:0:0:0:0:ffff:7f00:1:9380", HTTP, unbracketed("0:0:0:0:0:ffff:7f00:1", "9380")),
        ("::ffff:a9fe:a9fe:80", HTTP, unbracketed("::ffff:a9fe:a9fe", "80")),
        ("2001:db8::53", HTTP, unbracketed("2001:db8:", "53")),
        ("::ffff:7f00:1:9380", GRPC, unbracketed("::ffff:7f00:1", "9380")),
        // Escaped ':' that only the second unescape (blackbox's main branch) reveals.
        ("http://::ffff:7f00:1%3A9380/", HTTP, unbracketed("::ffff:7f00:1", "9380")),
        (
            "[::ffff:7f00]:1",
            GRPC,
            "the grpc prober cannot dial a bracketed IPv6 address with a port: it joins them without brackets, and grpc-go reads \"::ffff:7f00:1\" as another address on port 443; use a host name".into(),
        ),
        (
            "http://[2001:db8::1]:8080/",
            GRPC_TLS,
            "the grpc prober cannot dial a bracketed IPv6 address with a port: it joins them without brackets, and grpc-go reads \"2001:db8::1:8080\" as another address on port 443; use a host name".into(),
        ),
        ("unix:80", GRPC, "the grpc prober reads host \"unix\" as a gRPC resolver scheme, not a host".into()),
        ("Passthrough", GRPC_TLS, "the grpc prober reads host \"Passthrough\" as a gRPC resolver scheme, not a host".into()),
        ("/tmp/socket", UNIX, "the unix prober's targets are socket paths on the function's own host, which are never probed".into()),
        ("127.0.0.1:http", TCP, "the target's port is not a number from 0 to 65535".into()),
        ("127.0.0.1:+9001", TCP, "the target's port is not a number from 0 to 65535".into()),
        ("host:99999", HTTP, "the target's port is not a number from 0 to 65535".into()),
        ("ws://2:4294976297", WEBSOCKET, "the target's port is not a number from 0 to 65535".into()),
        ("http://host:port/", HTTP, "the http prober cannot use it: Go's URL parser refuses its port".into()),
        ("http://%zz/", HTTP, "the http prober cannot use it: Go's URL parser refuses an escape in its host".into()),
        ("http:///path", HTTP, "the http prober cannot use it: it cannot look up a host written like that".into()),
        ("[::1", HTTP, "the http prober cannot use it: Go's URL parser finds no ']'".into()),
        ("[::1]x", HTTP, "the http prober cannot use it: Go's URL parser refuses what follows ']'".into()),
        ("example.com", TCP, "the tcp prober cannot use it: it needs host:port".into()),
        ("::1", TCP, "the tcp prober cannot use it: it needs host:port, with an IPv6 host in brackets".into()),
        ("[::1]:80]", TCP, "the tcp prober cannot use it: it has a stray bracket".into()),
        ("example.com:80", ICMP, "the icmp prober cannot use it: it cannot look up a host written like that".into()),
        ("http://example.com/", WEBSOCKET, "the websocket prober cannot use it: its target must be a ws:// or wss:// URL".into()),
    ];
    for (target, probers, want) in cases {
        assert_eq!(
            read(target, probers),
            Err(want.clone()),
            "{target:?} {probers:?}"
        );
    }
}

#[test]
fn go_split_host_port_follows_go() {
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        ("example.com:80", Some(("example.com", "80"))),
        ("[::1]:80", Some(("::1", "80"))),
        ("[::1]:", Some(("::1", ""))),
        (":80", Some(("", "80"))),
        ("[a]:b:c", None),
        ("[::1]80", None),
        ("::1:80", None),
        ("a[b]:80", None),
        ("[a]]:80", None),
        ("example.com", None),
        ("[::1]", None),
    ];
    for (input, want) in cases {
        assert_eq!(go_split_host_port(input).ok(), *want, "{input}");
    }
}

#[test]
fn inet_aton_forms() {
    let cases = [
        ("1.2.3.4", Some("1.2.3.4")),
        ("2130706433", Some("127.0.0.1")),
        ("0x7f000001", Some("127.0.0.1")),
        ("127.1", Some("127.0.0.1")),
        ("127.0.1", Some("127.0.0.1")),
        ("0x7f.0.0.0x1", Some("127.0.0.1")),
        ("017700000001", Some("127.0.0.1")),
        ("0", Some("0.0.0.0")),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("4294967296", None),
        ("1.2.65536", None),
        ("09.1.1.1", None),
        ("0000000000000177.1", Some("127.0.0.1")),
        ("+127.0.0.1", None),
        ("0x+7f.1", None),
        ("example", None),
        ("1..1", None),
    ];
    for (input, want) in cases {
        assert_eq!(
            parse_inet_aton(input),
            want.map(|w| w.parse().unwrap()),
            "{input}"
        );
    }
}

#[test]
fn the_query_is_read_as_go_reads_it() {
    let params = query_params("target=a%2Fb+c&bad=%zz&semi=1;2&&module=x&target=second&flag");
    assert_eq!(
        params,
        [
            ("target".to_string(), "a/b c".to_string()),
            ("module".to_string(), "x".to_string()),
            ("target".to_string(), "second".to_string()),
            ("flag".to_string(), String::new()),
        ]
    );
    for bad in ["%+9", "%-1", "%1", "%", "%g0", "%0g"] {
        assert!(query_unescape(bad).is_none(), "{bad}");
    }
}
