// The Node.js handler against the conformance tables in handler/conformance/, which the
// Rust and Python handlers' suites read too. Run with `node --test handler/node/test/`.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
for (const name of Object.keys(process.env)) if (name.startsWith("BLACKBOX_") && name !== "BLACKBOX_EXPORTER_BIN") delete process.env[name];
const proxy = await import("../index.mjs");

const table = (name) => JSON.parse(readFileSync(path.join(repo, "handler/conformance", name), "utf8"));
const baseEvent = JSON.parse(readFileSync(path.join(repo, "events/function-url.json"), "utf8"));

function forNode(cases) {
  const mine = cases.filter((c) => (c.only ?? ["node"]).includes("node"));
  assert.ok(mine.length > 0, "no case for the Node.js handler");
  return mine;
}

// ${c*N} is the character c N times.
const expand = (text) => text.replace(/\$\{(.)\*(\d+)\}/g, (_, c, n) => c.repeat(Number(n)));
const expanded = (mapping = {}) => Object.fromEntries(Object.entries(mapping).map(([k, v]) => [k, expand(v)]));

// The README's recipe: events/function-url.json with the case's request in it.
function event(request) {
  const e = structuredClone(baseEvent);
  e.rawPath = e.requestContext.http.path = request.path;
  e.requestContext.http.method = request.method ?? "GET";
  e.rawQueryString = expand(request.query);
  delete e.queryStringParameters;
  e.headers = { ...expanded(request.headers), host: baseEvent.headers.host };
  if (request.iam) {
    e.requestContext.authorizer = {
      iam: { accessKey: "AKIA", accountId: "123456789012", callerId: "AIDA", principalOrgId: null, userArn: "arn:aws:iam::123456789012:user/prom", userId: "AIDA" },
    };
  }
  return e;
}

const cleanups = [];
after(() => cleanups.forEach((c) => c()));

const listen = (server) => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${server.address().port}`)));

// A blackbox stand-in on loopback, as responses.json describes them: its address and
// what it saw.
async function standIn(kind) {
  const seen = [];
  let server;
  if (kind === "recorder") {
    server = http.createServer((request, response) => {
      seen.push({ method: request.method, url: request.url, headers: request.headers });
      response.writeHead(418, { "content-type": "text/x-recorded", "content-length": "8" });
      response.end(request.method === "HEAD" ? undefined : "recorded");
    });
  } else if (kind === "silent") {
    const sockets = [];
    server = net.createServer((socket) => sockets.push(socket));
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
  } else if (kind === "broken") {
    server = net.createServer((socket) => {
      socket.once("data", () => socket.end("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nprobe_"));
    });
  } else if (kind === "absent") {
    server = net.createServer();
    const address = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    return { address, seen };
  } else {
    throw new Error(`no stand-in ${kind}`);
  }
  const address = await listen(server);
  cleanups.push(() => server.close());
  return { address, seen };
}

describe("the conformance tables", () => {
  test("the gate refuses as gate.json says", async () => {
    const gate = table("gate.json");
    for (const c of forNode(gate.cases)) {
      const settings = proxy.readSettings({ ...gate.settings[c.settings] });
      const answer = await proxy.handle(settings, event(c.request), 30);
      const what = JSON.stringify(c.request).slice(0, 160);
      assert.deepEqual([answer.statusCode, answer.body], [c.status, `${c.reason}\n`], what);
      assert.equal(answer.headers["content-type"], "text/plain; charset=utf-8", what);
      for (const [name, value] of Object.entries(c.headers ?? {})) assert.equal(answer.headers[name], value, what);
    }
  });

  test("settings are refused and taken as settings.json says", () => {
    const settings = table("settings.json");
    for (const c of forNode(settings.invalid)) {
      let message;
      assert.throws(() => proxy.readSettings({ ...c.env }), (e) => {
        message = e.message;
        return e instanceof proxy.InvalidSetting;
      }, JSON.stringify(c.env));
      if (c.message !== undefined) assert.equal(message, c.message.replaceAll("{runtime}", "Node.js"));
      else assert.ok(message.startsWith(c.prefix.replaceAll("{runtime}", "Node.js")), message);
    }
    for (const c of forNode(settings.valid)) {
      assert.equal(proxy.readSettings({ ...c.env }).upstream, c.listen_address, JSON.stringify(c.env));
    }
  });

  test("the timeout is timeouts.json's", () => {
    for (const c of forNode(table("timeouts.json").cases)) {
      const got = proxy.upstreamTimeout(c.header ?? undefined, c.remaining);
      assert.ok(Math.abs(got - c.seconds) < 0.001, `${JSON.stringify(c)}: ${got}`);
    }
  });

  test("answers against a stand-in are responses.json's", async () => {
    for (const c of forNode(table("responses.json").cases)) {
      const { address, seen } = await standIn(c.upstream);
      const settings = proxy.readSettings({ ...c.env, BLACKBOX_LISTEN_ADDRESS: address });
      const answer = await proxy.handle(settings, event(c.request), c.remaining);
      const what = JSON.stringify(c.request);
      assert.equal(answer.statusCode, c.status, `${what}: ${answer.body}`);
      if (c.content_type !== undefined) assert.equal(answer.headers["content-type"], c.content_type, what);
      if (c.body !== undefined) assert.equal(answer.body, c.body, what);
      else assert.ok(answer.body.startsWith(c.body_prefix), answer.body);
      if (c.forwarded) {
        assert.equal(seen.length, 1, what);
        assert.deepEqual([seen[0].method, seen[0].url], [c.forwarded.method ?? "GET", c.forwarded.path]);
        for (const [name, value] of Object.entries(c.forwarded.headers)) assert.equal(seen[0].headers[name], value, name);
        const timeout = seen[0].headers["x-prometheus-scrape-timeout-seconds"];
        assert.match(timeout, /^\d+\.\d{3}$/);
        assert.ok(Math.abs(Number(timeout) - c.forwarded.timeout) < 0.01, timeout);
        for (const name of c.forwarded.dropped) assert.equal(seen[0].headers[name], undefined, name);
      }
    }
  });
});
