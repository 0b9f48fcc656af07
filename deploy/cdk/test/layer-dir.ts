// What the assertion tests share.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The first 20 bytes of an ELF executable for `architecture`: what the layer's check reads. */
export function elfHead(architecture: "arm64" | "x86_64"): Buffer {
  const head = Buffer.alloc(20);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(head);
  head.writeUInt16LE(2, 16);
  head.writeUInt16LE(architecture === "arm64" ? 183 : 62, 18);
  return head;
}

/** A layer directory laid out as the zip unpacks; of the contents only bootstrap's ELF
 * header matters here. */
export function layerDir(architecture: "arm64" | "x86_64" = "arm64"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdk-layer-"));
  for (const f of ["extensions/blackbox-extension", "bootstrap", "bin/blackbox_exporter", "blackbox/blackbox.yml"]) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), f === "bootstrap" ? elfHead(architecture) : f, { mode: 0o755 });
  }
  return dir;
}
