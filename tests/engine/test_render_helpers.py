"""render_to_bytes, list_paths, parse_json_sample and ensure_plain."""

import datetime
import json

import pytest

from postback_connector.engine.render import (
    MAX_OUTPUT_BYTES,
    RenderError,
    ensure_plain,
    list_paths,
    parse_json_sample,
    render_to_bytes,
)


def test_render_to_bytes_is_compact_utf8_in_key_order():
    doc = {"b": 1, "a": {"t": 'q"uote\n', "u": "é😀"}, "l": [True, None, 1.5]}
    raw = render_to_bytes(doc)
    assert raw == '{"b":1,"a":{"t":"q\\"uote\\n","u":"é😀"},"l":[true,null,1.5]}'.encode()
    assert json.loads(raw) == doc


def test_render_to_bytes_limits_the_size():
    render_to_bytes({"x": "a" * (MAX_OUTPUT_BYTES - 100)})
    with pytest.raises(RenderError, match="KB limit"):
        render_to_bytes({"x": "a" * MAX_OUTPUT_BYTES})
    with pytest.raises(RenderError, match="KB limit"):  # multi-byte characters count as bytes
        render_to_bytes({"x": "é" * (MAX_OUTPUT_BYTES // 2 + 10)})
    with pytest.raises(RenderError, match="KB limit"):  # refused before serialising
        render_to_bytes({"x": ["a" * 1000] * 100_000})


def test_render_to_bytes_refuses_non_json_values():
    with pytest.raises(RenderError, match="NaN"):
        render_to_bytes({"x": float("nan")})
    with pytest.raises(RenderError, match="cannot be written as JSON"):
        render_to_bytes({"x": object()})


def test_list_paths_describes_every_value():
    data = {
        "order": {
            "id": 7,
            "ref": "SO7",
            "paid": False,
            "lines": [{"sku": "A", "qty": 1.5}],
            "tags": ["x"],
            "empty": [],
            "note": None,
            "odd key": 1,
        }
    }
    paths = {path: (kind, example) for path, kind, example in list_paths(data)}
    assert paths["order"] == ("object", "{8 fields}")
    assert paths["order.id"] == ("integer", "7")
    assert paths["order.ref"] == ("string", '"SO7"')
    assert paths["order.paid"] == ("boolean", "false")
    assert paths["order.lines"] == ("list", "[1 item]")
    assert paths["order.lines[]"] == ("object", "{2 fields}")
    assert paths["order.lines[].sku"] == ("string", '"A"')
    assert paths["order.lines[].qty"] == ("number", "1.5")
    assert paths["order.tags[]"] == ("string", '"x"')
    assert paths["order.empty"] == ("list", "[0 items]")
    assert paths["order.note"] == ("null", "null")
    assert 'order["odd key"]' in paths
    assert [path for path, _kind, _example in list_paths(data)][:2] == ["order", "order.id"]


def test_list_paths_shortens_long_examples():
    [(path, kind, example)] = list_paths({"text": "x" * 500})
    assert (path, kind) == ("text", "string")
    assert len(example) <= 40 and example.endswith("…")


def test_parse_json_sample():
    assert parse_json_sample('{"order": {"id": 1}}') == {"order": {"id": 1}}
    with pytest.raises(RenderError) as info:
        parse_json_sample('{\n  "a": 1,\n  "b": }')
    assert (info.value.line, info.value.column) == (3, 8)
    assert str(info.value) == "The sample data is not valid JSON: Expecting value (line 3, column 8)."
    with pytest.raises(RenderError, match="must be a JSON object"):
        parse_json_sample("[1, 2]")
    with pytest.raises(RenderError, match="empty"):
        parse_json_sample("  ")
    with pytest.raises(RenderError, match="NaN is not allowed"):
        parse_json_sample('{"a": NaN}')
    with pytest.raises(RenderError, match="nested too deeply"):
        parse_json_sample('{"a": ' * 100 + "1" + "}" * 100)


def test_ensure_plain():
    ensure_plain({"a": [1, 2.5, "x", True, None, {"b": []}]})
    for bad in (
        {"a": (1, 2)},
        {"a": datetime.date(2024, 1, 1)},
        {"a": object()},
        {1: "x"},
        {"a": {"b": {1, 2}}},
    ):
        with pytest.raises(TypeError):
            ensure_plain(bad)
    deep = current = {}
    for _ in range(100):
        current["x"] = {}
        current = current["x"]
    with pytest.raises(TypeError, match="nested"):
        ensure_plain(deep)


def test_render_error_text():
    assert str(RenderError("Something is wrong")) == "Something is wrong."
    assert str(RenderError("Bad thing.", line=3)) == "Bad thing (line 3)."
    assert str(RenderError("Bad", line=3, column=9, where="output")) == "Bad (output line 3, column 9)."
    error = RenderError("Missing", path="order.x")
    assert (error.message, error.line, error.column, error.path) == ("Missing", None, None, "order.x")
    assert isinstance(error, ValueError)
