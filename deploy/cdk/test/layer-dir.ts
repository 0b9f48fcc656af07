// What the assertion tests share.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** A layer directory laid out as the zip unpacks (the files' contents do not matter here). */
export function layerDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdk-layer-"));
  for (const f of ["extensions/blackbox-extension", "bootstrap", "bin/blackbox_exporter", "blackbox/blackbox.yml"]) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), f, { mode: 0o755 });
  }
  return dir;
}
