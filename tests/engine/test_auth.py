"""Authentication of the requests (engine.auth) and its place in the HTTP channel.

The token endpoint and the protected receiver are real servers on 127.0.0.1
(``postback_connector/tests/receivers.py``, shared with the Odoo tests), written
from RFC 6749, not from the connector's code.
"""

import base64
import importlib.util
import json
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pytest

from postback_connector.engine import auth, http, netcheck

RECEIVERS_PATH = Path(__file__).resolve().parents[2] / "postback_connector" / "tests" / "receivers.py"


def _load_receivers():
    name = "postback_test_receivers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RECEIVERS_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


receivers = _load_receivers()
CLIENT_ID, CLIENT_SECRET = "shop client+1", "s3cr3t:with/odd chars"


def _decode_basic(value):
    scheme, _sep, credentials = value.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(credentials).decode("utf-8")


# ----------------------------------------------------------- static kinds ---


def test_bearer_basic_and_api_key_headers():
    assert auth.auth_headers("none") == {}
    assert auth.auth_headers("bearer", token="tok-123") == {"Authorization": "Bearer tok-123"}
    basic = auth.auth_headers("basic", username="zoë", password="pa:ss wörd")["Authorization"]
    assert _decode_basic(basic) == "zoë:pa:ss wörd"  # RFC 7617: user-id ":" password, UTF-8
    assert auth.auth_headers("api_key", header="X-Shop-Key", api_key="k-1") == {"X-Shop-Key": "k-1"}
    assert auth.auth_headers("api_key", api_key="k-1") == {"X-API-Key": "k-1"}


@pytest.mark.parametrize(("kind", "values"), [("bearer", {}), ("basic", {"password": "x"}), ("api_key", {})])
def test_a_missing_credential_is_a_clear_error(kind, values):
    with pytest.raises(auth.AuthError, match="Authentication section"):
        auth.auth_headers(kind, **values)


def test_redaction_masks_credentials_longest_first():
    text = "echo: Bearer tok-1234567890 and tok-1234567890-longer and abc"
    masked = auth.redact(text, {"tok-1234567890", "tok-1234567890-longer", "abc"})
    assert "tok-" not in masked
    assert masked.endswith("abc"), "values shorter than 4 characters are not masked"


# ------------------------------------------------------- OAuth2, pure parts ---


def test_token_request_is_a_client_credentials_grant_with_basic_client_authentication():
    config = auth.OAuth2Config("https://auth.example/token", CLIENT_ID, CLIENT_SECRET, scope="orders:write",
                               audience="https://api.example")
    request = auth.token_request(config, 5)
    assert (request.method, request.url, request.timeout) == ("POST", "https://auth.example/token", 5)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    # RFC 6749 §2.3.1: id and secret form-encoded, then "id:secret" in Basic.
    client_id, _sep, client_secret = _decode_basic(request.headers["Authorization"]).partition(":")
    assert (unquote(client_id), unquote(client_secret)) == (CLIENT_ID, CLIENT_SECRET)
    form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
    assert form == {"grant_type": "client_credentials", "client_id": CLIENT_ID, "scope": "orders:write",
                    "audience": "https://api.example"}
    assert CLIENT_SECRET not in request.body.decode()
    bare = auth.token_request(auth.OAuth2Config("https://a.example/t", "id", "secret"), 5)
    assert set(parse_qs(bare.body.decode())) == {"grant_type", "client_id"}


CONFIG = auth.OAuth2Config("https://auth.example/oauth/token?tenant=x", "id", "secret")


def _answer(status, body, **kw):
    return http.Outcome("t", status, body=body if isinstance(body, str) else json.dumps(body), **kw)


def test_token_answer_gives_the_token_and_its_expiry():
    assert auth.parse_token_answer(CONFIG, _answer(200, {"access_token": "a", "token_type": "bearer",
                                                         "expires_in": 120}), 1000) == ("a", 1120)
    assert auth.parse_token_answer(CONFIG, _answer(200, {"access_token": "a"}), 1000) == ("a", 4600)
    assert auth.parse_token_answer(CONFIG, _answer(200, {"access_token": "a", "expires_in": "60"}), 0) == ("a", 60)


