#!/usr/bin/env node
// The example app: one stack with a probe function behind a Function URL.
//
//   npx cdk deploy -c layerArn=arn:aws:lambda:REGION:ACCOUNT:layer:lambda-blackbox-arm64:N \
//     --parameters ProbeToken=$(cat token)
//   npx cdk deploy -c layerZip=../../dist/lambda-blackbox-0.1.0-arm64.zip --parameters ProbeToken=...
//
// Context: layerArn | layerZip (default: dist/lambda-blackbox-VERSION-arm64.zip of this
// repository), allowedTargets (comma-separated), authType (NONE | AWS_IAM).
import * as fs from "node:fs";
import * as path from "node:path";
import * as cdk from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { BlackboxProbeFunction } from "../lib/blackbox-probe-function";

const app = new cdk.App();
const context = (key: string): string | undefined => {
  const value = app.node.tryGetContext(key);
  return typeof value === "string" && value.trim() ? value.trim() : undefined;
};

const repo = path.resolve(__dirname, "../../..");
const layerArn = context("layerArn");
let layerZip = context("layerZip");
if (layerArn === undefined && layerZip === undefined) {
  const version = /^version = "(.*)"/m.exec(fs.readFileSync(path.join(repo, "Cargo.toml"), "utf8"))?.[1];
  layerZip = path.join(repo, "dist", `lambda-blackbox-${version}-arm64.zip`);
  if (!fs.existsSync(layerZip)) {
    throw new Error(`${layerZip} does not exist: run \`make layer ARCH=arm64\`, or pass -c layerArn=ARN or -c layerZip=PATH`);
  }
}

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
const allowedTargets = context("allowedTargets")?.split(",");
const authType = context("authType") === "AWS_IAM" ? lambda.FunctionUrlAuthType.AWS_IAM : lambda.FunctionUrlAuthType.NONE;

const probe = new BlackboxProbeFunction(stack, "Probe", {
  layerArn,
  layerZip,
  authToken: token.valueAsString,
  allowedTargets,
  functionUrlAuthType: authType,
});

new cdk.CfnOutput(stack, "FunctionUrl", { value: probe.functionUrl.url, description: "The probe endpoint" });
new cdk.CfnOutput(stack, "LayerArn", { value: probe.layer.layerVersionArn, description: "The layer version the function runs" });
