"""Body formats of a postback: JSON, XML and form-urlencoded.

The Template Mapper (and an advanced body that produces JSON) builds a
*document*: plain JSON values. ``encode(doc, fmt, xml_root, xml_namespace)``
writes it in the trigger's format, as the exact bytes that are signed and
sent:

* ``json``: compact UTF-8 JSON (``render.render_to_bytes``);
* ``xml``: UTF-8 XML with a declaration. Each key is an element, in the
  mapping's order; a list is its key's element repeated once per item
  (``items[].sku`` gives ``<items><sku>…</sku></items><items>…``); a key
  starting with ``@`` is an attribute of its parent element (``order.@id``);
  a key ``#text`` is its parent's text; ``true``/``false`` for booleans, an
  empty element for null. The root element is named by the template
  (``postback`` by default), optionally in a default namespace;
* ``form``: ``application/x-www-form-urlencoded`` (UTF-8, as browsers send
  it); nested keys in brackets, list items by position
  (``order[lines][0][sku]=A1``), the convention of PHP, Rails and Stripe;
  ``true``/``false``, an empty value for null; empty objects and lists are
  left out (the format cannot say them).

An advanced XML body is Jinja2 text producing XML (``render_xml_body``):
its values are escaped for XML by the template itself, and the output must
be well-formed (line and column on error). Parsing never loads DTDs, external
entities or the network.

Characters XML 1.0 cannot carry (control characters) are replaced by U+FFFD:
a stray byte in an order must not block every postback of it.
"""

import json
import re
from urllib.parse import quote_plus

from lxml import etree

from ._values import MAX_OUTPUT_BYTES, RenderError, _lt

JSON, XML, FORM = "json", "xml", "form"
FORMATS = (JSON, XML, FORM)
CONTENT_TYPES = {
    JSON: "application/json",
    XML: "application/xml; charset=utf-8",
    FORM: "application/x-www-form-urlencoded",
}
#: File name extension and MIME type of the email attachment of each format.
ATTACHMENTS = {JSON: ("json", "application/json"), XML: ("xml", "application/xml"), FORM: ("txt", "text/plain")}
DEFAULT_XML_ROOT = "postback"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

_XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# XML 1.0 names without a namespace prefix (NCName), the letters of the fifth edition.
_NAME_START = (
    "A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NCNAME = re.compile(f"[{_NAME_START}][{_NAME_START}\\-.0-9\u00b7\u0300-\u036f\u203f-\u2040]*")
_MAX_DEPTH = 100
# Parsing an advanced body's output: no DTD, no entities, no network, no huge trees.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_PRETTY_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True
)


def content_type(fmt):
    return CONTENT_TYPES.get(fmt, CONTENT_TYPES[JSON])