@pytest.mark.parametrize(("outcome", "expected"), [
    (_answer(401, {"error": "invalid_client", "error_description": "Client authentication failed"}),
     "The OAuth2 token request to https://auth.example/oauth/token failed: HTTP 401 (invalid_client: "
     "Client authentication failed)"),
    (_answer(503, ""), "failed: HTTP 503"),
    (_answer(200, "<html>login</html>"), "the answer is not a JSON object"),
    (_answer(200, {"token": "x"}), "the answer has no access_token"),
    (_answer(200, {"access_token": "x", "token_type": "mac"}), "the token type “mac” is not supported"),
    (_answer(200, {"access_token": "bad\r\nX-Injected: 1"}), "characters an HTTP header cannot carry"),
    (_answer(200, '{"access_token": "' + "a" * 10 + http.TRUNCATED_MARKER.format(max_body=auth.TOKEN_MAX_BYTES)),
     "larger than 64 KB"),
    (http.Outcome("t", None, error="Connection refused", error_kind=http.CONNECT), "failed: Connection refused"),
])
def test_a_token_request_that_fails_says_why_and_hides_the_query_string(outcome, expected):
    with pytest.raises(auth.AuthError) as failure:
        auth.parse_token_answer(CONFIG, outcome, 0)
    assert expected in str(failure.value)
    assert "tenant" not in str(failure.value)


def test_freshness_leaves_a_margin_before_expiry():
    assert auth.is_fresh(1000, 969)
    assert not auth.is_fresh(1000, 970)
    assert not auth.is_fresh(None, 0)


# ---------------------------------------------- OAuth2 against real servers ---


def _source(endpoint, **kw):
    config = auth.OAuth2Config(endpoint.url, endpoint.client_id, endpoint.client_secret)
    return auth.OAuth2ClientCredentials(config, **kw)


def _request(url, source, key=1, timeout=5.0):
    return http.OutgoingRequest(key=key, method="POST", url=url, headers={"webhook-id": f"msg_{key}"},
                                body=b'{"n": %d}' % key, timeout=timeout, auth=source)


def test_one_token_serves_many_concurrent_requests_and_is_kept():
    with receivers.TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, \
            receivers.HttpReceiver(guard=endpoint.guard) as receiver:
        source = _source(endpoint)
        with http.HttpSender(max_workers=8, per_host=8) as sender:
            outcomes = sender.send_all([_request(receiver.url, source, key) for key in range(20)])
    assert [o.status for o in outcomes] == [200] * 20
    assert len(endpoint.calls) == 1, "one token request for twenty deliveries"
    _headers, form = endpoint.calls[0]
    assert form["grant_type"] == "client_credentials"
    token, expires_at = source.take_update()
    assert endpoint.valid("Bearer " + token) and expires_at > time.time() + 3500
    assert source.take_update() is None, "handed over once"
    assert {r.headers["Authorization"] for r in receiver.received} == {"Bearer " + token}


def test_a_kept_fresh_token_is_used_without_a_token_request_and_an_expiring_one_is_renewed():
    with receivers.TokenEndpoint(expires_in=31) as endpoint, receivers.HttpReceiver(guard=endpoint.guard) as receiver:
        first = _source(endpoint)
        with http.HttpSender() as sender:
            assert sender.send_all([_request(receiver.url, first)])[0].status == 200
            token, expires_at = first.take_update()
            # Another runner, seeded with the kept token: no token request while it is fresh.
            second = _source(endpoint, token=token, expires_at=expires_at)
            assert sender.send_all([_request(receiver.url, second, 2)])[0].status == 200
            assert len(endpoint.calls) == 1
            time.sleep(1.1)  # 31 s tokens are renewed 30 s before they expire
            assert sender.send_all([_request(receiver.url, second, 3)])[0].status == 200
    assert len(endpoint.calls) == 2
    assert second.take_update()[0] != token


