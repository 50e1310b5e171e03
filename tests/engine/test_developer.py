"""The developer page's JSON Schema and signature-checking code, run for real."""

import base64
import json
import shutil
import subprocess
import time

import jsonschema
import pytest

from postback_connector.engine import developer, formats, signing

SECRET = signing.generate_secret()
OTHER_SECRET = signing.generate_secret()
BODY = json.dumps({"order": "S00042", "total": 12.5, "lines": [{"sku": "A", "qty": 1}]}).encode()
SCHEMES = [(signing.STANDARD, None), (signing.GITHUB, None), (signing.HMAC_BASE64, None),
           (signing.HMAC_BASE64, "X-Shop-Hmac")]


def _headers(scheme, header, body=BODY, secrets=(SECRET,), timestamp=None):
    signed = signing.signature_headers(scheme, "msg_1", timestamp or int(time.time()), body, list(secrets),
                                       header=header)
    return {name.lower(): value for name, value in signed.items()}


def _run_python(code, headers, body, secret):
    namespace = {}
    exec(compile(code, "snippet.py", "exec"), namespace)  # the developer's copy, as they paste it
    return namespace["verify"](headers, body, secret)


def _run_node(code, headers, body, secret):
    script = code + """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(String(verify(input.headers, Buffer.from(input.body, "base64"), input.secret)));
"""
    payload = json.dumps({"headers": headers, "body": base64.b64encode(body).decode(), "secret": secret})
    result = subprocess.run(["node", "-e", script], input=payload, capture_output=True, text=True, timeout=30,
                            check=True)
    return {"true": True, "false": False}[result.stdout]


RUNNERS = [pytest.param(_run_python, id="python")]
if shutil.which("node"):
    RUNNERS.append(pytest.param(_run_node, id="node"))


@pytest.mark.parametrize("run", RUNNERS)
@pytest.mark.parametrize(("scheme", "header"), SCHEMES)
def test_the_code_on_the_page_accepts_our_signature_and_refuses_a_forgery(run, scheme, header):
    code = developer.verify_snippets(scheme, header)["python" if run is _run_python else "node"]
    headers = _headers(scheme, header)
    assert run(code, headers, BODY, SECRET) is True
    assert run(code, headers, BODY + b" ", SECRET) is False, "a changed body is refused"
    assert run(code, headers, BODY, OTHER_SECRET) is False, "another secret is refused"
    if header:
        assert header.lower() in headers and header in code


@pytest.mark.parametrize("run", RUNNERS)
def test_standard_webhooks_code_accepts_either_secret_during_a_rotation_and_refuses_replays(run):
    code = developer.verify_snippets(signing.STANDARD)["python" if run is _run_python else "node"]
    headers = _headers(signing.STANDARD, None, secrets=(SECRET, OTHER_SECRET))
    assert run(code, headers, BODY, SECRET) and run(code, headers, BODY, OTHER_SECRET)
    old = _headers(signing.STANDARD, None, timestamp=int(time.time()) - 3600)
    assert run(code, old, BODY, SECRET) is False, "an hour-old signature is a replay"


@pytest.mark.parametrize("header", ['X"""; import os; """', "X\r\nrequire('child_process')", "X\u2028y", ""])
def test_a_header_name_that_is_not_a_token_never_reaches_the_code(header):
    code = developer.verify_snippets(signing.HMAC_BASE64, header)
    for text in code.values():
        assert signing.DEFAULT_SIGNATURE_HEADER.lower() in text
        assert "import os" not in text and "child_process" not in text and "\u2028" not in text


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ValueError):
        developer.verify_snippets("md5")


def test_the_schema_of_a_json_payload_describes_every_key_and_merges_list_items():
    payload = json.dumps({
        "order": "S1", "total": 3.5, "paid": True, "count": 2, "tracking": None,
        "lines": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2, "note": "gift"}],
        "tags": [], "customer": {"name": "Azure"},
    })
    schema = developer.payload_schema(payload, formats.JSON, title="Order shipped")
    assert schema["$schema"] == developer.SCHEMA_DIALECT and schema["title"] == "Order shipped"
    assert schema["type"] == "object"
    assert schema["required"] == ["order", "total", "paid", "count", "tracking", "lines", "tags", "customer"]
    props = schema["properties"]
    assert props["order"] == {"type": ["string", "null"]}
    assert props["total"] == {"type": ["number", "null"]}
    assert props["paid"] == {"type": ["boolean", "null"]}
    assert props["count"] == {"type": ["integer", "null"]}
    assert props["tracking"] == {"type": "null"}
    assert props["tags"] == {"type": "array", "items": {}}
    assert props["customer"]["properties"]["name"] == {"type": ["string", "null"]}
    items = props["lines"]["items"]
    assert items["type"] == "object" and set(items["properties"]) == {"sku", "qty", "note"}
    assert items["required"] == ["sku", "qty"], "a key missing from one item is optional"


def test_a_payload_validates_against_its_own_schema():
    payload = {"a": [1, 2.5, None], "b": {"c": "x"}, "d": [{"e": 1}, {"e": None}]}
    schema = developer.payload_schema(json.dumps(payload), formats.JSON)
    jsonschema.validate(payload, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"a": [1], "b": {}}, schema)


def test_a_form_body_is_an_object_of_strings_and_xml_has_no_json_schema():
    schema = developer.payload_schema(b"order=S1&total=3.5&note=", formats.FORM)
    assert schema["properties"] == {"order": {"type": "string"}, "total": {"type": "string"},
                                    "note": {"type": "string"}}
    assert schema["required"] == ["order", "total", "note"]
    assert developer.payload_schema(b"<order/>", formats.XML) is None
