"""The HTTP channel: sending postbacks without letting any receiver hold anyone up.

``HttpSender`` runs requests in a thread pool and hands back one ``Outcome``
per request, never raising for a single failure. What a receiver can do to
it is bounded:

* **Time.** Every request has an absolute deadline (connect + send + status
  line + headers + body) equal to its timeout. The sockets check it before
  every read and write, so an endpoint that drips its answer byte by byte,
  sends a never-ending body or lies about its length is cut off at the
  deadline, not reset on every byte (the read timeout of ``requests``).
* **Concurrency.** At most ``max_threads`` requests run at once, at most
  ``per_host`` per endpoint (scheme + host + port), fewer while an endpoint
  is on probation (``set_host_limit``). Requests wait in a queue per
  endpoint, so a slow endpoint holds its own lanes only. An endpoint opens
  with ``INITIAL_LANES`` lanes and gets all of them once it has answered
  once, so one that never answers ties up two threads per wave, not eight.
  The threads are two pools: ``max_workers`` for endpoints known to be fast
  (they answered, on average within 0.2 s, and none of their requests is
  running longer), and ``max_threads - max_workers`` more for all the others
  (new, slow, hanging or drip-feeding ones), of which ``max_workers // 2``
  are workers a new endpoint may borrow while the others' pool is full. A
  request that runs longer than 0.2 s leaves the first pool's count for the
  second's, so however several endpoints misbehave at once, the fast ones
  keep their workers.
* **Circuit breaker.** A timeout or a failed connection blocks the endpoint
  at once: its queued requests come back ``skipped`` (not attempted) without
  touching the network, and so do new ones until ``block`` ends. The runner
  persists that state so every runner and cron call shares it.
* **Bytes.** Whatever comes back (NUL and control bytes, invalid UTF-8,
  UTF-16, binary, gzip, unknown or non-text charsets, odd header names and
  values) becomes bounded, printable text (``clean_text``), safe to store.
* **Start times.** A request carries ``latest_start`` (monotonic): not
  started by then, it comes back ``skipped`` with ``released=True``, so a
  runner never sends past its own time budget. It may also carry
  ``not_before`` (monotonic): it waits, without holding a thread or a lane,
  until then (the runner's per-endpoint rate limit schedules its requests
  this way, so a throttled endpoint never holds up the others), and a
  ``slot_end``: a request of a rate-limited endpoint is sent inside its
  booked slot or not at all. One that could not start by then (its lanes
  busy, the process slow) comes back ``skipped`` with ``released=True``,
  unsent: a late request never bunches with the next slot's, so the
  receiver never sees more requests than slots.
* **Credentials.** A request may carry an ``auth`` object (``engine.auth``)
  whose headers are obtained in the worker thread, inside the request's
  deadline (an OAuth2 token is fetched there, so a slow token endpoint holds
  only its own endpoint's lanes); a 401 renews them once and sends the same
  request again; they are redacted from whatever comes back.

The wire protocol is the standard library's ``http.client`` (what urllib3
and ``requests`` use underneath): one keep-alive connection per lane, kept
between batches; no redirects followed; ``Accept-Encoding: identity``.
Proxies from the environment (``HTTP(S)_PROXY``, ``NO_PROXY``) are honoured.
"""

import codecs
import heapq
import http.client
import queue
import re
import socket
import ssl
import threading
import time
import urllib.request
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

VERSION = "1.2.0"  # the manifest version (Odoo prefixes it with its series: 18.0.1.2.0, 19.0.1.2.0)
USER_AGENT = f"postback_connector/{VERSION}"
#: Idle keep-alive connections kept in all (those of the least recently used
#: endpoints are closed first): enough for a thousand endpoints in rotation.
MAX_IDLE_CONNECTIONS = 1024
#: Idle connections kept per endpoint.
MAX_IDLE_PER_HOST = 8
#: Extra response bytes read past max_body so the connection can be reused.
DRAIN_BYTES = 64 * 1024
#: Longest stored header block and header name/value, in characters.
MAX_HEADERS_TEXT = 4096
MAX_HEADER_NAME = 100
MAX_HEADER_VALUE = 1000
TRUNCATED_MARKER = "\n[... response truncated after {max_body} bytes]"
SKIPPED_ERROR = "Not attempted: the server did not respond to an earlier postback"
BUSY_ERROR = "Not attempted yet: the server answers slowly; its postbacks are sent a few at a time"
#: Jobs waiting per endpoint, in lanes' worth: more would only wait here while
#: other endpoints' work could go (they are postponed instead, not attempted).
QUEUE_LANES = 2
#: An endpoint whose requests take longer than this is "slow" for the queue limit.
SLOW_SECONDS = 0.2
#: Lanes of an endpoint until it has answered once (then ``per_host``).
INITIAL_LANES = 2
#: Threads in all, as a multiple of ``max_workers``: the room beyond the workers is for
#: the requests of endpoints not known to be fast, so they never take the others' workers.
STUCK_THREADS_FACTOR = 4
COOLING_ERROR = "Not attempted: the server did not respond recently; trying again in {seconds} s"
RELEASED_ERROR = "Not attempted: the runner's time was up; queued again"
SLOT_MISSED_ERROR = "Not attempted yet: it could not start within its rate-limit slot; queued for the next free slot"
#: First pause of an endpoint that timed out or refused connections (the
#: runner lengthens it while the endpoint keeps failing).
COOLDOWN_SECONDS = 30.0
MAX_COOLDOWN_SECONDS = 900.0

