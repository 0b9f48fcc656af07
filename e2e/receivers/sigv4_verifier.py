"""A remote-write receiver that checks each request's SigV4 signature with botocore (an
implementation independent of the handler's aws-sigv4) before passing it on to Prometheus.

Usage: sigv4_verifier.py PORT_FILE FORWARD_URL ACCESS_KEY SECRET_KEY SESSION_TOKEN REGION

Answers 403 with a one-line reason when the signature, the credential scope or the session
token is wrong; otherwise Prometheus's own answer. Prints one line per request.
"""

import os
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PORT_FILE, FORWARD, ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, REGION = sys.argv[1:7]
SERVICE = "aps"


def verify(method, url, headers, body):
    """None when the request is signed by our credentials for aps in REGION; else why not."""
    authorization = headers.get("authorization", "")
    scheme, _, fields = authorization.partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return "no SigV4 Authorization header"
    parts = dict(p.strip().split("=", 1) for p in fields.split(","))
    key, date, region, service, terminal = parts["Credential"].split("/")
    if (key, region, service, terminal) != (ACCESS_KEY, REGION, SERVICE, "aws4_request"):
        return f"wrong credential scope {parts['Credential']}"
    signed = parts["SignedHeaders"].split(";")
    if "x-amz-security-token" not in signed or headers.get("x-amz-security-token") != SESSION_TOKEN:
        return "the session token is missing, unsigned or wrong"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return "X-Amz-Date does not match the credential scope"
    request = AWSRequest(method=method, url=url, data=body,
                         headers={name: headers[name] for name in signed})
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), SERVICE, REGION)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if expected != parts["Signature"]:
        return "the signature does not match"
    return None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        url = f"http://{headers.get('host')}{self.path}"
        problem = verify("POST", url, headers, body)
        if problem:
            print(f"refused: {problem}", flush=True)
            self.answer(403, problem.encode())
            return
        print("verified", flush=True)
        forward = urllib.request.Request(FORWARD, data=body, method="POST", headers={
            name: headers[name] for name in
            ("content-encoding", "content-type", "x-prometheus-remote-write-version")
            if name in headers})
        try:
            with urllib.request.urlopen(forward, timeout=10) as answer:
                self.answer(answer.status, answer.read())
        except urllib.error.HTTPError as error:
            self.answer(error.code, error.read())

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
