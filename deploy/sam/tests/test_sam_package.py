"""What SAM's own packaging ships for the documented commands: `sam build [-t push.yaml]`, then
`sam deploy` with no template (it takes the one `sam build` wrote). Against moto's S3 and
CloudFormation on loopback, every zip SAM uploads is opened: the layer zip holds the layer, the
function zip holds the repository's function/ and nothing of this folder (`sam deploy -t push.yaml` shipped the
folder itself: push.yaml, the Makefile, fleet.py, the tests; no bootstrap, no layer). And a layer
of another architecture than the stack's fails `sam build`, naming both."""

import io
import os
import pathlib
import re
import shlex
import subprocess
import sys
import time
import zipfile

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "docs/check"))
import doc_blocks  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parents[1]
ROOT = HERE.parents[1]
SAM = pathlib.Path(os.environ.get("LAMBDA_BLACKBOX_SAM", ROOT / "target/aws-sam-cli/bin/sam"))
LAYER_FILES = {"bootstrap", "extensions/blackbox-extension", "bin/blackbox_exporter", "blackbox/blackbox.yml"}
BUCKET = "sam-artifacts"


def layer_zip(arch):
    dist = os.environ.get("LAYER_ZIP_DIST")
    assert dist, "LAYER_ZIP_DIST is not set: make test sets it to the test layer zips' folder"
    [zip_path] = pathlib.Path(dist).glob(f"lambda-blackbox-*-{arch}.zip")
    return zip_path


def sam_env(tmp_path, **extra):
    assert SAM.is_file(), f"{SAM} is missing: make test installs SAM CLI into target/aws-sam-cli"
    settings = tmp_path / "sam-settings"
    settings.mkdir(exist_ok=True)
    # SAM's settings say it has just checked for a newer version (else it asks PyPI).
    (settings / "metadata.json").write_text('{"lastVersionCheck": %d, "telemetryEnabled": false}' % time.time())
    return dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_EC2_METADATA_DISABLED="true",
                __SAM_CLI_APP_DIR=str(settings), **extra)


def documented(template):
    """The `sam build` and `sam deploy` of the docs' block for the template (docs/deploy.md's
    "sam-build-deploy", docs/push-mode.md's "push-sam"), as argument lists after `sam`."""
    text = doc_blocks.block({"template.yaml": "sam-build-deploy", "push.yaml": "push-sam"}[template])
    text = re.sub(r"\\\n\s*", " ", text)
    commands = [c.split("#")[0].strip() for line in text.splitlines() for c in line.split("&&")]
    [build] = [shlex.split(c)[1:] for c in commands if c.startswith("sam build")]
    [deploy] = [shlex.split(c)[1:] for c in commands if c.startswith("sam deploy")]
    return build, deploy


def overrides(deploy):
    """The --parameter-overrides values of a deploy command, and the command without them."""
    if "--parameter-overrides" not in deploy:
        return [], deploy
    at = deploy.index("--parameter-overrides")
    end = next((i for i in range(at + 1, len(deploy)) if deploy[i].startswith("--")), len(deploy))
    return deploy[at + 1:end], deploy[:at] + deploy[end:]


def run_sam(args, tmp_path, env, cwd):
    return subprocess.run([str(SAM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("template", ["template.yaml", "push.yaml"])
def test_the_documented_commands_ship_the_built_layer_and_function(template, aws, tmp_path):
    import boto3

    build, deploy = documented(template)
    assert "-t" not in deploy and "--template-file" not in deploy, f"{template}: sam {' '.join(deploy)}"
    # The commands run in deploy/sam; here in a folder of the test's own, so the template
    # path is given whole and the build lands in this folder's .aws-sam.
    build = [str(HERE / a) if a.endswith(".yaml") else a for a in build]
    if "-t" not in build:
        build += ["-t", str(HERE / "template.yaml")]
    env = sam_env(tmp_path, LAYER_SOURCE=str(layer_zip("x86_64")))
    built = run_sam([*build, "--parameter-overrides", "Architecture=x86_64"], tmp_path, env, tmp_path)
    assert built.returncode == 0, built.stderr + built.stdout

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    # The documented values, and what --guided would have asked for.
    documented_values, deploy = overrides(deploy)
    asked = {"template.yaml": ["ProbeToken=tok-0123456789abcdef"], "push.yaml": []}[template]
    unattended = [a for a in deploy if a != "--guided"] + [
        "--stack-name", "lambda-blackbox-test", "--s3-bucket", BUCKET, "--region", "us-east-1",
        "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset", "--no-fail-on-empty-changeset",
        "--parameter-overrides", "Architecture=x86_64", *asked, *documented_values,
    ]
    # Whether moto's CloudFormation then creates the stack does not matter here: the
    # artefacts are uploaded before the change set.
    deployed = run_sam(unattended, tmp_path, env, tmp_path)
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    zips = {}
    for key in keys:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        if zipfile.is_zipfile(io.BytesIO(body)):
            zips[key] = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert len(zips) == 2, f"uploaded: {keys}\n{deployed.stderr}"
    [layer] = [names for names in zips.values() if "bootstrap" in names]
    [function] = [names for names in zips.values() if "bootstrap" not in names]
    assert LAYER_FILES <= layer, layer
    assert function == {p.name for p in (ROOT / "function").iterdir()}, function
    for shipped in (layer, function):
        assert not shipped & {"push.yaml", "template.yaml", "Makefile", "fleet.py"}, shipped


@pytest.mark.parametrize("case", ["zip", "LAYER_ARCH"])
def test_a_layer_of_another_architecture_fails_sam_build_naming_both(case, tmp_path):
    env = sam_env(tmp_path, AWS_DEFAULT_REGION="us-east-1",
                  **({"LAYER_SOURCE": str(layer_zip("arm64"))} if case == "zip" else
                     {"LAYER_SOURCE": str(layer_zip("x86_64")), "LAYER_ARCH": "arm64"}))
    built = run_sam(["build", "-t", str(HERE / "template.yaml"), "--parameter-overrides", "Architecture=x86_64"],
                    tmp_path, env, tmp_path)
    assert built.returncode != 0, built.stdout
    said = built.stderr + built.stdout
    if case == "zip":
        assert "bootstrap is arm64, but the stack's Architecture is x86_64. Give the x86_64 layer " \
               "(make layer ARCH=x86_64), or build with --parameter-overrides Architecture=arm64" in said, said
    else:
        assert "LAYER_ARCH=arm64, but the stack's Architecture is x86_64" in said, said