#: Error kinds (``Outcome.error_kind``). ``timeout`` and ``connect`` mean the
#: endpoint is down or too slow: they trip the breaker.
TIMEOUT, CONNECT, PROTOCOL, INVALID, REFUSED, UNEXPECTED = (
    "timeout", "connect", "protocol", "invalid", "refused", "unexpected")
#: The request's credentials could not be had (an OAuth2 token request failed):
#: nothing was sent to the endpoint, nothing is known about its health.
AUTH = "auth"
TRIPPING_KINDS = frozenset({TIMEOUT, CONNECT})

_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([^\s\"';,]+)", re.IGNORECASE)
# C0 controls except TAB, LF, CR; DEL; C1 controls.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HEADER_NAME_RE = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")


class DeadlineExceeded(TimeoutError):
    """The request's absolute deadline passed."""


# ----------------------------------------------------------------- data ----


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
    #: time.monotonic() after which the request must not start (None: any time).
    latest_start: float | None = None
    #: time.monotonic() before which the request must not start (None: at once).
    not_before: float | None = None
    #: time.monotonic() after which it is not sent at all: the end of its rate-limit slot
    #: (None: no slot). Checked just before the first byte leaves.
    slot_end: float | None = None
    #: Credentials added when the request is sent (see ``engine.auth``): an object
    #: with ``headers(deadline)`` (raises ValueError when they cannot be had),
    #: ``renew(sent_headers, deadline)`` (new headers after a 401, or None) and
    #: ``redact(text)``.
    auth: object = None


@dataclass
class CallJob:
    """Work other than HTTP run in the sender's threads (an email): ``fn()`` returns an Outcome."""

    key: object
    origin: tuple
    fn: object
    latest_start: float | None = None


@dataclass
class Outcome:
    """What happened to one job."""

    key: object
    status: int | None
    headers: dict = field(default_factory=dict)
    body: str = ""
    duration_ms: float = 0.0
    error: str | None = None
    retry_after: str | None = None
    #: Not attempted (endpoint blocked, or ``released``: not started in time).
    skipped: bool = False
    error_kind: str | None = None
    released: bool = False
    #: time.time() when the outcome was known (retries are computed from it).
    finished_at: float = field(default_factory=time.time)
    #: for a skipped outcome: seconds until the endpoint may be tried again.
    blocked_for: float = 0.0
    #: the engine message behind ``error`` when it is one (a refused address),
    #: for the Odoo layer to show in the user's language.
    error_message: object = None


# ---------------------------------------------------------------- bytes ----


def _escape_control(match):
    return "\\x%02x" % ord(match.group())


def clean_text(text, limit=None):
    """Printable, storable text: control characters escaped (\\x00), lone
    surrogates escaped, at most ``limit`` characters (a marker says so)."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    text = _CONTROL_RE.sub(_escape_control, text)
    # Lone surrogates cannot be stored (PostgreSQL UTF8) nor encoded.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if limit is not None and len(text) > limit:
        text = text[:limit] + " [...]"
    return text


def text_encoding(content_type):
    """The codec named by a Content-Type's charset, if it is a real text encoding; else utf-8."""
    match = _CHARSET_RE.search(content_type or "")
    if not match:
        return "utf-8"
    try:
        info = codecs.lookup(match.group(1))
    except (LookupError, ValueError):
        return "utf-8"
    # idna, base64, rot13, zlib... are codecs but not charsets.
    if not getattr(info, "_is_text_encoding", True) or info.name in ("idna", "punycode", "undefined"):
        return "utf-8"
    return info.name


def decode_body(raw, content_type):
    """Response bytes as text in their declared charset, undecodable bytes escaped."""
    try:
        text = raw.decode(text_encoding(content_type), "backslashreplace")
    except Exception:  # noqa: BLE001 - a codec may fail in unexpected ways
        text = raw.decode("utf-8", "backslashreplace")
    return clean_text(text)


def _header_text(value):
    """http.client reads headers as latin-1: show UTF-8 bytes as the text they are."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def clean_headers(items):
    """Response headers as a bounded dict of printable names and values."""
    headers, total = {}, 0
    for raw_name, raw_value in items:
        name = _HEADER_NAME_RE.sub("?", _header_text(str(raw_name)))[:MAX_HEADER_NAME] or "?"
        value = clean_text(_header_text(str(raw_value)), MAX_HEADER_VALUE)
        total += len(name) + len(value) + 3
        if total > MAX_HEADERS_TEXT:
            break
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


# --------------------------------------------------------------- sockets ---


class _DeadlineMixin:
    """Every read and write waits at most until the socket's ``pb_deadline``."""

    pb_deadline = None

    def _pb_arm(self):
        deadline = self.pb_deadline
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded("deadline")
            self.settimeout(remaining)

    def recv(self, *args):
        self._pb_arm()
        return super().recv(*args)

    def recv_into(self, *args):
        self._pb_arm()
        return super().recv_into(*args)

    def send(self, *args):
        self._pb_arm()
        return super().send(*args)

    def sendall(self, *args):
        self._pb_arm()
        return super().sendall(*args)


class _DeadlineSocket(_DeadlineMixin, socket.socket):
    pass


class _DeadlineSSLSocket(_DeadlineMixin, ssl.SSLSocket):
    pass


def _ssl_context():
    context = ssl.create_default_context()
    try:
        import certifi  # noqa: PLC0415 - the CA bundle requests uses, when installed

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    context.sslsocket_class = _DeadlineSSLSocket
    return context


_SSL_CONTEXT = None
_SSL_LOCK = threading.Lock()


def _shared_ssl_context():
    global _SSL_CONTEXT  # noqa: PLW0603 - built once, on first HTTPS use
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            _SSL_CONTEXT = _ssl_context()
        return _SSL_CONTEXT


def _candidates(host, port, addresses):
    if addresses is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [
        (socket.AF_INET6, socket.SOCK_STREAM, 0, "", (str(a), port, 0, 0)) if a.version == 6
        else (socket.AF_INET, socket.SOCK_STREAM, 0, "", (str(a), port))
        for a in addresses
    ]


def _open_socket(host, port, connect_timeout, deadline, addresses=None):
    """A connected _DeadlineSocket to host:port: to ``addresses`` (already checked) when
    given, else to every address the name resolves to, in turn."""
    last = None
    for family, type_, proto, _name, address in _candidates(host, port, addresses):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("deadline")
        sock = _DeadlineSocket(family, type_, proto)
        try:
            sock.settimeout(min(connect_timeout, remaining))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address")


class _Connection(http.client.HTTPConnection):
    """http.client connection over a deadline socket (to the endpoint or its proxy)."""

    def __init__(self, origin, proxy=None):
        scheme, host, port = origin
        self.pb_origin = origin
        self.pb_tls = scheme == "https"
        self.pb_proxy = proxy  # (host, port) or None
        self.pb_deadline = None
        self.pb_connect_timeout = 5.0
        self.pb_used = 0
        self.pb_addresses = None  # the checked addresses of the endpoint (None: resolve)
        if proxy:
            super().__init__(proxy[0], proxy[1])
            if self.pb_tls:
                self.set_tunnel(host, port)
        else:
            super().__init__(host, port)

    def connect(self):
        _scheme, host, port = self.pb_origin
        if self.pb_proxy:
            sock = _open_socket(self.pb_proxy[0], self.pb_proxy[1], self.pb_connect_timeout, self.pb_deadline)
        else:
            sock = _open_socket(host, port, self.pb_connect_timeout, self.pb_deadline, self.pb_addresses)
        sock.pb_deadline = self.pb_deadline
        self.sock = sock
        if self._tunnel_host:
            self._tunnel()
        if self.pb_tls:
            sock._pb_arm()
            self.sock = _shared_ssl_context().wrap_socket(sock, server_hostname=host)
            self.sock.pb_deadline = self.pb_deadline

    def pb_set_deadline(self, deadline, connect_timeout):
        self.pb_deadline = deadline
        self.pb_connect_timeout = connect_timeout
        if self.sock is not None:
            self.sock.pb_deadline = deadline


def _origin(url):
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def origin_of(url):
    """The endpoint key of a URL: (scheme, host, port)."""
    return _origin(url)


def origin_name(origin):
    scheme, host, port = origin
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _proxy_for(origin):
    """(host, port) of the environment's proxy for this endpoint, or None."""
    scheme, host, port = origin
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme)
    if not proxy or urllib.request.proxy_bypass(f"{host}:{port}") or urllib.request.proxy_bypass(host):
        return None
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or 80


