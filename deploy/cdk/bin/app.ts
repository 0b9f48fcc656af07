#!/usr/bin/env node
// The example app: one stack with a probe function behind a Function URL, or with
// -c regions=… the fleet, one stack per region (LambdaBlackbox-<region>).
//
//   npx cdk deploy -c layerArn=arn:aws:lambda:REGION:ACCOUNT:layer:lambda-blackbox-arm64:N \
//     --parameters ProbeToken=$(cat token)
//   npx cdk deploy -c layerZip=../../dist/lambda-blackbox-0.1.0-arm64.zip --parameters ProbeToken=...
//   npx cdk deploy --all -c regions=us-east-1,eu-west-1,ap-southeast-2 [-c layerArns=../../dist/layers.json] \
//     --parameters ProbeToken=$(cat token) --outputs-file fleet.json
//   npx cdk deploy --all -c regions=us-east-1,eu-west-1 -c mode=push -c targets=../../targets.txt \
//     -c remoteWriteUrl=https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-…/api/v1/remote_write
//
// Context: layerArn | layerZip (default: dist/lambda-blackbox-VERSION-<architecture>.zip of
// this repository) | layerArns (make publish's layers.json, with regions), regions
// (comma-separated), architecture (arm64 | x86_64), allowedTargets (comma-separated),
// authType (NONE | AWS_IAM). Push mode (with regions): mode=push, remoteWriteUrl, targets (the
// TARGET [MODULE] file), remoteWriteAuth (sigv4 | bearer | basic | none; default sigv4),
// workspaceArn, remoteWriteSecretName (bearer, basic), remoteWriteUsername (basic),
// schedule (default rate(1 minute)).
import * as fs from "node:fs";
import * as path from "node:path";
import * as cdk from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { BlackboxProbeFunction } from "../lib/blackbox-probe-function";
import { probesOf, RemoteWrite } from "../lib/blackbox-push-function";
import { buildFleet, FleetPush, readLayerArns } from "../lib/fleet";
import * as scheduler from "aws-cdk-lib/aws-scheduler";

const app = new cdk.App();
const context = (key: string): string | undefined => {
  const value = app.node.tryGetContext(key);
  return typeof value === "string" && value.trim() ? value.trim() : undefined;
};

const repo = path.resolve(__dirname, "../../..");
const architecture = context("architecture") === "x86_64" ? lambda.Architecture.X86_64 : lambda.Architecture.ARM_64;
const archName = architecture === lambda.Architecture.X86_64 ? "x86_64" : "arm64";
const layerArn = context("layerArn");
const layerArnsFile = context("layerArns");
let layerZip = context("layerZip");
if (layerArn === undefined && layerZip === undefined && layerArnsFile === undefined) {
  const version = /^version = "(.*)"/m.exec(fs.readFileSync(path.join(repo, "Cargo.toml"), "utf8"))?.[1];
  layerZip = path.join(repo, "dist", `lambda-blackbox-${version}-${archName}.zip`);
  if (!fs.existsSync(layerZip)) {
    throw new Error(
      `${layerZip} does not exist: run \`make layer ARCH=${archName}\`, or pass -c layerArn=ARN, -c layerArns=layers.json or -c layerZip=PATH`,
    );
  }
}
const allowedTargets = context("allowedTargets")?.split(",");
// The repository's function/: the function's package everywhere (a blackbox.yml there
// replaces the layer's modules), as for make run, SAM and the AWS CLI.
const functionDirectory = path.join(repo, "function");
const authType = context("authType") === "AWS_IAM" ? lambda.FunctionUrlAuthType.AWS_IAM : lambda.FunctionUrlAuthType.NONE;
const regions = context("regions");

/** Push mode's settings from the context, or undefined in scrape mode. */
function pushContext(): FleetPush | undefined {
  const mode = context("mode") ?? "scrape";
  if (mode === "scrape") return undefined;
  if (mode !== "push") throw new Error(`-c mode=${mode}: scrape or push`);
  const url = context("remoteWriteUrl");
  const targets = context("targets");
  if (url === undefined || targets === undefined) {
    throw new Error("-c mode=push needs -c remoteWriteUrl=URL and -c targets=FILE (TARGET [MODULE] a line)");
  }
  const auth = (context("remoteWriteAuth") ?? "sigv4") as RemoteWrite["auth"];
  if (!["sigv4", "bearer", "basic", "none"].includes(auth!)) throw new Error(`-c remoteWriteAuth=${auth}: sigv4, bearer, basic or none`);
  const schedule = context("schedule");
  return {
    remoteWrite: { url, auth, workspaceArn: context("workspaceArn"), username: context("remoteWriteUsername") },
    secretName: context("remoteWriteSecretName"),
    probes: probesOf(fs.readFileSync(targets, "utf8"), targets),
    schedule: schedule === undefined ? undefined : scheduler.ScheduleExpression.expression(schedule),
  };
}
const push = pushContext();
if (push !== undefined && regions === undefined) throw new Error("-c mode=push goes with -c regions=…");

if (regions !== undefined) {
  buildFleet(app, {
    regions: regions.split(","),
    layerZip: layerArnsFile === undefined ? layerZip : undefined,
    layerArns: layerArnsFile === undefined ? undefined : readLayerArns(layerArnsFile),
    architecture,
    allowedTargets,
    functionUrlAuthType: authType,
    push,
    codeDirectory: functionDirectory,
  });
} else {
  const stack = new cdk.Stack(app, "LambdaBlackbox", {
    description: "lambda-blackbox: a Prometheus blackbox_exporter endpoint behind a Function URL",
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  const token = new cdk.CfnParameter(stack, "ProbeToken", {
    type: "String",
    noEcho: true,
    minLength: 16,
    allowedPattern: "^[!-~]+$",
    description: "The bearer token Prometheus sends (BLACKBOX_AUTH_TOKEN)",
  });
  const probe = new BlackboxProbeFunction(stack, "Probe", {
    layerArn,
    layerZip,
    architecture,
    authToken: token.valueAsString,
    allowedTargets,
    functionUrlAuthType: authType,
    code: lambda.Code.fromAsset(functionDirectory),
  });
  new cdk.CfnOutput(stack, "FunctionUrl", { value: probe.functionUrl.url, description: "The probe endpoint" });
  new cdk.CfnOutput(stack, "LayerArn", { value: probe.layer.layerVersionArn, description: "The layer version the function runs" });
}