def too_big(size):
    """The error of a message over the size limit (every format)."""
    return RenderError(
        _lt("The message is %(kb)s KB, more than the %(limit)s KB limit; send fewer fields or shorter values"),
        params={"kb": str(size // 1024), "limit": str(MAX_OUTPUT_BYTES // 1024)},
    )


def _scalar_text(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)  # numbers as in JSON (1.5, 1e+100)


# -- XML ---------------------------------------------------------------------------------------


def check_xml_name(name, path=None):
    """Raise RenderError unless ``name`` can be an XML element or attribute name."""
    if not isinstance(name, str) or not _NCNAME.fullmatch(name):
        raise RenderError(
            _lt(
                "'%(name)s' cannot be an XML name (at '%(path)s'): start it with a letter or an underscore, "
                "then use only letters, digits, underscores, hyphens and dots"
            ),
            params={"name": str(name), "path": path or str(name)},
        )


_NAMESPACE = re.compile(r"[^\s\"'<>{}%&\\]+")


def check_namespace(namespace):
    """The namespace (a URI) stripped, None when empty; RenderError when it is not a plain URI."""
    namespace = (namespace or "").strip() or None
    if namespace and not _NAMESPACE.fullmatch(namespace):
        raise RenderError(
            _lt("'%(namespace)s' is not a valid XML namespace: write a URI without spaces, quotes, "
                "<, >, {, }, %% or &, e.g. urn:example:orders:1"),
            params={"namespace": namespace},
        )
    return namespace


def _xml_text(value):
    return _XML_ILLEGAL.sub("\ufffd", _scalar_text(value))


def _fill(element, value, qualify, path, depth):
    if depth > _MAX_DEPTH:
        raise RenderError(_lt("The message is nested too deeply"))
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else key
            if key == "#text":
                if isinstance(child, (dict, list)):
                    raise RenderError(
                        _lt("'%(path)s' is the text of an XML element: it cannot be an object or a list"),
                        params={"path": where},
                    )
                element.text = _xml_text(child)
            elif key.startswith("@"):
                check_xml_name(key[1:], where)
                if isinstance(child, (dict, list)):
                    raise RenderError(
                        _lt("'%(path)s' is an XML attribute: it cannot be an object or a list"),
                        params={"path": where},
                    )
                element.set(key[1:], _xml_text(child))
            else:
                check_xml_name(key, where)
                items = child if isinstance(child, list) else [child]
                for index, item in enumerate(items):
                    sub = etree.SubElement(element, qualify(key))
                    _fill(sub, item, qualify, f"{where}[{index}]" if child is items else where, depth + 1)
    elif isinstance(value, list):  # a list in a list: its items as <item> elements
        for index, item in enumerate(value):
            _fill(etree.SubElement(element, qualify("item")), item, qualify, f"{path}[{index}]", depth + 1)
    else:
        element.text = _xml_text(value)


def to_xml(doc, root=DEFAULT_XML_ROOT, namespace=None):
    """UTF-8 XML bytes of a document (rules in the module docstring)."""
    root = (root or DEFAULT_XML_ROOT).strip()
    check_xml_name(root)
    namespace = check_namespace(namespace)
    if namespace:

        def qualify(name):
            return f"{{{namespace}}}{name}"

        element = etree.Element(qualify(root), nsmap={None: namespace})
    else:

        def qualify(name):
            return name

        element = etree.Element(root)
    try:
        _fill(element, doc, qualify, "", 0)
    except RecursionError:
        raise RenderError(_lt("The message is nested too deeply")) from None
    raw = XML_DECLARATION + etree.tostring(element, encoding="unicode").encode("utf-8")
    if len(raw) > MAX_OUTPUT_BYTES:
        raise too_big(len(raw))
    return raw


def parse_xml(raw):
    """The parsed root of XML bytes, or RenderError with the line and column of the first problem."""
    try:
        return etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, None)
        # %(detail)s: libxml2's own description, kept as it is.
        raise RenderError(
            _lt("The template output is not well-formed XML: %(detail)s"),
            line=line,
            column=column,
            where="output",
            params={"detail": exc.msg.split(", line ")[0]},
        ) from None


def xml_body_to_bytes(text):
    """The bytes of an advanced XML body's output, checked well-formed and UTF-8."""
    text = text.lstrip()
    if not text:
        raise RenderError(_lt("The template produced no output; it must produce an XML document"))
    raw = _XML_ILLEGAL.sub("\ufffd", text).encode("utf-8", "replace")
    if len(raw) > MAX_OUTPUT_BYTES:
        raise too_big(len(raw))
    element = parse_xml(raw)
    if element.getroottree().docinfo.doctype:
        raise RenderError(
            _lt("The XML has a DOCTYPE: a postback cannot carry a DTD (receivers may resolve its entities); "
                "remove the <!DOCTYPE …> line")
        )
    encoding = (element.getroottree().docinfo.encoding or "UTF-8").upper().replace("_", "-")
    if encoding not in ("UTF-8", "UTF8"):
        raise RenderError(
            _lt("The XML declaration says encoding=\"%(encoding)s\": postbacks are sent as UTF-8, write "
                "encoding=\"UTF-8\" or leave the declaration out"),
            params={"encoding": encoding},
        )
    return raw


def pretty_xml(raw):
    """Indented XML for display; the text itself when it is not XML."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    try:
        element = etree.fromstring(raw, _PRETTY_PARSER)
    except etree.XMLSyntaxError:
        return raw.decode("utf-8", "replace")
    return XML_DECLARATION.decode() + etree.tostring(element, pretty_print=True, encoding="unicode")


# -- form-urlencoded ---------------------------------------------------------------------------


def _pairs(value, prefix, out, depth):
    if depth > _MAX_DEPTH:
        raise RenderError(_lt("The message is nested too deeply"))
    if isinstance(value, dict):
        for key, child in value.items():
            _pairs(child, f"{prefix}[{key}]" if prefix else str(key), out, depth + 1)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _pairs(child, f"{prefix}[{index}]", out, depth + 1)
    else:
        out.append((prefix, _scalar_text(value)))


def form_pairs(doc):
    """The (name, value) pairs of a document, in the mapping's order."""
    if not isinstance(doc, dict):
        raise RenderError(_lt("A form body needs named fields: the message must be an object, not a list or a value"))
    out = []
    _pairs(doc, "", out, 0)
    return out


def to_form(doc):
    """``application/x-www-form-urlencoded`` bytes of a document (rules in the module docstring)."""
    text = "&".join(
        f"{quote_plus(name, safe='[]')}={quote_plus(value)}" for name, value in form_pairs(doc)
    )
    raw = text.encode("ascii")
    if len(raw) > MAX_OUTPUT_BYTES:
        raise too_big(len(raw))
    return raw


def pretty(raw, fmt):
    """The payload as shown to the merchant (deliveries, preview)."""
    if raw is None or raw is False:
        return raw
    if fmt == XML:
        return pretty_xml(raw)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if fmt == FORM:
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


def detect(text):
    """The format of a stored payload (deliveries keep only the bytes)."""
    head = (text or "").lstrip()[:1]
    if head == "<":
        return XML
    if head in ("{", "["):
        return JSON
    return FORM
