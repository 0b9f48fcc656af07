#!/usr/bin/env python3
"""The SAM stack in many regions.

usage: fleet.py deploy --regions "us-east-1 eu-west-1" [--stack-name lambda-blackbox] [-- SAM DEPLOY ARGS...]
       fleet.py urls --regions "us-east-1 eu-west-1" [--stack-name lambda-blackbox] [--out urls.json]

deploy: `sam deploy` of the built template (run `sam build` first) in each region, one stack
  name, --resolve-s3; a region that fails is reported and the others go on.
urls: each region's `FunctionUrl` output, read through CloudFormation, as the region -> URL
  map `make prometheus-config URLS=` takes; a region without the stack is reported and the
  others go on.
Both exit 1 when any region failed. Credentials and endpoint come from the usual AWS settings,
through boto3 (urls) and the SAM CLI (deploy).
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Regions launched after March 2019 are off until the account enables them.
OPT_IN_REGIONS = {
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-1",
    "eu-south-2", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
}


def why(region, message):
    """One line for a region that failed, saying what to do when it is an opt-in region."""
    message = " ".join(str(message).split())
    if region in OPT_IN_REGIONS and any(
        s in message for s in ("InvalidClientTokenId", "security token", "not enabled", "UnrecognizedClientException", "OptInRequired")
    ):
        return (f"{region} is an opt-in region the account has not enabled: enable it first "
                f"(aws account enable-region --region-name {region}), then run again ({message})")
    return f"{region}: {message}"


def masked(command):
    """The command as it may be printed: parameter values that look like secrets hidden."""
    secret = re.compile(r"((?:Token|Password|Secret)[A-Za-z]*=)\S+", re.IGNORECASE)
    return [secret.sub(r"\1***", arg) for arg in command]


def regions_of(text):
    regions = [r for r in text.replace(",", " ").split() if r]
    if not regions:
        sys.exit("fleet.py: no regions given (--regions \"us-east-1 eu-west-1\")")
    return regions


def function_url(cloudformation, stack_name):
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if "FunctionUrl" not in outputs:
        raise LookupError(f"stack {stack_name} has no FunctionUrl output (status {stacks[0].get('StackStatus')})")
    return outputs["FunctionUrl"]


def urls(args):
    import boto3

    found, failed = {}, []
    for region in regions_of(args.regions):
        try:
            found[region] = function_url(boto3.client("cloudformation", region_name=region), args.stack_name)
        except Exception as e:  # noqa: BLE001 - every failure is reported, the others go on
            failed.append(why(region, e))
    text = json.dumps(found, indent=2, sort_keys=True) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    for line in failed:
        print(f"fleet.py urls: {line}", file=sys.stderr)
    print(f"fleet.py urls: {len(found)} of {len(found) + len(failed)} regions", file=sys.stderr)
    return 1 if failed else 0


def deploy(args, sam_args):
    sam = os.environ.get("SAM", "sam")
    failed = []
    for region in regions_of(args.regions):
        command = [sam, "deploy", "--region", region, "--stack-name", args.stack_name, "--resolve-s3",
                   "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset",
                   "--no-fail-on-empty-changeset", *sam_args]
        print(f"fleet.py deploy: {region}: {' '.join(masked(command))}", file=sys.stderr)
        done = subprocess.run(command, cwd=HERE, stderr=subprocess.PIPE, text=True)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            last = [l for l in done.stderr.splitlines() if l.strip()][-1:] or [f"sam exited {done.returncode}"]
            failed.append(why(region, last[0]))
    for line in failed:
        print(f"fleet.py deploy: failed: {line}", file=sys.stderr)
    return 1 if failed else 0


def main(argv):
    parser = argparse.ArgumentParser(prog="fleet.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["deploy", "urls"])
    parser.add_argument("--regions", required=True)
    parser.add_argument("--stack-name", default="lambda-blackbox")
    parser.add_argument("--out")
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    sam_args = argv[split + 1:]
    return urls(args) if args.command == "urls" else deploy(args, sam_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
