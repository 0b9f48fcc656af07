// The Node.js handler against a real blackbox_exporter (Debian's, or BLACKBOX_EXPORTER_BIN)
// with the layer's blackbox.yml: the event files of events/ get the same answers as from
// the Rust bootstrap. What all three handlers must do (the gate, settings, timeouts,
// failures) is in conformance.test.mjs, from the tables in handler/conformance/; this
// file keeps the port's own. Run with `node --test handler/node/test/`.

import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const TOKEN = "example-token-change-me";
const EVENTS = [
  ["function-url.json", "v2"],
  ["apigw-v2.json", "v2"],
  ["apigw-v1.json", "v1"],
  ["alb.json", "alb"],
];

// The module reads process.env when it loads (Lambda's Init): keep the test's own
// BLACKBOX_* variables out of it.
for (const name of Object.keys(process.env)) if (name.startsWith("BLACKBOX_") && name !== "BLACKBOX_EXPORTER_BIN") delete process.env[name];
const proxy = await import("../index.mjs");

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

function blackboxBinary() {
  if (process.env.BLACKBOX_EXPORTER_BIN) return process.env.BLACKBOX_EXPORTER_BIN;
  for (const name of ["blackbox_exporter", "prometheus-blackbox-exporter"]) {
    try {
      return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    } catch {
      // next
    }
  }
  // FAIL, not skip: this test is about a real blackbox.
  throw new Error("no blackbox_exporter: apt-get install prometheus-blackbox-exporter, or set BLACKBOX_EXPORTER_BIN");
}

async function waitForHealthy(port, child) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`blackbox_exporter exited with ${child.exitCode}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/-/healthy`);
      if (response.ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("blackbox_exporter did not become healthy in 10 s");
}

