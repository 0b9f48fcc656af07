"""deploy/sam/push.yaml as SAM's own translator expands it (sam_transform.py, in SAM CLI's
environment): no Function URL; an EventBridge Scheduler schedule whose input is the probes;
aps:RemoteWrite on the workspace alone and only with sigv4; a failed run retried twice and
then kept in a queue. template.yaml (scrape mode) keeps its Function URL."""

import json
import os
import pathlib
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SAM_PYTHON = pathlib.Path(os.environ.get("LAMBDA_BLACKBOX_SAM", ROOT / "target/aws-sam-cli/bin/sam")).with_name("python3")


def expanded(template):
    if not SAM_PYTHON.exists():
        pytest.fail(f"{SAM_PYTHON} is missing: make test installs SAM CLI into target/aws-sam-cli")
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", SAM_CLI_TELEMETRY="0")
    done = subprocess.run([str(SAM_PYTHON), str(HERE / "sam_transform.py"), str(HERE.parent / template)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["Resources"]


def of_type(resources, kind):
    return [r for r in resources.values() if r["Type"] == kind]


def test_push_mode_has_a_schedule_with_the_probes_and_no_function_url():
    resources = expanded("push.yaml")
    assert of_type(resources, "AWS::Lambda::Url") == []
    [schedule] = of_type(resources, "AWS::Scheduler::Schedule")
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["Target"]["Arn"] == {"Fn::GetAtt": ["ProbeFunction", "Arn"]}
    assert props["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    # The input with the template's default Probes is the Scheduler input push mode reads.
    default = "[{\"target\": \"https://example.com\", \"module\": \"http_2xx\"}]"
    text = props["Target"]["Input"]["Fn::Sub"].replace("${Probes}", default)
    assert json.loads(text) == {"probes": [{"target": "https://example.com", "module": "http_2xx"}]}
    [role] = [r for r in of_type(resources, "AWS::IAM::Role")
              if "scheduler.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    assert "lambda:InvokeFunction" in json.dumps(role["Properties"]["Policies"])


def test_sigv4_may_write_to_the_workspace_alone():
    resources = expanded("push.yaml")
    role = resources["ProbeFunctionRole"]["Properties"]
    aps = [p for p in role["Policies"] if "aps:" in json.dumps(p)]
    assert aps == [{"Fn::If": ["IsSigV4", {
        "PolicyName": "ProbeFunctionRolePolicy0",
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": {"Ref": "WorkspaceArn"}}]},
    }, {"Ref": "AWS::NoValue"}]}]
    variables = resources["ProbeFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["BLACKBOX_REMOTE_WRITE_URL"] == {"Ref": "RemoteWriteUrl"}
    assert variables["BLACKBOX_REMOTE_WRITE_TOKEN"] == {"Fn::If": [
        "IsBearer", {"Fn::Sub": "{{resolve:secretsmanager:${RemoteWriteSecretArn}:SecretString}}"}, {"Ref": "AWS::NoValue"}]}


def test_a_failed_run_is_retried_twice_then_kept():
    resources = expanded("push.yaml")
    [config] = of_type(resources, "AWS::Lambda::EventInvokeConfig")
    assert config["Properties"]["MaximumRetryAttempts"] == 2
    assert config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedRuns", "Arn"]}
    assert "sqs:SendMessage" in json.dumps(resources["ProbeFunctionRole"])


def test_scrape_mode_keeps_its_function_url_and_no_schedule():
    resources = expanded("template.yaml")
    assert len(of_type(resources, "AWS::Lambda::Url")) == 1
    assert of_type(resources, "AWS::Scheduler::Schedule") == []