def test_a_401_renews_the_token_once_and_sends_the_same_request_again():
    with receivers.TokenEndpoint() as endpoint, receivers.HttpReceiver(guard=endpoint.guard) as receiver:
        source = _source(endpoint)
        with http.HttpSender() as sender:
            assert sender.send_all([_request(receiver.url, source)])[0].status == 200
            old, _expires = source.take_update()
            endpoint.revoke()  # the receiver's side forgot the token before it expired
            outcome = sender.send_all([_request(receiver.url, source, 2)])[0]
    assert outcome.status == 200
    assert len(endpoint.calls) == 2, "exactly one renewal"
    refused, accepted = receiver.received[1:]
    assert (refused.headers["webhook-id"], refused.body) == (accepted.headers["webhook-id"], accepted.body)
    assert refused.headers["Authorization"] == "Bearer " + old
    assert accepted.headers["Authorization"] != refused.headers["Authorization"]
    assert source.take_update()[0] != old


def test_a_rate_limited_request_answered_401_renews_the_token_without_a_second_request_in_its_slot():
    """A throttled request had one slot: the 401 is its outcome (the delivery's retry takes a slot
    of its own), the token is renewed at once, so the retry carries the new one."""
    with receivers.TokenEndpoint() as endpoint, receivers.HttpReceiver(guard=endpoint.guard) as receiver:
        source = _source(endpoint)
        with http.HttpSender() as sender:
            assert sender.send_all([_request(receiver.url, source)])[0].status == 200
            old, _expires = source.take_update()
            endpoint.revoke()
            throttled = _request(receiver.url, source, 2)
            throttled.not_before = time.monotonic()
            throttled.slot_end = throttled.not_before + 5.0
            outcome = sender.send_all([throttled])[0]
            assert outcome.status == 401 and not outcome.skipped
            assert len(receiver.received) == 2, "no second request in the same slot"
            retry = _request(receiver.url, source, 2)
            assert sender.send_all([retry])[0].status == 200
    assert len(endpoint.calls) == 2, "renewed once, on the 401"
    assert receiver.received[2].headers["Authorization"] != "Bearer " + old


def test_a_second_401_is_the_outcome_after_one_renewal():
    with receivers.TokenEndpoint() as endpoint, \
            receivers.HttpReceiver(guard=lambda headers, body: (401, {}, "no")) as receiver:
        source = _source(endpoint)
        with http.HttpSender() as sender:
            outcome = sender.send_all([_request(receiver.url, source)])[0]
    assert outcome.status == 401
    assert (len(receiver.received), len(endpoint.calls)) == (2, 2)


def test_a_static_credential_is_not_renewed_on_401():
    with receivers.HttpReceiver(default=(401, {}, "no")) as receiver:
        static = auth.StaticAuth({"Authorization": "Bearer fixed-token-1"})
        with http.HttpSender() as sender:
            assert sender.send_all([_request(receiver.url, static)])[0].status == 401
    assert len(receiver.received) == 1


def test_many_401s_at_once_cost_one_renewal():
    with receivers.TokenEndpoint() as endpoint, receivers.HttpReceiver(guard=endpoint.guard) as receiver:
        stale = _source(endpoint, token="at-revoked-long-ago", expires_at=time.time() + 3600)
        with http.HttpSender(max_workers=8, per_host=8) as sender:
            outcomes = sender.send_all([_request(receiver.url, stale, key) for key in range(8)])
    assert [o.status for o in outcomes] == [200] * 8
    assert len(endpoint.calls) == 1


def test_a_failing_token_endpoint_is_the_outcome_without_sending_nor_leaking_the_secret():
    with receivers.TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, receivers.HttpReceiver() as receiver:
        # A token endpoint echoing the client's credentials in its error.
        endpoint.failure = (401, {"error": "invalid_client", "error_description": "bad secret " + CLIENT_SECRET})
        source = _source(endpoint)
        with http.HttpSender() as sender:
            outcome = sender.send_all([_request(receiver.url, source)])[0]
    assert outcome.status is None and outcome.error_kind == http.AUTH
    assert outcome.error.startswith(f"The OAuth2 token request to {endpoint.url} failed: HTTP 401 (invalid_client")
    assert CLIENT_SECRET not in outcome.error
    assert CLIENT_SECRET not in str(outcome.error_message)
    assert not receiver.received, "nothing is sent without a token"
    assert source.take_update() is None