def _seconds(value):
    return f"{value:g} s"


# ---------------------------------------------------------------- sender ---


# The pools a running request is counted in (HttpSender._pools).
_WORKERS, _OTHERS, _BORROWED = "workers", "others", "borrowed"


class _Host:
    __slots__ = ("answered", "blocked_until", "latency", "limit", "progress", "queue", "running", "starts",
                 "throttled")

    def __init__(self):
        self.queue = deque()
        self.running = 0
        self.starts = {}  # token -> monotonic start of each running request
        self.limit = None
        self.answered = False  # it sent an HTTP answer (any status) in this sender's life
        self.throttled = False  # it has a rate limit (its requests come with booked slots)
        self.blocked_until = 0.0
        self.latency = 0.0  # seconds, moving average of this endpoint's requests
        self.progress = 0.0  # monotonic time a request of it last started or ended

    def slow(self, now, lanes):
        """Its lanes are all busy and it is slow, or nothing of it moved for 0.2 s
        (a dead or hanging endpoint, before any timeout told us)."""
        return self.running >= lanes and (self.latency > SLOW_SECONDS or now - self.progress > SLOW_SECONDS)

    def fast(self, now):
        """Known to be fast: it answered, within SLOW_SECONDS on average, and none of its
        requests has been running for longer (one quick lane does not hide hanging ones)."""
        return self.answered and self.latency <= SLOW_SECONDS and all(
            now - started <= SLOW_SECONDS for started in self.starts.values())


