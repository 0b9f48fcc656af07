// Assertion tests of the fleet: one stack per region, each with its own layer and Function URL.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { buildFleet, FleetProps, readLayerArns } from "../lib/fleet";
import { layerDir } from "./layer-dir";

const REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const arn = (region: string, arch: string, n: number) => `arn:aws:lambda:${region}:123456789012:layer:lambda-blackbox-${arch}:${n}`;


function fleet(props: Partial<FleetProps>) {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "cdk-fleet-out-")) });
  const stacks = buildFleet(app, { regions: REGIONS, account: "123456789012", ...props });
  return stacks.map((stack) => ({ stack, template: Template.fromStack(stack) }));
}

describe("the fleet", () => {
  test("with the zip as an asset: a stack per region, each in its region with its layer, Function URL, token parameter and outputs", () => {
    const built = fleet({ layerZip: layerDir() });
    assert.deepEqual(built.map(({ stack }) => stack.stackName), REGIONS.map((r) => `LambdaBlackbox-${r}`));
    for (const [i, { stack, template }] of built.entries()) {
      assert.equal(stack.region, REGIONS[i]);
      template.resourceCountIs("AWS::Lambda::LayerVersion", 1);
      template.resourceCountIs("AWS::Lambda::Function", 1);
      template.resourceCountIs("AWS::Lambda::Url", 1);
      template.hasParameter("ProbeToken", { Type: "String", NoEcho: true });
      template.hasOutput("Region", { Value: REGIONS[i] });
      template.hasOutput("FunctionUrl", {});
      const layerId = Object.keys(template.findResources("AWS::Lambda::LayerVersion"))[0];
      template.hasResourceProperties("AWS::Lambda::Function", {
        Layers: [{ Ref: layerId }],
        Architectures: ["arm64"],
        Environment: { Variables: { BLACKBOX_AUTH_TOKEN: { Ref: "ProbeToken" } } },
      });
    }
  });

  test("with make publish's layers.json: each region's function runs that region's layer for its architecture", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cdk-fleet-arns-")), "layers.json");
    const layers = Object.fromEntries(REGIONS.map((r, i) => [r, { arm64: arn(r, "arm64", i + 1), x86_64: arn(r, "x86_64", i + 7) }]));
    fs.writeFileSync(file, JSON.stringify(layers));
    for (const [architecture, name, first] of [
      [lambda.Architecture.ARM_64, "arm64", 1],
      [lambda.Architecture.X86_64, "x86_64", 7],
    ] as const) {
      const built = fleet({ layerArns: readLayerArns(file), architecture });
      for (const [i, { template }] of built.entries()) {
        template.resourceCountIs("AWS::Lambda::LayerVersion", 0);
        template.hasResourceProperties("AWS::Lambda::Function", {
          Layers: [arn(REGIONS[i], name, first + i)],
          Architectures: [name],
        });
        template.hasOutput("LayerArn", { Value: arn(REGIONS[i], name, first + i) });
      }
    }
  });

  test("a region missing from layers.json is an error naming it", () => {
    const layers = { "us-east-1": { arm64: arn("us-east-1", "arm64", 1) } };
    assert.throws(() => fleet({ layerArns: layers }), /layerArns has no arm64 layer for eu-west-1: publish it there/);
    assert.throws(
      () => fleet({ regions: ["us-east-1"], layerArns: { "us-east-1": { arm64: arn("eu-west-1", "arm64", 1) } } }),
      /layerArns has no arm64 layer for us-east-1/,
    );
  });

  test("bad region lists are refused", () => {
    const layerZip = layerDir();
    assert.throws(() => fleet({ regions: [], layerZip }), /at least one/);
    assert.throws(() => fleet({ regions: ["us-east-1", "Mars"], layerZip }), /"Mars" is not a region name/);
    assert.throws(() => fleet({ regions: ["us-east-1", "us-east-1"], layerZip }), /us-east-1 is listed twice/);
    assert.throws(() => fleet({ regions: ["us-east-1"] }), /one of the two/);
  });

  test("layers.json that is not JSON is named", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cdk-fleet-bad-")), "layers.json");
    fs.writeFileSync(file, "nope");
    assert.throws(() => readLayerArns(file), new RegExp(`${file}: `));
  });
});
