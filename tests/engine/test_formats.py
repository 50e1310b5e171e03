"""Body formats: XML and form-urlencoded from the same mapping lines as JSON.

The bodies are read back the way a receiver would, with the standard
library's own parsers (xml.etree.ElementTree, urllib.parse.parse_qsl), not
with the code that wrote them.
"""

import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl

import pytest

from postback_connector.engine import formats, render
from postback_connector.engine.render import RenderError


def line(output, source, value_type="auto", **extra):
    return {"output_path": output, "source": source, "value_type": value_type, **extra}


DATA = {
    "event": {"type": "order.shipped"},
    "order": {
        "reference": "S00042",
        "amount_total": 1250.5,
        "paid": True,
        "note": None,
        "customer": {"name": "Rossi & Figli <srl>"},
        "lines": [
            {"sku": "FURN_0001", "qty_ordered": 2, "name": "Desk"},
            {"sku": "FURN_0002", "qty_ordered": 1.5, "name": "Chair"},
        ],
    },
}

MAPPING = [
    line("order.@ref", "order.reference", "string"),
    line("order.status", "event.type"),
    line("order.total", "order.amount_total", "number"),
    line("order.paid", "order.paid"),
    line("order.customer", "order.customer.name"),
    line("order.lines.line[].@sku", "order.lines[].sku"),
    line("order.lines.line[].quantity", "order.lines[].qty_ordered", "number"),
    line("order.lines.line[].#text", "order.lines[].name"),
]


def xml_of(lines, data=DATA, root="postback", namespace=None):
    raw = render.render_payload("mapper", lines, "xml", root, namespace, data)
    return raw, ET.fromstring(raw)


def test_xml_from_mapping_elements_attributes_and_repeated_elements():
    raw, root = xml_of(MAPPING)
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert root.tag == "postback"
    order = root.find("order")
    assert order.get("ref") == "S00042"
    assert order.findtext("status") == "order.shipped"
    assert order.findtext("total") == "1250.5"
    assert order.findtext("paid") == "true"
    # text is escaped by the writer, read back intact by the receiver's parser
    assert order.findtext("customer") == "Rossi & Figli <srl>"
    lines = order.find("lines").findall("line")
    assert [item.get("sku") for item in lines] == ["FURN_0001", "FURN_0002"]
    assert [item.findtext("quantity") for item in lines] == ["2", "1.5"]
    assert [item.text for item in lines] == ["Desk", "Chair"]


def test_xml_list_without_wrapper_repeats_the_key_element():
    _raw, root = xml_of([line("item[].sku", "order.lines[].sku"), line("ref", "order.reference")])
    assert [item.findtext("sku") for item in root.findall("item")] == ["FURN_0001", "FURN_0002"]
    # the mapping's order is kept: items first, then ref
    assert [child.tag for child in root] == ["item", "item", "ref"]


def test_xml_root_name_and_default_namespace():
    _raw, root = xml_of([line("ref", "order.reference")], root="OrderNotice", namespace="urn:example:orders:1")
    assert root.tag == "{urn:example:orders:1}OrderNotice"
    assert root.findtext("{urn:example:orders:1}ref") == "S00042"


def test_xml_null_is_an_empty_element_and_control_characters_do_not_block_the_postback():
    data = {"order": {"note": None, "reference": "S\x0142\x00"}}
    _raw, root = xml_of([line("note", "order.note", if_missing="null"), line("ref", "order.reference")], data)
    assert root.find("note") is not None and not root.find("note").text
    assert root.findtext("ref") == "S\ufffd42\ufffd"


@pytest.mark.parametrize("output", ["2nd", "my field", "a:b", "@"])
def test_xml_refuses_a_name_that_is_not_an_xml_name(output):
    with pytest.raises(RenderError) as caught:
        xml_of([line(output, "order.reference")])
    assert "cannot be an XML name" in str(caught.value)


def test_xml_refuses_an_invalid_root_or_namespace():
    with pytest.raises(RenderError, match="cannot be an XML name"):
        xml_of([line("ref", "order.reference")], root="1root")
    with pytest.raises(RenderError, match="not a valid XML namespace"):
        xml_of([line("ref", "order.reference")], namespace='urn:x" onload="')


def test_form_body_decodes_to_the_mapped_fields():
    lines = [
        line("order_number", "order.reference"),
        line("status", "event.type"),
        line("total", "order.amount_total", "number"),
        line("paid", "order.paid"),
        line("customer", "order.customer.name"),
        line("note", "order.note", if_missing="null"),
        line("items[].sku", "order.lines[].sku"),
    ]
    raw = render.render_payload("mapper", lines, "form", None, None, DATA)
    assert raw.isascii()
    assert parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=True) == [
        ("order_number", "S00042"),
        ("status", "order.shipped"),
        ("total", "1250.5"),
        ("paid", "true"),
        ("customer", "Rossi & Figli <srl>"),
        ("note", ""),
        ("items[0][sku]", "FURN_0001"),
        ("items[1][sku]", "FURN_0002"),
    ]


