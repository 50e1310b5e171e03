"""Validation of endpoint URLs and headers, and protection of the internal network.

Postback URLs are typed by merchants; without a check anyone allowed to
configure an endpoint could make the Odoo server call its own internal
services (databases, cloud metadata at 169.254.169.254, admin panels).
``check_target`` therefore refuses hosts that resolve to non-public
addresses unless an administrator allowed private targets.

The name is resolved once: ``check_target`` returns the addresses it
checked and the HTTP channel connects to exactly those (keeping the name
for the Host header and TLS verification), so a DNS server that changes its
answer between two lookups (DNS rebinding) cannot lead a request inside the
network. An outbound proxy, if one is configured, resolves the name itself:
it must enforce the same policy.
"""

import ipaddress
import re
import socket
import threading
import time
from urllib.parse import urlsplit

from ._values import EngineMessage, Phrase, _lt

#: Seconds a resolved name is remembered, so the cron does not hit DNS for
#: every delivery to the same endpoint.
RESOLVE_TTL = 60.0
#: Names remembered at most (the cache is simply emptied when full).
RESOLVE_CACHE_SIZE = 1024
#: Longest URL accepted.
MAX_URL_LENGTH = 2048

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Visible characters, spaces/tabs inside, and non-ASCII (obs-text); no
# CR/LF/NUL or other control characters, no leading whitespace (the HTTP
# library refuses those too).
_HEADER_VALUE_RE = re.compile(r"(?:[^\x00-\x20\x7f][^\x00-\x08\x0a-\x1f\x7f]*)?")
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")

_cache = {}
_cache_lock = threading.Lock()
#: The name resolver: ``(host, port) -> getaddrinfo-like list`` (replaceable in tests).
_resolver = None


def set_resolver(resolver):
    """Use ``resolver(host, port)`` (getaddrinfo's answer shape) instead of DNS; None restores it."""
    global _resolver  # noqa: PLW0603 - a test hook, set once
    _resolver = resolver
    clear_cache()


class URLError(EngineMessage, ValueError):
    """A URL that cannot be used, with a merchant sentence carried by code.

    ``template``/``params`` as for the render errors; ``render.error_text``
    translates it.
    """


class UnsafeTargetError(URLError):
    """The URL points at an address postbacks may not be sent to."""


def validate_url(url):
    """Raise URLError (a ValueError) with a merchant sentence unless ``url`` is usable."""
    if not url or not str(url).strip():
        raise URLError(_lt("Please enter the URL the postbacks should be sent to"))
    url = str(url)
    if len(url) > MAX_URL_LENGTH:
        raise URLError(_lt("The URL is longer than %(limit)s characters"), {"limit": str(MAX_URL_LENGTH)})
    if any(ch.isspace() for ch in url):
        raise URLError(_lt("The URL must not contain spaces or line breaks"))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise URLError(_lt("The URL contains invisible control characters"))
    try:
        parts = urlsplit(url)
    except ValueError:
        raise URLError(_lt("The URL is not valid; it should look like https://example.com/webhook")) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise URLError(_lt("The URL must start with http:// or https://"))
    if not parts.hostname:
        raise URLError(_lt("The URL has no server name; it should look like https://example.com/webhook"))
    if parts.username is not None or parts.password is not None:
        raise URLError(_lt("The URL must not contain a user name or password; add an Authorization header instead"))
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise URLError(_lt("The URL has an invalid port number")) from None


def is_valid_header_name(name):
    """True for an RFC 7230 token (letters, digits and !#$%&'*+-.^_`|~)."""
    return isinstance(name, str) and bool(_TOKEN_RE.fullmatch(name))


def is_valid_header_value(value):
    """True unless the value has line breaks, NUL/control characters or leading spaces."""
    return isinstance(value, str) and bool(_HEADER_VALUE_RE.fullmatch(value))


def _embedded_ipv4(address):
    """The IPv4 address hidden in an IPv6 one (mapped, 6to4, Teredo, NAT64)."""
    if address.version != 6:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _unsafe_kind(address):
    """Why an address is not public (a short phrase), or None when it is."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return _unsafe_kind(embedded)
    if address.is_loopback:
        return Phrase(_lt("loopback"))
    if address.is_unspecified:
        return Phrase(_lt("unspecified"))
    if address.is_link_local:
        return Phrase(_lt("link-local"))
    if address.is_multicast:
        return Phrase(_lt("multicast"))
    if address.is_reserved:
        return Phrase(_lt("reserved"))
    if address.is_private:
        return Phrase(_lt("private"))
    if not address.is_global:  # e.g. 100.64.0.0/10 shared by carrier-grade NAT
        return Phrase(_lt("reserved"))
    return None


def _resolve(host, port):
    """All addresses of host (cached for RESOLVE_TTL seconds)."""
    key = (host.lower(), port)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
    try:
        infos = (_resolver or _getaddrinfo)(host, port)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeTargetError(
            _lt("The server name '%(host)s' cannot be resolved; check the URL for typing mistakes"), {"host": host}
        ) from None
    addresses = []
    for info in infos:
        text = info[4][0].split("%", 1)[0]  # drop an IPv6 zone such as %eth0
        address = ipaddress.ip_address(text)
        if address not in addresses:
            addresses.append(address)
    with _cache_lock:
        if len(_cache) >= RESOLVE_CACHE_SIZE:
            _cache.clear()
        _cache[key] = (now + RESOLVE_TTL, addresses)
    return addresses


def _getaddrinfo(host, port):
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def clear_cache():
    """Forget all resolved names (used by tests and after settings changes)."""
    with _cache_lock:
        _cache.clear()


def check_target(url, allow_private=False):
    """Raise unless ``url`` is valid and (unless allowed) reaches only public addresses.

    Returns the addresses that were checked (``ipaddress`` objects), which the
    caller must connect to, or None when any address is allowed.
    """
    validate_url(url)
    if allow_private:
        return None
    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = _resolve(host, port)
    for address in addresses:
        kind = _unsafe_kind(address)
        if kind:
            raise UnsafeTargetError(
                _lt(
                    "The server '%(host)s' resolves to a %(kind)s address (%(address)s), which postbacks may not "
                    "be sent to; an administrator can allow them in Postbacks › Configuration › Settings, "
                    "“Allow private network targets”"
                ),
                {"host": host, "kind": kind, "address": str(address)},
            )
    return addresses
