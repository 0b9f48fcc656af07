// lambda-blackbox's handler for a Node.js function (no dependencies).
//
// Attach the lambda-blackbox layer to a Node.js function, ship this file in the function
// package and set the handler to `index.handler`. The layer's extension runs
// blackbox_exporter on loopback; this handler proxies Function URL, API Gateway (v1 and
// v2) and ALB requests to it the way the layer's Rust `bootstrap` does:
//
// - the path and the raw query string reach blackbox untouched (API Gateway v1 and ALB
//   deliver the query already parsed: it is re-encoded from the parameters);
// - `X-Prometheus-Scrape-Timeout-Seconds` is sent as the smaller of the header and what is
//   left of the invocation, so blackbox ends the probe in time;
// - `Accept` and `User-Agent` are forwarded, nothing else (no Authorization, no cookies);
// - blackbox's status, `Content-Type` and body come back unchanged;
// - 504 when blackbox does not answer in time, 502 when it cannot be reached for 2 s or
//   its answer breaks off, 503 when the extension is gone, each with a one-line reason.
//
// The same gate as the Rust handler (the cases all three pass are in handler/conformance/):
// `BLACKBOX_AUTH_TOKEN` (or `_FILE`) bearer token
// compared in constant time (401), `BLACKBOX_AUTH_TRUST_IAM`, GET and HEAD only (405),
// `/probe` only unless `BLACKBOX_EXPOSE_METRICS` (404), header and query size limits
// (400, 414), `debug=true` only with `BLACKBOX_ALLOW_DEBUG` (403).
//
// The target policy (`BLACKBOX_ALLOWED_TARGETS`, `BLACKBOX_DENY_PRIVATE`, the default deny
// list) is not read here: the extension's connect guard enforces it where blackbox
// connects, for every runtime, and a refused target's probe ends `probe_success 0` (the
// extension's log says which address and rule). When the guard is off (the Init log says
// `connect guard: off (...)`) and a policy is set, probes are answered 503 rather than run
// unchecked. Only the Rust bootstrap answers a refused target early with a 403 and a reason.

import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import http, { STATUS_CODES } from "node:http";
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { getSystemErrorMap } from "node:util";

export const SCRAPE_TIMEOUT_HEADER = "x-prometheus-scrape-timeout-seconds";
const FORWARDED_HEADERS = ["accept", "user-agent"];
export const DEFAULT_LISTEN_ADDRESS = "127.0.0.1:9115";
const DEADLINE_MARGIN_S = 0.1;
const FALLBACK_TIMEOUT_S = 30;
export const UPSTREAM_WAIT_S = 2;
const UPSTREAM_RETRY_INTERVAL_MS = 5;
// A connection a dying blackbox accepted is reset at once, before any probe started: the
// request goes again on a new connection (at most RESENDS times), as the Rust handler does.
// A reset later than this is a blackbox that died during the probe: a 502.
const IMMEDIATE_RESET_MS = 50;
const RESENDS = 4;
const MAX_QUERY_BYTES = 8 * 1024;
const MAX_HEADER_VALUE_BYTES = 8 * 1024;
const MAX_HEADERS_BYTES = 32 * 1024;
export const EXTENSION_COMM = "blackbox-extens";
export const REPLACE_SIGNAL = "SIGUSR1";

/** A BLACKBOX_* variable this handler cannot honour; the message names it. */
export class InvalidSetting extends Error {
  constructor(message) {
    super(message);
    this.name = "InvalidSetting";
  }
}

/**
 * `BLACKBOX_LISTEN_ADDRESS` under the rules the extension starts blackbox with: a loopback
 * `host:port` (blackbox serves anyone who reaches it, /config included).
 */
