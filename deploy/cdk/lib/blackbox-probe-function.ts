import * as path from "node:path";
import { Annotations, Duration, Token } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";
import { blackboxLayer } from "./layer";

/** A handler of your own instead of the layer's Rust bootstrap, in any runtime. */
export interface CustomHandler {
  /** The function's code, e.g. `lambda.Code.fromAsset("handler/python")`. */
  readonly code: lambda.Code;
  /** The handler, e.g. `blackbox_proxy.handler` (handler/python) or `index.handler` (handler/node). */
  readonly handler: string;
  /** e.g. `lambda.Runtime.PYTHON_3_12` or `lambda.Runtime.NODEJS_20_X`. */
  readonly runtime: lambda.Runtime;
}

export interface BlackboxProbeFunctionProps {
  /**
   * The layer as an asset: a zip from `make layer` (dist/lambda-blackbox-VERSION-ARCH.zip)
   * or a layer directory (`make layer-dir`). Give this or `layerArn`.
   */
  readonly layerZip?: string;
  /** A published layer version ARN (`make publish`). Give this or `layerZip`. */
  readonly layerArn?: string;
  /** Must match the layer's. @default ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default 128 */
  readonly memorySize?: number;
  /** Above Prometheus's scrape timeout: the probe ends at whichever comes first. @default 15 s */
  readonly timeout?: Duration;
  /** The Function URL's auth type. With AWS_IAM, requests AWS authenticated need no token. @default NONE */
  readonly functionUrlAuthType?: lambda.FunctionUrlAuthType;
  /**
   * BLACKBOX_AUTH_TOKEN, the bearer token Prometheus sends. It is stored in the function's
   * environment: pass a NoEcho CfnParameter's value or a secret's dynamic reference, not a
   * literal in source.
   */
  readonly authToken?: string;
  /** BLACKBOX_ALLOWED_TARGETS: host names, `*.` wildcards, IPs and CIDRs, each with an optional `:port`. */
  readonly allowedTargets?: string[];
  /** BLACKBOX_DENY_PRIVATE: also refuse private ranges. @default false */
  readonly denyPrivate?: boolean;
  /** More `BLACKBOX_*` settings (docs/configuration.md). */
  readonly environment?: Record<string, string>;
  /** The package of a `provided.al2023` function (e.g. a directory with a blackbox.yml). @default a stub */
  readonly code?: lambda.Code;
  /** Your own handler and runtime instead of the layer's bootstrap. */
  readonly customHandler?: CustomHandler;
  readonly functionName?: string;
  /** @default "Prometheus blackbox_exporter probes through a Function URL (lambda-blackbox)" */
  readonly description?: string;
}

/**
 * A Lambda function with the lambda-blackbox layer and a Function URL: a Prometheus
 * blackbox_exporter endpoint for the multi-target pattern (/probe?target=...&module=...).
 */
export class BlackboxProbeFunction extends Construct {
  readonly function: lambda.Function;
  readonly layer: lambda.ILayerVersion;
  readonly functionUrl: lambda.FunctionUrl;

  constructor(scope: Construct, id: string, props: BlackboxProbeFunctionProps) {
    super(scope, id);
    const architecture = props.architecture ?? lambda.Architecture.ARM_64;
    const timeout = props.timeout ?? Duration.seconds(15);
    if (timeout.toSeconds() <= 10) {
      Annotations.of(this).addWarning(
        `timeout ${timeout.toSeconds()} s: keep it above Prometheus's scrape timeout (10 s by default), or probes end early with 504`,
      );
    }

    const runtime = props.customHandler?.runtime ?? lambda.Runtime.PROVIDED_AL2023;
    const rustBootstrap = props.customHandler === undefined;
    if (!rustBootstrap && (props.allowedTargets !== undefined || props.denyPrivate)) {
      // The Python and Node.js handlers refuse to start with these set, rather than ignore them.
      throw new Error(
        "BlackboxProbeFunction: allowedTargets and denyPrivate are enforced by the layer's Rust bootstrap only; " +
          "the Python and Node.js handlers (customHandler) do not enforce a target policy",
      );
    }

    this.layer = blackboxLayer(this, "BlackboxProbeFunction", props, architecture);

    const environment: Record<string, string> = {};
    if (props.authToken !== undefined) {
      if (!Token.isUnresolved(props.authToken) && !/^[\x21-\x7e]+$/.test(props.authToken)) {
        throw new Error("BlackboxProbeFunction: authToken must be printable ASCII without spaces");
      }
      environment.BLACKBOX_AUTH_TOKEN = props.authToken;
    }
    if (props.allowedTargets !== undefined) {
      const bad = props.allowedTargets.find((t) => !t.trim() || t.includes(","));
      if (bad !== undefined || props.allowedTargets.length === 0) {
        throw new Error(`BlackboxProbeFunction: allowedTargets entries must be non-empty and without commas (${JSON.stringify(bad ?? "")})`);
      }
      environment.BLACKBOX_ALLOWED_TARGETS = props.allowedTargets.map((t) => t.trim()).join(",");
    }
    if (props.denyPrivate) environment.BLACKBOX_DENY_PRIVATE = "true";
    const authType = props.functionUrlAuthType ?? lambda.FunctionUrlAuthType.NONE;
    if (authType === lambda.FunctionUrlAuthType.AWS_IAM && props.authToken !== undefined) {
      environment.BLACKBOX_AUTH_TRUST_IAM = "true";
    }
    if (authType === lambda.FunctionUrlAuthType.NONE && props.authToken === undefined) {
      Annotations.of(this).addWarning("no authToken and auth type NONE: anyone who finds the URL can run probes through it");
    }
    Object.assign(environment, props.environment ?? {});

    this.function = new lambda.Function(this, "Function", {
      runtime,
      handler: props.customHandler?.handler ?? "bootstrap",
      code: props.customHandler?.code ?? props.code ?? lambda.Code.fromAsset(path.join(__dirname, "../function")),
      architecture,
      memorySize: props.memorySize ?? 128,
      timeout,
      layers: [this.layer],
      environment,
      functionName: props.functionName,
      description: props.description ?? "Prometheus blackbox_exporter probes through a Function URL (lambda-blackbox)",
    });
    this.functionUrl = this.function.addFunctionUrl({ authType });
  }
}
