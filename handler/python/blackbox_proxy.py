"""lambda-blackbox's handler for a Python function (standard library only).

Attach the lambda-blackbox layer to a Python function, ship this file in the function
package and set the handler to ``blackbox_proxy.handler``. The layer's extension runs
blackbox_exporter on loopback; this handler proxies Function URL, API Gateway (v1 and v2)
and ALB requests to it the way the layer's Rust ``bootstrap`` does:

- the path and the raw query string reach blackbox untouched (API Gateway v1 and ALB
  deliver the query already parsed: it is re-encoded from the parameters);
- ``X-Prometheus-Scrape-Timeout-Seconds`` is sent as the smaller of the header and what
  is left of the invocation, so blackbox ends the probe in time;
- ``Accept`` and ``User-Agent`` are forwarded, nothing else (no Authorization, no cookies);
- blackbox's status, ``Content-Type`` and body come back unchanged;
- ``504`` when blackbox does not answer in time, ``502`` when it cannot be reached for 2 s
  or its answer breaks off, ``503`` when the extension is gone, each with a one-line reason.

The same gate as the Rust handler (the cases all three pass are in handler/conformance/):
``BLACKBOX_AUTH_TOKEN`` (or ``_FILE``) bearer token
compared in constant time (401), ``BLACKBOX_AUTH_TRUST_IAM``, GET and HEAD only (405),
``/probe`` only unless ``BLACKBOX_EXPOSE_METRICS`` (404), header and query size limits
(400, 414), ``debug=true`` only with ``BLACKBOX_ALLOW_DEBUG`` (403).

The target policy (``BLACKBOX_ALLOWED_TARGETS``, ``BLACKBOX_DENY_PRIVATE``, the default
deny list) is not read here: the extension's connect guard enforces it where blackbox
connects, for every runtime, and a refused target's probe ends ``probe_success 0`` (the
extension's log says which address and rule). When the guard is off (the Init log says
``connect guard: off (...)``) and a policy is set, probes are answered 503 rather than run
unchecked. Only the Rust bootstrap answers a refused target early with a 403 and a reason.
"""

import base64
import errno
import hmac
import http.client
import ipaddress
import json
import logging
import os
import signal
import socket
import time
import urllib.parse

SCRAPE_TIMEOUT_HEADER = "x-prometheus-scrape-timeout-seconds"
FORWARDED_HEADERS = ("accept", "user-agent")
DEFAULT_LISTEN_ADDRESS = "127.0.0.1:9115"
DEADLINE_MARGIN_S = 0.1
FALLBACK_TIMEOUT_S = 30.0
UPSTREAM_WAIT_S = 2.0
UPSTREAM_RETRY_INTERVAL_S = 0.005
# A connection a dying blackbox accepted is reset at once, before any probe started: the
# request goes again on a new connection (at most RESENDS times), as the Rust handler does.
# A reset later than this is a blackbox that died during the probe: a 502.
IMMEDIATE_RESET_S = 0.05
RESENDS = 4
MAX_QUERY_BYTES = 8 * 1024
MAX_HEADER_VALUE_BYTES = 8 * 1024
MAX_HEADERS_BYTES = 32 * 1024
EXTENSION_COMM = "blackbox-extens"
REPLACE_SIGNAL = signal.SIGUSR1

log = logging.getLogger("blackbox_proxy")
_LEVEL = os.environ.get("BLACKBOX_HANDLER_LOG", "info").strip().lower()
log.setLevel(_LEVEL.upper() if _LEVEL in ("debug", "info", "warning", "error") else "INFO")


class InvalidSetting(Exception):
    """A BLACKBOX_* variable this handler cannot honour; the message names it."""


def _quoted(value):
    """A value in an error message, quoted as the Rust handler quotes it."""
    return json.dumps(value, ensure_ascii=False)


