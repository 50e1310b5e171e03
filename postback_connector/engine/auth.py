"""Authentication of the requests to a receiver: static headers and OAuth2 client credentials.

Kinds (``postback.trigger.auth_type``):

* ``none``: nothing added (custom headers may still carry anything);
* ``bearer``: ``Authorization: Bearer <token>``;
* ``basic``: ``Authorization: Basic <base64 of "user:password" in UTF-8>`` (RFC 7617);
* ``api_key``: the key in a header the merchant names (``X-API-Key`` by default);
* ``oauth2``: the client credentials grant (RFC 6749 §4.4): a token requested
  from the token URL with HTTP Basic client authentication, sent as
  ``Authorization: Bearer <access token>``, kept until 30 s before it expires.

The request's ``auth`` object (``StaticAuth``, ``OAuth2ClientCredentials`` or
``Unavailable``) is what ``engine.http`` asks for the headers in the worker
thread, right before sending, inside the request's absolute deadline: the
token request never runs in a business transaction, nor in the runner's
loop, and a slow token endpoint holds only the lanes of its receiver. After
a 401 the sender asks it once to ``renew`` (a new token) and sends the same
request again. ``redact`` removes the credentials from what comes back (a
receiver or a token endpoint may echo them).

Why the 401 re-send lives in the transport and not in ``lifecycle``: the
token is fetched in the worker thread (above), so the request that got the
401 and its token source are both right there; renewing and re-sending in
the same call keeps "exactly once more" structural (no per-delivery state to
persist across runner calls), keeps the runner and the retry schedule
untouched, and stays inside the request's absolute deadline, so the runner's
time limits hold. The cost: the refused first request leaves no attempt row
of its own (the receiver's log shows both).

No Odoo here: the trigger model builds these objects from its fields and
keeps the OAuth2 token it gets (``take_update``) on the trigger, for every
runner.
"""

import base64
import json
import math
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from . import http
from ._values import EngineMessage, Phrase, _lt

NONE, BEARER, BASIC, API_KEY, OAUTH2 = "none", "bearer", "basic", "api_key", "oauth2"
KINDS = (NONE, BEARER, BASIC, API_KEY, OAUTH2)
DEFAULT_API_KEY_HEADER = "X-API-Key"
#: A token is renewed this many seconds before it expires.
REFRESH_MARGIN = 30.0
#: Lifetime of a token whose answer has no ``expires_in``.
DEFAULT_EXPIRES_IN = 3600
#: Largest token answer read (JWT access tokens are a few KB).
TOKEN_MAX_BYTES = 64 * 1024
#: Longest part of a token endpoint's error description kept in a message.
ERROR_DESCRIPTION_LIMIT = 200
MASK = "••••••"
#: Shortest credential masked in texts (shorter ones would mask ordinary words).
MIN_MASKED = 4


class AuthError(EngineMessage, ValueError):
    """The credentials of a request cannot be had; the merchant sentence is carried by code."""


def basic_credentials(username, password):
    """``base64("user:password")`` (UTF-8), the value after ``Basic``."""
    raw = f"{username or ''}:{password or ''}".encode()
    return base64.b64encode(raw).decode("ascii")


def auth_headers(kind, *, token=None, username=None, password=None, header=None, api_key=None):
    """The headers of a static kind (``none``, ``bearer``, ``basic``, ``api_key``).

    Raises AuthError when a credential the kind needs is missing (a draft
    trigger whose secret was not entered yet, e.g. a duplicated one).
    """
    if kind in (None, "", NONE):
        return {}
    if kind == BEARER:
        if not token:
            raise AuthError(_lt("The Bearer token is missing: enter it in the trigger's Authentication section"))
        return {"Authorization": f"Bearer {token}"}
    if kind == BASIC:
        if not username:
            raise AuthError(_lt("The user name for Basic authentication is missing: enter it in the trigger's "
                                "Authentication section"))
        return {"Authorization": "Basic " + basic_credentials(username, password)}
    if kind == API_KEY:
        if not api_key:
            raise AuthError(_lt("The API key is missing: enter it in the trigger's Authentication section"))
        return {header or DEFAULT_API_KEY_HEADER: api_key}
    raise ValueError(f"Not a static authentication kind: {kind!r}")


def redact(text, secrets):
    """``text`` with every secret (longest first) replaced by a mask."""
    if not text or not isinstance(text, str):
        return text
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_MASKED}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def secret_words(*values):
    """Values and their long words (``Bearer <token>`` -> the token): what to mask."""
    found = set()
    for value in values:
        if value:
            found.add(value)
            found.update(word for word in value.split() if len(word) >= 8)
    return found


