"""Template Mapper: output path forms, sources, lists, defaults and errors."""

import copy

import pytest

from postback_connector.engine.render import MappingLine, RenderError, check_mapping_line, render_mapping

DATA = {
    "order": {
        "id": 42,
        "reference": "SO042",
        "amount_total": 19.99,
        "currency": "EUR",
        "note": None,
        "tags": ["vip", "gift"],
        "lines": [
            {"sku": "A-1", "qty_ordered": 2, "price_unit": 3.5, "taxes": [{"name": "VAT 20%", "rate": 20}]},
            {"sku": "B-2", "qty_ordered": 1, "price_unit": 10.0, "taxes": []},
        ],
        "groups": [{"lines": [{"sku": "G1"}, {"sku": "G2"}]}],
    },
    "customer": {"name": "Zoë", "email": "zoe@example.com"},
}


def render(*lines, data=DATA):
    return render_mapping([MappingLine(*line) if isinstance(line, tuple) else line for line in lines], data)


def test_nested_objects_keep_line_order():
    doc = render(("order.id", "order.id"), ("shipment.tracking.code", "order.reference"), ("customer", "customer.name"))
    assert doc == {"order": {"id": 42}, "shipment": {"tracking": {"code": "SO042"}}, "customer": "Zoë"}
    assert list(doc) == ["order", "shipment", "customer"]


def test_list_of_objects_pairs_with_the_source_list():
    doc = render(
        ("items[].sku", "order.lines[].sku"),
        ("items[].qty", "order.lines[].qty_ordered"),
        ("items[].total", "item.qty_ordered * item.price_unit"),
        ("items[].currency", "order.currency"),
        ("items[].price", "item.price_unit"),
    )
    assert doc == {
        "items": [
            {"sku": "A-1", "qty": 2, "total": 7.0, "currency": "EUR", "price": 3.5},
            {"sku": "B-2", "qty": 1, "total": 10.0, "currency": "EUR", "price": 10.0},
        ]
    }


def test_list_of_scalars():
    assert render(("tags[]", "order.tags[]")) == {"tags": ["vip", "gift"]}
    assert render(("skus[]", "order.lines[].sku")) == {"skus": ["A-1", "B-2"]}


def test_fixed_positions_in_output_and_source():
    doc = render(("lines[0].sku", "order.lines[0].sku"), ("lines[2].sku", "order.lines[-1].sku"))
    assert doc == {"lines": [{"sku": "A-1"}, None, {"sku": "B-2"}]}


def test_nested_lists():
    doc = render(
        ("items[].sku", "order.lines[].sku"),
        ("items[].taxes[].name", "order.lines[].taxes[].name"),
        ("items[].taxes[].rate", "item.rate / 100"),
        ("items[].taxes[].line_sku", "order.lines[].sku"),
    )
    assert doc == {
        "items": [
            {"sku": "A-1", "taxes": [{"name": "VAT 20%", "rate": 0.2, "line_sku": "A-1"}]},
            {"sku": "B-2", "taxes": []},
        ]
    }


def test_list_inside_a_fixed_position():
    doc = render(("groups[].skus[]", "order.groups[].lines[].sku"))
    assert doc == {"groups": [{"skus": ["G1", "G2"]}]}


def test_expressions():
    doc = render(
        ("cents", "order.amount_total * 100", None, "integer"),
        ("name", "customer.name | upper"),
        ("cur", '"EUR" if order.currency == "EUR" else "X"'),
        ("count", "order.lines | length"),
        ("literal", "true"),
        ("number", "42"),
        ("skus", "order.lines | map(attribute='sku') | list"),
    )
    assert doc == {
        "cents": 1999,
        "name": "ZOË",
        "cur": "EUR",
        "count": 2,
        "literal": True,
        "number": 42,
        "skus": ["A-1", "B-2"],
    }


def test_object_keys_win_over_dict_methods_in_expressions():
    data = {"order": {"items": [1, 2], "keys": "k"}}
    assert render(("n", "order.items | length"), ("k", "order.keys"), data=data) == {"n": 2, "k": "k"}


def test_dict_lines_and_odoo_false_values():
    lines = [
        {"output_path": " order.id ", "source": " order.id ", "default": False, "value_type": False, "fmt": False},
        {"output_path": "ref", "source": "order.reference"},
    ]
    assert render_mapping(lines, DATA) == {"order": {"id": 42}, "ref": "SO042"}