def listen_address(value):
    """``BLACKBOX_LISTEN_ADDRESS`` under the rules the extension starts blackbox with: a
    loopback ``host:port`` (blackbox serves anyone who reaches it, /config included)."""
    address = (value or "").strip() or DEFAULT_LISTEN_ADDRESS

    def invalid(why):
        return InvalidSetting("BLACKBOX_LISTEN_ADDRESS: %s is not a host:port address (%s)" % (_quoted(address), why))

    host, colon, port = address.rpartition(":")
    if not colon:
        raise invalid("no port")
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise invalid("the port must be a number from 1 to 65535")
    # An IPv6 address only in brackets, as blackbox (Go's net.SplitHostPort) reads it.
    if host.startswith("["):
        bare = host[1:-1] if host.endswith("]") else None
    else:
        bare = None if ":" in host else host
    if bare is None or "[" in bare or "]" in bare or any(c.isspace() for c in bare):
        raise invalid("the host is malformed")
    if not (bare == "localhost" or _is_loopback_ip(bare)):
        raise InvalidSetting(
            "BLACKBOX_LISTEN_ADDRESS: %s is not a loopback address: blackbox must listen on "
            "127.0.0.0/8, [::1] or localhost" % _quoted(address))
    return address


def _is_loopback_ip(text):
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if ip.version == 6:
        # Only ::1: an IPv4-mapped 127.x is not loopback to the extension either.
        return ip == ipaddress.IPv6Address("::1") and "%" not in text
    return ip.is_loopback


def _extension_file(authority, extension):
    name = "".join(c if c.isascii() and c.isalnum() else "_" for c in authority)
    return "/tmp/lambda-blackbox/extension-%s.%s" % (name, extension)


def extension_pid_file(authority):
    return _extension_file(authority, "pid")


def guard_status_file(authority):
    """Where the extension says whether its connect guard is on: "on" or "off (<cause>)"."""
    return _extension_file(authority, "guard")


def _flag(env, var):
    value = env.get(var, "").strip().lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise InvalidSetting("%s: %s is not true or false" % (var, _quoted(value)))


def _validate_token(token, var):
    if not token:
        raise InvalidSetting("%s: the token is empty" % var)
    if not all(0x21 <= ord(c) <= 0x7E for c in token):
        raise InvalidSetting(
            "%s: the token must be printable ASCII without spaces (it travels in an HTTP header)" % var
        )
    return token.encode("ascii")


