"""preview_lines: the value each Template Mapper line yields, shown beside it."""

from postback_connector.engine.render import LEFT_OUT, MappingLine, RenderError, preview_lines

DATA = {
    "order": {
        "reference": "S00042",
        "total": 12.5,
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
    },
    "shipment": None,
}


def test_each_line_shows_its_value_on_the_data():
    lines = [
        MappingLine("ref", "order.reference"),
        MappingLine("amount.cents", "order.total * 100", value_type="integer"),
        MappingLine("items[].sku", "order.lines[].sku"),
        MappingLine("items[].double", "item.qty * 2"),
        MappingLine("first", "order.lines[0].sku"),
    ]
    values = preview_lines(lines, DATA)
    assert values == [("S00042", None), (1250, None), (["A-1", "B-2"], None), ([4, 2], None), ("A-1", None)]


def test_missing_values_follow_the_line_mode():
    lines = [
        MappingLine("tracking", "shipment.tracking_reference"),
        MappingLine("carrier", "shipment.carrier", if_missing="omit"),
        MappingLine("weight", "shipment.weight", if_missing="null"),
        MappingLine("eta", "shipment.eta", default="soon"),
    ]
    assert preview_lines(lines, DATA) == [("", None), (LEFT_OUT, None), (None, None), ("soon", None)]


def test_a_failing_line_shows_its_own_error_and_the_others_their_values():
    lines = [
        MappingLine("ref", "order.reference"),
        MappingLine("tracking", "shipment.tracking_reference", if_missing="required"),
        MappingLine("qty", "order.reference", value_type="integer"),
    ]
    (ref, ref_error), (tracking, tracking_error), (qty, qty_error) = preview_lines(lines, DATA)
    assert (ref, ref_error) == ("S00042", None)
    assert tracking is None and isinstance(tracking_error, RenderError)
    assert "shipment.tracking_reference" in str(tracking_error)
    assert qty is None and "S00042" in str(qty_error)


def test_an_invalid_output_path_is_that_line_error_only():
    values = preview_lines([MappingLine("ok", "order.reference"), MappingLine("bad..path", "order.total")], DATA)
    assert values[0] == ("S00042", None)
    assert values[1][0] is None and "not a valid output path" in str(values[1][1])
