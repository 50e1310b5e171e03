"""Advanced body: Jinja2 template rendered in the sandbox, parsed as JSON."""

import json

import pytest

from postback_connector.engine.render import (
    MAX_OUTPUT_BYTES,
    RenderError,
    check_body_syntax,
    check_text_syntax,
    render_body,
    render_text,
)

DATA = {
    "order": {
        "id": 7,
        "reference": "SO007",
        "note": 'He said "hi"\nthen left\t</script> \\ é 日本 😀',
        "paid": True,
        "discount": None,
        "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}],
        "items": ["x", "y"],
    }
}


def test_renders_json_with_loops():
    body = """{
  "id": {{ order.id }},
  "ref": {{ order.reference | tojson }},
  "lines": [{% for line in order.lines %}{% if not loop.first %},{% endif %}
    {"sku": {{ line.sku | tojson }}, "qty": {{ line.qty }}}{% endfor %}
  ]
}"""
    assert render_body(body, DATA) == {
        "id": 7,
        "ref": "SO007",
        "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}],
    }


def test_tojson_escapes_quotes_newlines_and_unicode():
    doc = render_body('{"note": {{ order.note | tojson }}}', DATA)
    assert doc == {"note": DATA["order"]["note"]}
    rendered = render_text("{{ order.note | tojson }}", DATA)
    assert "日本" in rendered and "😀" in rendered  # not \\u-escaped
    assert json.loads(rendered) == DATA["order"]["note"]


def test_printing_writes_json_scalars_objects_and_lists():
    body = '{"paid": {{ order.paid }}, "discount": {{ order.discount }}, "lines": {{ order.lines }}, "n": {{ 1.5 }}}'
    assert render_body(body, DATA) == {"paid": True, "discount": None, "lines": DATA["order"]["lines"], "n": 1.5}


def test_object_fields_win_over_dict_methods():
    assert render_body("{{ order.items | tojson }}", DATA) == ["x", "y"]
    assert render_body("{{ order | items | list | length }}", DATA) == 7


def test_concatenation_and_text_helpers():
    body = (
        '{"a": {{ ("#" ~ order.id ~ "-" ~ order.reference | lower) | tojson }}, '
        '"b": {{ order.lines | join(",", attribute="sku") | tojson }}, "c": {{ order.reference.startswith("SO") }}}'
    )
    assert render_body(body, DATA) == {"a": "#7-so007", "b": "A,B", "c": True}


def test_syntax_error_reports_the_line_and_column():
    body = '{\n  "a": 1,\n  "b": {{ order.id + }}\n}'
    with pytest.raises(RenderError) as info:
        render_body(body, DATA)
    assert info.value.line == 3
    assert "syntax error" in str(info.value)
    # the "}}" that comes where a value was expected: line 3, column 22
    assert (info.value.line, info.value.column) == (3, 22)
    assert "(line 3, column 22)" in str(info.value)


@pytest.mark.parametrize(
    ("body", "line", "column"),
    [
        ('{"a": {{ order.x | tojson }', 1, 27),  # the lone "}"
        ('{"a": {{ 1 +* 2 }}}', 1, 13),  # the "*"
        ('{"a": 1,\n "b": {{ order.reference | nosuch }}}', 2, 28),  # the unknown filter's name
        ('{"a": 1}\n  {{ a b }}', 2, 8),  # the "b" after a complete value
        ('{% foo %}', 1, 4),  # the unknown tag
        ('{"a": {% if order %}1', 1, 22),  # ends too early: the end of the text
    ],
)
def test_syntax_errors_point_at_the_column(body, line, column):
    with pytest.raises(RenderError) as info:
        render_body(body, DATA)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)


def test_unknown_tag_is_a_syntax_error():
    with pytest.raises(RenderError, match="syntax error"):
        check_body_syntax("{% frobnicate %}")


def test_missing_value_reports_path_and_line():
    body = '{\n  "a": {{ order.id }},\n  "b": {{ order.customer.name | tojson }}\n}'
    with pytest.raises(RenderError) as info:
        render_body(body, DATA)
    assert info.value.path == "order.customer"
    assert info.value.line == 3
    assert "The value 'order.customer' does not exist in the input data" in str(info.value)


def test_missing_value_inside_a_loop_names_the_element():
    data = {"order": {"lines": [{"sku": "A"}, {"qty": 1}]}}
    body = "[{% for line in order.lines %}{{ line.sku | tojson }},{% endfor %}0]"
    with pytest.raises(RenderError) as info:
        render_body(body, data)
    assert info.value.path == "order.lines[1].sku"


def test_missing_top_level_name():
    with pytest.raises(RenderError) as info:
        render_body("{{ ordr.id }}", DATA)
    assert info.value.path == "ordr"


def test_invalid_json_output_reports_output_position():
    body = '{\n  "a": 1\n  "b": 2\n}'
    with pytest.raises(RenderError) as info:
        render_body(body, DATA)
    error = info.value
    assert error.message.startswith("The template output is not valid JSON: Expecting ',' delimiter")
    assert (error.line, error.column) == (3, 3)
    assert "output line 3, column 3" in str(error)


def test_raw_text_without_tojson_gives_a_json_error():
    with pytest.raises(RenderError, match="not valid JSON"):
        render_body('{"ref": {{ order.reference }}}', DATA)


def test_nan_output_is_refused():
    with pytest.raises(RenderError, match="NaN is not allowed"):
        render_body('{"a": NaN}', DATA)


def test_empty_output_is_refused():
    with pytest.raises(RenderError, match="no output"):
        render_body("{% if false %}{}{% endif %}  ", DATA)


def test_output_is_bounded_while_rendering():
    body = '[{% for i in range(9000) %}"{{ "x" * 100 }}",{% endfor %}0]'
    with pytest.raises(RenderError) as info:
        render_body(body, DATA)
    assert f"more than {MAX_OUTPUT_BYTES // 1024} KB" in str(info.value)


def test_non_plain_input_is_refused():
    with pytest.raises(TypeError):
        render_body("{}", {"order": object()})


def test_render_text_and_check_text_syntax():
    text = render_text("Order {{ order.reference }} ({{ order.lines | length }} lines)", DATA)
    assert text == "Order SO007 (2 lines)"
    check_text_syntax("Order {{ order.reference }}")
    with pytest.raises(RenderError):
        check_text_syntax("Order {{ order.reference ")


def test_repeated_renders_use_the_cache():
    body = '{"id": {{ order.id }}, "skus": {{ order.lines | map(attribute="sku") | list | tojson }}}'
    for _ in range(1000):
        assert render_body(body, DATA) == {"id": 7, "skus": ["A", "B"]}
