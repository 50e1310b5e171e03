"""Runtime guards and filters of the template sandbox.

Everything that runs *while* a template renders lives here: the per-render
work budget, the bounded ``range()``, the text/JSON conversions used for
printing, and the filters (Jinja's safe ones plus size-checked versions of
``join``, ``replace``, ``sum``, ``tojson`` and the mapper's ``as_type``).
Compile-time checks and the environment itself are in ``_sandbox``.
"""

import json
import types
from contextlib import contextmanager
from contextvars import ContextVar

from jinja2 import pass_context, pass_environment
from jinja2.filters import FILTERS, make_attrgetter, sync_do_sum
from jinja2.runtime import Undefined

from ._values import MAX_DEPTH, MAX_OUTPUT_BYTES, RenderError, convert_value, estimate_size

#: Largest ``range()`` a template may create (Jinja's own limit is 100,000).
MAX_RANGE = 10_000
#: Loop steps plus range() numbers one render may use before it is stopped.
MAX_WORK_STEPS = 100_000
#: Longest list a template may build with ``*`` or ``+``.
MAX_LIST_ITEMS = 10_000

TOO_BIG = f"The result is larger than the {MAX_OUTPUT_BYTES // 1024} KB limit for one message"
TOO_MUCH_WORK = f"The template does too much work (more than {MAX_WORK_STEPS:,} loop steps); simplify its loops"

# Jinja filters that cannot be used to allocate unbounded memory or reach
# internals; the others (center, indent, format, batch, slice, attr,
# pprint, xmlattr, random, ...) are simply not available.
_SAFE_FILTERS = (
    "abs capitalize count d default dictsort first float groupby int items last length list "
    "lower map max min reject rejectattr reverse round select selectattr sort striptags title "
    "trim truncate unique upper urlencode wordcount"
).split()

_budget = ContextVar("postback_render_budget", default=None)


class _Budget:
    __slots__ = ("steps",)

    def __init__(self):
        self.steps = 0


def charge(steps):
    """Count ``steps`` units of work against the current render's budget."""
    budget = _budget.get()
    if budget is not None:
        budget.steps += steps
        if budget.steps > MAX_WORK_STEPS:
            raise RenderError(TOO_MUCH_WORK)


@contextmanager
def work_budget():
    """Give the code inside a fresh work budget (one per render)."""
    token = _budget.set(_Budget())
    try:
        yield
    finally:
        _budget.reset(token)


def safe_range(*args):
    """The only global of a template: range() with a size limit, charged to the budget."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderError(f"range() is limited to {MAX_RANGE:,} numbers in a template")
    charge(len(numbers))
    return numbers


def _json_default(value):
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(
        value, (range, tuple, types.GeneratorType, map, filter, type({}.keys()), type({}.values()), type({}.items()))
    ):
        items = list(value)
        charge(len(items))
        return items
    raise TypeError(f"A value of type '{type(value).__name__}' cannot be written as JSON")


def dump_json(value, indent=None):
    """json.dumps with size, NaN and type checks turned into RenderError."""
    if estimate_size(value, MAX_OUTPUT_BYTES) > MAX_OUTPUT_BYTES:
        raise RenderError(TOO_BIG)
    try:
        text = json.dumps(
            value,
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
            indent=indent,
            separators=(",", ":") if indent is None else None,
        )
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise RenderError("NaN or infinite numbers cannot be written as JSON") from None
        raise RenderError(f"The value cannot be written as JSON: {exc}") from None
    except TypeError as exc:
        raise RenderError(str(exc)) from None
    except RecursionError:
        raise RenderError("The value is nested too deeply to be written as JSON") from None
    if len(text) > MAX_OUTPUT_BYTES:
        raise RenderError(TOO_BIG)
    return text


def to_text(value):
    """Text form of a value for ``{{ }}``, ``~``, ``| string`` and ``| join``."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is int or kind is float:
        return repr(value)
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if kind in (dict, list, tuple, range) or isinstance(value, types.GeneratorType):
        return dump_json(value)
    return str(value)


def to_plain(value, _depth=0):
    """Turn an expression result into plain JSON data (lists, not tuples)."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return value
    if _depth > MAX_DEPTH:
        raise RenderError("The expression result is nested too deeply")
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if kind is dict:
        if any(type(key) is not str for key in value):
            raise RenderError("Object keys built by an expression must be text")
        return {key: to_plain(item, _depth + 1) for key, item in value.items()}
    if kind is list:
        return [to_plain(item, _depth + 1) for item in value]
    try:
        return to_plain(_json_default(value), _depth + 1)
    except TypeError:
        raise RenderError(
            f"The expression returned a value of type '{kind.__name__}', which cannot be sent as JSON"
        ) from None


def check_size(length, limit):
    """Refuse to build a text (limit MAX_OUTPUT_BYTES) or list longer than ``limit``."""
    if length > limit:
        raise RenderError(
            TOO_BIG if limit == MAX_OUTPUT_BYTES else f"The template builds a list longer than {limit:,} items"
        )


# -- filters -------------------------------------------------------------


@pass_context  # pass_context also stops Jinja from running it at compile time
def _loop_guard(_context, iterable):
    """Wrapped around every ``{% for %}`` iterable to charge each step."""
    for item in iterable:
        charge(1)
        yield item


def _concat(pieces):
    """Replacement for ``~`` that refuses to build oversized text."""
    parts = [to_text(piece) for piece in pieces]
    check_size(sum(map(len, parts)), MAX_OUTPUT_BYTES)
    return "".join(parts)


@pass_environment
def _join(environment, value, d="", attribute=None):
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    separator = to_text(d)
    parts, total = [], 0
    for item in value:
        text = to_text(item)
        total += len(text) + len(separator)
        check_size(total, MAX_OUTPUT_BYTES)
        parts.append(text)
    return separator.join(parts)


def _replace(s, old, new, count=None):
    s, old, new = to_text(s), to_text(old), to_text(new)
    hits = s.count(old) if old else len(s) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    check_size(len(s) + hits * (len(new) - len(old)), MAX_OUTPUT_BYTES)
    return s.replace(old, new, -1 if count is None else count)


@pass_environment
def _sum(environment, iterable, attribute=None, start=0):
    if type(start) not in (int, float):
        raise RenderError("sum can only add up numbers")
    return sync_do_sum(environment, iterable, attribute, start)


def _tojson(value, indent=None):
    if indent is not None and (type(indent) is not int or not 0 <= indent <= 8):
        raise RenderError("tojson indent must be a number from 0 to 8")
    return dump_json(value, indent)


def _as_type(value, value_type="auto", fmt=None, label=None):
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return convert_value(to_plain(value), value_type, fmt or None, label)


def build_filters():
    filters = {name: FILTERS[name] for name in _SAFE_FILTERS}
    filters.update(
        join=_join,
        replace=_replace,
        sum=_sum,
        string=to_text,
        tojson=_tojson,
        as_type=_as_type,
        _pb_loop=_loop_guard,
        _pb_concat=_concat,
    )
    return filters
