"""Sending a batch of postbacks: the network part of the cron.

``HttpSender.send_all`` takes the requests of one cron run and returns one
``Outcome`` per request, in order, never raising for a single failure.

* Connections are reused: ``requests.Session`` objects are kept per
  scheme+host+port between batches; each lane borrows one for its run, so
  a session is used by one thread at a time and at most ``per_host``
  connections per host stay open.
* Concurrency is bounded twice: ``max_workers`` threads overall and at
  most ``per_host`` requests in flight per host. A host's requests are
  dealt into up to ``per_host`` lanes processed one after the other, so a
  slow endpoint can hold at most ``per_host`` workers.
* Circuit breaker: once a request to a host times out or cannot connect,
  the host's remaining requests in this batch are skipped (``skipped``),
  and the host stays "cooling down" for the next batches too (30 s, doubling
  while it keeps failing, at most 15 min): its requests are skipped without
  touching the network and carry the remaining cool-down in ``retry_after``.
  So a dead endpoint costs one timeout per cool-down period, not per batch.
* Redirects are not followed (a postback must reach the configured URL),
  response bodies are read up to ``max_body`` bytes, and timeouts are
  explicit: (connect, read).
"""

import itertools
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

VERSION = "18.0.1.0.0"
USER_AGENT = f"postback_connector/{VERSION}"
#: Hosts whose idle keep-alive connections are kept (least recently used
#: hosts are closed first).
MAX_IDLE_HOSTS = 256
#: Extra response bytes read past max_body so the connection can be reused.
DRAIN_BYTES = 64 * 1024
TRUNCATED_MARKER = "\n[... response truncated after {max_body} bytes]"
SKIPPED_ERROR = "Not attempted: the server did not respond to an earlier postback in this batch"
COOLING_ERROR = "Not attempted: the server did not respond recently; trying again in {seconds} s"
#: First and longest pause of a host that timed out or refused connections.
COOLDOWN_SECONDS = 30.0
MAX_COOLDOWN_SECONDS = 900.0

_CHARSET_RE = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)


def user_agent(version=VERSION):
    """User-Agent header value for a module version."""
    return f"postback_connector/{version}"


@dataclass
class OutgoingRequest:
    """One HTTP request to send; ``key`` is returned untouched in the Outcome."""

    key: object
    method: str
    url: str
    headers: dict
    body: bytes
    timeout: float = 10.0
    connect_timeout: float = 5.0


@dataclass
class Outcome:
    """What happened to one OutgoingRequest."""

    key: object
    status: int | None
    headers: dict = field(default_factory=dict)
    body: str = ""
    duration_ms: float = 0.0
    error: str | None = None
    retry_after: str | None = None
    skipped: bool = False


class _BreakerTripped(Exception):
    """Internal: a host failed at the network level."""


def _origin(url):
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def _seconds(value):
    return f"{value:g} s"


def _connection_error_text(exc):
    """A short sentence for a requests ConnectionError."""
    text = repr(exc)
    cause = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "Connection refused"
        if isinstance(cause, ConnectionResetError):
            return "Connection reset by the server"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, requests.exceptions.SSLError):
        return "Secure connection (TLS) failed: the server's certificate could not be verified"
    if "NameResolutionError" in text or "getaddrinfo" in text or "Name or service not known" in text:
        return "The server name could not be resolved"
    if "Connection refused" in text:
        return "Connection refused"
    if "RemoteDisconnected" in text or "BadStatusLine" in text or "ProtocolError" in text:
        return "Invalid response: the server closed the connection without a valid answer"
    return "Could not connect to the server"


def _decode(raw, content_type):
    match = _CHARSET_RE.search(content_type or "")
    encoding = match.group(1) if match else "utf-8"
    try:
        return raw.decode(encoding, errors="replace")
    except LookupError:  # unknown charset name
        return raw.decode("utf-8", errors="replace")


