"""mapping_to_body: the generated advanced body renders what the mapper renders."""

import pytest

from postback_connector.engine.render import MappingLine, RenderError, mapping_to_body, render_body, render_mapping

SAMPLE = {
    "event": {"type": "order.confirmed", "id": "evt_1"},
    "order": {
        "id": 42,
        "reference": "SO042",
        "amount_total": 119.99,
        "currency": "EUR",
        "date_order": "2024-05-01 10:30:00",
        "confirmed": "yes",
        "note": None,
        "tags": ["vip", "gift"],
        "lines": [
            {
                "sku": "A-1",
                "name": 'Mug "Large"\nblue',
                "qty_ordered": 2,
                "price_unit": 9.5,
                "taxes": [{"name": "VAT", "rate": 20}, {"name": "Eco", "rate": 1}],
            },
            {"sku": "B-2", "name": "Tee 日本 😀", "qty_ordered": 1, "price_unit": 100.99, "taxes": []},
        ],
    },
    "customer": {"name": "Zoë </script>", "email": "zoe@example.com", "phone": None},
}

LINES = [
    MappingLine("type", "event.type"),
    MappingLine("order.id", "order.id", value_type="string"),
    MappingLine("order.ref", "order.reference"),
    MappingLine("order.amount_cents", "order.amount_total * 100", value_type="integer"),
    MappingLine("order.date", "order.date_order", value_type="date", fmt="%d/%m/%Y"),
    MappingLine("order.created", "order.date_order", value_type="datetime"),
    MappingLine("order.confirmed", "order.confirmed", value_type="boolean"),
    MappingLine("order.note", "order.note", default="(none)"),
    MappingLine("order.coupon", "order.coupon.code", default="NONE"),
    MappingLine("order.discount", "order.discount * 2", default="0", value_type="number"),
    MappingLine("order.tags[]", "order.tags[]"),
    MappingLine("customer.name", "customer.name | upper"),
    MappingLine("customer.phone", "customer.phone", default=""),
    MappingLine("items[].sku", "order.lines[].sku"),
    MappingLine("items[].label", "order.lines[].name"),
    MappingLine("items[].total", "item.qty_ordered * item.price_unit"),
    MappingLine("items[].currency", "order.currency"),
    MappingLine("items[].taxes[].name", "order.lines[].taxes[].name"),
    MappingLine("items[].taxes[].rate", "item.rate", value_type="number"),
    MappingLine("items[].taxes[].sku", "order.lines[].sku"),
    MappingLine("first[0]", "order.lines[0].sku"),
    MappingLine("first[2]", "order.lines[-1].sku"),
    MappingLine("odd keys.a b", "order.id"),
    MappingLine('odd keys.quote"d', "order.id"),
    MappingLine("odd keys.{{brace}}", "order.id"),
    MappingLine("odd keys.in", "order.id"),
    MappingLine("default with braces", "order.missing", default='"}} {% x %}'),
]


def test_generated_body_renders_the_same_document():
    expected = render_mapping(LINES, SAMPLE)
    body = mapping_to_body(LINES)
    assert render_body(body, SAMPLE) == expected
    assert expected["items"][0]["taxes"][1] == {"name": "Eco", "rate": 1, "sku": "A-1"}
    assert expected["order"]["coupon"] == "NONE"
    assert expected["default with braces"] == '"}} {% x %}'


def test_generated_body_is_readable():
    body = mapping_to_body(LINES)
    # a missing list is an empty list, a missing value without a default the empty value
    assert "{% for item in (order.lines if order is defined and order.lines is defined" in body
    ref = (
        '"ref": {{ (order.reference if order is defined and order.reference is defined'
        ' and order.reference is not none else "") | tojson }}'
    )
    assert ref in body
    assert 'as_type("date", "%d/%m/%Y")' in body
    assert body.count("\n") > len(LINES)


def test_equivalence_with_other_data():
    data = {
        "event": {"type": "x"},
        "order": dict(
            SAMPLE["order"], lines=SAMPLE["order"]["lines"][1:], tags=[], coupon={"code": "C1"}, discount=5, note="n"
        ),
        "customer": {"name": "A", "phone": "123"},
    }
    expected = render_mapping(LINES, data)
    assert render_body(mapping_to_body(LINES), data) == expected
    assert (expected["order"]["coupon"], expected["order"]["discount"], expected["order"]["tags"]) == ("C1", 10, [])


def test_scalar_list_and_positions():
    lines = [MappingLine("skus[]", "order.lines[].sku"), MappingLine("pos[1].id", "order.id")]
    assert (
        render_body(mapping_to_body(lines), SAMPLE)
        == render_mapping(lines, SAMPLE)
        == {
            "skus": ["A-1", "B-2"],
            "pos": [None, {"id": 42}],
        }
    )


def test_required_missing_values_fail_in_both():
    for source in ("order.nothing", "order.nothing * 2"):
        lines = [MappingLine("x", source, if_missing="required")]
        with pytest.raises(RenderError):
            render_mapping(lines, SAMPLE)
        with pytest.raises(RenderError) as info:
            render_body(mapping_to_body(lines), SAMPLE)
        assert info.value.path == "order.nothing"


def test_required_empty_values_fail_in_both():
    data = {"order": {"note": None}}
    lines = [MappingLine("x", "order.note", if_missing="required")]
    for rendered in (lambda: render_mapping(lines, data), lambda: render_body(mapping_to_body(lines), data)):
        with pytest.raises(RenderError) as info:
            rendered()
        assert "required value 'order.note' is empty" in str(info.value)


def test_missing_values_give_the_same_in_both():
    lines = [
        MappingLine("x", "order.nothing"),
        MappingLine("y", "order.nothing.deeper * 2"),
        MappingLine("z", "order.nothing", value_type="integer"),
        MappingLine("n", "order.nothing", if_missing="null"),
        MappingLine("d", "order.nothing", "7", value_type="integer"),
        MappingLine("moves[].sku", "order.shipment_moves[].sku"),
        MappingLine("q", "order.lines[0].qty", value_type="integer"),
    ]
    expected = render_mapping(lines, SAMPLE)
    assert expected["x"] == "" and expected["z"] is None and expected["n"] is None and expected["d"] == 7
    assert expected["moves"] == []
    assert render_body(mapping_to_body(lines), SAMPLE) == expected


def test_a_line_leaving_its_field_out_cannot_be_converted():
    with pytest.raises(RenderError, match="leaves its field out"):
        mapping_to_body([MappingLine("x", "order.nothing", if_missing="omit")])


def test_invalid_mapping_cannot_be_converted():
    with pytest.raises(RenderError):
        mapping_to_body([MappingLine("items[].x", "item.qty")])