class StaticAuth:
    """Fixed headers (Bearer, Basic, API key); ``secrets``: more to mask (a Basic password)."""

    def __init__(self, headers, secrets=()):
        self._headers = dict(headers)
        self._secrets = secret_words(*self._headers.values(), *secrets)

    def headers(self, deadline=None):
        return dict(self._headers)

    def renew(self, sent_headers, deadline=None):
        return None  # nothing to renew: a 401 is the receiver's answer

    def redact(self, text):
        return redact(text, self._secrets)

    def take_update(self):
        return None


class Unavailable:
    """Credentials that cannot be had: every send fails with ``error``, nothing leaves."""

    def __init__(self, error):
        self.error = error

    def headers(self, deadline=None):
        raise self.error

    def renew(self, sent_headers, deadline=None):
        return None

    def redact(self, text):
        return text

    def take_update(self):
        return None


# ---------------------------------------------------------------- OAuth2 ----


def missing_client_secret():
    """The error of an OAuth2 trigger without its client secret (a draft, e.g. a duplicate)."""
    return AuthError(_lt("The OAuth2 client secret is missing: enter it in the trigger's Authentication section"))


@dataclass(frozen=True)
class OAuth2Config:
    token_url: str
    client_id: str
    client_secret: str
    scope: str = ""
    audience: str = ""


def shown_url(url):
    """The token URL as messages show it: without query string or fragment (they may hold secrets)."""
    try:
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    except ValueError:
        return "?"


def token_request(config, timeout):
    """The token request (RFC 6749 §4.4.2), HTTP Basic client authentication (§2.3.1).

    The client id and secret are form-encoded before the Basic encoding, as
    §2.3.1 says; the client id is sent in the body too, for the servers that
    look for it there. ``scope`` and ``audience`` only when set.
    """
    form = {"grant_type": "client_credentials", "client_id": config.client_id}
    if config.scope:
        form["scope"] = config.scope
    if config.audience:
        form["audience"] = config.audience
    credentials = basic_credentials(quote(config.client_id, safe=""), quote(config.client_secret or "", safe=""))
    return http.OutgoingRequest(
        key="oauth2-token",
        method="POST",
        url=config.token_url,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "Authorization": "Basic " + credentials,
        },
        body=urlencode(form).encode("ascii"),
        timeout=timeout,
        connect_timeout=min(5.0, timeout),
    )


def _token_error(config, detail, cause=None):
    url = shown_url(config.token_url)
    if cause is not None:
        return AuthError(_lt("The OAuth2 token request to %(url)s failed: %(detail)s"), {"url": url}, cause=cause)
    return AuthError(_lt("The OAuth2 token request to %(url)s failed: %(detail)s"), {"url": url, "detail": detail})


def _error_detail(status, body):
    """``HTTP 401 (invalid_client: …)``: the status and the OAuth2 error of the answer (RFC 6749 §5.2)."""
    described = ""
    try:
        data = json.loads(body or "")
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        described = data["error"]
        if isinstance(data.get("error_description"), str) and data["error_description"].strip():
            described += ": " + " ".join(data["error_description"].split())
    elif body and body.strip():
        described = " ".join(body.split())
    described = described[:ERROR_DESCRIPTION_LIMIT]
    if described:
        return Phrase(_lt("HTTP %(status)s (%(error)s)"), {"status": str(status), "error": described})
    return Phrase(_lt("HTTP %(status)s"), {"status": str(status)})


