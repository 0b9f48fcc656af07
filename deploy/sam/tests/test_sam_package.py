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
import time
import zipfile

import pytest

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
    """The build and deploy commands the template's Description gives (template.yaml: the
    README's `sam build` and `sam deploy --guided`)."""
    if template == "template.yaml":
        readme = (ROOT / "README.md").read_text()
        assert "\nsam build " in readme and "\nsam deploy --guided " in readme
        return ["build"], ["deploy", "--guided"]
    text = " ".join((HERE / template).read_text().split("Parameters:")[0].split())
    found = re.search(r"sam (build[^&]*?) && sam (deploy [^()]*?) \(", text)
    assert found, f"{template}'s Description gives no `sam build … && sam deploy …`: {text}"
    return shlex.split(found.group(1)), shlex.split(found.group(2))


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
    parameters = {
        "template.yaml": "Architecture=x86_64 ProbeToken=tok-0123456789abcdef",
        "push.yaml": "Architecture=x86_64 RemoteWriteUrl=https://aps-workspaces.us-east-1.amazonaws.com/"
                     "workspaces/ws-1/api/v1/remote_write "
                     "WorkspaceArn=arn:aws:aps:us-east-1:123456789012:workspace/ws-1",
    }[template]
    unattended = [a for a in deploy if a != "--guided"] + [
        "--stack-name", "lambda-blackbox-test", "--s3-bucket", BUCKET, "--region", "us-east-1",
        "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset", "--no-fail-on-empty-changeset",
        "--parameter-overrides", parameters,
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
