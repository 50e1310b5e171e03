"""URL/header validation and the private-address check.

Only literal IP addresses and "localhost" are used, so no test depends on
an outside DNS server; resolution failures are simulated by replacing
socket.getaddrinfo for the duration of a test.
"""

import socket

import pytest

from postback_connector.engine import netcheck
from postback_connector.engine.netcheck import UnsafeTargetError, check_target, validate_url


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "http://example.com:8080/a?b=c", "https://[2001:db8::1]/x"]
)
def test_valid_urls(url):
    validate_url(url)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "Please enter the URL"),
        (None, "Please enter the URL"),
        ("ftp://example.com/", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("https:///path", "no server name"),
        ("https://user:pass@example.com/", "user name or password"),
        ("https://user@example.com/", "user name or password"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/\n", "spaces or line breaks"),
        ("https://example.com:99999/", "invalid port"),
        ("https://example.com/" + "a" * 3000, "longer than"),
    ],
)
def test_invalid_urls(url, words):
    with pytest.raises(ValueError, match=words):
        validate_url(url)


def test_header_names():
    assert netcheck.is_valid_header_name("X-Api-Key")
    assert netcheck.is_valid_header_name("Authorization")
    for bad in ("", "X Api", "X:Api", "Ünicode", "X\r\nY", None):
        assert not netcheck.is_valid_header_name(bad)


def test_header_values():
    assert netcheck.is_valid_header_value("Bearer abc.def")
    assert netcheck.is_valid_header_value("")
    assert netcheck.is_valid_header_value("a\tb c")
    assert netcheck.is_valid_header_value("café")
    for bad in ("a\r\nInjected: 1", "a\nb", "a\x00b", " leading", "a\x07", None):
        assert not netcheck.is_valid_header_value(bad)


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("[::1]", "loopback"),
        ("[fe80::1]", "link-local"),
        ("[fc00::1]", "private"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:10.0.0.1]", "private"),
        ("[64:ff9b::a9fe:a9fe]", "link-local"),
        ("[2002:7f00:1::]", "loopback"),
        ("localhost", "loopback"),
    ],
)
def test_non_public_targets_are_refused(host, kind):
    with pytest.raises(UnsafeTargetError) as info:
        check_target(f"http://{host}:8069/webhook")
    message = str(info.value)
    assert f"a {kind} address" in message
    assert "an administrator can allow them in Postbacks › Configuration › Settings" in message
    assert "“Allow private network targets”" in message
    check_target(f"http://{host}:8069/webhook", allow_private=True)


def test_numeric_host_spelling_is_resolved_and_refused():
    with pytest.raises(UnsafeTargetError, match="loopback"):
        check_target("http://2130706433/")


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hook", "http://93.184.216.34:8080/", "https://[2001:4860:4860::8888]/"]
)
def test_public_addresses_are_allowed(url):
    check_target(url)


def test_invalid_url_is_refused_even_when_private_is_allowed():
    with pytest.raises(ValueError, match="http:// or https://"):
        check_target("ftp://127.0.0.1/", allow_private=True)


def test_unresolvable_name(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(UnsafeTargetError, match="cannot be resolved"):
        check_target("https://no-such-host.example/")


def test_name_with_one_private_address_among_public_ones_is_refused(monkeypatch):
    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(UnsafeTargetError, match=r"loopback address \(::1\)"):
        check_target("https://mixed.example/")


def test_resolution_is_cached(monkeypatch):
    calls = []

    def resolve(host, port, *args, **kwargs):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    for _ in range(5):
        check_target("https://cached.example/a")
    check_target("https://CACHED.example/b")
    assert calls == ["cached.example"]
    netcheck.clear_cache()
    check_target("https://cached.example/a")
    assert len(calls) == 2