def test_render_does_not_modify_the_input():
    data = copy.deepcopy(DATA)
    render(("items[].sku", "order.lines[].sku"), ("x", "order.tags"), data=data)
    assert data == DATA


def test_missing_value_is_an_error_naming_the_path():
    with pytest.raises(RenderError) as info:
        render(MappingLine("x", "order.foo", if_missing="required"))
    assert info.value.path == "order.foo"
    assert "The value 'order.foo' does not exist in the input data" in str(info.value)
    assert "'x'" in str(info.value)


def test_missing_value_inside_a_list_names_the_element():
    data = {"order": {"lines": [{"sku": "A"}, {"name": "no sku"}]}}
    with pytest.raises(RenderError) as info:
        render(MappingLine("items[].sku", "order.lines[].sku", if_missing="required"), data=data)
    assert info.value.path == "order.lines[1].sku"
    assert "items[1].sku" in str(info.value)


def test_missing_value_under_a_text_explains_why():
    with pytest.raises(RenderError) as info:
        render(MappingLine("x", "order.reference.code", if_missing="required"))
    assert info.value.path == "order.reference.code"
    assert "'order.reference' is text" in str(info.value)


def test_missing_value_in_an_expression_names_the_full_path():
    with pytest.raises(RenderError) as info:
        render(MappingLine("x", "order.missing * 2", if_missing="required"))
    assert info.value.path == "order.missing"
    data = {"order": {"lines": [{"qty": 1, "price": 2}, {"qty": 1}]}}
    with pytest.raises(RenderError) as info:
        render(
            ("items[].q", "order.lines[].qty"),
            MappingLine("items[].t", "item.qty * item.price", if_missing="required"),
            data=data,
        )
    assert info.value.path == "order.lines[1].price"


def test_position_out_of_range_is_missing():
    with pytest.raises(RenderError) as info:
        render(MappingLine("x", "order.lines[5].sku", if_missing="required"))
    assert info.value.path == "order.lines[5]"


def test_default_replaces_missing_and_null_values_and_is_converted():
    doc = render(
        ("a", "order.foo", "fallback"),
        ("b", "order.note", "no note"),
        ("c", "order.foo.bar", "7", "integer"),
        ("d", "order.foo * 2", "0", "number"),
        ("e", "order.id", "1"),
        ("f", "order.note", ""),
    )
    assert doc == {"a": "fallback", "b": "no note", "c": 7, "d": 0, "e": 42, "f": ""}


def test_missing_without_default_is_the_empty_value_not_an_error():
    # "default: empty" reads as "empty when missing": the postback still goes out.
    data = {"order": {"reference": "SO1", "lines": [{"sku": "A"}, {"name": "no sku"}]}, "shipment": None}
    doc = render(
        ("ref", "order.reference"),
        ("tracking", "shipment.tracking_reference"),  # a missing parent object is a missing value
        ("code", "order.reference.code"),
        ("fifth", "order.lines[5].sku"),
        ("double", "order.missing * 2"),
        ("items[].sku", "order.lines[].sku"),
        ("weight", "shipment.weight", None, "number"),
        ("labels", "shipment.labels", None, "list"),
        ("moves[].sku", "shipment.moves[].sku"),  # a missing input list is an empty output list
        data=data,
    )
    assert doc == {
        "ref": "SO1", "tracking": "", "code": "", "fifth": "", "double": "",
        "items": [{"sku": "A"}, {"sku": ""}], "weight": None, "labels": [], "moves": [],
    }


def test_each_line_says_what_a_missing_value_gives():
    data = {"order": {"reference": "SO1", "note": None, "lines": [{"sku": "A"}, {"name": "no sku"}]}}
    doc = render(
        MappingLine("a", "order.foo", "fallback"),
        MappingLine("b", "order.foo", "", if_missing="default"),
        MappingLine("c", "order.foo", "ignored", if_missing="null"),
        MappingLine("d", "order.note", if_missing="omit"),
        MappingLine("e", "order.reference", if_missing="omit"),
        MappingLine("items[].sku", "order.lines[].sku", if_missing="omit"),
        MappingLine("skus[]", "order.lines[].sku", if_missing="omit"),
        data=data,
    )
    assert doc == {"a": "fallback", "b": "", "c": None, "e": "SO1", "items": [{"sku": "A"}, {}], "skus": ["A"]}