def parse_token_answer(config, outcome, now):
    """``(access_token, expires_at)`` from the token endpoint's Outcome, or raise AuthError.

    ``expires_at`` is epoch seconds (``expires_in`` after ``now``; 3600 s when
    the answer has none).
    """
    if outcome.status is None:
        if isinstance(outcome.error_message, EngineMessage):  # refused by the address policy
            raise _token_error(config, None, cause=outcome.error_message)
        raise _token_error(config, outcome.error or "no answer")
    if not 200 <= outcome.status < 300:
        raise _token_error(config, _error_detail(outcome.status, outcome.body))
    body = outcome.body or ""
    if body.endswith(http.TRUNCATED_MARKER.format(max_body=TOKEN_MAX_BYTES)):
        raise _token_error(config, Phrase(_lt("the answer is larger than %(limit)s KB"),
                                          {"limit": str(TOKEN_MAX_BYTES // 1024)}))
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _token_error(config, Phrase(_lt("the answer is not a JSON object")))
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise _token_error(config, Phrase(_lt("the answer has no access_token")))
    token_type = data.get("token_type")
    if token_type is not None and str(token_type).lower() != "bearer":
        raise _token_error(config, Phrase(_lt("the token type “%(type)s” is not supported (only Bearer)"),
                                          {"type": str(token_type)[:40]}))
    if token != token.strip() or any(ord(char) < 0x21 or ord(char) > 0x7E for char in token):
        raise _token_error(config, Phrase(_lt("the access token contains characters an HTTP header cannot carry")))
    expires_in = data.get("expires_in")
    if expires_in is None or isinstance(expires_in, bool):
        expires_in = DEFAULT_EXPIRES_IN
    try:
        expires_in = max(0.0, float(expires_in))
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN
    return token, now + expires_in


def client_secrets(config):
    """What the token request reveals of the client: masked in anything shown."""
    return secret_words(config.client_secret, basic_credentials(config.client_id, config.client_secret),
                  basic_credentials(quote(config.client_id, safe=""), quote(config.client_secret or "", safe="")))


def fetch_token(config, deadline, check=None, clock=time.time):
    """Request a token, bounded by ``deadline`` (monotonic), the address policy (``check``)
    and TOKEN_MAX_BYTES; ``(access_token, expires_at)`` or AuthError."""
    # Whole tenths of a second: a timeout message reads "within 9.9 s".
    remaining = math.floor((deadline - time.monotonic()) * 10) / 10
    if remaining <= 0:
        raise _token_error(config, Phrase(_lt("no time was left before the trigger's timeout")))
    outcome = http.send_one(token_request(config, remaining), check=check, max_body=TOKEN_MAX_BYTES)
    # A token endpoint may echo the client's credentials in its error answer.
    outcome.body = redact(outcome.body, client_secrets(config))
    return parse_token_answer(config, outcome, clock())


def is_fresh(expires_at, now, margin=REFRESH_MARGIN):
    """True while a token expiring at ``expires_at`` may still be used (not within ``margin`` of it)."""
    return bool(expires_at) and now < expires_at - margin


class OAuth2ClientCredentials:
    """The access token of one trigger, shared by the sender's threads.

    ``token``/``expires_at`` seed it with the token kept on the trigger.
    One thread at a time requests a token; the others wait for it (at most
    until their own deadline), so many deliveries cost one token request.
    ``take_update`` hands the token obtained (or ``(None, None)`` once a
    rejected one was dropped) to whoever keeps it.
    """

    def __init__(self, config, *, check=None, token=None, expires_at=None, clock=time.time, fetch=fetch_token):
        self.config = config
        self._check = check
        self._clock = clock
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token = token or None
        self._expires_at = expires_at or None
        self._update = None
        #: The client's credentials and every token used or received: masked in what comes back.
        self._seen = client_secrets(config)
        if self._token:
            self._seen.add(self._token)
        #: Token requests made (successful or not).
        self.requests = 0

    def headers(self, deadline):
        token = self._get(deadline, rejected=None)
        return {"Authorization": f"Bearer {token}"}

    def renew(self, sent_headers, deadline):
        sent = next((value for name, value in sent_headers.items() if name.lower() == "authorization"), "")
        token = self._get(deadline, rejected=sent.removeprefix("Bearer "))
        return {"Authorization": f"Bearer {token}"}

    def redact(self, text):
        with self._lock:
            secrets = set(self._seen)
        return redact(text, secrets)

    def take_update(self):
        with self._lock:
            update, self._update = self._update, None
        return update

    def _get(self, deadline, rejected):
        """A usable token: the kept one while fresh (and not the one just rejected), else a new one."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._lock.acquire(timeout=remaining):
            raise _token_error(self.config, Phrase(_lt("no time was left before the trigger's timeout")))
        try:
            if rejected is not None and self._token == rejected:
                # The receiver refused it: never use it again, here or in another runner.
                self._token, self._expires_at = None, None
                self._update = (None, None)
            elif self._token and (rejected is not None or is_fresh(self._expires_at, self._clock())):
                # Fresh, or already renewed by another thread after its own 401.
                return self._token
            self.requests += 1
            token, expires_at = self._fetch(self.config, deadline, check=self._check, clock=self._clock)
            self._token, self._expires_at = token, expires_at
            self._seen.add(token)
            self._update = (token, expires_at)
            return token
        finally:
            self._lock.release()
