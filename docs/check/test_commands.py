"""The docs' shell blocks, run (`make test`; each block names this file and its test by an id).

A block runs with bash, `set -euo pipefail`, in a folder laid out as the repository (each entry a link
to the real one, but its own `dist/`), with the AWS CLI pointed at moto on loopback (AWS's API, the
only part emulated), and `curl` sending a Function URL's requests to that function run for real by
the local Lambda sandbox with the layer (function_url_curl.py). What a block cannot do here is
replaced by the test, each replacement named where it is made:

- `cdk deploy` → `cdk synth` (no AWS to deploy to; the synthesized templates are checked);
- `npm ci` → nothing (`make test`'s set-up ran it, and this network namespace reaches no registry);
- `make publish` → `make publish-zips` with the zips `make test` built (`make publish` builds them
  first; "build-and-publish" runs it whole);
- the placeholders `<id>`/`<region>` of a URL → a function the test runs.
"""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import http.server

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import doc_blocks  # noqa: E402

AWS_CLI = ROOT / "target/awscli/bin/aws"
SANDBOX = ROOT / "target/debug/lambda-sandbox"


def layer_dir():
    layer = os.environ.get("LAMBDA_BLACKBOX_LAYER")
    assert layer, "LAMBDA_BLACKBOX_LAYER is not set: make test sets it to the unzipped x86_64 layer"
    return layer


def layer_zip(arch):
    dist = os.environ.get("LAYER_ZIP_DIST")
    assert dist, "LAYER_ZIP_DIST is not set: make test sets it to the test layer zips' folder"
    [zip_path] = pathlib.Path(dist).glob(f"lambda-blackbox-*-{arch}.zip")
    return zip_path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Folders a block enters (`cd deploy/cdk`) and leaves by `..`: real ones, since `..` of a link
# is the linked folder's parent. function/ is copied: a block writes ../function.zip from there.
# SAM's templates are copied: SAM finds CodeUri from where the template is, and a link's target
# is elsewhere.
REAL_FOLDERS = {"deploy", "deploy/cdk", "deploy/sam"}
COPIED = {"function", "deploy/sam/template.yaml", "deploy/sam/push.yaml"}


def mirror(source, target, relative=""):
    for entry in source.iterdir():
        name = f"{relative}{entry.name}"
        if name in {"dist", ".git", "deploy/sam/.aws-sam", "deploy/cdk/cdk.out"}:
            continue
        if name in REAL_FOLDERS:
            (target / entry.name).mkdir()
            mirror(entry, target / entry.name, name + "/")
        elif name in COPIED and entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        elif name in COPIED:
            shutil.copy2(entry, target / entry.name)
        else:
            (target / entry.name).symlink_to(entry)


@pytest.fixture
def workdir(tmp_path):
    """A folder laid out as the repository, with a `dist/` of its own."""
    work = tmp_path / "repo"
    work.mkdir()
    mirror(ROOT, work)
    (work / "dist").mkdir()
    return work