export function listenAddress(value) {
  const address = (value ?? "").trim() || DEFAULT_LISTEN_ADDRESS;
  const quoted = JSON.stringify(address);
  const invalid = (why) => new InvalidSetting(`BLACKBOX_LISTEN_ADDRESS: ${quoted} is not a host:port address (${why})`);
  const colon = address.lastIndexOf(":");
  if (colon < 0) throw invalid("no port");
  const host = address.slice(0, colon);
  const port = address.slice(colon + 1);
  if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw invalid("the port must be a number from 1 to 65535");
  }
  // An IPv6 address only in brackets, as blackbox (Go's net.SplitHostPort) reads it.
  let bare = null;
  if (host.startsWith("[")) bare = host.endsWith("]") ? host.slice(1, -1) : null;
  else if (!host.includes(":")) bare = host;
  if (bare === null || /[[\]\s]/.test(bare)) throw invalid("the host is malformed");
  if (!(bare === "localhost" || isLoopbackIp(bare))) {
    throw new InvalidSetting(
      `BLACKBOX_LISTEN_ADDRESS: ${quoted} is not a loopback address: blackbox must listen on 127.0.0.0/8, [::1] or localhost`,
    );
  }
  return address;
}

// Only ::1 for IPv6: an IPv4-mapped 127.x is not loopback to the extension either (a
// BlockList with an IPv4 rule would match it).
const LOOPBACK_V4 = new BlockList();
LOOPBACK_V4.addSubnet("127.0.0.0", 8, "ipv4");
const LOOPBACK_V6 = new BlockList();
LOOPBACK_V6.addAddress("::1", "ipv6");

function isLoopbackIp(text) {
  if (isIPv4(text)) return LOOPBACK_V4.check(text, "ipv4");
  // A zone (`::1%lo`) is no address the extension's parser takes.
  if (isIPv6(text)) return !text.includes("%") && LOOPBACK_V6.check(text, "ipv6");
  return false;
}

/** An errno as the C library words it ("No such file or directory"), as Rust and Python print it. */
function osReason(e) {
  const words = e.errno === undefined ? undefined : getSystemErrorMap().get(e.errno)?.[1];
  return words ? words[0].toUpperCase() + words.slice(1) : e.message;
}

function extensionFile(authority, extension) {
  return `/tmp/lambda-blackbox/extension-${authority.replace(/[^A-Za-z0-9]/g, "_")}.${extension}`;
}

export function extensionPidFile(authority) {
  return extensionFile(authority, "pid");
}

/** Where the extension says whether its connect guard is on: "on" or "off (<cause>)". */
export function guardStatusFile(authority) {
  return extensionFile(authority, "guard");
}

function flag(env, name) {
  const value = (env[name] ?? "").trim().toLowerCase();
  if (["", "false", "0", "no"].includes(value)) return false;
  if (["true", "1", "yes"].includes(value)) return true;
  throw new InvalidSetting(`${name}: ${JSON.stringify(value)} is not true or false`);
}

function validateToken(token, name) {
  if (!token) throw new InvalidSetting(`${name}: the token is empty`);
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidSetting(
      `${name}: the token must be printable ASCII without spaces (it travels in an HTTP header)`,
    );
  }
  return Buffer.from(token, "ascii");
}

/** The handler's settings, read once from the environment and validated. */
export function readSettings(env = process.env, readFile = (p) => readFileSync(p, "utf8")) {
  // The policy the connect guard must be on to enforce (the extension validates it).
  const policy = (env.BLACKBOX_ALLOWED_TARGETS ?? "").trim() ? ["BLACKBOX_ALLOWED_TARGETS"] : [];
  if (flag(env, "BLACKBOX_DENY_PRIVATE")) policy.push("BLACKBOX_DENY_PRIVATE");
  const token = (env.BLACKBOX_AUTH_TOKEN ?? "").trim();
  const tokenFile = (env.BLACKBOX_AUTH_TOKEN_FILE ?? "").trim();
  let authToken = null;
  if (token && tokenFile) {
    throw new InvalidSetting(
      "BLACKBOX_AUTH_TOKEN_FILE: set either BLACKBOX_AUTH_TOKEN or BLACKBOX_AUTH_TOKEN_FILE, not both",
    );
  } else if (token) {
    authToken = validateToken(token, "BLACKBOX_AUTH_TOKEN");
  } else if (tokenFile) {
    let text;
    try {
      text = readFile(tokenFile);
    } catch (e) {
      throw new InvalidSetting(`BLACKBOX_AUTH_TOKEN_FILE: cannot read ${tokenFile}: ${osReason(e)}`);
    }
    authToken = validateToken(text.trim(), "BLACKBOX_AUTH_TOKEN_FILE");
  }
  const settings = {
    upstream: listenAddress(env.BLACKBOX_LISTEN_ADDRESS),
    trustIam: flag(env, "BLACKBOX_AUTH_TRUST_IAM"),
    exposeMetrics: flag(env, "BLACKBOX_EXPOSE_METRICS"),
    allowDebug: flag(env, "BLACKBOX_ALLOW_DEBUG"),
    policy,
    guardOn: false,
  };
  // Not enumerable: a settings object printed or logged never shows the token.
  Object.defineProperty(settings, "authToken", { value: authToken, enumerable: false });
  return settings;
}

