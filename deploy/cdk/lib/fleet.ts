// The fleet: one stack per region (`LambdaBlackbox-<region>`), each with the probe function,
// its layer (the zip as an asset, uploaded per region by CDK, or the ARN `make publish` wrote
// for that region and architecture), one ProbeToken parameter of the same name in every
// stack, and the outputs `prometheus-config` reads (FunctionUrl, Region). In push mode, each
// stack has the push function and its schedule instead, writing to one remote-write URL.
import * as fs from "node:fs";
import * as cdk from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { BlackboxProbeFunction } from "./blackbox-probe-function";
import { BlackboxPushFunction, Probe, RemoteWrite } from "./blackbox-push-function";

/** Push mode of the fleet: what each region probes, and where it writes. */
export interface FleetPush {
  readonly remoteWrite: Omit<RemoteWrite, "secret">;
  /** bearer or basic: the secret's name, in every region (Secrets Manager replication). */
  readonly secretName?: string;
  readonly probes: Probe[];
  readonly schedule?: scheduler.ScheduleExpression;
}

export interface FleetProps {
  /** Where to deploy, e.g. ["us-east-1", "eu-west-1"]. */
  readonly regions: string[];
  /** The layer zip (or layer directory) to upload to each region; or `layerArns`. */
  readonly layerZip?: string;
  /** `dist/layers.json` of `make publish`: region -> architecture -> layer version ARN. */
  readonly layerArns?: Record<string, Record<string, string>>;
  /** @default arm64 */
  readonly architecture?: lambda.Architecture;
  readonly allowedTargets?: string[];
  readonly functionUrlAuthType?: lambda.FunctionUrlAuthType;
  /** The account of every stack. @default the CLI's (CDK_DEFAULT_ACCOUNT) */
  readonly account?: string;
  /** Push mode instead of scrape mode: no Function URL, a schedule per region. */
  readonly push?: FleetPush;
  /** The directory of every function's package (e.g. one with a blackbox.yml), uploaded to each
   * region as an asset of its own. @default a stub */
  readonly codeDirectory?: string;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** Reads `make publish`'s layers.json, naming the file in what is wrong with it. */
export function readLayerArns(file: string): Record<string, Record<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${file}: expected {"<region>": {"<architecture>": "<layer version ARN>"}}`);
  }
  return parsed as Record<string, Record<string, string>>;
}

/** The stacks of the fleet, one per region, in the order given. */
export function buildFleet(app: cdk.App, props: FleetProps): cdk.Stack[] {
  const regions = props.regions.map((r) => r.trim()).filter((r) => r);
  if (regions.length === 0) throw new Error("regions: give at least one, e.g. -c regions=us-east-1,eu-west-1");
  const bad = regions.find((r) => !REGION.test(r));
  if (bad !== undefined) throw new Error(`regions: ${JSON.stringify(bad)} is not a region name`);
  const twice = regions.find((r, i) => regions.indexOf(r) !== i);
  if (twice !== undefined) throw new Error(`regions: ${twice} is listed twice`);
  if ((props.layerZip === undefined) === (props.layerArns === undefined)) {
    throw new Error("give the layer as a zip (layerZip) or as published ARNs (layerArns), one of the two");
  }
  const architecture = props.architecture ?? lambda.Architecture.ARM_64;
  const arch = architecture === lambda.Architecture.ARM_64 ? "arm64" : "x86_64";
  const layerArnIn = (region: string): string | undefined => {
    if (props.layerArns === undefined) return undefined;
    const arn = props.layerArns[region]?.[arch];
    if (typeof arn !== "string" || !arn.startsWith(`arn:aws`) || !arn.includes(`:lambda:${region}:`)) {
      throw new Error(`layerArns has no ${arch} layer for ${region}: publish it there (make publish REGIONS=${region} ARCHS=${arch})`);
    }
    return arn;
  };
  return regions.map((region) => {
    // A Code is an asset of one stack: each region's function gets its own.
    const codeIn = () => (props.codeDirectory === undefined ? undefined : lambda.Code.fromAsset(props.codeDirectory));
    const stack = new cdk.Stack(app, `LambdaBlackbox-${region}`, {
      description:
        props.push === undefined
          ? `lambda-blackbox in ${region}: a Prometheus blackbox_exporter endpoint behind a Function URL`
          : `lambda-blackbox in ${region}: blackbox_exporter probes on a schedule, remote-written`,
      env: { account: props.account ?? process.env.CDK_DEFAULT_ACCOUNT, region },
    });
    new cdk.CfnOutput(stack, "Region", { value: region, description: "Where the probes run" });
    if (props.push !== undefined) {
      const push = props.push;
      const secret =
        push.secretName === undefined ? undefined : secretsmanager.Secret.fromSecretNameV2(stack, "RemoteWriteSecret", push.secretName);
      const fn = new BlackboxPushFunction(stack, "Push", {
        layerArn: layerArnIn(region),
        layerZip: props.layerZip,
        architecture,
        allowedTargets: props.allowedTargets,
        remoteWrite: { ...push.remoteWrite, secret },
        probes: push.probes,
        schedule: push.schedule,
        code: codeIn(),
      });
      new cdk.CfnOutput(stack, "FunctionName", { value: fn.function.functionName });
      new cdk.CfnOutput(stack, "FailedRunsQueue", { value: fn.failedRuns.queueUrl, description: "Push runs whose write failed" });
      new cdk.CfnOutput(stack, "LayerArn", { value: fn.layer.layerVersionArn, description: "The layer version the function runs" });
      return stack;
    }
    const token = new cdk.CfnParameter(stack, "ProbeToken", {
      type: "String",
      noEcho: true,
      minLength: 16,
      allowedPattern: "^[!-~]+$",
      description: "The bearer token Prometheus sends (BLACKBOX_AUTH_TOKEN); the same in every region",
    });
    const probe = new BlackboxProbeFunction(stack, "Probe", {
      layerArn: layerArnIn(region),
      layerZip: props.layerZip,
      architecture,
      authToken: token.valueAsString,
      allowedTargets: props.allowedTargets,
      functionUrlAuthType: props.functionUrlAuthType,
      code: codeIn(),
    });
    new cdk.CfnOutput(stack, "FunctionUrl", { value: probe.functionUrl.url, description: "The probe endpoint" });
    new cdk.CfnOutput(stack, "LayerArn", { value: probe.layer.layerVersionArn, description: "The layer version the function runs" });
    return stack;
  });
}
