"""What a receiver sends back is stored safely and readably, whatever the bytes."""

import codecs

import pytest

from postback_connector.engine import http


def storable(text):
    assert "\x00" not in text
    assert not any(ord(c) < 32 and c not in "\t\n\r" for c in text)
    text.encode("utf-8")  # no lone surrogates
    return True


@pytest.mark.parametrize(
    "raw, content_type",
    [
        (b"ok\x00\x01\x02\x1b[31m", "text/plain"),
        (b"\xff\xfe\xfa invalid utf-8", "text/plain; charset=utf-8"),
        ("é€ unicode".encode("utf-16"), "text/plain; charset=utf-16"),
        (bytes(range(256)), "application/octet-stream"),
        (b"\x1f\x8b\x08\x00gzip", "application/json"),
        (b"abc", "text/plain; charset=x-nonsense"),
        (b"abc", "text/plain; charset=idna"),
        (b"abc", "text/plain; charset=base64"),
        (b"abc", "text/plain; charset=rot13"),
        (b"\xd8\x00\xdc", "text/plain; charset=utf-16-le"),
    ],
)
def test_any_body_decodes_to_storable_text(raw, content_type):
    assert storable(http.decode_body(raw, content_type))


def test_utf16_is_read_in_its_charset():
    assert http.decode_body("é€ unicode".encode("utf-16"), "text/plain; charset=UTF-16") == "é€ unicode"


def test_undecodable_bytes_are_escaped_visibly():
    assert http.decode_body(b"a\xffb\x00c", "text/plain") == "a\\xffb\\x00c"


def test_non_text_codecs_are_not_used_as_charsets():
    assert http.text_encoding("text/plain; charset=idna") == "utf-8"
    assert http.text_encoding("text/plain; charset=rot13") == "utf-8"
    assert http.text_encoding("text/plain; charset=latin-1") == codecs.lookup("latin-1").name


def test_headers_are_bounded_and_printable():
    items = [("X-Bin\x00ary", "v\x00\x07al"), ("X-Utf8", "caf\xc3\xa9"), ("X-Big", "y" * 5000)]
    items += [("X-H%d" % i, "z" * 100) for i in range(100)]
    headers = http.clean_headers(items)
    assert all(storable(k) and storable(v) for k, v in headers.items())
    assert headers["X-Bin?ary"] == "v\\x00\\x07al"
    assert headers["X-Utf8"] == "café", "UTF-8 bytes read as latin-1 are shown as the text they are"
    assert len(headers["X-Big"]) <= http.MAX_HEADER_VALUE + 10
    assert sum(len(k) + len(v) for k, v in headers.items()) <= http.MAX_HEADERS_TEXT


def test_clean_text_bounds_and_escapes():
    assert http.clean_text("a\x00" * 10, limit=5) == "a\\x00 [...]"
    assert http.clean_text("\ud800") == "\\ud800"
    assert http.clean_text(None) == ""
