"""Standard Webhooks signing, verified with the public standardwebhooks library."""

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from postback_connector.engine import signing

BODY = '{"type":"order.confirmed","order":{"ref":"SO1","name":"Zoë"}}'.encode()


def test_generated_secrets_are_valid_and_unique():
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first.startswith(signing.SECRET_PREFIX)
    assert len(base64.b64decode(first[len(signing.SECRET_PREFIX) :])) == 32
    assert first != second
    assert signing.is_valid_secret(first)


@pytest.mark.parametrize(
    "secret",
    [
        None,
        "",
        "whsec_",
        "abc",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"short").decode(),
        base64.b64encode(b"x" * 32).decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
    ],
)
def test_invalid_secrets(secret):
    assert not signing.is_valid_secret(secret)


def test_secret_without_padding_is_accepted():
    secret = "whsec_" + base64.b64encode(b"k" * 25).decode().rstrip("=")
    assert signing.is_valid_secret(secret)


def test_signature_format_and_known_value():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    # Widely published example vector; the reference library agrees.
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    moment = datetime.fromtimestamp(1614265330, tz=UTC)
    assert signature == Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", moment, '{"test": 2432232314}')


def test_headers_verify_with_the_reference_library():
    secret = signing.generate_secret()
    now = int(time.time())
    headers = signing.build_headers("msg_1", now, BODY, [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(now)
    assert Webhook(secret).verify(BODY, headers) == {"type": "order.confirmed", "order": {"ref": "SO1", "name": "Zoë"}}


def test_rotation_signs_with_both_secrets():
    old, new = signing.generate_secret(), signing.generate_secret()
    headers = signing.build_headers("msg_2", int(time.time()), BODY, [new, "", None, old, new])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(BODY, headers)


def test_tampered_body_or_id_fails_verification():
    secret = signing.generate_secret()
    headers = signing.build_headers("msg_3", int(time.time()), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"SO1", b"SO2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, dict(headers, **{"webhook-id": "msg_4"}))


def test_no_secret_means_no_signature_header():
    assert signing.build_headers("msg_5", 1, BODY, []) == {"webhook-id": "msg_5", "webhook-timestamp": "1"}


def test_invalid_secret_raises_a_sentence():
    with pytest.raises(ValueError, match="signing secret is not valid"):
        signing.sign("nope", "msg", 1, BODY)