function metric(body, name) {
  const line = body.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

function loadEvent(name, target) {
  const text = readFileSync(path.join(repo, "events", name), "utf8");
  assert.ok(text.includes("example.com"), `events/${name} no longer probes example.com`);
  return JSON.parse(text.replaceAll("example.com", target));
}

function withoutAuthorization(event) {
  for (const key of ["headers", "multiValueHeaders"]) {
    for (const name of Object.keys(event[key] ?? {})) if (name.toLowerCase() === "authorization") delete event[key][name];
  }
  return event;
}

function contentType(answer) {
  const find = (map) => Object.entries(map ?? {}).find(([k]) => k.toLowerCase() === "content-type")?.[1];
  return find(answer.headers) ?? find(answer.multiValueHeaders)?.[0] ?? "";
}

function header(answer, name) {
  return Object.entries(answer.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
}

function assertShape(answer, kind, name) {
  if (kind === "v1") {
    assert.ok(answer.multiValueHeaders?.["content-type"], `${name}: API Gateway v1 answers carry multiValueHeaders`);
  } else if (kind === "alb") {
    assert.match(answer.statusDescription ?? "", new RegExp(`^${answer.statusCode} `), `${name}: an ALB needs statusDescription`);
  } else {
    assert.ok(answer.headers?.["content-type"], `${name}: payload 2.0 answers carry headers`);
  }
}

const context = (remainingMs = 30_000) => ({ getRemainingTimeInMillis: () => remainingMs });

let blackbox;
let blackboxPort;
let target;
let targetPort;
const seen = [];
let settings;
const cleanups = [];

before(async () => {
  blackboxPort = await freePort();
  blackbox = spawn(
    blackboxBinary(),
    [`--config.file=${path.join(repo, "layer/blackbox/blackbox.yml")}`, `--web.listen-address=127.0.0.1:${blackboxPort}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  blackbox.stderr.on("data", (d) => (stderr += d));
  try {
    await waitForHealthy(blackboxPort, blackbox);
  } catch (e) {
    throw new Error(`${e.message}\n${stderr}`);
  }
  target = http.createServer((request, response) => {
    if (request.url === "/slow") {
      setTimeout(() => response.end("late"), 5000).unref();
      return;
    }
    seen.push(request.url);
    response.end("ok");
  });
  targetPort = await listen(target);
  settings = proxy.readSettings({ BLACKBOX_LISTEN_ADDRESS: `127.0.0.1:${blackboxPort}`, BLACKBOX_AUTH_TOKEN: TOKEN });
});

after(() => {
  blackbox?.kill("SIGTERM");
  target?.closeAllConnections?.();
  target?.close();
  for (const cleanup of cleanups) cleanup();
});

describe("the connect guard", () => {
  test("must be on before a probe runs under a target policy", () => {
    const upstream = "127.0.0.1:9391";
    const file = proxy.guardStatusFile(upstream);
    const read = (status) => (p) => {
      assert.equal(p, file);
      if (status === null) throw Object.assign(new Error("missing"), { code: "ENOENT" });
      return status;
    };
    const free = proxy.readSettings({ BLACKBOX_LISTEN_ADDRESS: upstream });
    assert.equal(proxy.guardRefusal(free, read(null)), null);
    const policy = () =>
      proxy.readSettings({ BLACKBOX_LISTEN_ADDRESS: upstream, BLACKBOX_ALLOWED_TARGETS: "example.com", BLACKBOX_DENY_PRIVATE: "yes" });
    assert.equal(
      proxy.guardRefusal(policy(), read(null)),
      "BLACKBOX_ALLOWED_TARGETS and BLACKBOX_DENY_PRIVATE is set but the connect guard is unknown: " +
        "the extension has not said; this Node.js handler checks no target itself: set " +
        "BLACKBOX_CONNECT_GUARD=required to learn why at Init, or use the layer's Rust bootstrap",
    );
    assert.match(proxy.guardRefusal(policy(), read("off (seccomp: EPERM)\n")), /the connect guard is off \(seccomp: EPERM\)/);
    const on = policy();
    assert.equal(proxy.guardRefusal(on, read("on\n")), null);
    assert.equal(proxy.guardRefusal(on, read(null)), null, "once on, on for the environment's life");
  });
});

describe("the event files", () => {
  test("get a probe answer in their source's shape, and 401 without the token", async () => {
    for (const [name, kind] of EVENTS) {
      seen.length = 0;
      const answer = await proxy.handle(settings, loadEvent(name, `127.0.0.1:${targetPort}`), 30);
      assert.equal(answer.statusCode, 200, `${name}: ${answer.body}`);
      assert.match(contentType(answer), /^text\/plain/, name);
      assert.equal(metric(answer.body, "probe_success"), 1, `${name}: ${answer.body}`);
      assert.equal(answer.isBase64Encoded, false);
      assertShape(answer, kind, name);
      assert.deepEqual(seen, ["/"], `${name}: the target was probed once, at the path the event names`);

      const refused = await proxy.handle(settings, withoutAuthorization(loadEvent(name, `127.0.0.1:${targetPort}`)), 30);
      assert.equal(refused.statusCode, 401, name);
      assert.equal(refused.body, "an Authorization: Bearer token is required\n", name);
      assert.match(contentType(refused), /^text\/plain/, name);
      assertShape(refused, kind, name);
    }
  });

  test("report a dead target as probe_success 0", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    for (const [name] of EVENTS) {
      const answer = await proxy.handle(settings, loadEvent(name, dead), 30);
      assert.equal(answer.statusCode, 200, name);
      assert.equal(metric(answer.body, "probe_success"), 0, `${name}: ${answer.body}`);
    }
  });

  test("work through the exported Lambda handler too", async () => {
    const handler = proxy.createHandler({ BLACKBOX_LISTEN_ADDRESS: `127.0.0.1:${blackboxPort}`, BLACKBOX_AUTH_TOKEN: TOKEN });
    const answer = await handler(loadEvent("function-url.json", `127.0.0.1:${targetPort}`), context());
    assert.equal(metric(answer.body, "probe_success"), 1, answer.body);
  });
});

describe("the gate", () => {
  test("never shows the token in its settings", () => {
    assert.ok(!JSON.stringify(settings).includes(TOKEN));
  });
});

describe("the proxy", () => {
  test("re-encodes the parsed parameters of API Gateway v1 and ALB", async () => {
    const requests = [];
    const recorder = http.createServer((request, response) => {
      requests.push({ url: request.url, headers: request.headers });
      response.writeHead(418, { "content-type": "text/x-recorded" });
      response.end("recorded");
    });
    const port = await listen(recorder);
    cleanups.push(() => recorder.close());
    const s = proxy.readSettings({ BLACKBOX_LISTEN_ADDRESS: `127.0.0.1:${port}` });
    // API Gateway v1 and ALB deliver parsed parameters: re-encoded (ALB's still encoded).
    await proxy.handle(s, { httpMethod: "GET", path: "/probe", multiValueQueryStringParameters: { target: ["https://example.com/?a=1&b= "], module: ["http_2xx"] }, requestContext: {} }, 30);
    await proxy.handle(s, { httpMethod: "GET", path: "/probe", queryStringParameters: { target: "https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D+", module: "http_2xx" }, requestContext: { elb: {} } }, 30);
    const want = "/probe?target=https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D+&module=http_2xx";
    assert.deepEqual(requests.map((r) => r.url), [want, want]);
    for (const r of requests) assert.equal(r.headers["x-prometheus-scrape-timeout-seconds"], "29.900");
  });

  test("bounds the probe by the scrape timeout and by the invocation's remaining time", async () => {
    const slow = (headers) => ({
      version: "2.0",
      rawPath: "/probe",
      rawQueryString: `target=http://127.0.0.1:${targetPort}/slow&module=http_2xx`,
      headers: { authorization: `Bearer ${TOKEN}`, ...headers },
      requestContext: { http: { method: "GET" } },
    });
    for (const [headers, remaining] of [[{ "x-prometheus-scrape-timeout-seconds": "1.5" }, 30], [{ "x-prometheus-scrape-timeout-seconds": "10" }, 1.3]]) {
      const started = performance.now();
      const answer = await proxy.handle(settings, slow(headers), remaining);
      const elapsed = performance.now() - started;
      assert.equal(answer.statusCode, 200, answer.body);
      assert.equal(metric(answer.body, "probe_success"), 0, answer.body);
      assert.ok(elapsed < 2500, `${elapsed} ms`);
    }
  });

  test("502 after waiting for a blackbox that the running extension does not bring back; 503 at once without the extension", async () => {
    const deadPort = await freePort();
    const s = proxy.readSettings({ BLACKBOX_LISTEN_ADDRESS: `127.0.0.1:${deadPort}` });
    const event = (timeout) => ({ version: "2.0", rawPath: "/probe", rawQueryString: "target=x", headers: { "x-prometheus-scrape-timeout-seconds": timeout }, requestContext: { http: { method: "GET" } } });

    let started = performance.now();
    let answer = await proxy.handle(s, event("5"), 30);
    assert.equal(answer.statusCode, 503, answer.body);
    assert.match(answer.body, /^the blackbox extension is not running/);
    assert.ok(performance.now() - started < 500, "no wait for a blackbox nobody will restart");

    // An extension that is alive (a process whose name is the extension's) but whose
    // blackbox stays down.
    const dir = mkdtempSync(path.join(tmpdir(), "node-handler-"));
    const fake = path.join(dir, "blackbox-extension");
    copyFileSync(execFileSync("sh", ["-c", "command -v sleep"], { encoding: "utf8" }).trim(), fake);
    const extension = spawn(fake, ["30"], { stdio: "ignore" });
    const pidFile = proxy.extensionPidFile(s.upstream);
    mkdirSync(path.dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${extension.pid}\n`);
    cleanups.push(() => {
      extension.kill("SIGKILL");
      rmSync(pidFile, { force: true });
      rmSync(dir, { recursive: true, force: true });
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(proxy.extensionPid(s), extension.pid);

    started = performance.now();
    answer = await proxy.handle(s, event("10"), 30);
    const waited = performance.now() - started;
    assert.equal(answer.statusCode, 502, answer.body);
    assert.match(answer.body, new RegExp(`^blackbox_exporter is not reachable at 127\\.0\\.0\\.1:${deadPort} after 2\\d\\d\\d ms: connection refused`));
    assert.ok(waited >= 1950 && waited < 3000, `${waited} ms`);
  });

  test("a connection reset at once is sent again, not a 502", async () => {
    // What a blackbox killed while the environment ran leaves: its listener accepted the
    // connection, then the kernel reset it. The next connection reaches the new blackbox.
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      if (connections === 1) {
        socket.resetAndDestroy();
        return;
      }
      socket.once("data", () =>
        socket.end("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 16\r\n\r\nprobe_success 1\n"),
      );
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => server.close());
    const s = proxy.readSettings({ BLACKBOX_LISTEN_ADDRESS: `127.0.0.1:${server.address().port}` });
    const answer = await proxy.handle(
      s,
      { version: "2.0", rawPath: "/probe", rawQueryString: "target=x", headers: {}, requestContext: { http: { method: "GET" } } },
      30,
    );
    assert.equal(answer.statusCode, 200, answer.body);
    assert.equal(answer.body, "probe_success 1\n");
    assert.equal(connections, 2);
  });

  test("reads the query as Go does", () => {
    assert.deepEqual(proxy.queryParams("target=a%2Fb+c&bad=%zz&semi=1;2&&module=x&target=second&flag"), [
      ["target", "a/b c"],
      ["module", "x"],
      ["target", "second"],
      ["flag", ""],
    ]);
  });
});