def test_form_body_carries_any_text_as_utf8():
    raw = render.render_payload("mapper", [line("name", "n")], "form", None, None, {"n": "Café ☕ a=b&c+d"})
    assert parse_qsl(raw.decode()) == [("name", "Café ☕ a=b&c+d")]


def test_form_body_of_an_advanced_json_body():
    raw = render.render_payload("advanced", '{"ref": {{ order.reference | tojson }}, "n": 2}', "form", None, None,
                                DATA)
    assert parse_qsl(raw.decode()) == [("ref", "S00042"), ("n", "2")]
    with pytest.raises(RenderError, match="named fields"):
        render.render_payload("advanced", "[1, 2]", "form", None, None, DATA)


def test_advanced_xml_body_escapes_printed_values():
    body = '<order ref="{{ order.reference }}"><customer>{{ order.customer.name }}</customer></order>'
    hostile = {"order": {"reference": '"/><evil/><x a="', "customer": {"name": "</customer><evil/>"}}}
    raw = render.render_payload("advanced", body, "xml", None, None, hostile)
    root = ET.fromstring(raw)
    assert root.get("ref") == '"/><evil/><x a="'
    assert root.findtext("customer") == "</customer><evil/>"
    assert root.find(".//evil") is None


def test_advanced_xml_body_safe_markup_and_null():
    body = "<o>{{ order.note }}{{ '<b>x</b>' | safe }}<p>{{ order.paid }}</p></o>"
    root = ET.fromstring(render.render_payload("advanced", body, "xml", None, None, DATA))
    assert root.findtext("b") == "x"
    assert root.findtext("p") == "true"
    assert not root.text  # null prints nothing


def test_advanced_xml_body_must_be_well_formed_with_line_and_column():
    body = "<order>\n  <ref>{{ order.reference }}</reference>\n</order>"
    with pytest.raises(RenderError) as caught:
        render.render_payload("advanced", body, "xml", None, None, DATA)
    error = caught.value
    assert "not well-formed XML" in str(error)
    assert error.where == "output"
    assert error.line == 2 and error.column


def test_advanced_xml_body_refuses_a_dtd_and_a_foreign_encoding():
    with pytest.raises(RenderError, match="DOCTYPE"):
        render.render_payload(
            "advanced", '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>', "xml", None, None, DATA)
    with pytest.raises(RenderError, match="UTF-8"):
        render.render_payload(
            "advanced", '<?xml version="1.0" encoding="ISO-8859-1"?><r/>', "xml", None, None, DATA)


def test_advanced_xml_body_size_is_bounded():
    body = "<r>{% for i in range(20000) %}<i>{{ 'x' * 100 }}</i>{% endfor %}</r>"
    with pytest.raises(RenderError):
        render.render_payload("advanced", body, "xml", None, None, DATA)


@pytest.mark.parametrize(
    "lines",
    [
        MAPPING,
        [line("item[].sku", "order.lines[].sku"), line("ref", "order.reference", "string")],
        [line("a.b[0]", "order.reference"), line("a.b[2]", "event.type")],
        [line("total", "order.lines[0].qty_ordered", "integer"), line("missing", "order.nope", default="n/a")],
        [line("name", "order.customer.name | upper")],
    ],
)
def test_switching_an_xml_mapping_to_advanced_renders_the_same_xml(lines):
    mapped = render.render_payload("mapper", lines, "xml", "Notice", "urn:example:1", DATA)
    body = render.mapping_to_xml_body(lines, "Notice", "urn:example:1")
    converted = render.render_payload("advanced", body, "xml", None, None, DATA)
    assert formats.pretty_xml(converted) == formats.pretty_xml(mapped)


def test_content_types_and_preview():
    assert formats.content_type("json") == "application/json"
    assert formats.content_type("xml").startswith("application/xml")
    assert formats.content_type("form") == "application/x-www-form-urlencoded"
    raw = render.render_payload("mapper", MAPPING, "xml", None, None, DATA)
    shown = formats.pretty(raw, "xml")
    assert "\n  <order ref=\"S00042\">" in shown
    assert ET.fromstring(shown.encode()).find("order").get("ref") == "S00042"
    form = render.render_payload("mapper", [line("a", "order.reference")], "form", None, None, DATA)
    assert formats.pretty(form, "form") == "a=S00042"
    assert formats.detect(raw.decode()) == "xml" and formats.detect("a=1") == "form"
    assert formats.detect('{"a": 1}') == "json"


def test_markup_filters_exist_in_xml_bodies_only_and_are_bounded():
    with pytest.raises(RenderError, match="not available"):
        render.render_payload("advanced", '{"a": {{ "x" | safe | tojson }}}', "json", None, None, DATA)
    with pytest.raises(RenderError):
        render.render_payload("advanced", "<r>{{ ('<' * 500000) | e }}</r>", "xml", None, None, DATA)
    raw = render.render_payload("advanced", "<r>{{ '<b>' | e }}</r>", "xml", None, None, DATA)
    assert ET.fromstring(raw).text == "<b>"