def test_a_missing_list_under_a_required_line_is_an_error():
    with pytest.raises(RenderError) as info:
        render(MappingLine("moves[].sku", "shipment.moves[].sku", if_missing="required"), data={"shipment": None})
    assert "shipment" in str(info.value)


def test_unknown_missing_choice_is_refused():
    with pytest.raises(RenderError, match="Unknown choice 'maybe'"):
        render(MappingLine("x", "order.id", if_missing="maybe"))


def test_required_refuses_missing_and_empty_values_and_ignores_the_default():
    data = {"order": {"reference": "SO1", "note": None}}
    assert render(MappingLine("ref", "order.reference", if_missing="required"), data=data) == {"ref": "SO1"}
    for source in ("order.note", "order.foo", "order.foo * 2"):
        with pytest.raises(RenderError) as info:
            render(MappingLine("x", source, "fallback", if_missing="required"), data=data)
        assert "'x'" in str(info.value), source
    with pytest.raises(RenderError) as info:
        render(MappingLine("x", "order.note", if_missing="required"), data=data)
    assert "required value 'order.note' is empty" in str(info.value)


def test_null_without_default_is_the_empty_value_of_its_type():
    empty = {"string": "", "list": []}
    for value_type in ("string", "integer", "number", "boolean", "date", "datetime", "list", "json"):
        assert render(("x", "order.note", None, value_type)) == {"x": empty.get(value_type)}
        assert render(MappingLine("x", "order.note", None, value_type, if_missing="null")) == {"x": None}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([("items[].a", "order.lines[].sku"), ("items[].b", "order.tags[]")], "two different input lists"),
        ([("items[].total", "item.qty * 2")], "does not say which input list"),
        ([("sku", "order.lines[].sku")], "add [] to the output path"),
        ([("items[].x", "item.taxes[].name")], "cannot also contain []"),
        ([("items[].x", "order.lines[].qty * 2")], "[] inside an expression"),
        ([("a", "order.id"), ("a", "order.reference")], "used by two lines"),
        ([("a", "order.id"), ("a.b", "order.reference")], "conflicts with another line"),
        ([("a.b", "order.id"), ("a", "order.reference")], "conflicts with another line"),
        ([("a[0].x", "order.id"), ("a[].y", "order.lines[].sku")], "conflicts with another line"),
        ([("a..b", "order.id")], "not a valid output path"),
        ([("a[x]", "order.id")], "not a valid output path"),
        ([("a[5000]", "order.id")], "too large"),
        ([("a", "")], "has no source"),
        ([("", "order.id")], "no output path"),
        ([("a", "order.id", None, "colour")], "Unknown value type"),
        ([("a", "order._secret")], "not allowed in a template"),
        ([("a", "order.id +")], "syntax error"),
    ],
)
def test_invalid_mappings_are_refused_with_a_sentence(lines, message):
    with pytest.raises(RenderError) as info:
        render(*lines)
    assert message in str(info.value)
    assert str(info.value).endswith(".")


def test_source_list_that_is_not_a_list():
    with pytest.raises(RenderError) as info:
        render(("items[].x", "order.reference[]"))
    assert "'order.reference' is text, not a list" in str(info.value)


def test_expression_errors_are_render_errors():
    with pytest.raises(RenderError, match="divides by zero"):
        render(("x", "order.id / 0"))
    with pytest.raises(RenderError, match="not allowed"):
        render(("x", "order.__class__"))


def test_check_mapping_line_validates_one_line_alone():
    check_mapping_line(MappingLine("items[].total", "item.qty * item.price"))  # siblings may bind the list
    check_mapping_line({"output_path": "a.b", "source": "order.id", "value_type": "integer"})
    with pytest.raises(RenderError):
        check_mapping_line(MappingLine("sku", "order.lines[].sku"))
    with pytest.raises(RenderError):
        check_mapping_line(MappingLine("a", "order.id |"))


def test_repeated_renders_use_the_cache():
    lines = [MappingLine(f"f{i}", "order.reference") for i in range(15)] + [
        MappingLine("items[].sku", "order.lines[].sku"),
        MappingLine("items[].total", "item.qty_ordered * item.price_unit"),
        MappingLine("cents", "order.amount_total * 100", value_type="integer"),
        MappingLine("when", "order.reference", default="x"),
        MappingLine("id", "order.id", value_type="string"),
    ]
    first = render_mapping(lines, DATA)
    for _ in range(1000):
        assert render_mapping(lines, DATA) == first
