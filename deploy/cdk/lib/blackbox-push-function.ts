import * as path from "node:path";
import { Annotations, Arn, Duration, Stack, Token } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as destinations from "aws-cdk-lib/aws-lambda-destinations";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as schedulerTargets from "aws-cdk-lib/aws-scheduler-targets";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { blackboxLayer, LayerSource } from "./layer";

/** One probe of a push run: the schedule's input lists them. */
export interface Probe {
  readonly target: string;
  /** @default http_2xx */
  readonly module?: string;
}

/** Where and how the results are written (Prometheus remote-write). */
export interface RemoteWrite {
  /** e.g. https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-…/api/v1/remote_write */
  readonly url: string;
  /** BLACKBOX_REMOTE_WRITE_AUTH. @default "sigv4" */
  readonly auth?: "sigv4" | "bearer" | "basic" | "none";
  /**
   * sigv4: the Amazon Managed Service for Prometheus workspace the function may write to
   * (aps:RemoteWrite on it and nothing else). @default read from an AMP `url`, in this account
   */
  readonly workspaceArn?: string;
  /**
   * bearer: the secret whose SecretString is the token; basic: the password. CloudFormation
   * resolves it into the function's environment (encrypted at rest; readable by whoever may
   * call lambda:GetFunctionConfiguration).
   */
  readonly secret?: secretsmanager.ISecret;
  /** basic: the user name (Grafana Cloud: the instance ID). */
  readonly username?: string;
}

export interface BlackboxPushFunctionProps extends LayerSource {
  readonly remoteWrite: RemoteWrite;
  readonly probes: Probe[];
  /** @default rate(1 minute), EventBridge Scheduler's finest */
  readonly schedule?: scheduler.ScheduleExpression;
  /** Must match the layer's. @default ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default 128 */
  readonly memorySize?: number;
  /** Room for the slowest module's timeout plus the push; below the schedule's interval. @default 30 s */
  readonly timeout?: Duration;
  /** BLACKBOX_ALLOWED_TARGETS, as for the scrape function: the schedule's probes pass the same policy. */
  readonly allowedTargets?: string[];
  /** BLACKBOX_PUSH_JOB. @default lambda-blackbox */
  readonly job?: string;
  /** BLACKBOX_PUSH_LABELS: more labels on every series (not job, instance, module, region). */
  readonly labels?: Record<string, string>;
  /** More `BLACKBOX_*` settings (docs/configuration.md). */
  readonly environment?: Record<string, string>;
  /** The function's package, e.g. the repository's function/ with a blackbox.yml. @default a stub */
  readonly code?: lambda.Code;
  readonly functionName?: string;
}

const AMP_URL = /^https:\/\/aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com\/workspaces\/(ws-[A-Za-z0-9-]+)\//;

/**
 * A Lambda function with the lambda-blackbox layer and no Function URL, invoked by an
 * EventBridge Scheduler schedule whose input lists the probes; it writes the results with
 * Prometheus remote-write. A run whose write failed fails the invocation: Lambda retries it
 * (twice, while it is under two minutes old), then sends it to the `failedRuns` queue.
 */
export class BlackboxPushFunction extends Construct {
  readonly function: lambda.Function;
  readonly layer: lambda.ILayerVersion;
  readonly schedule: scheduler.Schedule;
  readonly failedRuns: sqs.Queue;

