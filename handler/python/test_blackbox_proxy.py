"""Unit tests of the Python handler (standard library only): `python3 -m unittest` in
handler/python. The end-to-end test under awslambdaric with the real layer is
e2e/tests/python_handler.rs."""

import http.server
import os
import socket
import threading
import time
import unittest

for _name in [n for n in os.environ if n.startswith("BLACKBOX_")]:
    del os.environ[_name]

import blackbox_proxy as proxy  # noqa: E402

TOKEN = "example-token-change-me"


def v2(path, query, headers=None, method="GET"):
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers or {},
        "requestContext": {"http": {"method": method, "path": path}},
    }


def serve(handler_class):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Recorder.seen.append((self.path, dict((k.lower(), v) for k, v in self.headers.items())))
        self.send_response(418)
        self.send_header("Content-Type", "text/x-recorded")
        self.send_header("Content-Length", "8")
        self.end_headers()
        self.wfile.write(b"recorded")

    def log_message(self, *args):
        pass


class GateTest(unittest.TestCase):
    def test_refusals_carry_the_rust_handlers_status_and_reason(self):
        locked = proxy.Settings({"BLACKBOX_AUTH_TOKEN": "t0k"})
        open_ = proxy.Settings({})
        cases = [
            (locked, v2("/probe", "target=example.com"), 401, "an Authorization: Bearer token is required"),
            (locked, v2("/probe", "target=example.com", {"authorization": "Bearer nope"}), 401, "the bearer token is wrong"),
            (locked, v2("/probe", "target=example.com", {"authorization": "t0k"}), 401, "an Authorization: Bearer token is required"),
            (open_, v2("/config", ""), 404, "/config is not served: lambda-blackbox serves /probe"),
            (open_, v2("/metrics", ""), 404, "/metrics is not served; set BLACKBOX_EXPOSE_METRICS=true to serve it"),
            (open_, v2("/probe", "target=example.com&debug=true"), 403,
             "debug=true is refused (its output shows the module configuration); set BLACKBOX_ALLOW_DEBUG=true to allow it"),
            (open_, v2("/probe", "", method="POST"), 405, "method POST is not allowed: use GET or HEAD"),
            (open_, v2("/probe", "target=" + "a" * 9000), 414, "the query string is over 8192 bytes"),
            (open_, v2("/probe", "", {"x-big": "a" * 9000}), 400,
             "the request headers are too large (at most 8192 bytes a header, 32768 in all)"),
        ]
        for settings, event, status, reason in cases:
            answer = proxy.handle(settings, event, 30)
            self.assertEqual((answer["statusCode"], answer["body"]), (status, reason + "\n"), event["rawPath"])
            self.assertEqual(answer["headers"]["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(proxy.handle(locked, v2("/probe", ""), 30)["headers"]["www-authenticate"],
                         'Bearer realm="lambda-blackbox"')
        self.assertEqual(proxy.handle(open_, v2("/probe", "", method="PUT"), 30)["headers"]["allow"], "GET, HEAD")

    def test_invalid_settings_name_the_variable_and_the_token_never_prints(self):
        cases = [
            ({"BLACKBOX_ALLOWED_TARGETS": "example.com"},
             "BLACKBOX_ALLOWED_TARGETS: this Python handler does not enforce the target policy"),
            ({"BLACKBOX_DENY_PRIVATE": "true"}, "BLACKBOX_DENY_PRIVATE: this Python handler does not enforce"),
            ({"BLACKBOX_AUTH_TOKEN": "two words"}, "BLACKBOX_AUTH_TOKEN: the token must be printable ASCII"),
            ({"BLACKBOX_AUTH_TOKEN": "a", "BLACKBOX_AUTH_TOKEN_FILE": "/x"}, "BLACKBOX_AUTH_TOKEN_FILE: set either"),
            ({"BLACKBOX_AUTH_TOKEN_FILE": "/nonexistent/token"},
             "BLACKBOX_AUTH_TOKEN_FILE: cannot read /nonexistent/token: No such file or directory"),
            ({"BLACKBOX_AUTH_TRUST_IAM": "maybe"}, "BLACKBOX_AUTH_TRUST_IAM: 'maybe' is not true or false"),
        ]
        for env, message in cases:
            with self.assertRaises(proxy.InvalidSetting) as raised:
                proxy.Settings(env)
            self.assertTrue(str(raised.exception).startswith(message), str(raised.exception))
        self.assertNotIn("s3cret", repr(proxy.Settings({"BLACKBOX_AUTH_TOKEN": "s3cret"})))

    def test_iam_authenticated_requests_pass_only_when_trusted(self):
        Recorder.seen = []
        server = serve(Recorder)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        env = {"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % server.server_port, "BLACKBOX_AUTH_TOKEN": TOKEN}
        event = v2("/probe", "target=x")
        event["requestContext"]["authorizer"] = {"iam": {"userArn": "arn:aws:iam::123456789012:user/p"}}
        self.assertEqual(proxy.handle(proxy.Settings(env), event, 30)["statusCode"], 401)
        env["BLACKBOX_AUTH_TRUST_IAM"] = "true"
        self.assertEqual(proxy.handle(proxy.Settings(env), event, 30)["statusCode"], 418)

    def test_the_query_is_read_as_go_reads_it(self):
        self.assertEqual(
            proxy.query_params("target=a%2Fb+c&bad=%zz&semi=1;2&&module=x&target=second&flag"),
            [("target", "a/b c"), ("module", "x"), ("target", "second"), ("flag", "")],
        )


class ProxyTest(unittest.TestCase):
    def test_path_and_raw_query_untouched_and_only_accept_user_agent_and_timeout_forwarded(self):
        Recorder.seen = []
        server = serve(Recorder)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % server.server_port})
        raw = "target=https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D%2520&module=http_2xx&x=a+b"
        event = v2("/probe", raw, {
            "accept": "text/plain", "user-agent": "Prometheus/2.53.0", "authorization": "Bearer s",
            "cookie": "c=1", "x-prometheus-scrape-timeout-seconds": "10"})
        answer = proxy.handle(settings, event, 1.2)
        self.assertEqual((answer["statusCode"], answer["headers"]["content-type"], answer["body"]),
                         (418, "text/x-recorded", "recorded"))
        path, headers = Recorder.seen[0]
        self.assertEqual(path, "/probe?" + raw)
        self.assertEqual(headers["accept"], "text/plain")
        self.assertEqual(headers["user-agent"], "Prometheus/2.53.0")
        self.assertEqual(headers["x-prometheus-scrape-timeout-seconds"], "1.100")
        self.assertNotIn("authorization", headers)
        self.assertNotIn("cookie", headers)

        # API Gateway v1 and ALB deliver parsed parameters: re-encoded (ALB's still encoded).
        Recorder.seen = []
        proxy.handle(settings, {"httpMethod": "GET", "path": "/probe", "requestContext": {},
                                "multiValueQueryStringParameters": {
                                    "target": ["https://example.com/?a=1&b= "], "module": ["http_2xx"]}}, 30)
        proxy.handle(settings, {"httpMethod": "GET", "path": "/probe", "requestContext": {"elb": {}},
                                "queryStringParameters": {
                                    "target": "https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D+", "module": "http_2xx"}}, 30)
        want = "/probe?target=https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D+&module=http_2xx"
        self.assertEqual([p for p, _ in Recorder.seen], [want, want])

    def test_504_when_blackbox_does_not_answer_in_time(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        self.addCleanup(silent.close)
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % silent.getsockname()[1]})
        started = time.monotonic()
        answer = proxy.handle(settings, v2("/probe", "target=x", {"x-prometheus-scrape-timeout-seconds": "0.5"}), 30)
        elapsed = time.monotonic() - started
        self.assertEqual((answer["statusCode"], answer["body"]), (
            504, "blackbox_exporter did not answer within 0.500 s (the scrape timeout or the invocation deadline)\n"))
        self.assertTrue(0.45 <= elapsed < 1.5, elapsed)

    def test_502_when_the_answer_breaks_off(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        self.addCleanup(listener.close)

        def answer_half():
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nprobe_")
            connection.close()

        threading.Thread(target=answer_half, daemon=True).start()
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % listener.getsockname()[1]})
        answer = proxy.handle(settings, v2("/probe", "target=x"), 30)
        self.assertEqual(answer["statusCode"], 502, answer["body"])
        self.assertTrue(answer["body"].startswith("blackbox_exporter's answer broke off: "), answer["body"])

    def test_503_at_once_when_the_extension_is_gone(self):
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % free_port()})
        started = time.monotonic()
        answer = proxy.handle(settings, v2("/probe", "target=x"), 30)
        self.assertEqual(answer["statusCode"], 503, answer["body"])
        self.assertLess(time.monotonic() - started, 0.5)

    def test_the_timeout_follows_the_header_and_the_deadline(self):
        cases = [("2", 30, 2), (" 9.5 ", 30, 9.5), ("10", 1, 0.9), (None, 30, 29.9), ("abc", 30, 29.9),
                 ("-1", 30, 29.9), ("NaN", 30, 29.9), ("inf", 30, 29.9), ("5", 0, 0), ("5", None, 5),
                 (None, None, 30)]
        for header, remaining, want in cases:
            self.assertAlmostEqual(proxy.upstream_timeout(header, remaining), want, msg="%r %r" % (header, remaining))


if __name__ == "__main__":
    unittest.main()
