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


def _lt(text):
    """Mark an engine message for Odoo's translation extractor; the engine itself never translates.

    Odoo extracts the string literals passed to functions named ``_`` or
    ``_lt``, so every message template of the engine is written as a plain
    literal inside ``_lt(...)`` (never an f-string or a concatenation).
    """
    return text


def _same(text):
    return text


_PLACEHOLDER_RE = re.compile(r"%\((\w+)\)")


def _apply(template, params):
    """``template % params``, or the template as is when it has no parameters."""
    return template % params if params else template


def _fill(template, params, translate):
    """``translate(template) % params``; Phrase values are translated the same way first.

    A translation whose placeholders differ from the English template's, or
    that cannot be formatted, is ignored: the English template is used.
    """
    values = {
        key: _fill(value.template, value.params, translate) if isinstance(value, Phrase) else value
        for key, value in params.items()
    }
    english = _apply(template, values)
    translated = translate(template)
    if translated == template or not isinstance(translated, str) or not translated:
        return english
    if set(_PLACEHOLDER_RE.findall(translated)) != set(_PLACEHOLDER_RE.findall(template)):
        return english
    try:
        return _apply(translated, values)
    except (KeyError, ValueError, TypeError):
        return english


class Phrase(str):
    """A translatable piece of text: the English text, with its ``template`` and ``params``.

    Used for the fragments a message is built from (``"an object"``, ``"it
    is a function"``, the kind of a refused address...) and for message
    constants: as a parameter value it is translated before it is inserted,
    and ``RenderError(phrase)`` takes its template and parameters.
    """

    def __new__(cls, template, params=None):
        params = dict(params or {})
        self = super().__new__(cls, _apply(template, params))
        self.template = template
        self.params = params
        return self


_TYPE_WORDS = {
    "string": Phrase(_lt("text")),
    "integer": Phrase(_lt("a whole number")),
    "number": Phrase(_lt("a number")),
    "boolean": Phrase(_lt("true or false")),
    "date": Phrase(_lt("a date")),
    "datetime": Phrase(_lt("a date and time")),
    "json": Phrase(_lt("JSON")),
}


class EngineMessage:
    """Mixin of the engine's exceptions whose text is carried "by code".

    ``template`` is the constant English text (marked with ``_lt``) with
    ``%(name)s`` placeholders, ``params`` the values, already formatted the
    way the English text shows them; ``message`` is ``template % params``.
    ``cause`` is an inner engine error whose message fills ``%(detail)s``
    (without its location and final full stop): a translator of the outer
    message translates the inner one first (``error_text`` does). A
    ``%(detail)s`` without a cause is foreign text (Jinja's, ``json``'s,
    another exception's) that stays as it is.
    """

    def __init__(self, message, params=None, cause=None):
        if isinstance(message, Phrase):
            template, params = message.template, {**message.params, **(params or {})}
        else:
            template, params = message, dict(params or {})
        if cause is not None:
            params["detail"] = cause.message.rstrip(".")
        self.template = template
        self.params = params
        self.cause = cause
        self.message = _apply(template, params)
        super().__init__(self.message)


class RenderError(EngineMessage, ValueError):
    """A template, mapping or sample could not be rendered.

    ``message`` is a merchant-readable sentence (see ``EngineMessage`` for
    ``template``, ``params`` and ``cause``); ``line``/``column`` locate the
    problem, ``where`` says in what (one of ``WHERE``) and ``path`` names
    the input value involved.
    """

    #: Where ``line``/``column`` point: None for the template, the mapper
    #: source or the sample data being checked; "output" for the text the
    #: template produced (a JSON syntax error in an advanced body's output).
    WHERE = (None, "output")

    def __init__(self, message, line=None, column=None, path=None, where=None, *, params=None, cause=None):
        if where not in self.WHERE:
            raise ValueError(f"Unknown RenderError location {where!r}")
        super().__init__(message, params, cause)
        self.line = line
        self.column = column
        self.path = path
        self.where = where

    @classmethod
    def from_text(cls, text, line=None, path=None):
        """The RenderError of a text taken from another exception.

        A ``Phrase`` is one of the engine's own messages that travelled
        through Jinja (a SecurityError, an undefined value) and stays
        translatable; any other text is Jinja's own and is kept as it is.
        """
        if isinstance(text, Phrase):
            return cls(text, line, path=path)
        # Foreign text (Jinja's message): a plain parameter, not translated.
        return cls(_lt("%(detail)s"), line, path=path, params={"detail": str(text)})

    def __str__(self):
        return error_text(self)


_LOCATIONS = {
    (None, False): _lt("%(message)s (line %(line)s)."),
    (None, True): _lt("%(message)s (line %(line)s, column %(column)s)."),
    ("output", False): _lt("%(message)s (output line %(line)s)."),
    ("output", True): _lt("%(message)s (output line %(line)s, column %(column)s)."),
}


def _message_text(error, translate):
    params = error.params
    if error.cause is not None:
        params = {**params, "detail": _message_text(error.cause, translate).rstrip(".")}
    return _fill(error.template, params, translate)


def error_text(error, translate=_same):
    """The full text of an engine error, every template passed through ``translate``.

    Works for a RenderError (message, then its location and a full stop)
    and any other EngineMessage such as netcheck's URLError (the message
    alone); nested causes and Phrase parameters are translated first.
    ``translate(template)`` returns the template in the user's language; a
    translation that does not fit the parameters falls back to English.
    Other exceptions give ``str(error)``. ``str(error) == error_text(error)``.
    """
    if not isinstance(error, EngineMessage):
        return str(error)
    message = _message_text(error, translate)
    if not isinstance(error, RenderError):
        return message
    message = message.rstrip(". ")
    if error.line is None:
        return _fill(_lt("%(message)s."), {"message": message}, translate)
    template = _LOCATIONS[error.where, error.column is not None]
    params = {"message": message, "line": str(error.line), "column": str(error.column)}
    return _fill(template, params, translate)


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
    params = {"value": _describe(value), "target": target}
    if label:
        raise RenderError(
            _lt("Cannot convert %(value)s to %(target)s for '%(label)s'"), path=label, params={**params, "label": label}
        )
    raise RenderError(_lt("Cannot convert %(value)s to %(target)s"), path=label, params=params)


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
    raise RenderError(
        _lt("Unknown value type '%(type)s'; choose one of: %(choices)s"),
        params={"type": value_type, "choices": ", ".join(VALUE_TYPES)},
    )