  constructor(scope: Construct, id: string, props: BlackboxPushFunctionProps) {
    super(scope, id);
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    this.layer = blackboxLayer(this, "BlackboxPushFunction", props, architecture);
    if (props.probes.length === 0) throw new Error("BlackboxPushFunction: probes: give at least one");
    const bad = props.probes.find((p) => !p.target.trim() || (p.module !== undefined && !MODULE_NAME.test(p.module)));
    if (bad !== undefined) throw new Error(`BlackboxPushFunction: probes: ${JSON.stringify(bad)} is not a target with a module name`);
    refuseTwice(props.probes, (i) => `BlackboxPushFunction: probes[${i}]`);
    const timeout = props.timeout ?? Duration.seconds(30);
    const rounds = props.environment?.BLACKBOX_PUSH_EVERY !== undefined;
    if (timeout.toSeconds() > (rounds ? 70 : 60)) {
      Annotations.of(this).addWarning(`timeout ${timeout.toSeconds()} s is longer than a one-minute schedule: runs will overlap`);
    }
    if (rounds && timeout.toSeconds() < 61) {
      Annotations.of(this).addWarning(
        `BLACKBOX_PUSH_EVERY with a timeout of ${timeout.toSeconds()} s: the minute's last rounds do not fit (give 61 s or more)`,
      );
    }

    const write = props.remoteWrite;
    const auth = write.auth ?? "sigv4";
    const environment: Record<string, string> = {
      BLACKBOX_REMOTE_WRITE_URL: write.url,
      BLACKBOX_REMOTE_WRITE_AUTH: auth,
    };
    if ((auth === "bearer" || auth === "basic") !== (write.secret !== undefined)) {
      throw new Error(`BlackboxPushFunction: remoteWrite.secret is needed with auth bearer or basic, and only then (auth ${auth})`);
    }
    if ((auth === "basic") !== (write.username !== undefined)) {
      throw new Error("BlackboxPushFunction: remoteWrite.username goes with auth basic, and only with it");
    }
    if (auth === "bearer") environment.BLACKBOX_REMOTE_WRITE_TOKEN = write.secret!.secretValue.unsafeUnwrap();
    if (auth === "basic") {
      environment.BLACKBOX_REMOTE_WRITE_USERNAME = write.username!;
      environment.BLACKBOX_REMOTE_WRITE_PASSWORD = write.secret!.secretValue.unsafeUnwrap();
    }
    if (props.job !== undefined) environment.BLACKBOX_PUSH_JOB = props.job;
    if (props.labels !== undefined) {
      environment.BLACKBOX_PUSH_LABELS = Object.entries(props.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
    }
    if (props.allowedTargets !== undefined) environment.BLACKBOX_ALLOWED_TARGETS = props.allowedTargets.map((t) => t.trim()).join(",");
    Object.assign(environment, props.environment ?? {});

    this.failedRuns = new sqs.Queue(this, "FailedRuns", {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.function = new lambda.Function(this, "Function", {
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: "bootstrap",
      code: props.code ?? lambda.Code.fromAsset(path.join(__dirname, "../function")),
      architecture,
      memorySize: props.memorySize ?? 128,
      timeout,
      layers: [this.layer],
      environment,
      functionName: props.functionName,
      description: "Prometheus blackbox_exporter probes on a schedule, remote-written (lambda-blackbox push mode)",
      // A retried run probes again, at its own time: its samples are new, not duplicates.
      retryAttempts: 2,
      maxEventAge: Duration.minutes(2),
      onFailure: new destinations.SqsDestination(this.failedRuns),
    });

    if (auth === "sigv4") {
      const workspaceArn = write.workspaceArn ?? this.workspaceArnOf(write.url);
      this.function.addToRolePolicy(
        new iam.PolicyStatement({ actions: ["aps:RemoteWrite"], resources: [workspaceArn] }),
      );
    }

    this.schedule = new scheduler.Schedule(this, "Schedule", {
      schedule: props.schedule ?? scheduler.ScheduleExpression.rate(Duration.minutes(1)),
      description: `lambda-blackbox push run: ${props.probes.length} probe(s)`,
      target: new schedulerTargets.LambdaInvoke(this.function, {
        input: scheduler.ScheduleTargetInput.fromObject({
          probes: props.probes.map((p) => ({ target: p.target.trim(), module: p.module ?? DEFAULT_MODULE })),
        }),
        // Delivery only: a failed run is retried by Lambda's asynchronous invoke.
        retryAttempts: 0,
      }),
    });
  }

  private workspaceArnOf(url: string): string {
    const match = Token.isUnresolved(url) ? null : AMP_URL.exec(url);
    if (match === null) {
      throw new Error(
        "BlackboxPushFunction: remoteWrite.workspaceArn is needed with auth sigv4 unless url is an Amazon Managed Service for Prometheus workspace URL",
      );
    }
    return Arn.format({ service: "aps", region: match[1], resource: "workspace", resourceName: match[2] }, Stack.of(this));
  }
}

/** The module when a probe names none, as the handler and blackbox take it (contract/contract.json). */
export const DEFAULT_MODULE = "http_2xx";
/** A module name as blackbox's configuration names it (contract/src/targets_file.rs). */
const MODULE_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * The same target and module twice would be two samples of one series at one time stamp,
 * which the handler refuses (every run would fail), as Mimir and Amazon Managed Service for
 * Prometheus do: refused at synth, with the handler's words.
 */
function refuseTwice(probes: Probe[], name: (i: number) => string): void {
  const key = (p: Probe) => `${p.target.trim()} ${p.module ?? DEFAULT_MODULE}`;
  probes.forEach((probe, i) => {
    const first = probes.slice(0, i).findIndex((p) => key(p) === key(probe));
    if (first >= 0) {
      throw new Error(
        `${name(i)}: ${probe.target.trim()} with module ${probe.module ?? DEFAULT_MODULE} is listed already, as ${name(first)}`,
      );
    }
  });
}

/**
 * The targets file (`TARGET [MODULE]` a line, `#` comments) as probes, read as the handler
 * reads BLACKBOX_PUSH_TARGETS_FILE: both are tested against deploy/targets-file-cases.json.
 */
export function probesOf(text: string, file: string): Probe[] {
  const probes: Probe[] = [];
  const lines: number[] = [];
  for (const [n, raw] of text.split("\n").entries()) {
    const line = raw.split("#")[0].trim();
    const words = line.split(/\s+/).filter((w) => w);
    if (words.length === 0) continue;
    if (words.length > 2) throw new Error(`${file}: line ${n + 1}: expected TARGET [MODULE], got ${JSON.stringify(line)}`);
    if (words[1] !== undefined && !MODULE_NAME.test(words[1])) {
      throw new Error(`${file}: line ${n + 1}: ${JSON.stringify(words[1])} is not a module name`);
    }
    probes.push({ target: words[0], module: words[1] });
    lines.push(n + 1);
  }
  if (probes.length === 0) throw new Error(`${file}: no targets`);
  refuseTwice(probes, (i) => `${file}: line ${lines[i]}`);
  return probes;
}