class Settings:
    """The handler's settings, read once from the environment and validated."""

    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.upstream = listen_address(env.get("BLACKBOX_LISTEN_ADDRESS"))
        # The policy the connect guard must be on to enforce (the extension validates it).
        self.policy = [var for var in ("BLACKBOX_ALLOWED_TARGETS",) if env.get(var, "").strip()]
        if _flag(env, "BLACKBOX_DENY_PRIVATE"):
            self.policy.append("BLACKBOX_DENY_PRIVATE")
        self.guard_on = False
        token = env.get("BLACKBOX_AUTH_TOKEN", "").strip()
        token_file = env.get("BLACKBOX_AUTH_TOKEN_FILE", "").strip()
        if token and token_file:
            raise InvalidSetting(
                "BLACKBOX_AUTH_TOKEN_FILE: set either BLACKBOX_AUTH_TOKEN or BLACKBOX_AUTH_TOKEN_FILE, not both"
            )
        if token:
            self.auth_token = _validate_token(token, "BLACKBOX_AUTH_TOKEN")
        elif token_file:
            try:
                with open(token_file, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise InvalidSetting(
                    "BLACKBOX_AUTH_TOKEN_FILE: cannot read %s: %s" % (token_file, e.strerror or e)
                ) from None
            self.auth_token = _validate_token(text.strip(), "BLACKBOX_AUTH_TOKEN_FILE")
        else:
            self.auth_token = None
        self.trust_iam = _flag(env, "BLACKBOX_AUTH_TRUST_IAM")
        self.expose_metrics = _flag(env, "BLACKBOX_EXPOSE_METRICS")
        self.allow_debug = _flag(env, "BLACKBOX_ALLOW_DEBUG")

    def __repr__(self):
        return "Settings(upstream=%r, auth_token=%s)" % (
            self.upstream, "<redacted>" if self.auth_token else None)


# --- events -------------------------------------------------------------------------

class Request:
    """What the handler needs of an event, whatever its source."""

    def __init__(self, kind, method, path, query, headers, iam_authenticated):
        self.kind = kind  # "v2" (Function URL, API Gateway v2), "v1" or "alb"
        self.method = method
        self.path = path
        self.query = query  # None when there is none
        self.headers = headers  # lowercased names
        self.iam_authenticated = iam_authenticated


def _encode_params(pairs):
    """application/x-www-form-urlencoded, as the Rust handler re-encodes parsed parameters."""
    return "&".join(
        urllib.parse.quote_plus(k, safe="*") + "=" + urllib.parse.quote_plus(v, safe="*")
        for k, v in pairs
    )


def _parsed_query(event, decode):
    multi = event.get("multiValueQueryStringParameters") or {}
    single = event.get("queryStringParameters") or {}
    pairs = []
    if multi:
        for k, values in multi.items():
            for v in values or []:
                pairs.append((k, v))
    else:
        pairs = list(single.items())
    if decode:
        # An ALB passes the parameters as they were sent, still percent-encoded.
        pairs = [(urllib.parse.unquote_plus(k), urllib.parse.unquote_plus(v)) for k, v in pairs]
    return _encode_params(pairs) if pairs else None


def _headers(event):
    headers = {}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if values:
            headers[name.lower()] = values[-1]
    for name, value in (event.get("headers") or {}).items():
        if value is not None:
            headers[name.lower()] = value
    return headers


def parse_event(event):
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0" or "http" in context:
        http_context = context.get("http") or {}
        authorizer = context.get("authorizer") or {}
        return Request(
            "v2",
            http_context.get("method", "GET").upper(),
            event.get("rawPath") or http_context.get("path") or "/",
            event.get("rawQueryString") or None,
            _headers(event),
            bool(authorizer.get("iam")),
        )
    kind = "alb" if "elb" in context else "v1"
    return Request(
        kind,
        (event.get("httpMethod") or "GET").upper(),
        event.get("path") or "/",
        _parsed_query(event, decode=(kind == "alb")),
        _headers(event),
        False,
    )


def response(kind, status, content_type, body):
    """The answer in the shape the event's source expects (the Rust runtime's shapes)."""
    if isinstance(body, bytes):
        try:
            text, is_base64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode("ascii"), True
    else:
        text, is_base64 = body, False
    headers = {"content-type": content_type} if content_type else {}
    return _shaped(kind, status, headers, text, is_base64)


def _shaped(kind, status, headers, text, is_base64):
    answer = {"statusCode": status, "body": text, "isBase64Encoded": is_base64}
    if kind == "v1":
        answer["headers"] = {}
        answer["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    elif kind == "alb":
        answer["statusDescription"] = "%d %s" % (status, _reason(status))
        answer["headers"] = dict(headers)
        answer["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        answer["headers"] = dict(headers)
        answer["cookies"] = []
    return answer


def _reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def text_response(kind, status, reason, extra_headers=None):
    headers = {"content-type": "text/plain; charset=utf-8"}
    headers.update(extra_headers or {})
    return _shaped(kind, status, headers, reason + "\n", False)


# --- the gate -----------------------------------------------------------------------

class Refusal(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _bearer_token(value):
    value = value.strip()
    scheme, sep, token = value.partition(" ")
    if not sep or scheme.lower() != "bearer":
        return None
    return token.strip()


def _printable(s):
    out = "".join("?" if (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) else c for c in s[:200])
    return out + ("…" if len(s) > 200 else "")


def query_params(query):
    """The query as blackbox's Go code reads it: pairs split on '&', a pair holding ';'
    or a malformed escape dropped, '+' read as a space."""
    params = []
    for pair in query.split("&"):
        if not pair or ";" in pair:
            continue
        key, _, value = pair.partition("=")
        try:
            params.append((_unescape(key), _unescape(value)))
        except ValueError:
            continue
    return params


def _unescape(s):
    out = bytearray()
    i = 0
    raw = s.encode("utf-8")
    while i < len(raw):
        b = raw[i]
        if b == 0x25:  # %
            hex_digits = raw[i + 1:i + 3]
            if len(hex_digits) != 2 or not all(chr(h) in "0123456789abcdefABCDEF" for h in hex_digits):
                raise ValueError("bad escape")
            out.append(int(hex_digits, 16))
            i += 3
        elif b == 0x2B:  # +
            out.append(0x20)
            i += 1
        else:
            out.append(b)
            i += 1
    return out.decode("utf-8", "replace")


def admit(settings, request):
    """The Rust handler's gate, less the target policy; raises Refusal."""
    headers = request.headers
    if settings.auth_token is not None and not (settings.trust_iam and request.iam_authenticated):
        presented = _bearer_token(headers.get("authorization", ""))
        if presented is None:
            raise Refusal(401, "an Authorization: Bearer token is required")
        if not hmac.compare_digest(settings.auth_token, presented.encode("utf-8", "replace")):
            raise Refusal(401, "the bearer token is wrong")
    if request.method not in ("GET", "HEAD"):
        raise Refusal(405, "method %s is not allowed: use GET or HEAD" % _printable(request.method))
    sizes = [(len(k.encode()), len(v.encode("utf-8", "replace"))) for k, v in headers.items()]
    if sum(k + v for k, v in sizes) > MAX_HEADERS_BYTES or any(v > MAX_HEADER_VALUE_BYTES for _, v in sizes):
        raise Refusal(400, "the request headers are too large (at most %d bytes a header, %d in all)"
                      % (MAX_HEADER_VALUE_BYTES, MAX_HEADERS_BYTES))
    query = request.query or ""
    if len(query.encode("utf-8", "replace")) > MAX_QUERY_BYTES:
        raise Refusal(414, "the query string is over %d bytes" % MAX_QUERY_BYTES)
    path = request.path
    if path in ("/metrics", "/-/healthy"):
        if settings.expose_metrics:
            return
        raise Refusal(404, "%s is not served; set BLACKBOX_EXPOSE_METRICS=true to serve it" % path)
    if path != "/probe":
        raise Refusal(404, "%s is not served: lambda-blackbox serves /probe" % _printable(path))
    debug = next((v for k, v in query_params(query) if k == "debug"), None)
    if debug == "true" and not settings.allow_debug:
        raise Refusal(403, "debug=true is refused (its output shows the module configuration); "
                           "set BLACKBOX_ALLOW_DEBUG=true to allow it")


# --- the proxy ----------------------------------------------------------------------

class ProxyError(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def upstream_timeout(scrape_timeout, remaining_s):
    """The scrape timeout Prometheus sent, cut to what is left of the invocation."""
    left = FALLBACK_TIMEOUT_S if remaining_s is None else max(0.0, remaining_s - DEADLINE_MARGIN_S)
    try:
        scrape = float((scrape_timeout or "").strip())
    except ValueError:
        scrape = None
    # Under a millisecond is no scrape timeout, as for the Rust handler.
    if scrape is not None and scrape == scrape and 0.001 <= scrape < float("inf"):
        return min(scrape, left)
    return left


def _split_authority(authority):
    host, _, port = authority.rpartition(":")
    return host.strip("[]"), int(port)


def extension_pid(settings):
    """The extension's pid if it is running (a recycled pid must not get our signal)."""
    try:
        with open(extension_pid_file(settings.upstream)) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[-1].strip()[:1]
    except (OSError, ValueError):
        return None
    return pid if comm == EXTENSION_COMM and state != "Z" else None


def ask_for_replacement(settings):
    """blackbox took the whole timeout: it is hung. The extension replaces it on SIGUSR1."""
    pid = extension_pid(settings)
    if pid is None:
        log.warning("the blackbox extension is not running; blackbox_exporter cannot be replaced")
        return
    try:
        os.kill(pid, REPLACE_SIGNAL)
    except OSError as e:
        log.warning("could not ask the extension to replace blackbox_exporter: %s", e)


def forward(settings, method, path_and_query, headers, timeout):
    """One request to blackbox; returns (status, content type, body bytes)."""
    started = time.monotonic()
    host, port = _split_authority(settings.upstream)
    upstream_headers = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
    upstream_headers[SCRAPE_TIMEOUT_HEADER] = "%.3f" % timeout
    timed_out = ProxyError(504, "blackbox_exporter did not answer within %.3f s "
                                "(the scrape timeout or the invocation deadline)" % timeout)
    resent = 0
    while True:
        left = timeout - (time.monotonic() - started)
        if left <= 0:
            raise timed_out
        connection = http.client.HTTPConnection(host, port, timeout=left)
        try:
            connection.connect()
        except socket.timeout:
            raise timed_out from None
        except OSError as e:
            elapsed = time.monotonic() - started
            if e.errno not in (errno.ECONNREFUSED, errno.ECONNRESET, errno.ENETUNREACH):
                raise ProxyError(502, "blackbox_exporter is not reachable at %s: %s"
                                 % (settings.upstream, e.strerror or e)) from None
            if extension_pid(settings) is None:
                raise ProxyError(503, "the blackbox extension is not running, so blackbox_exporter "
                                      "is not either; Lambda replaces this environment after the "
                                      "extension's failure") from None
            log.debug("connect to %s failed after %.3f s: %s", settings.upstream, elapsed, e)
            if elapsed < min(UPSTREAM_WAIT_S, timeout):
                time.sleep(UPSTREAM_RETRY_INTERVAL_S)
                continue
            raise ProxyError(502, "blackbox_exporter is not reachable at %s after %d ms: %s"
                             % (settings.upstream, elapsed * 1000, e.strerror or e)) from None
        sent = time.monotonic()
        answer = None
        try:
            connection.request(method, path_and_query, headers=upstream_headers)
            answer = connection.getresponse()
            body = answer.read()
            return answer.status, answer.getheader("Content-Type"), body
        except socket.timeout:
            raise timed_out from None
        except (OSError, http.client.HTTPException) as e:
            reason = getattr(e, "strerror", None) or e or type(e).__name__
            # Only a reset before any answer: a half answer is blackbox's, and final.
            reset_at_once = (answer is None and isinstance(e, ConnectionError)
                             and time.monotonic() - sent < IMMEDIATE_RESET_S)
            if resent < RESENDS and reset_at_once:
                log.info("resending on another connection: %s", reason)
                resent += 1
                continue
            raise ProxyError(502, "blackbox_exporter's answer broke off: %s" % reason) from None
        finally:
            connection.close()


def guard_refusal(settings):
    """Why a probe must not run: a target policy is set and the connect guard, which
    enforces it, is not on. None when the probe may run."""
    if not settings.policy or settings.guard_on:
        return None
    try:
        with open(guard_status_file(settings.upstream)) as f:
            status = f.read().strip()
    except OSError:
        status = "unknown: the extension has not said"
    if status == "on":
        settings.guard_on = True
        return None
    return ("%s is set but the connect guard is %s; this Python handler checks no target "
            "itself: set BLACKBOX_CONNECT_GUARD=required to learn why at Init, or use the "
            "layer's Rust bootstrap" % (" and ".join(settings.policy), status))


def handle(settings, event, remaining_s):
    request = parse_event(event)
    try:
        admit(settings, request)
    except Refusal as refusal:
        log.info("refused (%d): %s", refusal.status, refusal.reason)
        extra = {}
        if refusal.status == 401:
            extra["www-authenticate"] = 'Bearer realm="lambda-blackbox"'
        elif refusal.status == 405:
            extra["allow"] = "GET, HEAD"
        return text_response(request.kind, refusal.status, refusal.reason, extra)

    unguarded = guard_refusal(settings) if request.path == "/probe" else None
    if unguarded is not None:
        log.warning("503: %s", unguarded)
        return text_response(request.kind, 503, unguarded)

    timeout = upstream_timeout(request.headers.get(SCRAPE_TIMEOUT_HEADER), remaining_s)
    path_and_query = request.path + ("?" + request.query if request.query else "")
    try:
        status, content_type, body = forward(
            settings, request.method, path_and_query, request.headers, timeout)
    except ProxyError as error:
        log.warning("%d: %s", error.status, error.reason)
        if error.status == 504:
            ask_for_replacement(settings)
        return text_response(request.kind, error.status, error.reason)
    return response(request.kind, status, content_type, body)


SETTINGS = Settings()
if SETTINGS.auth_token is None:
    log.warning("BLACKBOX_AUTH_TOKEN is not set: anyone who can reach this function's URL can run probes through it")
log.info("targets are checked by the extension's connect guard, not by this Python handler: "
         "a refused target's probe ends probe_success 0; the Init log says whether the guard is on")


def handler(event, context):
    remaining = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = context.get_remaining_time_in_millis() / 1000.0
    return handle(SETTINGS, event, remaining)
