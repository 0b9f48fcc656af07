"""The Python handler against the conformance tables in handler/conformance/, which the
Rust and Node.js handlers' suites read too (standard library only)."""

import copy
import http.server
import json
import os
import pathlib
import re
import socket
import threading
import unittest

for _name in [n for n in os.environ if n.startswith("BLACKBOX_")]:
    del os.environ[_name]

import blackbox_proxy as proxy  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]


def table(name):
    return json.loads((REPO / "handler" / "conformance" / name).read_text())


def for_python(cases):
    mine = [c for c in cases if "python" in c.get("only", ["python"])]
    assert mine, "no case for the Python handler"
    return mine


def expand(text):
    """${c*N} is the character c N times."""
    return re.sub(r"\$\{(.)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), text)


def expanded(mapping):
    return {k: expand(v) for k, v in (mapping or {}).items()}


BASE_EVENT = json.loads((REPO / "events" / "function-url.json").read_text())


def event(request):
    """The README's recipe: events/function-url.json with the case's request in it."""
    e = copy.deepcopy(BASE_EVENT)
    e["rawPath"] = e["requestContext"]["http"]["path"] = request["path"]
    e["requestContext"]["http"]["method"] = request.get("method", "GET")
    e["rawQueryString"] = expand(request["query"])
    del e["queryStringParameters"]
    e["headers"] = dict(expanded(request.get("headers")), host=BASE_EVENT["headers"]["host"])
    if request.get("iam"):
        e["requestContext"]["authorizer"] = {"iam": {
            "accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA", "principalOrgId": None,
            "userArn": "arn:aws:iam::123456789012:user/prom", "userId": "AIDA"}}
    return e


class Recorder(http.server.BaseHTTPRequestHandler):
    seen = []

    def answer(self):
        Recorder.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(418)
        self.send_header("Content-Type", "text/x-recorded")
        self.send_header("Content-Length", "8")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"recorded")

    do_GET = do_HEAD = answer

    def log_message(self, *args):
        pass


def stand_in(test, kind):
    """A blackbox stand-in on loopback, as responses.json describes them; its address."""
    if kind == "recorder":
        Recorder.seen = []
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        test.addCleanup(server.server_close)
        test.addCleanup(server.shutdown)
        return "127.0.0.1:%d" % server.server_port
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    address = "127.0.0.1:%d" % listener.getsockname()[1]
    if kind == "absent":
        listener.close()
        return address
    listener.listen(8)
    test.addCleanup(listener.close)
    if kind == "broken":
        def answer_half():
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nprobe_")
            connection.close()
        threading.Thread(target=answer_half, daemon=True).start()
    elif kind != "silent":
        raise AssertionError("no stand-in %r" % kind)
    return address


class ConformanceTest(unittest.TestCase):
    def test_the_gate_refuses_as_the_table_says(self):
        gate = table("gate.json")
        for case in for_python(gate["cases"]):
            settings = proxy.Settings(dict(gate["settings"][case["settings"]]))
            answer = proxy.handle(settings, event(case["request"]), 30)
            what = json.dumps(case["request"])[:160]
            self.assertEqual((answer["statusCode"], answer["body"]), (case["status"], case["reason"] + "\n"), what)
            self.assertEqual(answer["headers"]["content-type"], "text/plain; charset=utf-8", what)
            for name, value in case.get("headers", {}).items():
                self.assertEqual(answer["headers"].get(name), value, what)

    def test_settings_are_refused_and_taken_as_the_table_says(self):
        settings = table("settings.json")
        for case in for_python(settings["invalid"]):
            with self.assertRaises(proxy.InvalidSetting, msg=case["env"]) as raised:
                proxy.Settings(dict(case["env"]))
            message = str(raised.exception)
            if "message" in case:
                self.assertEqual(message, case["message"].replace("{runtime}", "Python"))
            else:
                self.assertTrue(message.startswith(case["prefix"].replace("{runtime}", "Python")), message)
        for case in for_python(settings["valid"]):
            self.assertEqual(proxy.Settings(dict(case["env"])).upstream, case["listen_address"], case["env"])

    def test_the_timeout_is_the_tables(self):
        for case in for_python(table("timeouts.json")["cases"]):
            got = proxy.upstream_timeout(case["header"], case["remaining"])
            self.assertAlmostEqual(got, case["seconds"], delta=0.001, msg=case)

    def test_answers_against_a_stand_in_are_the_tables(self):
        for case in for_python(table("responses.json")["cases"]):
            address = stand_in(self, case["upstream"])
            settings = proxy.Settings(dict(case.get("env", {}), BLACKBOX_LISTEN_ADDRESS=address))
            answer = proxy.handle(settings, event(case["request"]), case["remaining"])
            what = json.dumps(case["request"])
            self.assertEqual(answer["statusCode"], case["status"], what)
            if "content_type" in case:
                self.assertEqual(answer["headers"]["content-type"], case["content_type"], what)
            if "body" in case:
                self.assertEqual(answer["body"], case["body"], what)
            else:
                self.assertTrue(answer["body"].startswith(case["body_prefix"]), answer["body"])
            forwarded = case.get("forwarded")
            if forwarded:
                self.assertEqual(len(Recorder.seen), 1, what)
                method, path, headers = Recorder.seen[0]
                self.assertEqual((method, path), (forwarded.get("method", "GET"), forwarded["path"]))
                for name, value in forwarded["headers"].items():
                    self.assertEqual(headers.get(name), value, name)
                timeout = headers["x-prometheus-scrape-timeout-seconds"]
                self.assertRegex(timeout, r"^\d+\.\d{3}$")
                self.assertAlmostEqual(float(timeout), forwarded["timeout"], delta=0.01)
                for name in forwarded["dropped"]:
                    self.assertNotIn(name, headers)


if __name__ == "__main__":
    unittest.main()