// --- events ----------------------------------------------------------------------------

/** application/x-www-form-urlencoded, as the Rust handler re-encodes parsed parameters. */
function encodeParams(pairs) {
  return new URLSearchParams(pairs).toString();
}

function formDecode(s) {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

function parsedQuery(event, decode) {
  const multi = event.multiValueQueryStringParameters ?? {};
  const single = event.queryStringParameters ?? {};
  let pairs = [];
  if (Object.keys(multi).length > 0) {
    for (const [k, values] of Object.entries(multi)) for (const v of values ?? []) pairs.push([k, v]);
  } else {
    pairs = Object.entries(single);
  }
  // An ALB passes the parameters as they were sent, still percent-encoded.
  if (decode) pairs = pairs.map(([k, v]) => [formDecode(k), formDecode(v)]);
  return pairs.length > 0 ? encodeParams(pairs) : null;
}

function lowerHeaders(event) {
  const headers = {};
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (values?.length) headers[name.toLowerCase()] = values[values.length - 1];
  }
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value != null) headers[name.toLowerCase()] = value;
  }
  return headers;
}

/** What the handler needs of an event, whatever its source. */
export function parseEvent(event) {
  const context = event.requestContext ?? {};
  if (event.version === "2.0" || context.http) {
    const httpContext = context.http ?? {};
    return {
      kind: "v2", // Function URL, API Gateway v2
      method: (httpContext.method ?? "GET").toUpperCase(),
      path: event.rawPath || httpContext.path || "/",
      query: event.rawQueryString || null,
      headers: lowerHeaders(event),
      iamAuthenticated: Boolean(context.authorizer?.iam),
    };
  }
  const kind = context.elb ? "alb" : "v1";
  return {
    kind,
    method: (event.httpMethod ?? "GET").toUpperCase(),
    path: event.path || "/",
    query: parsedQuery(event, kind === "alb"),
    headers: lowerHeaders(event),
    iamAuthenticated: false,
  };
}

/** The answer in the shape the event's source expects (the Rust runtime's shapes). */
function shaped(kind, status, headers, body, isBase64Encoded) {
  const answer = { statusCode: status, body, isBase64Encoded };
  const multi = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
  if (kind === "v1") {
    answer.headers = {};
    answer.multiValueHeaders = multi;
  } else if (kind === "alb") {
    answer.statusDescription = `${status} ${STATUS_CODES[status] ?? ""}`;
    answer.headers = { ...headers };
    answer.multiValueHeaders = multi;
  } else {
    answer.headers = { ...headers };
    answer.cookies = [];
  }
  return answer;
}

function bodyResponse(kind, status, contentType, bytes) {
  const headers = contentType ? { "content-type": contentType } : {};
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    return shaped(kind, status, headers, text.decode(bytes), false);
  } catch {
    return shaped(kind, status, headers, bytes.toString("base64"), true);
  }
}

function textResponse(kind, status, reason, extraHeaders = {}) {
  return shaped(kind, status, { "content-type": "text/plain; charset=utf-8", ...extraHeaders }, `${reason}\n`, false);
}

// --- the gate --------------------------------------------------------------------------

class Refusal extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

