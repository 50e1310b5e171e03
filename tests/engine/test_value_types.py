"""Mapper value types: conversions and their error messages."""

import pytest

from postback_connector.engine.render import VALUE_TYPES, MappingLine, RenderError, render_mapping


def convert(value, value_type, fmt=None):
    doc = render_mapping([MappingLine("out", "v", value_type=value_type, fmt=fmt)], {"v": value})
    return doc["out"]


def test_value_type_names():
    assert VALUE_TYPES == ("auto", "string", "integer", "number", "boolean", "date", "datetime", "list", "json")


@pytest.mark.parametrize(
    ("value", "value_type", "expected"),
    [
        ({"a": [1]}, "auto", {"a": [1]}),
        ("abc", "string", "abc"),
        (12, "string", "12"),
        (1.5, "string", "1.5"),
        (True, "string", "true"),
        ({"a": 1}, "string", '{"a":1}'),
        (7, "integer", 7),
        (" 42 ", "integer", 42),
        ("42.0", "integer", 42),
        (1998.9999999999998, "integer", 1999),
        (3, "number", 3),
        (2.5, "number", 2.5),
        ("12", "number", 12),
        ("-1.5e2", "number", -150.0),
        (True, "boolean", True),
        (0, "boolean", False),
        ("Yes", "boolean", True),
        (" off ", "boolean", False),
        ("1", "boolean", True),
        ("false", "boolean", False),
        ("2024-05-01", "date", "2024-05-01"),
        ("2024-05-01 10:30:00", "date", "2024-05-01"),
        ("2024-05-01T10:30:00Z", "datetime", "2024-05-01T10:30:00+00:00"),
        ("2024-05-01 10:30:00", "datetime", "2024-05-01T10:30:00"),
        ("2024-05-01", "datetime", "2024-05-01T00:00:00"),
        (0, "datetime", "1970-01-01T00:00:00+00:00"),
        ("x", "list", ["x"]),
        ([1, 2], "list", [1, 2]),
        ({"a": 1}, "list", [{"a": 1}]),
        ('{"a": [1, 2]}', "json", {"a": [1, 2]}),
        ({"a": 1}, "json", {"a": 1}),
    ],
)
def test_conversions(value, value_type, expected):
    result = convert(value, value_type)
    assert result == expected
    assert type(result) is type(expected)


def test_date_formats():
    assert convert("2024-05-01 10:30:00", "date", "%d/%m/%Y") == "01/05/2024"
    assert convert("2024-05-01T10:30:00", "datetime", "%Y%m%d %H%M") == "20240501 1030"


@pytest.mark.parametrize(
    ("value", "value_type", "words"),
    [
        ("abc", "number", "Cannot convert 'abc' to a number"),
        ("1,5", "number", "Cannot convert '1,5' to a number"),
        (True, "number", "Cannot convert true to a number"),
        (12.5, "integer", "Cannot convert 12.5 to a whole number"),
        ("nan", "number", "to a number"),
        ("maybe", "boolean", "Cannot convert 'maybe' to true or false"),
        (2, "boolean", "to true or false"),
        ("yesterday", "date", "Cannot convert 'yesterday' to a date"),
        ("2024-13-01", "datetime", "to a date and time"),
        ("{not json", "json", "to JSON"),
    ],
)
def test_conversion_errors_name_the_value_and_the_field(value, value_type, words):
    with pytest.raises(RenderError) as info:
        convert(value, value_type)
    message = str(info.value)
    assert words in message
    assert "'out'" in message