class HttpSender:
    """Runs OutgoingRequest and CallJob jobs concurrently; see the module docstring."""

    def __init__(self, max_workers=16, per_host=8, max_body=4096, user_agent=USER_AGENT, check=None, *,
                 cooldown=COOLDOWN_SECONDS, max_threads=None):
        self.max_workers = max(1, int(max_workers))
        #: Workers a new endpoint may borrow when the others' pool is full (see _start_host).
        self.borrow = self.max_workers // 2
        self.max_threads = max(self.max_workers + self.borrow + 1,
                               int(max_threads or STUCK_THREADS_FACTOR * self.max_workers))
        #: Requests of endpoints not known to be fast (new, slow, hanging) at once.
        self.others_pool = self.max_threads - self.max_workers - self.borrow
        self.per_host = max(1, int(per_host))
        self.max_body = max(0, int(max_body))
        self.user_agent = user_agent
        self.check = check
        self.cooldown = max(0.0, float(cooldown))
        self.results = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._hosts = {}
        self._idle = OrderedDict()  # origin -> idle connections, least recently used first
        self._idle_count = 0
        self._proxies = {}
        self._pool = None
        self._running = 0
        # Running requests: token -> (monotonic start, pool: WORKERS, OTHERS or BORROWED).
        self._inflight = {}
        self._tokens = 0
        # Endpoints with queued jobs (an ordered set; emptied ones leave it lazily).
        self._waiting = {}
        self._next_pump = 0.0
        self._timer_pumping = False
        # Jobs waiting for their not_before: a heap of (time, sequence, job, callback), one timer thread.
        self._delayed = []
        self._delayed_seq = 0
        self._timer = None
        self._timer_wake = threading.Condition(self._lock)
        self._closed = False

    # -- life cycle ------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Wait for running jobs, stop the threads, close kept-alive connections.

        Queued jobs not started yet are dropped: call ``cancel_queued`` first
        to get their outcomes.
        """
        with self._lock:
            for host in self._hosts.values():
                host.queue.clear()
            self._delayed.clear()
            self._closed = True
            self._timer_wake.notify_all()
            pool, self._pool = self._pool, None
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.join()
        if pool is not None:
            pool.shutdown(wait=True)
        with self._lock:
            idle, self._idle = self._idle, OrderedDict()
            self._idle_count = 0
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- control -----------------------------------------------------------

    def block(self, origin, seconds):
        """Skip the endpoint's jobs for ``seconds`` (queued ones come back skipped now)."""
        skipped = []
        with self._lock:
            host = self._hosts.setdefault(origin, _Host())
            host.blocked_until = max(host.blocked_until, time.monotonic() + seconds)
            while host.queue:
                job, callback = host.queue.popleft()
                skipped.append((callback, self._skipped(job, host)))
        for callback, outcome in skipped:
            callback(outcome)

    def blocked_for(self, origin):
        with self._lock:
            host = self._hosts.get(origin)
            return max(0.0, host.blocked_until - time.monotonic()) if host else 0.0

    def unavailable_origins(self):
        """Endpoints that cannot take more work now: blocked (cooling down), or slow with a
        full queue. The runner claims nothing more for them until that changes, so their
        backlog waits in the database instead of being claimed, leased and released again."""
        now = time.monotonic()
        with self._lock:
            return {
                origin for origin, host in self._hosts.items()
                if host.blocked_until > now or (
                    len(host.queue) >= QUEUE_LANES * self._lanes(host)
                    and host.slow(now, self._lanes(host)))
            }

    def set_host_limit(self, origin, limit):
        """At most ``limit`` requests at once to this endpoint (None: ``per_host``)."""
        with self._lock:
            self._hosts.setdefault(origin, _Host()).limit = limit

    def cancel_queued(self):
        """Outcomes (skipped, released) of every job not started yet; they are dropped."""
        outcomes = []
        with self._lock:
            for host in self._hosts.values():
                while host.queue:
                    job, _callback = host.queue.popleft()
                    outcomes.append(Outcome(job.key, None, error=RELEASED_ERROR, skipped=True, released=True))
            for _at, _seq, job, _callback in self._delayed:
                outcomes.append(Outcome(job.key, None, error=RELEASED_ERROR, skipped=True, released=True))
            self._delayed.clear()
        return outcomes

    @property
    def busy(self):
        """Jobs running, queued or waiting for their start time."""
        with self._lock:
            return self._running + sum(len(h.queue) for h in self._hosts.values()) + len(self._delayed)

    @property
    def stalled(self):
        """Jobs of endpoints that are not moving: cooling down, or slow with every lane busy
        (a dead, hanging or drip-feeding server). They run until their deadline or wait behind
        those that do. The runner does not count them as work in hand when it decides to claim
        more, so one stuck endpoint does not thin out everyone else's pipeline."""
        now = time.monotonic()
        with self._lock:
            return sum(
                host.running + len(host.queue) for host in self._hosts.values()
                if host.blocked_until > now or host.slow(now, self._lanes(host)))

    @property
    def delayed(self):
        """Jobs waiting for their ``not_before``."""
        with self._lock:
            return len(self._delayed)

    # -- submitting ----------------------------------------------------------

    def submit(self, job, callback=None):
        """Queue a job; its Outcome goes to ``callback`` (default: the ``results`` queue)."""
        callback = callback or self.results.put
        not_before = getattr(job, "not_before", None)
        if not_before is not None and not_before > time.monotonic():
            self._submit_later(not_before, job, callback)
            return
        origin = job.origin if isinstance(job, CallJob) else _origin(job.url)
        outcome = None
        with self._lock:
            now = time.monotonic()
            host = self._hosts.setdefault(origin, _Host())
            lanes = self._lanes(host)
            if host.blocked_until > now:
                outcome = self._skipped(job, host)
            elif len(host.queue) >= QUEUE_LANES * lanes and host.slow(now, lanes):
                # A slow endpoint: its excess waits in the database, not in this runner.
                wait = max(0.5, (len(host.queue) + host.running) / lanes * max(host.latency, SLOW_SECONDS))
                outcome = Outcome(job.key, None, error=BUSY_ERROR, skipped=True, blocked_for=wait)
            else:
                if getattr(job, "slot_end", None) is not None:
                    host.throttled = True
                # First in, first out per endpoint.
                host.queue.append((job, callback))
                self._waiting[origin] = None
                self._start_host(origin, host, now)
                if host.queue and self._running >= self.max_workers and not self._timer_pumping:
                    # Every worker busy: the timer starts what waits as endpoints get stuck.
                    self._ensure_timer()
        if outcome is not None:
            callback(outcome)

    def _lanes(self, host):
        """Requests that may run at once on ``host``: its limit (probation) or ``per_host``,
        ``INITIAL_LANES`` until it has answered once (unless it is rate-limited: its booked
        slots pace it already)."""
        lanes = host.limit or self.per_host
        return lanes if host.answered or host.throttled else min(lanes, INITIAL_LANES)

    def _pools(self, now):
        """Under the lock: requests counted in the workers' pool, in the others' pool, and
        borrowed. A request started in the workers' pool (borrowed or not) that runs longer
        than SLOW_SECONDS counts in the others' pool; a borrowed one counts as borrowed
        until it ends, so new endpoints never borrow more than ``borrow`` threads."""
        others = borrowed = 0
        for started, pool in self._inflight.values():
            if pool == _BORROWED:
                borrowed += 1
            if pool == _OTHERS or now - started > SLOW_SECONDS:
                others += 1
        return self._running - others, others, borrowed

    def _start_host(self, origin, host, now, pools=None):
        """Under the lock: start ``host``'s queued jobs while its lanes and its pool allow.
        ``pools`` is the current ``_pools`` (computed when needed); the updated one is returned."""
        fast = host.fast(now)
        lanes = self._lanes(host)
        while host.queue and host.running < lanes and self._running < self.max_threads:
            if fast and pools is None and self._running < self.max_workers:
                pool = _WORKERS  # the workers' pool cannot be full: no need to count
            else:
                if pools is None:
                    pools = self._pools(now)
                workers, others, borrowed = pools
                if fast and workers < self.max_workers:
                    pools, pool = (workers + 1, others, borrowed), _WORKERS
                elif not fast and others < self.others_pool:
                    pools, pool = (workers, others + 1, borrowed), _OTHERS
                elif not host.answered and workers < self.max_workers and borrowed < self.borrow:
                    # A new endpoint may borrow a worker when the others' pool is full: a
                    # healthy newcomer is not left behind the stuck ones for their timeouts.
                    pools, pool = (workers + 1, others, borrowed + 1), _BORROWED
                else:
                    break
            job, callback = host.queue.popleft()
            self._start(origin, host, job, callback, pool)
        return pools

    def _start_queued(self, now, pools=None):
        """Under the lock: start queued jobs, endpoint by endpoint, while the pools allow."""
        for origin in list(self._waiting):
            host = self._hosts[origin]
            if host.queue:
                pools = self._start_host(origin, host, now, pools)
            if not host.queue:
                del self._waiting[origin]
            if self._running >= self.max_threads or (
                    pools is not None and pools[0] >= self.max_workers and pools[1] >= self.others_pool):
                return  # nothing more can start: the rest waits

    def _ensure_timer(self):
        """Under the lock: the timer thread runs (delayed jobs, pumping a saturated pool)."""
        if self._closed:
            return
        if self._timer is None:
            self._timer = threading.Thread(target=self._release_delayed, name="postback-http-timer", daemon=True)
            self._timer.start()
        self._timer_wake.notify()

    def _submit_later(self, at, job, callback):
        with self._lock:
            if self._closed:
                return
            heapq.heappush(self._delayed, (at, self._delayed_seq, job, callback))
            self._delayed_seq += 1
            self._ensure_timer()

    def _release_delayed(self):
        """The timer thread: submit each delayed job at its time (it then queues like any
        other); while every worker is busy, start queued jobs every SLOW_SECONDS as the
        endpoints holding the workers turn out to be stuck (nothing else would: no
        request of theirs ends before its deadline)."""
        while True:
            with self._lock:
                while not self._closed and (not self._delayed or self._delayed[0][0] > time.monotonic()):
                    now = time.monotonic()
                    waits = [self._delayed[0][0] - now] if self._delayed else []
                    self._timer_pumping = self._running >= self.max_workers and bool(self._waiting)
                    if self._timer_pumping:
                        if now >= self._next_pump:
                            self._next_pump = now + SLOW_SECONDS
                            self._start_queued(now)
                        waits.append(self._next_pump - now)
                    self._timer_wake.wait(max(0.0, min(waits)) if waits else None)
                if self._closed:
                    return
                due = []
                while self._delayed and self._delayed[0][0] <= time.monotonic():
                    due.append(heapq.heappop(self._delayed))
            for _at, _seq, job, callback in due:
                self.submit(job, callback)

    def send_all(self, jobs):
        """Send every job and wait; one Outcome per job, in the same order."""
        jobs = list(jobs)
        outcomes = [None] * len(jobs)
        done = threading.Semaphore(0)

        def collect(index):
            def put(outcome):
                outcomes[index] = outcome
                done.release()
            return put

        for index, job in enumerate(jobs):
            self.submit(job, collect(index))
        for _job in jobs:
            done.acquire()
        return outcomes

    def _skipped(self, job, host):
        wait = max(0.0, host.blocked_until - time.monotonic())
        return Outcome(job.key, None, error=COOLING_ERROR.format(seconds=max(1, round(wait))),
                       retry_after=str(max(1, round(wait))), skipped=True, blocked_for=wait)

    def _start(self, origin, host, job, callback, pool=None):
        """Under the lock: run ``job`` in a thread, counted in ``pool`` (default: the workers')."""
        now = time.monotonic()
        self._tokens += 1
        token = self._tokens
        host.running += 1
        host.starts[token] = now
        host.progress = now
        self._running += 1
        self._inflight[token] = (now, pool or _WORKERS)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_threads, thread_name_prefix="postback-http")
        self._pool.submit(self._run, origin, job, callback, token)

    def _run(self, origin, job, callback, token):
        try:
            with self._lock:
                blocked = self._hosts[origin].blocked_until > time.monotonic()
            if job.latest_start is not None and time.monotonic() > job.latest_start:
                outcome = Outcome(job.key, None, error=RELEASED_ERROR, skipped=True, released=True)
            elif blocked:
                with self._lock:
                    outcome = self._skipped(job, self._hosts[origin])
            elif isinstance(job, CallJob):
                outcome = job.fn()
            else:
                outcome = self._send_one(origin, job)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the outcome
            outcome = Outcome(job.key, None, error=f"Unexpected error: {type(exc).__name__}", error_kind=UNEXPECTED)
        outcome.finished_at = time.time()
        followers = []
        with self._lock:
            host = self._hosts[origin]
            host.running -= 1
            self._running -= 1
            host.starts.pop(token, None)
            self._inflight.pop(token, None)
            host.progress = time.monotonic()
            if not outcome.skipped and outcome.error_kind != AUTH:  # a token request says nothing of it
                seconds = outcome.duration_ms / 1000
                host.latency = seconds if not host.latency else host.latency + 0.3 * (seconds - host.latency)
            if outcome.status:
                host.answered = True
            if outcome.error_kind in TRIPPING_KINDS and self.cooldown > 0:
                host.blocked_until = max(host.blocked_until, time.monotonic() + self.cooldown)
            if host.blocked_until > time.monotonic():
                while host.queue:
                    queued, queued_callback = host.queue.popleft()
                    followers.append((queued_callback, self._skipped(queued, host)))
            # Start what this slot frees: this endpoint's next job, else any waiting one.
            self._start_waiting(origin, host)
        callback(outcome)
        for queued_callback, skipped in followers:
            queued_callback(skipped)

    def _start_waiting(self, origin, host):
        """Under the lock, when a request ended: this endpoint's next job first (the thread
        it freed; its first answer may have opened its other lanes), then any waiting one."""
        now = time.monotonic()
        pools = self._start_host(origin, host, now) if host.queue else None
        if self._waiting:
            self._start_queued(now, pools)

    # -- connections -----------------------------------------------------------

    def _checkout(self, origin):
        with self._lock:
            idle = self._idle.get(origin)
            if idle:
                self._idle.move_to_end(origin)
                self._idle_count -= 1
                return idle.pop()
            proxy = self._proxy_locked(origin)
        return _Connection(origin, proxy)

    def _proxy_locked(self, origin):
        """The environment's proxy for ``origin`` (looked up once); call with the lock held."""
        if origin not in self._proxies:
            self._proxies[origin] = _proxy_for(origin)
        return self._proxies[origin]

    def _checkin(self, origin, connection):
        evicted = []
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < MAX_IDLE_PER_HOST:
                idle.append(connection)
                self._idle_count += 1
            else:
                evicted.append(connection)
            self._idle.move_to_end(origin)
            while self._idle_count > MAX_IDLE_CONNECTIONS and len(self._idle) > 1:
                dropped = self._idle.popitem(last=False)[1]
                self._idle_count -= len(dropped)
                evicted.extend(dropped)
        for old in evicted:
            old.close()

    # -- one request -------------------------------------------------------------

    def _send_one(self, origin, request):
        started = time.perf_counter()
        deadline = time.monotonic() + request.timeout

        def failed(message, kind):
            return _failed(request, started, message, kind)

        addresses = None
        if self.check is not None:
            try:
                addresses = self.check(request.url)
            except ValueError as exc:  # UnsafeTargetError or an invalid URL
                outcome = failed(str(exc), REFUSED)
                outcome.error_message = exc
                return outcome
        parts = urlsplit(request.url)
        with self._lock:  # looked up before the first connection: the first request goes through it too
            proxy = self._proxy_locked(origin)
        target = request.url if (proxy and origin[0] == "http") else (
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        headers = {"User-Agent": self.user_agent, "Accept": "*/*", **request.headers}

        def exchange():
            return self._exchange(origin, request, target, headers, addresses=addresses, deadline=deadline,
                                  started=started)

        def missed_slot():
            # A rate-limited request is sent inside its slot or not at all (nothing left yet).
            if request.slot_end is None or time.monotonic() <= request.slot_end:
                return None
            return Outcome(request.key, None, error=SLOT_MISSED_ERROR, skipped=True, released=True)

        auth = request.auth
        if auth is None:
            return missed_slot() or exchange()
        # The credentials are had here, in the worker thread and inside the request's
        # deadline: the deadline covers the token request too.
        try:
            merge_headers(headers, auth.headers(deadline))
        except ValueError as exc:  # e.g. the OAuth2 token request failed: nothing was sent
            outcome = failed(str(exc), AUTH)
            outcome.error_message = exc
            return _redacted(outcome, auth)
        late = missed_slot()
        if late is not None:
            return late
        outcome = exchange()
        if outcome.status == 401:
            # The receiver refused the credentials (a token revoked before it expired):
            # renewed once and the same request (same webhook-id, body and signature)
            # sent once more at once, inside the same deadline. A second 401 is the outcome.
            # A rate-limited request had one slot: the credentials are renewed, the 401 is
            # the attempt's outcome and its retry (with the new ones) takes a slot of its own.
            try:
                fresh = auth.renew(headers, deadline)
            except ValueError as exc:
                outcome.error, outcome.error_kind, outcome.error_message = str(exc), AUTH, exc
            else:
                if fresh and request.slot_end is None:
                    merge_headers(headers, fresh)
                    outcome = exchange()
        return _redacted(outcome, auth)

    def _exchange(self, origin, request, target, headers, *, addresses, deadline, started):
        """One request/response on a kept-alive connection (once more on a fresh one if
        the server had closed it); an Outcome."""

        def failed(message, kind):
            return _failed(request, started, message, kind)

        for attempt in (1, 2):
            connection = self._checkout(origin)
            reused = connection.pb_used > 0
            # Connect to what was checked, never to a second DNS answer.
            connection.pb_addresses = addresses
            connection.pb_set_deadline(deadline, min(request.connect_timeout, request.timeout))
            got_answer = False
            try:
                try:
                    connection.request(request.method, target, body=request.body, headers=headers)
                except (ValueError, http.client.InvalidURL):
                    connection.close()
                    return failed("The URL or a custom header contains characters HTTP cannot carry; "
                                  "check the trigger's URL and headers", INVALID)
                response = connection.getresponse()
                got_answer = True
                status = response.status
                raw, read_error, complete = self._read_body(response)
                outcome = Outcome(
                    request.key, status, clean_headers(response.getheaders()),
                    self._body_text(raw, response.getheader("Content-Type")),
                    (time.perf_counter() - started) * 1000,
                )
                outcome.retry_after = outcome.headers.get("Retry-After")
                if read_error is not None:
                    outcome.error, outcome.error_kind = read_error
                if complete and not response.will_close and read_error is None:
                    connection.pb_used += 1
                    connection.pb_set_deadline(None, 5.0)
                    self._checkin(origin, connection)
                else:
                    connection.close()
                return outcome
            except (DeadlineExceeded, TimeoutError):
                connected = connection.sock is not None
                connection.close()
                if not connected and time.monotonic() < deadline:
                    return failed(f"Timed out after {_seconds(request.connect_timeout)} while connecting", TIMEOUT)
                return failed(f"Timed out: no complete answer within {_seconds(request.timeout)}", TIMEOUT)
            except ConnectionRefusedError:
                connection.close()
                return failed("Connection refused", CONNECT)
            except socket.gaierror:
                connection.close()
                return failed("The server name could not be resolved", CONNECT)
            except ssl.SSLCertVerificationError:
                connection.close()
                return failed("Secure connection (TLS) failed: the server's certificate could not be verified",
                              CONNECT)
            except ssl.SSLError:
                connection.close()
                return failed("Secure connection (TLS) failed", CONNECT)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                connection.close()
                if reused and attempt == 1 and not got_answer:
                    continue  # the server closed an idle kept-alive connection: once more, fresh
                if isinstance(exc, http.client.RemoteDisconnected):
                    return failed("Invalid response: the server closed the connection without answering", PROTOCOL)
                return failed("Connection reset by the server", PROTOCOL)
            except http.client.HTTPException:
                connection.close()
                return failed("Invalid response: the server's answer is not valid HTTP", PROTOCOL)
            except OSError as exc:
                connection.close()
                if exc.errno in (101, 113):  # network / host unreachable
                    return failed("The server could not be reached", CONNECT)
                return failed("Could not connect to the server", CONNECT)
        return failed("Invalid response: the server closed the connection without answering", PROTOCOL)

    def _read_body(self, response):
        """(bytes up to max_body + 1, read error or None, body read to its end)."""
        chunks, size = [], 0
        limit = self.max_body + DRAIN_BYTES
        try:
            while True:
                # read1: what has arrived, so a body cut off by the deadline keeps its start.
                chunk = response.read1(16384)
                if chunk:
                    if size <= self.max_body:
                        chunks.append(chunk)
                    size += len(chunk)
                if not response.chunked and response.length == 0:
                    response.close()  # what read() does at the end of a sized body
                if not chunk or response.isclosed():
                    return b"".join(chunks), None, True
                if size > limit:  # past the drain allowance: drop the connection
                    return b"".join(chunks), None, False
        except (DeadlineExceeded, TimeoutError):
            return b"".join(chunks), ("The answer did not end within the timeout; it was cut off", TIMEOUT), False
        except (http.client.HTTPException, OSError, ValueError):
            return b"".join(chunks), ("The answer was cut off by the server", PROTOCOL), False

    def _body_text(self, raw, content_type):
        text = decode_body(raw[: self.max_body], content_type)
        # Escaped bytes take four characters: the stored text is bounded too.
        if len(raw) > self.max_body or len(text) > self.max_body:
            text = text[: self.max_body] + TRUNCATED_MARKER.format(max_body=self.max_body)
        return text


def _failed(request, started, message, kind):
    return Outcome(request.key, None, error=message, error_kind=kind,
                   duration_ms=(time.perf_counter() - started) * 1000)


def merge_headers(headers, extra):
    """Add ``extra`` to ``headers``, replacing any header of the same name whatever its case."""
    for name, value in extra.items():
        for existing in [key for key in headers if key.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value


def _redacted(outcome, auth):
    """The outcome without the request's credentials (a receiver may echo them)."""
    outcome.body = auth.redact(outcome.body)
    outcome.error = auth.redact(outcome.error)
    outcome.headers = {name: auth.redact(value) for name, value in outcome.headers.items()}
    return outcome


def send_one(request, *, check=None, max_body=4096, user_agent=USER_AGENT):
    """Send one request in the calling thread and return its Outcome.

    Same guarantees as ``HttpSender`` (absolute deadline, address policy through
    ``check``, bounded and cleaned bytes), on a connection of its own closed
    afterwards; used for side requests such as an OAuth2 token request.
    """
    sender = HttpSender(max_workers=1, per_host=1, max_body=max_body, user_agent=user_agent, check=check,
                        cooldown=0)
    try:
        outcome = sender._send_one(_origin(request.url), request)
    except Exception as exc:  # noqa: BLE001 - a bug must not lose the outcome
        outcome = Outcome(request.key, None, error=f"Unexpected error: {type(exc).__name__}", error_kind=UNEXPECTED)
    finally:
        sender.close()
    outcome.finished_at = time.time()
    return outcome


def user_agent(version=VERSION):
    """User-Agent header value for a module version."""
    return f"postback_connector/{version}"
