#!/usr/bin/env python3
"""`curl` for the docs' commands under test: a request to a Lambda Function URL
(`https://<id>.lambda-url.<region>.on.aws/…`) goes to the function that URL belongs to, as moto
holds it, run for real: the local Lambda sandbox with the layer, the function's environment and
the package the commands zipped (./function.zip). Anything else goes to curl unchanged.

The layer is this machine's (x86_64, LAMBDA_BLACKBOX_LAYER) whatever the function's architecture,
and each request starts the function anew (a cold start), as a first request to Lambda does.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

FUNCTION_URL = re.compile(r"https://([a-z0-9]+)\.lambda-url\.([a-z0-9-]+)\.on\.aws/?")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def function_of(url_id, region):
    """The function whose URL has this id, with its configuration."""
    import boto3

    client = boto3.client("lambda", region_name=region)
    for function in client.list_functions()["Functions"]:
        try:
            config = client.get_function_url_config(FunctionName=function["FunctionName"])
        except client.exceptions.ResourceNotFoundException:
            continue
        match = FUNCTION_URL.match(config["FunctionUrl"])
        if match and match.group(1) == url_id:
            return function
    sys.exit(f"curl (docs check): no function in moto has the URL id {url_id} in {region}")


def serve(function, task_dir):
    """The sandbox running `function`; returns it and its Function URL's port."""
    port = free_port()
    args = [os.environ["DOCS_SANDBOX"], "--layer", os.environ["LAMBDA_BLACKBOX_LAYER"], "--task", task_dir,
            "--listen", f"127.0.0.1:{port}", "--invoke-listen", f"127.0.0.1:{free_port()}",
            "--runtime-api", "127.0.0.1:0", "--exit-on-init-failure",
            "--env", f"BLACKBOX_LISTEN_ADDRESS=127.0.0.1:{free_port()}"]
    for name, value in function.get("Environment", {}).get("Variables", {}).items():
        args += ["--env", f"{name}={value}"]
    sandbox = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sandbox.poll() is not None:
            sys.exit(f"curl (docs check): the function did not start: {sandbox.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return sandbox, port
        except OSError:
            time.sleep(0.05)
    sandbox.kill()
    sys.exit("curl (docs check): the function's URL did not answer within 20 s")


def main(args):
    real_curl = os.environ["DOCS_REAL_CURL"]
    at = next((i for i, a in enumerate(args) if FUNCTION_URL.match(a)), None)
    if at is None:
        os.execv(real_curl, [real_curl, *args])
    match = FUNCTION_URL.match(args[at])
    function = function_of(match.group(1), match.group(2))
    with tempfile.TemporaryDirectory(prefix="docs-function-") as task_dir:
        if os.path.isfile("function.zip"):
            zipfile.ZipFile("function.zip").extractall(task_dir)
        sandbox, port = serve(function, task_dir)
        try:
            args[at] = FUNCTION_URL.sub(f"http://127.0.0.1:{port}/", args[at], count=1)
            return subprocess.call([real_curl, *args])
        finally:
            sandbox.send_signal(signal.SIGINT)
            try:
                sandbox.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sandbox.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
