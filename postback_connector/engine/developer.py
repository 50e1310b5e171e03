"""What the customer's developer needs to build a receiver: a JSON Schema of a
payload and the code that checks its signature.

``payload_schema`` describes the payload a template produces (JSON Schema
2020-12), derived from that payload: every key the template writes is
``required`` (the Template Mapper always writes its keys) and every leaf value
may also be ``null`` (an order without a tracking number, say). Lists merge the
schemas of their items.

``verify_snippets`` gives, for a signature scheme, a ``verify(headers, body,
secret)`` function in Python and in Node.js — standard library only — that a
developer can paste into their server. The tests run both against real
signatures.
"""

import json
from urllib.parse import parse_qsl

from . import formats, netcheck, signing

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_LEAF_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _leaf(value):
    if value is None:
        return {"type": "null"}
    for python_type, name in _LEAF_TYPES:
        if isinstance(value, python_type):
            return {"type": [name, "null"]}
    return {}


def _merge(schemas):
    """One schema accepting every schema of ``schemas`` (the items of a list)."""
    unique = []
    for schema in schemas:
        if schema not in unique:
            unique.append(schema)
    if not unique:
        return {}
    if len(unique) == 1:
        return unique[0]
    if all(schema.get("type") == "object" for schema in unique):
        properties = {}
        for schema in unique:
            for key, sub in schema["properties"].items():
                properties[key] = _merge([properties[key], sub]) if key in properties else sub
        required = [key for key in properties if all(key in schema["required"] for schema in unique)]
        return {"type": "object", "properties": properties, "required": required}
    if all(schema.get("type") == "array" for schema in unique):
        return {"type": "array", "items": _merge([schema["items"] for schema in unique])}
    leaves = [schema.get("type") for schema in unique]
    if all(isinstance(kind, (list, str)) for kind in leaves) and not any(
            kind in ("object", "array") for kind in leaves):
        names = []
        for kind in leaves:
            for name in kind if isinstance(kind, list) else [kind]:
                if name not in names:
                    names.append(name)
        return {"type": names}
    return {"anyOf": unique}


def value_schema(value):
    """The JSON Schema of one decoded JSON value (see the module's docstring)."""
    if isinstance(value, dict):
        return {
            "type": "object",
            "properties": {str(key): value_schema(item) for key, item in value.items()},
            "required": [str(key) for key in value],
        }
    if isinstance(value, list):
        return {"type": "array", "items": _merge([value_schema(item) for item in value])}
    return _leaf(value)


def payload_schema(payload, fmt, title=None):
    """JSON Schema of a JSON or form payload (bytes or text), or None for XML (no JSON to describe).

    A form body is described as the object of its fields, every value a string.
    """
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    if fmt == formats.FORM:
        fields = dict(parse_qsl(payload, keep_blank_values=True))
        schema = {"type": "object", "properties": {key: {"type": "string"} for key in fields},
                  "required": list(fields)}
    elif fmt in (None, "", formats.JSON):
        schema = value_schema(json.loads(payload))
    else:
        return None
    result = {"$schema": SCHEMA_DIALECT}
    if title:
        result["title"] = title
    result.update(schema)
    return result


# ------------------------------------------------------------- snippets ---

_PY_STANDARD = '''import base64
import hashlib
import hmac
import time


def verify(headers, body, secret, tolerance=300):
    """True when a postback is authentic (Standard Webhooks).

    headers: the request's headers, names in lower case; body: the raw request
    body (bytes, before any JSON parsing); secret: your signing secret (whsec_...).
    """
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False  # too old or from the future: a replay
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # One signature per valid secret, separated by spaces (two during a rotation).
    return any(
        hmac.compare_digest(expected, signature.split(",", 1)[1])
        for signature in headers.get("webhook-signature", "").split()
        if signature.startswith("v1,")
    )
'''

_NODE_STANDARD = '''const crypto = require("crypto");

// True when a postback is authentic (Standard Webhooks).
// headers: req.headers (names in lower case); body: the raw body as a Buffer
// (e.g. express.raw()); secret: your signing secret (whsec_...).
function verify(headers, body, secret, toleranceSeconds = 300) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) {
    return false; // too old or from the future: a replay
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto.createHmac("sha256", key)
    .update(`${id}.${timestamp}.`).update(body).digest();
  // One signature per valid secret, separated by spaces (two during a rotation).
  return (headers["webhook-signature"] || "").split(" ").some((signature) => {
    const [version, value] = signature.split(",");
    const given = Buffer.from(value || "", "base64");
    return version === "v1" && given.length === expected.length
      && crypto.timingSafeEqual(given, expected);
  });
}

module.exports = { verify };
'''

_PY_BODY_HMAC = '''import base64
import hashlib
import hmac


def verify(headers, body, secret):
    """True when a postback is authentic (HMAC-SHA256 of the body, header {header}).

    headers: the request's headers, names in lower case; body: the raw request
    body (bytes, before any parsing); secret: your signing secret, the whole
    text as shown (whsec_...), used as the HMAC key.
    """
    digest = hmac.new(secret.encode(), body, hashlib.sha256)
    expected = {expected_py}
    return hmac.compare_digest(expected, headers.get({header_lit}, ""))
'''

_NODE_BODY_HMAC = '''const crypto = require("crypto");

// True when a postback is authentic (HMAC-SHA256 of the body, header {header}).
// headers: req.headers (names in lower case); body: the raw body as a Buffer
// (e.g. express.raw()); secret: your signing secret, the whole text as shown
// (whsec_...), used as the HMAC key.
function verify(headers, body, secret) {{
  const expected = Buffer.from({expected_node});
  const given = Buffer.from(headers[{header_lit}] || "");
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}}

module.exports = {{ verify }};
'''


def verify_snippets(scheme, header=None):
    """``{"python": code, "node": code}`` checking signatures of ``scheme`` (see module docstring)."""
    if scheme in (None, "", signing.STANDARD):
        return {"python": _PY_STANDARD, "node": _NODE_STANDARD}
    if scheme == signing.GITHUB:
        header, expected_py = signing.GITHUB_HEADER, '"sha256=" + digest.hexdigest()'
        expected_node = '"sha256=" + crypto.createHmac("sha256", secret).update(body).digest("hex")'
    elif scheme == signing.HMAC_BASE64:
        header = (header or "").strip()
        if not netcheck.is_valid_header_name(header):  # never text of anyone's choosing in the code
            header = signing.DEFAULT_SIGNATURE_HEADER
        expected_py = "base64.b64encode(digest.digest()).decode()"
        expected_node = 'crypto.createHmac("sha256", secret).update(body).digest("base64")'
    else:
        raise ValueError(f"Unknown signature scheme {scheme!r}")
    # The header name is a validated token; written as a JSON string literal (valid Python and JS).
    literal = json.dumps(header.lower())
    title = header.replace("\n", " ")
    values = {"header": title, "header_lit": literal, "expected_py": expected_py, "expected_node": expected_node}
    python = _PY_BODY_HMAC.replace("{header}", title).replace("{header_lit}", literal).replace(
        "{expected_py}", expected_py)
    if scheme == signing.GITHUB:
        python = python.replace("import base64\n", "")
    return {"python": python, "node": _NODE_BODY_HMAC.format(**values)}
