// Assertion tests of BlackboxProbeFunction: `npm test` (node's test runner with ts-node).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { App, Duration, Stack } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { BlackboxProbeFunction, BlackboxProbeFunctionProps } from "../lib/blackbox-probe-function";
import { execFileSync } from "node:child_process";
import { layerArchitecture } from "../lib/layer-arch";
import { layerDir } from "./layer-dir";

const ARN = "arn:aws:lambda:us-east-1:123456789012:layer:lambda-blackbox-arm64:7";


function synth(props: BlackboxProbeFunctionProps): { template: Template; stack: Stack; probe: BlackboxProbeFunction } {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "cdk-out-")) });
  const stack = new Stack(app, "Test");
  const probe = new BlackboxProbeFunction(stack, "Probe", props);
  return { template: Template.fromStack(stack), stack, probe };
}

function functionLogicalId(template: Template): string {
  const functions = Object.keys(template.findResources("AWS::Lambda::Function"));
  assert.equal(functions.length, 1, "one function");
  return functions[0];
}

describe("BlackboxProbeFunction", () => {
  test("with the layer zip as an asset: layer, provided.al2023 with the layer's bootstrap, arm64, 128 MB, 15 s, Function URL", () => {
    const { template } = synth({ layerZip: layerDir(), authToken: "t0ken-t0ken-t0ken", allowedTargets: ["example.com", "*.example.org:443"] });
    template.resourceCountIs("AWS::Lambda::LayerVersion", 1);
    template.hasResourceProperties("AWS::Lambda::LayerVersion", {
      CompatibleArchitectures: ["arm64"],
      CompatibleRuntimes: Match.arrayWith(["provided.al2023", "python3.12", "nodejs20.x"]),
      LicenseInfo: "Apache-2.0",
    });
    const layerId = Object.keys(template.findResources("AWS::Lambda::LayerVersion"))[0];
    template.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "provided.al2023",
      Handler: "bootstrap",
      Architectures: ["arm64"],
      MemorySize: 128,
      Timeout: 15,
      Layers: [{ Ref: layerId }],
      Environment: {
        Variables: {
          BLACKBOX_AUTH_TOKEN: "t0ken-t0ken-t0ken",
          BLACKBOX_ALLOWED_TARGETS: "example.com,*.example.org:443",
        },
      },
    });
    const fn = functionLogicalId(template);
    template.hasResourceProperties("AWS::Lambda::Url", {
      AuthType: "NONE",
      TargetFunctionArn: { "Fn::GetAtt": [fn, "Arn"] },
    });
    template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunctionUrl",
      Principal: "*",
      FunctionUrlAuthType: "NONE",
    });
  });

  test("with a published layer ARN: no layer resource, the ARN attached", () => {
    const { template, probe } = synth({ layerArn: ARN, authToken: "t0ken-t0ken-t0ken" });
    template.resourceCountIs("AWS::Lambda::LayerVersion", 0);
    template.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "provided.al2023",
      Architectures: ["arm64"],
      Layers: [ARN],
    });
    template.resourceCountIs("AWS::Lambda::Url", 1);
    assert.equal(probe.layer.layerVersionArn, ARN);
  });

  test("AWS_IAM auth, x86_64, more memory and time, extra settings", () => {
    const { template } = synth({
      layerArn: ARN.replace("arm64", "x86_64"),
      architecture: lambda.Architecture.X86_64,
      memorySize: 256,
      timeout: Duration.seconds(30),
      functionUrlAuthType: lambda.FunctionUrlAuthType.AWS_IAM,
      authToken: "t0ken-t0ken-t0ken",
      denyPrivate: true,
      environment: { BLACKBOX_ARGS: "--log.level=debug" },
    });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Architectures: ["x86_64"],
      MemorySize: 256,
      Timeout: 30,
      Environment: {
        Variables: {
          BLACKBOX_AUTH_TOKEN: "t0ken-t0ken-t0ken",
          BLACKBOX_AUTH_TRUST_IAM: "true",
          BLACKBOX_DENY_PRIVATE: "true",
          BLACKBOX_ARGS: "--log.level=debug",
        },
      },
    });
    template.hasResourceProperties("AWS::Lambda::Url", { AuthType: "AWS_IAM" });
  });

  test("any runtime with a custom handler (the Python handler), the layer still attached", () => {
    const { template } = synth({
      layerArn: ARN,
      customHandler: {
        code: lambda.Code.fromAsset(path.join(__dirname, "../../../handler/python")),
        handler: "blackbox_proxy.handler",
        runtime: lambda.Runtime.PYTHON_3_12,
      },
    });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "python3.12",
      Handler: "blackbox_proxy.handler",
      Layers: [ARN],
    });
  });

  test("refuses what it cannot honour", () => {
    assert.throws(() => synth({}), /give either layerZip .* or layerArn/);
    // An arm64 layer under an x86_64 function would fail every Init with "exec format error".
    assert.throws(
      () => synth({ layerZip: layerDir("arm64"), architecture: lambda.Architecture.X86_64 }),
      /is an arm64 layer, but the function's architecture is x86_64: give the x86_64 layer \(make layer ARCH=x86_64\) or the arm64 architecture \(-c architecture=arm64\)/,
    );
    assert.doesNotThrow(() => synth({ layerZip: layerDir("x86_64"), architecture: lambda.Architecture.X86_64 }));
    assert.throws(() => synth({ layerArn: ARN, layerZip: layerDir() }), /not both/);
    assert.throws(
      () =>
        synth({
          layerArn: ARN,
          allowedTargets: ["example.com"],
          customHandler: { code: lambda.Code.fromInline("x"), handler: "index.handler", runtime: lambda.Runtime.NODEJS_20_X },
        }),
      /enforced by the layer's Rust bootstrap only/,
    );
    assert.throws(() => synth({ layerArn: ARN, authToken: "two words" }), /printable ASCII/);
    assert.throws(() => synth({ layerArn: ARN, allowedTargets: ["a,b"] }), /without commas/);
  });

  test("warns about a timeout at or below the scrape timeout, and about an open URL", () => {
    const { stack } = synth({ layerArn: ARN, timeout: Duration.seconds(3) });
    const warnings = Annotations.fromStack(stack).findWarning("*", Match.anyValue());
    const text = JSON.stringify(warnings);
    assert.match(text, /keep it above Prometheus's scrape timeout/);
    assert.match(text, /anyone who finds the URL can run probes/);
  });
});

describe("layerArchitecture", () => {
  test("reads bootstrap's ELF machine from a layer directory and from a deflated zip", () => {
    for (const architecture of ["arm64", "x86_64"] as const) {
      const dir = layerDir(architecture);
      assert.equal(layerArchitecture(dir), architecture);
      const zip = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cdk-zip-")), "layer.zip");
      // Python's zipfile deflates, as make layer's zip does; bootstrap is not the first entry.
      execFileSync("python3", ["-c", `import zipfile, sys, os
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for root, _, files in sorted(os.walk(sys.argv[2])):
        for f in sorted(files):
            p = os.path.join(root, f)
            z.write(p, os.path.relpath(p, sys.argv[2]))`, zip, dir]);
      assert.equal(layerArchitecture(zip), architecture);
    }
  });

  test("refuses what is not a layer, naming it", () => {
    const dir = layerDir();
    fs.writeFileSync(path.join(dir, "bootstrap"), "#!/bin/sh\n");
    assert.throws(() => layerArchitecture(dir), new RegExp(`${dir}: its bootstrap is not an x86_64 or arm64 executable`));
  });
});
