"""What the Python test suites share (pytest loads this for every test below the repository):
moto's server on a loopback port, AWS itself for the tests that talk to it."""

import shutil
import socket
import subprocess
import time

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto():
    server = shutil.which("moto_server")
    assert server, "moto_server is not on the PATH: python3 -m pip install 'moto[server]'"
    port = free_port()
    proc = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, "moto_server exited"
            assert time.monotonic() < deadline, "moto_server did not listen within 30 s"
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
