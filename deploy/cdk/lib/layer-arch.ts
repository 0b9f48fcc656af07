// The architecture of a layer zip or layer directory, read from its bootstrap's ELF header
// (e_machine: 62 x86_64, 183 aarch64), so that synth refuses a layer the function could
// not run instead of a deploy whose Init fails with "exec format error".
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";

export type LayerArchitecture = "x86_64" | "arm64";

const MACHINES: Record<number, LayerArchitecture> = { 62: "x86_64", 183: "arm64" };

/** The first bytes of `name` in the zip `data` (stored or deflated), or undefined. */
function zipEntryHead(data: Buffer, name: string): Buffer | undefined {
  // The end of central directory record: its signature within the last 64 KiB + 22 bytes.
  let end = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 65_557); i--) {
    if (data.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) return undefined;
  const entries = data.readUInt16LE(end + 10);
  let at = data.readUInt32LE(end + 16);
  for (let n = 0; n < entries && data.readUInt32LE(at) === 0x02014b50; n++) {
    const method = data.readUInt16LE(at + 10);
    const compressed = data.readUInt32LE(at + 20);
    const nameLength = data.readUInt16LE(at + 28);
    const extra = data.readUInt16LE(at + 30);
    const comment = data.readUInt16LE(at + 32);
    const local = data.readUInt32LE(at + 42);
    if (data.toString("utf8", at + 46, at + 46 + nameLength) === name) {
      const start = local + 30 + data.readUInt16LE(local + 26) + data.readUInt16LE(local + 28);
      const body = data.subarray(start, start + compressed);
      return method === 0 ? body : zlib.inflateRawSync(body);
    }
    at += 46 + nameLength + extra + comment;
  }
  return undefined;
}

/** The layer's architecture; throws naming the file when it cannot be read. */
export function layerArchitecture(layer: string): LayerArchitecture {
  const head = fs.statSync(layer).isDirectory()
    ? fs.readFileSync(path.join(layer, "bootstrap")).subarray(0, 20)
    : zipEntryHead(fs.readFileSync(layer), "bootstrap");
  const machine = head && head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46 ? head.readUInt16LE(18) : -1;
  const architecture = MACHINES[machine];
  if (architecture === undefined) {
    throw new Error(`${layer}: its bootstrap is not an x86_64 or arm64 executable`);
  }
  return architecture;
}
