// The Node.js handler against contract/contract.json, the table of what the extension and
// the three handlers agree on, which the Rust and Python suites read too.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
for (const name of Object.keys(process.env)) if (name.startsWith("BLACKBOX_") && name !== "BLACKBOX_EXPORTER_BIN") delete process.env[name];
const proxy = await import("../index.mjs");

const contract = JSON.parse(readFileSync(path.join(repo, "contract/contract.json"), "utf8"));

function cases(section, key) {
  assert.ok(section[key].length > 0, `no ${key} cases`);
  return section[key];
}

describe("the contract table", () => {
  test("the replacement channel is the table's", () => {
    assert.equal(proxy.EXTENSION_COMM, contract.extension_comm);
    assert.equal(proxy.REPLACE_SIGNAL, contract.replace_signal);
  });

  test("the scrape timeout header is the table's", () => {
    assert.equal(proxy.SCRAPE_TIMEOUT_HEADER, contract.scrape_timeout_header);
  });

  test("listen addresses are accepted and refused as the table says", () => {
    assert.equal(proxy.DEFAULT_LISTEN_ADDRESS, contract.default_listen_address);
    const rules = contract.listen_address;
    for (const c of cases(rules, "accepted")) {
      assert.equal(proxy.listenAddress(c.value), c.address, JSON.stringify(c.value));
    }
    for (const c of cases(rules, "refused")) {
      assert.throws(() => proxy.listenAddress(c.value), (e) => e instanceof proxy.InvalidSetting && e.message === c.message,
        `${JSON.stringify(c.value)}: not refused with ${c.message}`);
    }
  });

  test("the variables are the table's", () => {
    const names = contract.variables;
    const settings = proxy.readSettings({
      [names.listen_address]: "127.0.0.1:9393",
      [names.allowed_targets]: "example.com",
      [names.deny_private]: "true",
    });
    assert.equal(settings.upstream, "127.0.0.1:9393");
    assert.deepEqual(settings.policy, [names.allowed_targets, names.deny_private]);
    const missing = () => {
      throw Object.assign(new Error("missing"), { code: "ENOENT" });
    };
    assert.match(proxy.guardRefusal(settings, missing), new RegExp(`set ${names.connect_guard}=required`));
  });

  test("the extension's files are where the table says", () => {
    const files = contract.extension_files;
    for (const c of cases(files, "cases")) {
      assert.equal(proxy.extensionPidFile(c.listen_address), c.pid);
      assert.equal(proxy.guardStatusFile(c.listen_address), c.guard);
    }
    const settings = proxy.readSettings({ BLACKBOX_LISTEN_ADDRESS: "127.0.0.1:9392", BLACKBOX_DENY_PRIVATE: "true" });
    assert.equal(proxy.guardRefusal(settings, () => `${files.guard_on}\n`), null, "the guard is on when the file says so");
  });
});