class HttpSender:
    """Sends batches of OutgoingRequest concurrently; see the module docstring."""

    def __init__(self, max_workers=16, per_host=4, max_body=4096, user_agent=USER_AGENT, check=None, *,
                 cooldown=COOLDOWN_SECONDS):
        self.max_workers = max(1, int(max_workers))
        self.per_host = max(1, int(per_host))
        self.max_body = max(0, int(max_body))
        self.user_agent = user_agent
        self.check = check
        self.cooldown = max(0.0, float(cooldown))
        self._cooling = {}  # origin -> (monotonic end of the pause, length of the pause)
        self._lock = threading.Lock()
        self._idle = OrderedDict()  # origin -> idle sessions, least recently used first
        self._pool = None

    # -- life cycle ------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Stop the worker threads and close every kept-alive connection.

        Not to be called while ``send_all`` runs; the sender can be used
        again afterwards (it then opens new connections).
        """
        with self._lock:
            pool, self._pool = self._pool, None
            idle, self._idle = self._idle, OrderedDict()
        if pool is not None:
            pool.shutdown(wait=True)
        for sessions in idle.values():
            for session in sessions:
                session.close()

    # -- sessions ----------------------------------------------------------
    #
    # A lane checks a session out for its whole run and gives it back at the
    # end, so a session (and its connection) is only ever used by one
    # thread at a time, while the next batch's lanes for the same host
    # reuse the same warm connections whichever worker thread runs them.

    def _checkout(self, origin):
        with self._lock:
            idle = self._idle.get(origin)
            if idle:
                self._idle.move_to_end(origin)
                return idle.pop()
        return self._new_session(origin)

    def _checkin(self, origin, session):
        evicted = []
        with self._lock:
            self._idle.setdefault(origin, []).append(session)
            self._idle.move_to_end(origin)
            while len(self._idle) > MAX_IDLE_HOSTS:
                evicted.extend(self._idle.popitem(last=False)[1])
        for old in evicted:
            old.close()

    def _new_session(self, origin):
        scheme, host, port = origin
        session = requests.Session()
        # Reading proxy variables and .netrc on every request costs more than
        # the request itself on a keep-alive connection; resolve the proxy
        # settings (including NO_PROXY) once for this origin instead.
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(f"{scheme}://{host}:{port}/")
        # Receivers' cookies must not flow back into later postbacks.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.clear()
        # identity: a compressed answer could expand far beyond max_body.
        session.headers.update({"User-Agent": self.user_agent, "Accept": "*/*", "Accept-Encoding": "identity"})
        return session

    # -- sending -------------------------------------------------------------

    def send_all(self, requests_):
        """Send every request; one Outcome per request, in the same order."""
        requests_ = list(requests_)
        outcomes = [None] * len(requests_)
        now = time.monotonic()
        # Deal each host's requests round-robin into its lanes.
        lanes_by_host = OrderedDict()
        counts = {}
        for index, request in enumerate(requests_):
            origin = _origin(request.url)
            cooling_until = self._cooling.get(origin, (0.0, 0.0))[0]
            if cooling_until > now:
                wait = max(1, round(cooling_until - now))
                outcomes[index] = Outcome(
                    request.key, None, error=COOLING_ERROR.format(seconds=wait), retry_after=str(wait), skipped=True
                )
                continue
            lanes = lanes_by_host.setdefault(origin, [[] for _ in range(self.per_host)])
            position = counts.get(origin, 0)
            counts[origin] = position + 1
            lanes[position % self.per_host].append(index)
        breakers = {origin: threading.Event() for origin in lanes_by_host}
        # Interleave hosts (first lane of every host, then second lanes...)
        # so every host starts early even when lanes outnumber workers.
        work = [
            (origin, lane)
            for group in itertools.zip_longest(*lanes_by_host.values())
            for origin, lane in zip(lanes_by_host, group, strict=True)
            if lane
        ]
        if len(work) == 1:  # no thread hand-off for the common small case
            origin, lane = work[0]
            self._run_lane(origin, lane, requests_, outcomes, breakers[origin])
        elif work:
            pool = self._executor()
            futures = [
                pool.submit(self._run_lane, origin, lane, requests_, outcomes, breakers[origin])
                for origin, lane in work
            ]
            for future in futures:
                future.result()
        self._update_cooling(breakers, outcomes)
        return outcomes

    def _update_cooling(self, breakers, outcomes):
        """Start (or lengthen) the pause of hosts that failed; end it for hosts that answered."""
        now = time.monotonic()
        for origin, breaker in breakers.items():
            if breaker.is_set():
                previous = self._cooling.get(origin, (0.0, 0.0))[1]
                length = min(MAX_COOLDOWN_SECONDS, previous * 2 if previous else self.cooldown)
                if length > 0:
                    self._cooling[origin] = (now + length, length)
            else:
                self._cooling.pop(origin, None)

    def _executor(self):
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="postback-http")
            return self._pool

    def _run_lane(self, origin, lane, requests_, outcomes, breaker):
        session = None
        try:
            for index in lane:
                request = requests_[index]
                if breaker.is_set():
                    outcomes[index] = Outcome(request.key, None, error=SKIPPED_ERROR, skipped=True)
                    continue
                if self.check is not None:
                    try:
                        self.check(request.url)
                    except ValueError as exc:  # UnsafeTargetError or an invalid URL
                        outcomes[index] = Outcome(request.key, None, error=str(exc))
                        continue
                if session is None:
                    session = self._checkout(origin)
                try:
                    outcomes[index] = self._send_one(session, request)
                except _BreakerTripped as tripped:
                    breaker.set()
                    outcomes[index] = tripped.args[0]
                except Exception as exc:  # noqa: BLE001 - a bug must not lose the other outcomes
                    outcomes[index] = Outcome(request.key, None, error=f"Unexpected error: {exc}")
        finally:
            if session is not None:
                self._checkin(origin, session)

    def _send_one(self, session, request):
        started = time.perf_counter()

        def failed(message, trip):
            outcome = Outcome(request.key, None, error=message, duration_ms=(time.perf_counter() - started) * 1000)
            if trip:
                raise _BreakerTripped(outcome)
            return outcome

        try:
            # Prepared by hand and given to Session.send: Session.request would merge
            # cookie jars and environment settings on every call, which costs about as
            # much as the request itself on a keep-alive connection.
            prepared = requests.PreparedRequest()
            prepared.prepare(
                method=request.method,
                url=request.url,
                headers={**session.headers, **request.headers},
                data=request.body,
            )
            response = session.send(
                prepared,
                timeout=(request.connect_timeout, request.timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.ConnectTimeout:
            return failed(f"Timed out after {_seconds(request.connect_timeout)} while connecting", True)
        except requests.exceptions.ReadTimeout:
            return failed(f"Timed out after {_seconds(request.timeout)} waiting for the response", True)
        except requests.exceptions.ConnectionError as exc:
            return failed(_connection_error_text(exc), True)
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidHeader,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as exc:
            return failed(f"The URL or a header is invalid: {exc}", False)
        except requests.exceptions.RequestException as exc:
            return failed(f"Invalid response: {exc}", False)
        try:
            body, error = self._read_body(response, started + request.timeout)
        finally:
            response.close()
        return Outcome(
            request.key,
            response.status_code,
            dict(response.headers),
            body,
            (time.perf_counter() - started) * 1000,
            error,
            response.headers.get("Retry-After"),
        )

    def _read_body(self, response, deadline):
        """Up to max_body bytes of the body, decoded, plus an error if reading failed."""
        chunks, size, error = [], 0, None
        limit = self.max_body + DRAIN_BYTES
        try:
            for chunk in response.iter_content(chunk_size=8192):
                if size < self.max_body + 1:
                    chunks.append(chunk)
                size += len(chunk)
                # Past the drain allowance (or a slowly dripping answer) the
                # connection is dropped instead of reused.
                if size > limit or time.perf_counter() > deadline:
                    break
        except requests.exceptions.RequestException as exc:
            error = f"Invalid response: the answer could not be read ({type(exc).__name__})"
        raw = b"".join(chunks)
        text = _decode(raw[: self.max_body], response.headers.get("Content-Type"))
        if size > self.max_body:
            text += TRUNCATED_MARKER.format(max_body=self.max_body)
        return text, error
