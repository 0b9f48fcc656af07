"""deploy/sam/fleet.py urls against moto's CloudFormation on loopback: each region's
FunctionUrl output becomes the region -> URL map; a region without the stack (or without the
output) is reported, the others still come, and the exit status says so."""

import json
import os
import pathlib
import subprocess
import sys
import time


FLEET = pathlib.Path(__file__).resolve().parents[1] / "fleet.py"
ROOT = FLEET.parents[2]
sys.path.insert(0, str(FLEET.parent))
import fleet  # noqa: E402

# A stack with the template's output; moto creates the placeholder resource.
TEMPLATE = json.dumps({
    "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    "Outputs": {"FunctionUrl": {"Value": {"Fn::Sub": "https://abc-${AWS::Region}.lambda-url.${AWS::Region}.on.aws/"}}},
})


def create(region, name="lambda-blackbox", template=TEMPLATE):
    import boto3

    boto3.client("cloudformation", region_name=region).create_stack(StackName=name, TemplateBody=template)


def run(*args):
    return subprocess.run([sys.executable, str(FLEET), *args], capture_output=True, text=True, timeout=60)


def test_each_regions_function_url_output_becomes_the_map(aws, tmp_path):
    for region in ["us-east-1", "eu-west-1", "ap-southeast-2"]:
        create(region)
    out = tmp_path / "urls.json"
    done = run("urls", "--regions", "us-east-1 eu-west-1,ap-southeast-2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == {
        r: f"https://abc-{r}.lambda-url.{r}.on.aws/" for r in ["us-east-1", "eu-west-1", "ap-southeast-2"]
    }
    assert "3 of 3 regions" in done.stderr


def test_a_region_without_the_stack_is_reported_and_the_others_come(aws):
    create("us-east-1")
    create("eu-west-1", template=json.dumps({"Resources": {"P": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}))
    done = run("urls", "--regions", "us-east-1 eu-west-1 ap-southeast-2")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"us-east-1": "https://abc-us-east-1.lambda-url.us-east-1.on.aws/"}
    assert "eu-west-1: stack lambda-blackbox has no FunctionUrl output" in done.stderr, done.stderr
    assert "ap-southeast-2:" in done.stderr and "does not exist" in done.stderr, done.stderr
    assert "1 of 3 regions" in done.stderr


def test_an_opt_in_region_that_refuses_says_to_enable_it():
    line = fleet.why("ap-southeast-5", "An error occurred (InvalidClientTokenId) when calling the DescribeStacks operation")
    assert line.startswith("ap-southeast-5 is an opt-in region the account has not enabled")
    assert "aws account enable-region --region-name ap-southeast-5" in line
    assert fleet.why("us-east-1", "An error occurred (InvalidClientTokenId)").startswith("us-east-1: An error")


def test_no_regions_is_an_error():
    done = run("urls", "--regions", " ")
    assert done.returncode != 0 and "no regions given" in done.stderr


def test_deploy_runs_sam_in_each_region_and_reports_each_failure(aws, tmp_path):
    # SAM's own `sam deploy` against moto: moto's CloudFormation cannot host SAM's managed
    # bucket stack, so every region fails; each is reported, and the loop goes on to the next.
    sam = ROOT / "target/aws-sam-cli/bin/sam"
    assert sam.is_file(), "the SAM CLI virtualenv is missing: make test installs it"
    settings = tmp_path / "sam-settings"
    settings.mkdir()
    (settings / "metadata.json").write_text('{"lastVersionCheck": %d, "telemetryEnabled": false}' % time.time())
    env = dict(os.environ, SAM=str(sam), SAM_CLI_TELEMETRY="0", __SAM_CLI_APP_DIR=str(settings))
    template = tmp_path / "template.yaml"
    template.write_text("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n"
                        "  Placeholder: {Type: 'AWS::CloudFormation::WaitConditionHandle'}\n")
    done = subprocess.run(
        [sys.executable, str(FLEET), "deploy", "--regions", "us-east-1 eu-west-1", "--", "--template-file", str(template),
         "--parameter-overrides", "ProbeToken=tok-s3cret-value"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 1, done.stderr
    for region in ["us-east-1", "eu-west-1"]:
        assert f"fleet.py deploy: {region}: " in done.stderr, done.stderr
        assert f"fleet.py deploy: failed: {region}: " in done.stderr, done.stderr
    assert "--region eu-west-1 --stack-name lambda-blackbox --resolve-s3" in done.stderr
    # It reached moto (no other CloudFormation would answer this), and the token was not printed.
    assert done.stderr.count("aws-sam-cli-managed-default is missing Tags and/or Outputs") >= 2, done.stderr
    assert "tok-s3cret-value" not in done.stderr and "ProbeToken=***" in done.stderr
