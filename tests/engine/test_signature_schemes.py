"""Signature schemes (engine.signing.signature_headers), each checked by code written
from the scheme's public description, not by the connector's signing function."""

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks.webhooks import Webhook

from postback_connector.engine import signing

BODY = '{"order":"SO042","name":"Zoë"}'.encode()


def github_valid(secret, body, header_value):
    """GitHub's documented check: sha256= + hex HMAC-SHA256 of the payload, keyed with the secret."""
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), msg=body, digestmod=hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header_value)


def base64_valid(secret, body, header_value):
    """Base64 of the HMAC-SHA256 of the raw body (Shopify-style receivers)."""
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, header_value)


def test_standard_is_standard_webhooks_and_the_default():
    secret = signing.generate_secret()
    now = int(time.time())
    for scheme in ("standard", None):
        headers = signing.signature_headers(scheme, "msg_1", now, BODY, [secret])
        assert headers == signing.build_headers("msg_1", now, BODY, [secret])
        Webhook(secret).verify(BODY, headers)


def test_github_scheme_verifies_with_githubs_documented_check_and_a_tampered_body_fails():
    secret = signing.generate_secret()
    headers = signing.signature_headers("github", "msg_2", 1700000000, BODY, [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "X-Hub-Signature-256"}
    assert headers["webhook-id"] == "msg_2" and headers["webhook-timestamp"] == "1700000000"
    value = headers["X-Hub-Signature-256"]
    assert value.startswith("sha256=") and value[7:] == value[7:].lower() and len(value) == 7 + 64
    assert github_valid(secret, BODY, value)
    assert not github_valid(secret, BODY.replace(b"SO042", b"SO043"), value)
    assert not github_valid(signing.generate_secret(), BODY, value)


def test_github_scheme_known_value():
    # Key = the secret text as the merchant copies it (UTF-8 bytes of "whsec_...").
    headers = signing.signature_headers("github", "m", 0, b"Hello, World!", ["It's a Secret to Everybody"])
    # The example of GitHub's documentation ("Validating webhook deliveries").
    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_base64_scheme_in_a_named_header_verifies_and_a_tampered_body_fails():
    secret = signing.generate_secret()
    headers = signing.signature_headers("hmac_base64", "msg_3", 1, BODY, [secret], header="X-Shop-Hmac")
    assert set(headers) == {"webhook-id", "webhook-timestamp", "X-Shop-Hmac"}
    assert base64_valid(secret, BODY, headers["X-Shop-Hmac"])
    assert not base64_valid(secret, BODY + b" ", headers["X-Shop-Hmac"])
    default = signing.signature_headers("hmac_base64", "msg_3", 1, BODY, [secret])
    assert base64_valid(secret, BODY, default["X-Signature"])


def test_body_hmac_schemes_sign_with_the_current_secret_only_during_a_rotation():
    new, old = signing.generate_secret(), signing.generate_secret()
    headers = signing.signature_headers("github", "msg_4", 1, BODY, ["", new, old])
    assert github_valid(new, BODY, headers["X-Hub-Signature-256"])
    assert not github_valid(old, BODY, headers["X-Hub-Signature-256"])


def test_without_secret_only_the_id_and_timestamp_are_sent_and_unknown_schemes_are_refused():
    assert signing.signature_headers("github", "m", 5, BODY, []) == {"webhook-id": "m", "webhook-timestamp": "5"}
    with pytest.raises(ValueError, match="Unknown signature scheme"):
        signing.signature_headers("md5", "m", 5, BODY, ["whsec_x"])