def test_an_endless_token_answer_is_cut_at_64_kb():
    with receivers.TokenEndpoint() as endpoint, receivers.HttpReceiver() as receiver:
        endpoint.failure = (200, '{"access_token": "' + "a" * (200 * 1024) + '"}')
        with http.HttpSender() as sender:
            outcome = sender.send_all([_request(receiver.url, _source(endpoint))])[0]
    assert outcome.error_kind == http.AUTH and "larger than 64 KB" in outcome.error
    assert not receiver.received


def test_the_token_request_is_bounded_by_the_request_deadline_and_spares_the_endpoint_breaker():
    with receivers.TokenEndpoint() as endpoint, receivers.HttpReceiver() as receiver:
        endpoint.delay = 3
        source = _source(endpoint)
        with http.HttpSender() as sender:
            started = time.monotonic()
            outcome = sender.send_all([_request(receiver.url, source, timeout=1.0)])[0]
            elapsed = time.monotonic() - started
            assert sender.blocked_for(http.origin_of(receiver.url)) == 0, "the receiver is not paused"
    assert elapsed < 2.0
    assert outcome.error_kind == http.AUTH and "Timed out" in outcome.error
    assert not receiver.received


def test_the_token_url_obeys_the_address_policy():
    with receivers.TokenEndpoint() as endpoint, receivers.HttpReceiver() as receiver:
        source = _source(endpoint, check=lambda url: netcheck.check_target(url, allow_private=False))
        with http.HttpSender() as sender:
            outcome = sender.send_all([_request(receiver.url, source)])[0]
    assert not endpoint.calls, "the token request never left"
    assert "loopback" in outcome.error and "Settings" in outcome.error
    assert isinstance(outcome.error_message.cause, netcheck.UnsafeTargetError)


def test_credentials_echoed_by_the_receiver_are_redacted_from_the_outcome():
    def echo(headers, body):
        return 200, {"X-Echo": headers.get("Authorization", "")}, json.dumps(headers)

    with receivers.TokenEndpoint() as endpoint, receivers.HttpReceiver(guard=echo) as receiver:
        source = _source(endpoint)
        static = auth.StaticAuth(auth.auth_headers("basic", username="user", password="hunter2-pass"),
                                 secrets=["hunter2-pass"])
        with http.HttpSender() as sender:
            outcomes = sender.send_all([_request(receiver.url, source), _request(receiver.url, static, 2)])
    token = source.take_update()[0]
    sent_basic = receiver.received[1].headers["Authorization"].split()[1]
    for outcome in outcomes:
        assert outcome.status == 200
        text = outcome.body + json.dumps(outcome.headers)
        assert token not in text and sent_basic not in text
        assert auth.MASK in outcome.body


def test_an_unavailable_credential_fails_every_send_without_sending():
    with receivers.HttpReceiver() as receiver, http.HttpSender() as sender:
        outcome = sender.send_all([_request(receiver.url, auth.Unavailable(auth.missing_client_secret()))])[0]
    assert outcome.error_kind == http.AUTH and "client secret is missing" in outcome.error
    assert not receiver.received


def test_a_waiting_thread_gives_up_at_its_own_deadline():
    gate = threading.Event()

    def slow_fetch(config, deadline, check=None, clock=time.time):
        gate.wait(3)
        return "at-late", clock() + 3600

    source = auth.OAuth2ClientCredentials(CONFIG, fetch=slow_fetch)
    holder = threading.Thread(target=source.headers, args=(time.monotonic() + 5,))
    holder.start()
    time.sleep(0.05)
    started = time.monotonic()
    with pytest.raises(auth.AuthError, match="no time was left"):
        source.headers(time.monotonic() + 0.3)
    assert time.monotonic() - started < 1.0
    gate.set()
    holder.join()
