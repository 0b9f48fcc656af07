// Assertion tests of push mode: the function without a Function URL, its schedule and the
// schedule's input, aps:RemoteWrite on the workspace only, secrets by reference, failed runs
// kept; and the fleet in push mode.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { BlackboxPushFunction, BlackboxPushFunctionProps, DEFAULT_MODULE, probesOf } from "../lib/blackbox-push-function";
import { buildFleet } from "../lib/fleet";
import { layerDir } from "./layer-dir";

const AMP = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-0123abcd-4567-89ef/api/v1/remote_write";

function stack(props: Partial<BlackboxPushFunctionProps>, build?: (s: Stack) => Partial<BlackboxPushFunctionProps>) {
  const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "cdk-push-out-")) });
  const s = new Stack(app, "Push", { env: { account: "123456789012", region: "us-east-1" } });
  new BlackboxPushFunction(s, "Push", {
    layerZip: layerDir(),
    remoteWrite: { url: AMP },
    probes: [{ target: "https://example.com" }, { target: "example.com:443", module: "tls" }],
    ...props,
    ...(build ? build(s) : {}),
  });
  return Template.fromStack(s);
}

describe("the push function", () => {
  test("no Function URL; a one-minute schedule invokes it with the probes as input", () => {
    const t = stack({});
    t.resourceCountIs("AWS::Lambda::Url", 0);
    t.resourceCountIs("AWS::Scheduler::Schedule", 1);
    const schedule = Object.values(t.findResources("AWS::Scheduler::Schedule"))[0];
    assert.equal(schedule.Properties.ScheduleExpression, "rate(1 minute)");
    assert.deepEqual(JSON.parse(schedule.Properties.Target.Input), {
      probes: [
        { target: "https://example.com", module: "http_2xx" },
        { target: "example.com:443", module: "tls" },
      ],
    });
    assert.equal(schedule.Properties.Target.RetryPolicy.MaximumRetryAttempts, 0);
    t.hasResourceProperties("AWS::IAM::Policy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: "lambda:InvokeFunction", Effect: "Allow" }),
        ]),
      },
    });
    t.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "provided.al2023",
      Handler: "bootstrap",
      Architectures: ["arm64"],
      Timeout: 30,
      Environment: { Variables: { BLACKBOX_REMOTE_WRITE_URL: AMP, BLACKBOX_REMOTE_WRITE_AUTH: "sigv4" } },
    });
  });

  test("sigv4: aps:RemoteWrite on the URL's workspace, nothing wider", () => {
    const t = stack({});
    const policies = Object.values(t.findResources("AWS::IAM::Policy"));
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
    const aps = statements.filter((s) => JSON.stringify(s.Action).includes("aps:"));
    assert.equal(aps.length, 1);
    assert.equal(aps[0].Action, "aps:RemoteWrite");
    assert.deepEqual(aps[0].Resource, {
      "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":aps:eu-west-1:123456789012:workspace/ws-0123abcd-4567-89ef"]],
    });
    assert.throws(() => stack({ remoteWrite: { url: "https://mimir.example/api/v1/push" } }), /workspaceArn is needed with auth sigv4/);
  });

  test("bearer and basic: the secret by dynamic reference, no aps permission", () => {
    const secretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:grafana-cloud-AbCdEf";
    const t = stack({}, (s) => ({
      remoteWrite: {
        url: "https://prometheus-prod-01.grafana.net/api/prom/push",
        auth: "basic",
        username: "123456",
        secret: secretsmanager.Secret.fromSecretCompleteArn(s, "S", secretArn),
      },
    }));
    t.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: {
          BLACKBOX_REMOTE_WRITE_AUTH: "basic",
          BLACKBOX_REMOTE_WRITE_USERNAME: "123456",
          BLACKBOX_REMOTE_WRITE_PASSWORD: `{{resolve:secretsmanager:${secretArn}:SecretString:::}}`,
        },
      },
    });
    assert.ok(!JSON.stringify(t.toJSON()).includes("aps:RemoteWrite"));
    assert.throws(() => stack({ remoteWrite: { url: AMP, auth: "bearer" } }), /remoteWrite.secret is needed with auth bearer or basic/);
  });

  test("a failed run is retried twice by Lambda, then kept in a queue", () => {
    const t = stack({});
    t.resourceCountIs("AWS::SQS::Queue", 1);
    t.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 120,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  test("the default module is contract/contract.json's", () => {
    const contract = JSON.parse(fs.readFileSync(path.join(__dirname, "../../../contract/contract.json"), "utf8"));
    assert.equal(DEFAULT_MODULE, contract.default_module);
  });

  test("wrong probes are named", () => {
    assert.throws(() => stack({ probes: [] }), /give at least one/);
    assert.throws(() => stack({ probes: [{ target: "a", module: "no spaces" }] }), /is not a target with a module name/);
    assert.deepEqual(probesOf("# t\nhttps://a.example\n\nb.example:443 tls # tls\n", "t.txt"), [
      { target: "https://a.example", module: undefined },
      { target: "b.example:443", module: "tls" },
    ]);
    assert.throws(() => probesOf("a b c\n", "t.txt"), /t.txt: line 1: expected TARGET \[MODULE\]/);
    assert.throws(() => probesOf("# none\n", "t.txt"), /t.txt: no targets/);
    assert.throws(
      () => stack({ probes: [{ target: "https://a.example" }, { target: "https://a.example", module: "http_2xx" }] }),
      /probes\[1\]: https:\/\/a.example with module http_2xx is listed already, as BlackboxPushFunction: probes\[0\]/,
    );
  });

  test("the targets file is read as the handler reads it (deploy/targets-file-cases.json)", () => {
    const shared = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "targets-file-cases.json"), "utf8"));
    assert.ok(shared.cases.length > 5);
    for (const c of shared.cases) {
      if (c.error !== undefined) {
        assert.throws(() => probesOf(c.text, "targets.txt"), (e: Error) => e.message.includes(c.error), c.name);
      } else {
        const want = c.probes.map((p: { target: string; module?: string }) => ({ target: p.target, module: p.module }));
        assert.deepEqual(probesOf(c.text, "targets.txt"), want, c.name);
      }
    }
  });
});

describe("the fleet in push mode", () => {
  test("a push function and schedule per region, all writing to one workspace", () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "cdk-fleet-push-")) });
    const regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    const stacks = buildFleet(app, {
      regions,
      account: "123456789012",
      layerZip: layerDir(),
      push: { remoteWrite: { url: AMP }, probes: [{ target: "https://example.com" }] },
    });
    for (const [i, s] of stacks.entries()) {
      const t = Template.fromStack(s);
      assert.equal(s.region, regions[i]);
      t.resourceCountIs("AWS::Lambda::Url", 0);
      t.resourceCountIs("AWS::Scheduler::Schedule", 1);
      assert.deepEqual(Object.keys(t.findParameters("*")).filter((p) => p === "ProbeToken"), []);
      t.hasOutput("Region", { Value: regions[i] });
      t.hasOutput("FailedRunsQueue", {});
      assert.ok(JSON.stringify(t.toJSON()).includes(":aps:eu-west-1:123456789012:workspace/ws-0123abcd-4567-89ef"), regions[i]);
    }
  });
});
