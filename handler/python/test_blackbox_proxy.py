"""Unit tests of the Python handler (standard library only): `python3 -m unittest` in
handler/python. What all three handlers must do is in test_conformance.py (the tables in
handler/conformance/); this file keeps what is the Python port's own. The end-to-end
test under awslambdaric with the real layer is e2e/tests/python_handler.rs."""

import http.server
import os
import socket
import struct
import threading
import time
import unittest

for _name in [n for n in os.environ if n.startswith("BLACKBOX_")]:
    del os.environ[_name]

import blackbox_proxy as proxy  # noqa: E402

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


class PortTest(unittest.TestCase):
    def test_a_policy_needs_the_connect_guard_on(self):
        status_file = proxy.guard_status_file("127.0.0.1:9391")
        os.makedirs(os.path.dirname(status_file), exist_ok=True)
        self.addCleanup(lambda: os.path.exists(status_file) and os.remove(status_file))
        if os.path.exists(status_file):
            os.remove(status_file)
        free = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:9391"})
        self.assertIsNone(proxy.guard_refusal(free))
        policy = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:9391",
                                 "BLACKBOX_ALLOWED_TARGETS": "example.com", "BLACKBOX_DENY_PRIVATE": "yes"})
        self.assertEqual(
            proxy.guard_refusal(policy),
            "BLACKBOX_ALLOWED_TARGETS and BLACKBOX_DENY_PRIVATE is set but the connect guard is unknown: "
            "the extension has not said; this Python handler checks no target itself: set "
            "BLACKBOX_CONNECT_GUARD=required to learn why at Init, or use the layer's Rust bootstrap")
        with open(status_file, "w") as f:
            f.write("off (prctl(PR_SET_NO_NEW_PRIVS): EPERM (Operation not permitted))\n")
        self.assertIn("the connect guard is off (prctl(PR_SET_NO_NEW_PRIVS): EPERM",
                      proxy.guard_refusal(policy))
        with open(status_file, "w") as f:
            f.write("on\n")
        self.assertIsNone(proxy.guard_refusal(policy))

    def test_the_token_never_prints(self):
        self.assertNotIn("s3cret", repr(proxy.Settings({"BLACKBOX_AUTH_TOKEN": "s3cret"})))

    def test_the_query_is_read_as_go_reads_it(self):
        self.assertEqual(
            proxy.query_params("target=a%2Fb+c&bad=%zz&semi=1;2&&module=x&target=second&flag"),
            [("target", "a/b c"), ("module", "x"), ("target", "second"), ("flag", "")],
        )

    def test_parsed_parameters_of_api_gateway_v1_and_alb_are_re_encoded(self):
        # API Gateway v1 and ALB deliver parsed parameters: re-encoded (ALB's still encoded).
        Recorder.seen = []
        server = serve(Recorder)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % server.server_port})
        proxy.handle(settings, {"httpMethod": "GET", "path": "/probe", "requestContext": {},
                                "multiValueQueryStringParameters": {
                                    "target": ["https://example.com/?a=1&b= "], "module": ["http_2xx"]}}, 30)
        proxy.handle(settings, {"httpMethod": "GET", "path": "/probe", "requestContext": {"elb": {}},
                                "queryStringParameters": {
                                    "target": "https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D+", "module": "http_2xx"}}, 30)
        want = "/probe?target=https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D+&module=http_2xx"
        self.assertEqual([p for p, _ in Recorder.seen], [want, want])

    def test_the_504_comes_when_the_scrape_timeout_says(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        self.addCleanup(silent.close)
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % silent.getsockname()[1]})
        started = time.monotonic()
        answer = proxy.handle(settings, v2("/probe", "target=x", {"x-prometheus-scrape-timeout-seconds": "0.5"}), 30)
        self.assertEqual(answer["statusCode"], 504)
        self.assertTrue(0.45 <= time.monotonic() - started < 1.5)

    def test_503_at_once_when_the_extension_is_gone(self):
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % free_port()})
        started = time.monotonic()
        answer = proxy.handle(settings, v2("/probe", "target=x"), 30)
        self.assertEqual(answer["statusCode"], 503, answer["body"])
        self.assertLess(time.monotonic() - started, 0.5)

    def test_a_connection_reset_at_once_is_sent_again_not_a_502(self):
        # What a blackbox killed while the environment ran leaves: its listener accepted the
        # connection, then the kernel reset it. The next connection reaches the new blackbox.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        self.addCleanup(listener.close)

        def reset_then_answer():
            first, _ = listener.accept()
            first.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            first.close()
            second, _ = listener.accept()
            second.recv(65536)
            second.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                           b"content-length: 16\r\n\r\nprobe_success 1\n")
            second.close()

        threading.Thread(target=reset_then_answer, daemon=True).start()
        settings = proxy.Settings({"BLACKBOX_LISTEN_ADDRESS": "127.0.0.1:%d" % listener.getsockname()[1]})
        answer = proxy.handle(settings, v2("/probe", "target=x"), 30)
        self.assertEqual(answer["statusCode"], 200, answer["body"])
        self.assertEqual(answer["body"], "probe_success 1\n")


if __name__ == "__main__":
    unittest.main()
