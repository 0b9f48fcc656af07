// The lambda-blackbox layer as a function gets it: the zip (or layer directory) as an asset,
// or a published layer version's ARN. Shared by the scrape and the push function.
import * as path from "node:path";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";
import { layerArchitecture } from "./layer-arch";

export interface LayerSource {
  /** A zip from `make layer` or a layer directory (`make layer-dir`). Give this or `layerArn`. */
  readonly layerZip?: string;
  /** A published layer version ARN (`make publish`). Give this or `layerZip`. */
  readonly layerArn?: string;
}

export function blackboxLayer(scope: Construct, what: string, source: LayerSource, architecture: lambda.Architecture): lambda.ILayerVersion {
  if ((source.layerZip === undefined) === (source.layerArn === undefined)) {
    throw new Error(`${what}: give either layerZip (make layer) or layerArn (a published layer), not both`);
  }
  if (source.layerArn !== undefined) return lambda.LayerVersion.fromLayerVersionArn(scope, "Layer", source.layerArn);
  const wanted = architecture === lambda.Architecture.X86_64 ? "x86_64" : "arm64";
  const built = layerArchitecture(source.layerZip!);
  if (built !== wanted) {
    throw new Error(
      `${what}: layerZip ${source.layerZip} is an ${built} layer, but the function's architecture is ${wanted}: ` +
        `give the ${wanted} layer (make layer ARCH=${wanted}) or the ${built} architecture (-c architecture=${built})`,
    );
  }
  return new lambda.LayerVersion(scope, "Layer", {
    code: lambda.Code.fromAsset(path.resolve(source.layerZip!)),
    compatibleArchitectures: [architecture],
    compatibleRuntimes: [
      lambda.Runtime.PROVIDED_AL2023,
      lambda.Runtime.PROVIDED_AL2,
      lambda.Runtime.PYTHON_3_12,
      lambda.Runtime.PYTHON_3_13,
      lambda.Runtime.NODEJS_20_X,
      lambda.Runtime.NODEJS_22_X,
    ],
    license: "Apache-2.0",
    description: "blackbox_exporter as a Lambda extension, with the lambda-blackbox handler (bootstrap)",
  });
}
