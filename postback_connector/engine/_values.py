"""Plain JSON-like values: the error type, validation, size estimates and
the value types of the Template Mapper.

This module is the bottom layer of the render engine (no Jinja here) so
that the sandbox, the mapper and the public ``render`` module can all share
one error type and one set of conversion rules.
"""

import json
import math
import re
from datetime import UTC, date, datetime

#: Largest rendered message (the JSON body of one postback), in bytes.
MAX_OUTPUT_BYTES = 512 * 1024

#: Deepest nesting accepted in input data; also protects the recursive
#: helpers below (and json.dumps) from RecursionError on cyclic data.
MAX_DEPTH = 64

VALUE_TYPES = ("auto", "string", "integer", "number", "boolean", "date", "datetime", "list", "json")

# Exact types only: subclasses (defaultdict, Markup, enums...) may carry
# behaviour, and the whole point of the check is that no live object
# reaches a template.
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})

_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "n", "off"})

# Float noise such as 19.99 * 100 == 1998.9999999999998 still counts as a
# whole number; anything further away is a real fraction.
_INTEGER_TOLERANCE = 1e-6

_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "date": "a date",
    "datetime": "a date and time",
    "json": "JSON",
}


class RenderError(ValueError):
    """A template, mapping or sample could not be rendered.

    ``message`` is a merchant-readable sentence; ``line``/``column`` locate
    the problem in the template (or, when ``where`` says so, in the output
    or the sample) and ``path`` names the input value involved.
    """

    def __init__(self, message, line=None, column=None, path=None, where=None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.path = path
        self.where = where

    def __str__(self):
        text = self.message.rstrip(". ")
        if self.line is not None:
            location = f"line {self.line}"
            if self.column is not None:
                location += f", column {self.column}"
            if self.where:
                location = f"{self.where} {location}"
            text += f" ({location})"
        return text + "."


def type_name(value):
    """Merchant-facing name of a plain value's type (used by list_paths)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def short_repr(value, limit=40):
    """A short JSON-ish rendering of a value for messages and the UI."""
    if isinstance(value, dict):
        return f"{{{len(value)} field{'' if len(value) == 1 else 's'}}}"
    if isinstance(value, list):
        return f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def ensure_plain(data, _path="data", _depth=0):
    """Raise TypeError unless ``data`` only holds JSON-like plain values.

    Templates run in a sandbox, but the sandbox is only as good as the
    objects it is given: a live object (an Odoo record, a datetime, a
    defaultdict) would expose methods and attributes. Plain dict/list/str/
    int/float/bool/None cannot.
    """
    if _depth > MAX_DEPTH:
        raise TypeError(f"Input data is nested more than {MAX_DEPTH} levels deep at {_path}.")
    kind = type(data)
    if kind is dict:
        for key, value in data.items():
            if type(key) is not str:
                raise TypeError(f"Input data keys must be text; found {type(key).__name__} key in {_path}.")
            if type(value) not in _SCALAR_TYPES:
                ensure_plain(value, f"{_path}.{key}", _depth + 1)
    elif kind is list:
        for index, value in enumerate(data):
            if type(value) not in _SCALAR_TYPES:
                ensure_plain(value, f"{_path}[{index}]", _depth + 1)
    elif kind not in _SCALAR_TYPES:
        raise TypeError(
            f"Input data must contain only JSON values (object, list, text, number, "
            f"true/false, null); found {kind.__name__} at {_path}."
        )


def estimate_size(value, limit):
    """Roughly how many characters ``value`` takes as JSON, stopping early.

    Returns a number greater than ``limit`` as soon as the estimate passes
    it, so a huge structure (e.g. one big string repeated many times by
    reference) is refused before anything tries to serialise it.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 2
        elif kind is dict:
            total += 2 + 4 * len(item) + sum(len(k) for k in item if type(k) is str)
            stack.extend(item.values())
        elif kind in (list, tuple):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 8
        if total > limit:
            return total
    return total


def _describe(value):
    return short_repr(value) if not isinstance(value, str) else repr(short_repr(value)[1:-1])


def _fail(value, value_type, label):
    target = _TYPE_WORDS.get(value_type, value_type)
    where = f" for '{label}'" if label else ""
    raise RenderError(f"Cannot convert {_describe(value)} to {target}{where}", path=label)


def _to_number(value, value_type, label):
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        if not math.isfinite(value):
            _fail(value, value_type, label)
        return value
    if kind is str:
        text = value.strip()
        if _INT_RE.fullmatch(text):
            try:
                return int(text)
            except ValueError:  # longer than Python's int-string limit
                _fail(value, value_type, label)
        if _FLOAT_RE.fullmatch(text):
            number = float(text)
            if math.isfinite(number):
                return number
    _fail(value, value_type, label)


def _to_integer(value, value_type, label):
    number = _to_number(value, value_type, label)
    if type(number) is float:
        rounded = round(number)
        if abs(number - rounded) > _INTEGER_TOLERANCE:
            _fail(value, value_type, label)
        return int(rounded)
    return number


def _to_boolean(value, value_type, label):
    kind = type(value)
    if kind is bool:
        return value
    if kind in (int, float) and value in (0, 1):
        return bool(value)
    if kind is str:
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    _fail(value, value_type, label)


def _to_string(value, value_type, label):
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind in (int, float):
        return repr(value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        _fail(value, value_type, label)


def _parse_datetime(value, value_type, label):
    kind = type(value)
    if kind in (int, float) and not isinstance(value, bool):
        # Numbers are read as Unix timestamps (seconds, UTC).
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            _fail(value, value_type, label)
    if kind is str:
        text = value.strip()
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        try:
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            pass
    _fail(value, value_type, label)


def _format(moment, fmt, value, value_type, label):
    if not fmt:
        return moment.isoformat()
    try:
        return moment.strftime(fmt)
    except ValueError:  # e.g. a year before 1000 with some libc formats
        _fail(value, value_type, label)


def _to_date(value, value_type, label):
    if type(value) is str:
        try:  # plain dates first, so "2024-05-01" never grows a time part
            day = date.fromisoformat(value.strip())
        except ValueError:
            day = _parse_datetime(value, value_type, label).date()
    else:
        day = _parse_datetime(value, value_type, label).date()
    return day


def _to_json(value, value_type, label):
    if type(value) is not str:
        return value
    try:
        return json.loads(value)
    except ValueError:
        _fail(value, value_type, label)


def convert_value(value, value_type="auto", fmt=None, label=None):
    """Convert one value to a mapper value type.

    ``null`` stays ``null`` for every type (a default replaces it). Numbers
    keep their kind under "number": integers stay integers and text
    without a decimal point becomes an integer; "integer" accepts floats
    only when they are whole (up to float noise). Dates and date-times are
    formatted with ``fmt`` (strftime) or ISO 8601; naive date-times are
    left naive because the engine cannot know their time zone.
    """
    if value is None or value_type == "auto":
        return value
    if value_type == "string":
        return _to_string(value, value_type, label)
    if value_type == "integer":
        return _to_integer(value, value_type, label)
    if value_type == "number":
        return _to_number(value, value_type, label)
    if value_type == "boolean":
        return _to_boolean(value, value_type, label)
    if value_type == "date":
        return _format(_to_date(value, value_type, label), fmt, value, value_type, label)
    if value_type == "datetime":
        return _format(_parse_datetime(value, value_type, label), fmt, value, value_type, label)
    if value_type == "list":
        return value if type(value) is list else [value]
    if value_type == "json":
        return _to_json(value, value_type, label)
    raise RenderError(f"Unknown value type '{value_type}'; choose one of: {', '.join(VALUE_TYPES)}")