@pytest.fixture
def shell(tmp_path, workdir):
    """Runs a docs block (with replacements) in `workdir`; returns the finished process."""
    assert AWS_CLI.is_file(), f"{AWS_CLI} is missing: make test-setup installs the AWS CLI there"
    assert SANDBOX.is_file(), f"{SANDBOX} is missing: cargo test --workspace builds it"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(AWS_CLI)
    curl = bin_dir / "curl"
    curl.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'function_url_curl.py'} \"$@\"\n")
    curl.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", DOCS_REAL_CURL=shutil.which("curl"),
               DOCS_SANDBOX=str(SANDBOX), LAMBDA_BLACKBOX_LAYER=layer_dir(),
               BLACKBOX_EXPORTER_BIN_X86_64=str(pathlib.Path(layer_dir()) / "bin/blackbox_exporter"),
               BLACKBOX_EXPORTER_BIN_ARM64=str(pathlib.Path(layer_dir()).parent / "arm64/bin/blackbox_exporter"))

    def run(block_id, replace=(), prelude="", extra_env=None, cwd=None, transform=None):
        text = doc_blocks.block(block_id)
        if transform:
            text = transform(text)
        for old, new, why in replace:
            assert old in text, f"{block_id}: {old!r} ({why}) is no longer in the block"
            text = text.replace(old, new)
        done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + prelude + text], cwd=cwd or workdir,
                              env={**env, **(extra_env or {})}, capture_output=True, text=True, timeout=900)
        print(f"--- {block_id}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    return run


def seed_dist(workdir):
    """The zips `make test` built, as `make layer` leaves them in dist/."""
    for arch in ("x86_64", "arm64"):
        zip_path = layer_zip(arch)
        shutil.copy(zip_path, workdir / "dist" / zip_path.name)
        shutil.copy(zip_path.with_suffix(".json"), workdir / "dist" / zip_path.with_suffix(".json").name)


PUBLISH_ZIPS = ("make publish ", "make publish-zips ", "the zips are built once by make test")


def test_the_two_commands_are_make_targets():
    # "two-commands": each runs in CI (.ci/run: make test) and in make_run.rs (make run's script).
    for line in doc_blocks.block("two-commands").splitlines():
        command = line.split("#")[0].split()
        done = subprocess.run([*command, "-n"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{line}: {done.stderr}"


def test_the_first_probe_reaches_a_local_service(shell, tmp_path):
    service = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    url_port = free_port()
    sandbox = subprocess.Popen(
        [str(ROOT / "scripts/run-local.sh"), str(SANDBOX), layer_dir()],
        env=dict(os.environ, FUNCTION_URL_LISTEN=f"127.0.0.1:{url_port}", INVOKE_LISTEN=f"127.0.0.1:{free_port()}"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(url_port, sandbox)
        done = shell("first-probe", replace=[
            ("127.0.0.1:9000", f"127.0.0.1:{url_port}", "make run's port, free here"),
            ("127.0.0.1:8080", f"127.0.0.1:{service.server_port}", "the service the reader runs")])
        assert done.returncode == 0, done.stderr
        assert "probe_success 1" in done.stdout, done.stdout
    finally:
        sandbox.send_signal(2)
        sandbox.wait(timeout=20)
        service.shutdown()


def wait_for_port(port, process):
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after 30 s")


def first_alert(shell, workdir):
    seed_dist(workdir)
    done = shell("first-alert", replace=[PUBLISH_ZIPS])
    assert done.returncode == 0, done.stderr
    return done


def test_the_first_alert_path_deploys_probes_and_writes_the_scrape_config(aws, shell, workdir):
    done = first_alert(shell, workdir)
    import boto3

    function = boto3.client("lambda").get_function(FunctionName="lambda-blackbox")["Configuration"]
    assert function["Runtime"] == "provided.al2023" and function["Architectures"] == ["arm64"]
    assert function["Layers"][0]["Arn"].endswith(":layer:lambda-blackbox-arm64:1")
    token = (workdir / "lambda-blackbox.token").read_text().strip()
    assert function["Environment"]["Variables"] == {"BLACKBOX_AUTH_TOKEN": token}
    policy = json.loads(boto3.client("lambda").get_policy(FunctionName="lambda-blackbox")["Policy"])
    assert sorted(s["Action"] for s in policy["Statement"]) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    # The curl went to the function, run with the layer and the token (no 401). With no DNS in
    # the test's network namespace the handler refuses example.com early; with DNS, blackbox
    # answers.
    assert ("probe_success" in done.stdout
            or "its host name could not be resolved to check it" in done.stdout), done.stdout
    config = (workdir / "lambda-blackbox.yml").read_text()
    assert "lambda-blackbox-us-east-1" in config and "lambda-blackbox-tls-us-east-1" in config, config
    assert "rule_files:" in config and "/etc/prometheus/lambda-blackbox.token" in config


def test_upgrade_rotate_and_tear_down(aws, shell, workdir):
    first_alert(shell, workdir)
    import boto3

    client = boto3.client("lambda")
    prelude = "REGION=us-east-1\n"
    # A changed zip (one more file), made by make layer's own zip tool: publish makes version 2,
    # and the function moves to it.
    changed = workdir.parent / "changed"
    subprocess.run(["unzip", "-q", str(layer_zip("arm64")), "-d", str(changed)], check=True)
    (changed / "blackbox/CHANGED").write_text("a later release\n")
    base = workdir / "dist" / layer_zip("arm64").stem
    manifest = json.loads(layer_zip("arm64").with_suffix(".json").read_text())
    subprocess.run([sys.executable, str(ROOT / "layer/scripts/zip-layer.py"), str(changed), f"{base}.zip",
                    "--manifest", f"{base}.json", "--arch", "arm64", "--version", manifest["version"],
                    "--blackbox-version", manifest["blackbox_exporter"]["version"],
                    "--blackbox-source", manifest["blackbox_exporter"]["source"]],
                   check=True, stdout=subprocess.DEVNULL)
    done = shell("upgrade", prelude=prelude, replace=[
        ("git pull && ", "", "the folder is no clone"), PUBLISH_ZIPS])
    assert done.returncode == 0, done.stderr
    assert client.get_function(FunctionName="lambda-blackbox")["Configuration"]["Layers"][0]["Arn"].endswith(
        ":layer:lambda-blackbox-arm64:2")

    old = (workdir / "lambda-blackbox.token").read_text()
    done = shell("rotate-the-token", prelude=prelude)
    assert done.returncode == 0, done.stderr
    new = (workdir / "lambda-blackbox.token").read_text()
    assert new != old and not (workdir / "lambda-blackbox.token.new").exists()
    variables = client.get_function(FunctionName="lambda-blackbox")["Configuration"]["Environment"]["Variables"]
    assert variables == {"BLACKBOX_AUTH_TOKEN": new.strip()}

    done = shell("tear-down", prelude=prelude)
    assert done.returncode == 0, done.stderr
    assert client.list_functions()["Functions"] == []
    assert client.list_layer_versions(LayerName="lambda-blackbox-arm64")["LayerVersions"] == []
    assert [r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]] == []


def test_build_and_publish_builds_both_zips_and_publishes_them_everywhere(aws, shell, workdir):
    done = shell("build-and-publish")
    assert done.returncode == 0, done.stderr
    layers = json.loads((workdir / "dist/layers.json").read_text())
    assert sorted(layers) == ["ap-southeast-2", "eu-west-1", "us-east-1"]
    assert all(sorted(by_arch) == ["arm64", "x86_64"] for by_arch in layers.values()), layers


def test_a_python_function_gets_the_layer(aws, shell, workdir):
    first_alert(shell, workdir)
    done = shell("python-function", prelude=(
        "REGION=us-east-1\n"
        "ROLE_ARN=$(aws iam get-role --role-name lambda-blackbox --query Role.Arn --output text)\n"
        "LAYER_ARN=$(python3 -c \"import json; print(json.load(open('dist/layers.json'))['us-east-1']['arm64'])\")\n"))
    assert done.returncode == 0, done.stderr
    import boto3

    function = boto3.client("lambda").get_function(FunctionName="lambda-blackbox-py")["Configuration"]
    assert function["Runtime"] == "python3.12" and function["Handler"] == "blackbox_proxy.handler"


def synthesized(out_dir):
    return {p.name: json.loads(p.read_text()) for p in pathlib.Path(out_dir).glob("*.template.json")}


def as_synth(text, out):
    """A CDK block with each `cdk deploy` as `cdk synth`: no AWS to deploy to. Deploy-only
    arguments go; a command that names no layer gets the zip make test built (the app's
    default is dist/ of the repository, which make layer fills)."""
    lines = []
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = line.replace("npm ci", "true")  # test-setup ran it; no registry is reachable here
        line = line.split(" # ")[0]
        if "cdk deploy" in line:
            line = line.replace("cdk deploy", f"cdk synth --quiet -o {out}-$RANDOM").replace(" --all", "")
            line = re.sub(r"--parameters (\S*\$\([^)]*\)|\S+)|--outputs-file \S+", "", line)
            if "layerArn" not in line:
                line += f" -c layerZip={layer_zip('arm64')}"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block_id", ["many-regions", "cdk-app", "push-cdk"])
def test_the_cdk_commands_synthesize(block_id, shell, workdir, tmp_path):
    out = tmp_path / "cdk.out"
    (workdir / "lambda-blackbox.token").write_text("t0ken-t0ken-t0ken-t0ken\n")
    (workdir / "targets.txt").write_text("https://example.com\nexample.com:443 tls\n")
    if block_id == "many-regions":
        # The block's last command reads the deploy's outputs file: the synthesized regions'.
        (workdir / "fleet.json").write_text(json.dumps({
            f"LambdaBlackbox-{r}": {"FunctionUrl": f"https://abc.lambda-url.{r}.on.aws/", "Region": r}
            for r in ("us-east-1", "eu-west-1", "ap-southeast-2")}))
    done = shell(block_id, transform=lambda text: as_synth(text, out),
                 extra_env={"CDK_DISABLE_CLI_TELEMETRY": "true", "TS_NODE_TRANSPILE_ONLY": "1"})
    assert done.returncode == 0, done.stderr
    templates = {}
    for out_dir in tmp_path.glob("cdk.out-*"):
        templates.update(synthesized(out_dir))
    if block_id == "cdk-app":
        assert "LambdaBlackbox.template.json" in templates, templates.keys()
        # The function's package is the repository's function/, as for make run, SAM and the CLI.
        packages = [d for out_dir in tmp_path.glob("cdk.out-*") for d in out_dir.glob("asset.*") if d.is_dir()]
        assert any(sorted(p.name for p in d.iterdir()) == sorted(p.name for p in (ROOT / "function").iterdir())
                   for d in packages), packages
    else:
        assert {f"LambdaBlackbox-{r}.template.json" for r in ("us-east-1", "eu-west-1", "ap-southeast-2")} <= set(
            templates), templates.keys()
    if block_id == "push-cdk":
        for template in templates.values():
            kinds = {r["Type"] for r in template["Resources"].values()}
            assert "AWS::Scheduler::Schedule" in kinds and "AWS::Lambda::Url" not in kinds
    if block_id == "many-regions":
        config = (workdir / "lambda-blackbox.yml").read_text()
        assert config.count("file_sd_configs") == 6, config


def test_the_sam_fleet_commands_report_each_region(aws, shell, workdir, tmp_path):
    settings = tmp_path / "sam-settings"
    settings.mkdir()
    import time

    (settings / "metadata.json").write_text('{"lastVersionCheck": %d, "telemetryEnabled": false}' % time.time())
    (workdir / "targets.txt").write_text("https://example.com\n")
    sam = pathlib.Path(os.environ.get("LAMBDA_BLACKBOX_SAM", ROOT / "target/aws-sam-cli/bin/sam"))
    # make deploy runs sam build first: the layer from the zip make test built.
    done = shell("fleet-sam", extra_env={
        "SAM": str(sam), "SAM_CLI_TELEMETRY": "0", "__SAM_CLI_APP_DIR": str(settings),
        "LAYER_SOURCE": str(layer_zip("arm64"))},
        replace=[("make deploy REGIONS=", "deploy_and_go_on make deploy REGIONS=",
                  "moto cannot host SAM's managed bucket stack: every region fails"),
                 ('OUT=fleet.json\n', 'OUT=fleet.json || echo \'{"us-east-1": "https://abc.lambda-url.us-east-1.on.aws/"}\' > fleet.json\n',
                  "no stack was created")],
        prelude="deploy_and_go_on() { \"$@\" || echo \"(failed as expected against moto)\"; }\n")
    # Each region's failure is reported and the next region still runs; the token stays masked.
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        assert f"fleet.py deploy: failed: {region}: " in done.stderr, done.stderr
    token = (workdir / "lambda-blackbox.token").read_text().strip()
    assert token not in done.stderr + done.stdout


def test_the_prometheus_config_example_is_written(shell, workdir):
    done = shell("prometheus-config")
    assert done.returncode == 0, done.stderr
    config = (workdir / "lambda-blackbox.yml").read_text()
    assert "lambda-blackbox-eu-central-1" in config and "lambda-blackbox-tls-us-east-1" in config, config


def test_checking_a_deployment_finds_nothing_probed(shell, tmp_path):
    token = "check-token-0123456789"
    (tmp_path / "repo/lambda-blackbox.token").write_text(token + "\n")
    url_port = free_port()
    sandbox = subprocess.Popen(
        [str(SANDBOX), "--layer", layer_dir(), "--listen", f"127.0.0.1:{url_port}",
         "--invoke-listen", f"127.0.0.1:{free_port()}", "--runtime-api", "127.0.0.1:0", "--exit-on-init-failure",
         "--env", f"BLACKBOX_AUTH_TOKEN={token}", "--env", f"BLACKBOX_LISTEN_ADDRESS=127.0.0.1:{free_port()}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(url_port, sandbox)
        done = shell("check-a-deployment", replace=[
            ("https://<id>.lambda-url.<region>.on.aws", f"http://127.0.0.1:{url_port}", "the function under test")])
    finally:
        sandbox.send_signal(2)
        sandbox.wait(timeout=20)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 27, lines
    answered = [line for line in lines if re.search(r" 200 ", line)]
    # The one 200 the docs name: an address no rule refuses, on port 53.
    assert len(answered) == 1 and answered[0].startswith("::ffff:7f00:1:9001") and " dns " in answered[0], lines