function bearerToken(value) {
  const trimmed = value.trim();
  const space = trimmed.indexOf(" ");
  if (space < 0 || trimmed.slice(0, space).toLowerCase() !== "bearer") return null;
  return trimmed.slice(space + 1).trim();
}

function printable(s) {
  const chars = [...s];
  const out = chars
    .slice(0, 200)
    .map((c) => (/[\u0000-\u001f\u007f-\u009f]/.test(c) ? "?" : c))
    .join("");
  return chars.length > 200 ? `${out}…` : out;
}

function goUnescape(s) {
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return null;
  const bytes = [];
  const raw = Buffer.from(s.replace(/\+/g, " "), "utf8");
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x25) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 3).toString("ascii"), 16));
      i += 2;
    } else {
      bytes.push(raw[i]);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The query as blackbox's Go code reads it: pairs split on '&', a pair holding ';' or
 * a malformed escape dropped, '+' read as a space. */
export function queryParams(query) {
  const params = [];
  for (const pair of query.split("&")) {
    if (!pair || pair.includes(";")) continue;
    const eq = pair.indexOf("=");
    const [k, v] = eq < 0 ? [pair, ""] : [pair.slice(0, eq), pair.slice(eq + 1)];
    const key = goUnescape(k);
    const value = goUnescape(v);
    if (key !== null && value !== null) params.push([key, value]);
  }
  return params;
}

/** The Rust handler's gate, less the target policy; throws a Refusal. */
export function admit(settings, request) {
  const { headers } = request;
  if (settings.authToken && !(settings.trustIam && request.iamAuthenticated)) {
    const presented = bearerToken(headers.authorization ?? "");
    if (presented === null) throw new Refusal(401, "an Authorization: Bearer token is required");
    const given = Buffer.from(presented, "utf8");
    const expected = settings.authToken;
    // Constant time for equal lengths; a length mismatch compares against itself so the
    // time still does not depend on where the token differs.
    const same = given.length === expected.length && timingSafeEqual(given, expected);
    if (given.length !== expected.length) timingSafeEqual(expected, expected);
    if (!same) throw new Refusal(401, "the bearer token is wrong");
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    throw new Refusal(405, `method ${printable(request.method)} is not allowed: use GET or HEAD`);
  }
  let total = 0;
  let tooLong = false;
  for (const [k, v] of Object.entries(headers)) {
    const length = Buffer.byteLength(String(v));
    total += Buffer.byteLength(k) + length;
    if (length > MAX_HEADER_VALUE_BYTES) tooLong = true;
  }
  if (tooLong || total > MAX_HEADERS_BYTES) {
    throw new Refusal(
      400,
      `the request headers are too large (at most ${MAX_HEADER_VALUE_BYTES} bytes a header, ${MAX_HEADERS_BYTES} in all)`,
    );
  }
  const query = request.query ?? "";
  if (Buffer.byteLength(query) > MAX_QUERY_BYTES) {
    throw new Refusal(414, `the query string is over ${MAX_QUERY_BYTES} bytes`);
  }
  const { path } = request;
  if (path === "/metrics" || path === "/-/healthy") {
    if (settings.exposeMetrics) return;
    throw new Refusal(404, `${path} is not served; set BLACKBOX_EXPOSE_METRICS=true to serve it`);
  }
  if (path !== "/probe") {
    throw new Refusal(404, `${printable(path)} is not served: lambda-blackbox serves /probe`);
  }
  const debug = queryParams(query).find(([k]) => k === "debug");
  if (debug?.[1] === "true" && !settings.allowDebug) {
    throw new Refusal(
      403,
      "debug=true is refused (its output shows the module configuration); set BLACKBOX_ALLOW_DEBUG=true to allow it",
    );
  }
}

// --- the proxy -------------------------------------------------------------------------

class ProxyError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

/** The scrape timeout Prometheus sent, cut to what is left of the invocation (seconds). */
export function upstreamTimeout(scrapeTimeout, remainingS) {
  const left = remainingS == null ? FALLBACK_TIMEOUT_S : Math.max(0, remainingS - DEADLINE_MARGIN_S);
  const text = (scrapeTimeout ?? "").trim();
  const scrape = /^[+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? Number(text) : NaN;
  // Under a millisecond is no scrape timeout, as for the Rust handler.
  return Number.isFinite(scrape) && scrape >= 0.001 ? Math.min(scrape, left) : left;
}

function splitAuthority(authority) {
  const colon = authority.lastIndexOf(":");
  return { host: authority.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(authority.slice(colon + 1)) };
}

/** The extension's pid if it is running (a recycled pid must not get our signal). */
export function extensionPid(settings) {
  try {
    const pid = Number.parseInt(readFileSync(extensionPidFile(settings.upstream), "utf8").trim(), 10);
    if (!Number.isInteger(pid) || pid <= 0) return null;
    const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 1).trim()[0];
    return comm === EXTENSION_COMM && state !== "Z" ? pid : null;
  } catch {
    return null;
  }
}

/** blackbox took the whole timeout: it is hung. The extension replaces it on SIGUSR1. */
function askForReplacement(settings) {
  const pid = extensionPid(settings);
  if (pid === null) {
    console.warn("the blackbox extension is not running; blackbox_exporter cannot be replaced");
    return;
  }
  try {
    process.kill(pid, REPLACE_SIGNAL);
  } catch (e) {
    console.warn(`could not ask the extension to replace blackbox_exporter: ${e.message}`);
  }
}

function attempt(settings, method, pathAndQuery, headers, leftMs) {
  const { host, port } = splitAuthority(settings.upstream);
  return new Promise((resolve, reject) => {
    let connected = false;
    let answered = false;
    const sent = performance.now();
    const request = http.request(
      { host, port, method, path: pathAndQuery, headers, agent: false, setHost: true },
      (response) => {
        answered = true;
        const chunks = [];
        response.on("data", (c) => chunks.push(c));
        response.on("end", () => {
          if (!response.complete) {
            reject({ kind: "broken", message: "the connection closed before the answer ended" });
          } else {
            resolve({ status: response.statusCode, contentType: response.headers["content-type"], body: Buffer.concat(chunks) });
          }
        });
        response.on("error", (e) => reject({ kind: "broken", message: e.message }));
        response.on("aborted", () => reject({ kind: "broken", message: "the connection closed before the answer ended" }));
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      reject({ kind: "timeout" });
    }, leftMs);
    request.on("socket", (socket) => socket.on("connect", () => (connected = true)));
    request.on("error", (e) => {
      clearTimeout(timer);
      // A reset can come before this side saw its own connect event: "refused" is
      // ECONNREFUSED, a reset before any answer is a connection the old blackbox accepted.
      const resetAtOnce =
        !answered && ["ECONNRESET", "EPIPE"].includes(e.code) && performance.now() - sent < IMMEDIATE_RESET_MS;
      const refused = !connected && ["ECONNREFUSED", "ECONNRESET", "ENETUNREACH"].includes(e.code);
      const kind = resetAtOnce ? "reset" : refused ? "connect" : "broken";
      reject({ kind, message: e.code === "ECONNREFUSED" ? `connection refused (${e.code})` : e.message });
    });
    request.on("close", () => clearTimeout(timer));
    request.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One request to blackbox; resolves to {status, contentType, body} or throws a ProxyError. */
export async function forward(settings, method, pathAndQuery, headers, timeoutS) {
  const started = performance.now();
  const upstreamHeaders = {};
  for (const name of FORWARDED_HEADERS) if (headers[name] !== undefined) upstreamHeaders[name] = headers[name];
  upstreamHeaders[SCRAPE_TIMEOUT_HEADER] = timeoutS.toFixed(3);
  const timedOut = () =>
    new ProxyError(
      504,
      `blackbox_exporter did not answer within ${timeoutS.toFixed(3)} s (the scrape timeout or the invocation deadline)`,
    );
  let resent = 0;
  for (;;) {
    const elapsedMs = performance.now() - started;
    const leftMs = timeoutS * 1000 - elapsedMs;
    if (leftMs <= 0) throw timedOut();
    try {
      return await attempt(settings, method, pathAndQuery, upstreamHeaders, leftMs);
    } catch (e) {
      if (e.kind === "timeout") throw timedOut();
      if (e.kind === "reset" && resent < RESENDS) {
        console.info(`resending on another connection: ${e.message}`);
        resent += 1;
        continue;
      }
      if (e.kind === "broken" || e.kind === "reset") throw new ProxyError(502, `blackbox_exporter's answer broke off: ${e.message}`);
      if (extensionPid(settings) === null) {
        throw new ProxyError(
          503,
          "the blackbox extension is not running, so blackbox_exporter is not either; Lambda replaces this environment after the extension's failure",
        );
      }
      const waitedMs = performance.now() - started;
      if (waitedMs < Math.min(UPSTREAM_WAIT_S, timeoutS) * 1000) {
        await sleep(UPSTREAM_RETRY_INTERVAL_MS);
        continue;
      }
      throw new ProxyError(
        502,
        `blackbox_exporter is not reachable at ${settings.upstream} after ${Math.floor(waitedMs)} ms: ${e.message}`,
      );
    }
  }
}

/** Why a probe must not run: a target policy is set and the connect guard, which enforces
 * it, is not on. null when the probe may run. */
export function guardRefusal(settings, readFile = (p) => readFileSync(p, "utf8")) {
  if (settings.policy.length === 0 || settings.guardOn) return null;
  let status;
  try {
    status = readFile(guardStatusFile(settings.upstream)).trim();
  } catch {
    status = "unknown: the extension has not said";
  }
  if (status === "on") {
    settings.guardOn = true;
    return null;
  }
  return (
    `${settings.policy.join(" and ")} is set but the connect guard is ${status}; this Node.js ` +
    "handler checks no target itself: set BLACKBOX_CONNECT_GUARD=required to learn why at Init, " +
    "or use the layer's Rust bootstrap"
  );
}

/** The whole handler for given settings; `remainingS` is what is left of the invocation. */
export async function handle(settings, event, remainingS) {
  const request = parseEvent(event);
  try {
    admit(settings, request);
  } catch (refusal) {
    if (!(refusal instanceof Refusal)) throw refusal;
    console.info(`refused (${refusal.status}): ${refusal.message}`);
    const extra =
      refusal.status === 401
        ? { "www-authenticate": 'Bearer realm="lambda-blackbox"' }
        : refusal.status === 405
          ? { allow: "GET, HEAD" }
          : {};
    return textResponse(request.kind, refusal.status, refusal.message, extra);
  }
  const unguarded = request.path === "/probe" ? guardRefusal(settings) : null;
  if (unguarded !== null) {
    console.warn(`503: ${unguarded}`);
    return textResponse(request.kind, 503, unguarded);
  }
  const timeoutS = upstreamTimeout(request.headers[SCRAPE_TIMEOUT_HEADER], remainingS);
  const pathAndQuery = request.query ? `${request.path}?${request.query}` : request.path;
  try {
    const answer = await forward(settings, request.method, pathAndQuery, request.headers, timeoutS);
    return bodyResponse(request.kind, answer.status, answer.contentType, answer.body);
  } catch (error) {
    if (!(error instanceof ProxyError)) throw error;
    console.warn(`${error.status}: ${error.message}`);
    if (error.status === 504) askForReplacement(settings);
    return textResponse(request.kind, error.status, error.message);
  }
}

/** A Lambda handler for the given environment. */
export function createHandler(env = process.env) {
  const settings = readSettings(env);
  if (!settings.authToken) {
    console.warn("BLACKBOX_AUTH_TOKEN is not set: anyone who can reach this function's URL can run probes through it");
  }
  console.info(
    "targets are checked by the extension's connect guard, not by this Node.js handler: " +
      "a refused target's probe ends probe_success 0; the Init log says whether the guard is on",
  );
  return (event, context) => {
    const remaining = typeof context?.getRemainingTimeInMillis === "function" ? context.getRemainingTimeInMillis() / 1000 : null;
    return handle(settings, event, remaining);
  };
}

/** `index.handler`: the settings are read and checked when the module loads, at Init, so
 * an invalid one fails Init with a message that names the variable. */
export const handler = createHandler(process.env);
