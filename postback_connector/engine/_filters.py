"""Runtime guards and filters of the template sandbox.

Everything that runs *while* a template renders lives here: the per-render
budget, the bounded ``range()``, the text/JSON conversions used for
printing, and the filters. Compile-time checks and the environment itself
are in ``_sandbox``.

The budget of one render
------------------------
Every public render call (``render_body``, ``render_text``,
``render_mapping``) runs inside one ``work_budget``; no template construct
or filter can leave it:

* **time**: ``RENDER_SECONDS`` of wall-clock time. The runtime hooks read
  the clock: every loop step, ``+ * ** %`` operator, ``~``, call,
  subscript (also each step of a filter's ``attribute="a.b"``),
  comparison, list/tuple/dict literal, print, test and filter. A read
  costs about 45 ns, no more than counting operations would, and counting
  would let several slow operations run between two reads; instead, every
  single operation between two reads is bounded by the size limits below
  (the slowest ones allowed take tens of milliseconds; compiling is
  bounded in ``_sandbox``), so a render never runs long past its deadline;
* **work**: ``MAX_WORK_STEPS`` loop steps and ``range()`` numbers;
* **memory**: ``MAX_RENDER_MEMORY`` bytes of values the template builds
  (text, lists, objects), counted when they are built and never refunded,
  so the count bounds the peak as well;
* **sizes**: any text built at most ``MAX_OUTPUT_BYTES`` characters, any
  list at most ``MAX_LIST_ITEMS`` items, and any list or object at most
  ``MAX_VALUE_SIZE`` in *logical* size: its JSON length with a repeated
  value counted each time it appears (``[[x] * 100] * 100`` holds ``x``
  10,000 times). Comparing, hashing, sorting or serialising a value takes
  time in proportion to its logical size, so bounding it at construction
  keeps every such single operation short. Sizes of lists the template
  just built are remembered for the next construction (a few dozen), so
  chained constructions do not re-walk their parts.

Filters, decided by measuring Jinja's own versions on 32 KB, 512 KB and
1 MB inputs (2-core machine; "Nx" is the size of the result or of the
working memory compared with the input), then the bounded versions on the
largest input they accept:

================  ==========================================  =============================
filter            Jinja's own                                 here
================  ==========================================  =============================
striptags         quadratic (``<.*?>``): 4 s on 32 KB of      rewritten, linear: 0.5-36 ms,
                  ``<``, 500 s on 512 KB of ``<a``             at most 10 MB on 512 KB
urlize            1.7 s, 4x output on 512 KB; HTML only       removed
urlencode         9x output (``€`` -> ``%E2%82%AC``): 40 MB    rewritten: result size checked
                  on 1 MB; ``str()`` (repr) of any object     before it is built; 8 ms, 2 MB
wordcount         a list of every word: 20 MB on 1 MB         rewritten, counts 64 KB slices:
                                                              40 ms, 1.3 MB on 1 MB
title             word by word in Python: 0.45 s, 32 MB on    input limited to 64 KB:
                  512 KB                                      10 ms, 4 MB
sort, unique,     a lowercase copy of every key: ``[s] *      items and total key size
min, max,         10000 | sort`` (500 KB ``s``): 3 GB, 8 s    bounded (10,000, 1 MB): sort
groupby,                                                      of 10,000 items 18 ms, 2 MB
dictsort
list              a list of every character of a text         10,000 items at most
wordwrap          quadratic on long words: 7.8 s on 512 KB    removed
center, indent    output as wide as asked (``center(10**9)``)  removed
format            ``%`` formatting: reprs, any padding        removed
pprint            Python reprs; 1 s on 512 KB                 removed
xmlattr, escape,  HTML only; 3-4x output                      removed
forceescape,
safe
batch, slice      50-100x memory on 512 KB                    removed (not needed)
filesizeformat    harmless                                    removed (not needed in JSON)
attr, random      reach attributes / not deterministic        removed
================  ==========================================  =============================

The other filters (abs, capitalize, count, d, default, first, float, int,
items, last, length, lower, map, reject, rejectattr, reverse, round,
select, selectattr, trim, truncate, upper) are linear, C-speed (under a
few ms on 1 MB) and return at most about their input (``upper`` at most
3x). Text filters read their input through ``to_text`` (JSON, never a
Python repr) and refuse more than ``MAX_OUTPUT_BYTES`` of it (``truncate``
and ``wordcount`` take any length); ``trim`` removes at most
``MAX_STRIP_CHARS`` different characters; an ``attribute="a.b"`` path has
at most ``MAX_ATTRIBUTE_PARTS`` parts. ``join``, ``replace``, ``sum``,
``string``, ``tojson`` and the mapper's ``as_type`` are this module's own.
"""

import html
import json
import re
import sys
import types
from contextvars import ContextVar
from itertools import islice
from time import monotonic
from urllib.parse import quote_from_bytes

from jinja2 import filters as jinja_filters
from jinja2 import pass_context, pass_environment
from jinja2.filters import FILTERS, make_attrgetter, make_multi_attrgetter, sync_do_groupby, sync_do_sum
from jinja2.runtime import LoopContext, TemplateReference, Undefined
from jinja2.tests import TESTS
from markupsafe import Markup
from markupsafe import escape as markup_escape

from ._values import MAX_DEPTH, MAX_OUTPUT_BYTES, Phrase, RenderError, _lt, convert_value

#: Largest ``range()`` a template may create (Jinja's own limit is 100,000).
MAX_RANGE = 10_000
#: Loop steps plus range() numbers one render may use before it is stopped.
MAX_WORK_STEPS = 100_000
#: Longest list a template may build.
MAX_LIST_ITEMS = 10_000
#: Wall-clock time one render may take, in seconds.
RENDER_SECONDS = 1.0
#: Bytes of values (text, lists, objects) one render may build.
MAX_RENDER_MEMORY = 32 * 1024 * 1024
#: Largest logical size (JSON length, repeated values counted each time) of a list or object.
MAX_VALUE_SIZE = 4 * 1024 * 1024
#: Largest total size of the keys one sort, unique, min, max or groupby compares.
MAX_SORT_KEYS = 1024 * 1024
#: Longest text ``title`` accepts (it works word by word in Python).
MAX_TITLE_TEXT = 64 * 1024
#: Most characters ``strip``/``trim`` may be asked to remove (the cost is text x characters).
MAX_STRIP_CHARS = 1000
#: Most parts (``a.b``, ``a,b``) of a filter's ``attribute``: each item costs one lookup per part.
MAX_ATTRIBUTE_PARTS = 32

# The limit messages (``raise RenderError(TOO_BIG)``), with their numbers as parameters.
TOO_BIG = Phrase(
    _lt("The result is larger than the %(kb)s KB limit for one message"), {"kb": str(MAX_OUTPUT_BYTES // 1024)}
)
TOO_MUCH_WORK = Phrase(
    _lt("The template does too much work (more than %(steps)s loop steps); simplify its loops"),
    {"steps": f"{MAX_WORK_STEPS:,}"},
)
TOO_SLOW = Phrase(
    _lt("The template took longer than %(seconds)s s to render; simplify it (loops, repetitions, long texts)"),
    {"seconds": f"{RENDER_SECONDS:g}"},
)
TOO_MUCH_MEMORY = Phrase(
    _lt("The template needs more than %(mb)s MB of memory to render; simplify it (repetitions, long texts, big lists)"),
    {"mb": str(MAX_RENDER_MEMORY // 2**20)},
)
TOO_LONG = Phrase(_lt("The template builds a list longer than %(items)s items"), {"items": f"{MAX_LIST_ITEMS:,}"})
TOO_LARGE = Phrase(
    _lt(
        "The template builds a list or object larger than %(mb)s MB "
        "(a value repeated n times counts n times); simplify it"
    ),
    {"mb": str(MAX_VALUE_SIZE // 2**20)},
)

# Sizes remembered per render: only lists/objects this large, at most this many.
_MEMO_MIN_SIZE = 1024
_MEMO_ENTRIES = 64

# Lazy iterables a template can get (filters, dict views, reversed...):
# written as JSON lists, materialized with a bound.
_LAZY_TYPES = (
    types.GeneratorType,
    map,
    filter,
    reversed,
    range,
    type({}.keys()),
    type({}.values()),
    type({}.items()),
    type(iter([])),
    type(reversed([])),
    type(iter(())),
    type(iter(range(0))),
    type(iter({})),
    type(reversed({})),
)
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_VIEW_TYPES = frozenset({type({}.keys()), type({}.values()), type({}.items())})

_budget = ContextVar("postback_render_budget", default=None)


class _Budget:
    __slots__ = ("deadline", "memory", "sizes", "steps")

    def __init__(self):
        self.deadline = monotonic() + RENDER_SECONDS
        self.memory = 0
        self.steps = 0
        self.sizes = {}  # id -> (value, logical size) of recently built lists/objects


class work_budget:  # lower case: used like a function, ``with work_budget():``
    """A fresh budget for the code inside (one per render).

    Inside another budget the outer one stays in charge, so nesting never
    extends a deadline.
    """

    __slots__ = ("_token",)

    def __enter__(self):
        self._token = _budget.set(_Budget()) if _budget.get() is None else None
        return self

    def __exit__(self, *_exc):
        if self._token is not None:
            _budget.reset(self._token)
        return False


def tick():
    """Stop the render if its deadline has passed."""
    budget = _budget.get()
    if budget is not None and monotonic() > budget.deadline:
        raise RenderError(TOO_SLOW)


def charge(steps):
    """Count ``steps`` units of work against the current render's budget."""
    budget = _budget.get()
    if budget is not None:
        budget.steps += steps
        if budget.steps > MAX_WORK_STEPS:
            raise RenderError(TOO_MUCH_WORK)
        if monotonic() > budget.deadline:
            raise RenderError(TOO_SLOW)


def _use_memory(budget, nbytes):
    budget.memory += nbytes
    if budget.memory > MAX_RENDER_MEMORY:
        raise RenderError(TOO_MUCH_MEMORY)
    if monotonic() > budget.deadline:
        raise RenderError(TOO_SLOW)


def check_size(length, limit):
    """Refuse to build a text (limit MAX_OUTPUT_BYTES) or list longer than ``limit``."""
    if length > limit:
        raise RenderError(TOO_BIG if limit == MAX_OUTPUT_BYTES else TOO_LONG)


def built_text(text):
    """Check and charge a text the template just built; returns it."""
    if len(text) > MAX_OUTPUT_BYTES:
        raise RenderError(TOO_BIG)
    budget = _budget.get()
    if budget is not None:
        _use_memory(budget, sys.getsizeof(text))
    return text


def value_size(value, budget=None, limit=MAX_VALUE_SIZE):
    """Logical size of a value: its JSON length, a repeated value counted each time.

    Stops as soon as the total passes ``limit`` (returning a number above
    it). Walks with one iterator per nesting level, and measures a list or
    object seen again (``[[x] * 1000] * 1000``) from the first time, so
    the walk costs time in proportion to the distinct lists and objects,
    not to the logical size.
    """
    remembered = budget.sizes if budget is not None else None
    seen = {}  # id -> (list or object, size) measured by this walk; holding it keeps the id unique
    total = 0
    stack = [(iter((value,)), None, 0)]
    while stack:
        iterator, container, start = stack[-1]
        for item in iterator:
            kind = type(item)
            if kind is str:
                total += len(item) + 2
            elif kind is list or kind is dict or kind in _VIEW_TYPES or isinstance(item, tuple):
                if not item:
                    total += 2
                    continue
                known = seen.get(id(item)) or (remembered.get(id(item)) if remembered else None)
                if known is not None and known[0] is item:
                    total += known[1]
                    if total > limit:
                        return total
                    continue
                before = total
                if kind is dict:
                    total += 2 + 4 * len(item)
                    other_keys = []  # tuples...: hashing them costs their size
                    for key in item:
                        if type(key) is str:
                            total += len(key)
                        else:
                            other_keys.append(key)
                    stack.append((iter(item.values()), item, before))
                    if other_keys:
                        stack.append((iter(other_keys), None, 0))
                else:
                    total += 2 + len(item)
                    stack.append((iter(item), item, before))
                if total > limit:
                    return total
                break
            elif kind is range:
                total += 2 + 9 * len(item)
            else:
                total += 8
            if total > limit:
                return total
        else:
            stack.pop()
            if container is not None:
                seen[id(container)] = (container, total - start)
    return total


def measure(value):
    """Logical size of ``value`` (see value_size) with the current render's remembered sizes."""
    return value_size(value, _budget.get())


def _remember(budget, value, size):
    if budget is None or size < _MEMO_MIN_SIZE:
        return
    sizes = budget.sizes
    sizes[id(value)] = (value, size)
    if len(sizes) > _MEMO_ENTRIES:
        del sizes[next(iter(sizes))]


def built_container(value, size=None):
    """Check and charge a list, tuple or dict the template just built; returns it.

    ``size`` is its logical size when the caller already knows it.
    """
    if len(value) > MAX_LIST_ITEMS:
        raise RenderError(TOO_LONG)
    budget = _budget.get()
    if size is None:
        size = value_size(value, budget)
    if size > MAX_VALUE_SIZE:
        raise RenderError(TOO_LARGE)
    if budget is not None:
        _remember(budget, value, size)
        _use_memory(budget, sys.getsizeof(value))
    return value


def charge_copy(value):
    """Charge a slice or other copy that cannot be larger than what it copies."""
    budget = _budget.get()
    if budget is not None:
        _use_memory(budget, sys.getsizeof(value))
    return value


def charge_memory(nbytes):
    """Charge ``nbytes`` of new values to the current render."""
    budget = _budget.get()
    if budget is not None:
        _use_memory(budget, nbytes)


def take(iterable):
    """The items of ``iterable`` as a list, refusing more than MAX_LIST_ITEMS."""
    kind = type(iterable)
    if kind is list or kind is tuple or kind is str or kind is dict:
        if len(iterable) > MAX_LIST_ITEMS:
            raise RenderError(TOO_LONG)
        return iterable if kind is list else list(iterable)
    if isinstance(iterable, Undefined):
        iterable._fail_with_undefined_error()
    items = list(islice(iter(iterable), MAX_LIST_ITEMS + 1))
    if len(items) > MAX_LIST_ITEMS:
        raise RenderError(TOO_LONG)
    charge(len(items))
    return items


def safe_range(*args):
    """The only global of a template: range() with a size limit, charged to the budget."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderError(
            _lt("range() is limited to %(limit)s numbers in a template"), params={"limit": f"{MAX_RANGE:,}"}
        )
    charge(len(numbers))
    return numbers


# -- printing: text and JSON -----------------------------------------------


def _what(value):
    if isinstance(value, TemplateReference):
        return Phrase(_lt("it is the template itself"))
    if isinstance(value, LoopContext):
        return Phrase(_lt("it is the loop helper"))
    if isinstance(value, type):
        return Phrase(_lt("it is a Python type"))
    if callable(value):
        return Phrase(_lt("it is a function"))
    return Phrase(_lt("it is an internal object (%(type)s)"), {"type": type(value).__name__})


def not_a_value(value, shown=None):
    """The RenderError refusing a value that is not plain data (``shown``: the printed expression)."""
    if shown:
        return RenderError(
            _lt(
                "{{ %(shown)s }} is not a value from the input data (%(what)s); "
                "print a field such as {{ order.reference }}"
            ),
            params={"shown": shown, "what": _what(value)},
        )
    return RenderError(
        _lt("The template uses something that is not a value from the input data (%(what)s)"),
        params={"what": _what(value)},
    )


def to_text(value, shown=None):
    """Text form of a value for ``{{ }}``, ``~``, ``| string``, ``| join`` and text filters.

    Only plain values have one: anything else (a function, the loop, the
    template itself...) is refused instead of printing its Python repr;
    ``shown`` is the printed expression, for the message.
    """
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is int or kind is float:
        try:
            return repr(value)
        except ValueError:  # an integer of more than 4,300 digits
            raise RenderError(_lt("A number in the template is too large")) from None
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if kind is dict or kind is list or isinstance(value, (tuple, *_LAZY_TYPES)):
        return dump_json(value, shown=shown)
    if isinstance(value, str):  # a str subclass: its plain text
        return str.__str__(value)
    raise not_a_value(value, shown)


def _print(value, shown=None):
    """Wrapped around every ``{{ }}``: the text of the value, named in errors."""
    text = to_text(value, shown)
    budget = _budget.get()
    if budget is not None and monotonic() > budget.deadline:
        raise RenderError(TOO_SLOW)
    return text


class _Meter:
    __slots__ = ("left",)

    def __init__(self, limit):
        self.left = limit

    def use(self, amount):
        self.left -= amount
        if self.left < 0:
            raise RenderError(TOO_BIG)


def _json_size(value, limit, shown=None, indent=0):
    """(JSON length estimate, holds lazy iterables) of a value, stopping past ``limit``.

    With ``indent``, each value also counts its line's indentation.
    Refuses values that are not plain data on the way.
    """
    total, lazy = 0, False
    stack = [iter((value,))]
    while stack:
        for item in stack[-1]:
            if indent:
                total += indent * len(stack) + 1
            kind = type(item)
            if kind is str:
                total += len(item) + 2
            elif kind in _JSON_SCALARS:
                total += 8
            elif kind is dict or kind is list or isinstance(item, tuple):
                if kind is dict:
                    total += 2 + 4 * len(item)
                    for key in item:
                        total += len(key) if type(key) is str else 8
                    stack.append(iter(item.values()))
                else:
                    total += 2 + len(item)
                    stack.append(iter(item))
                if total > limit:
                    return total, lazy
                break
            elif isinstance(item, _LAZY_TYPES):
                lazy = True
                total += 2
            elif isinstance(item, Undefined):
                item._fail_with_undefined_error()
            elif isinstance(item, str):
                lazy = True  # a str subclass: copied to plain text
                total += len(item) + 2
            else:
                raise not_a_value(item, shown if item is value else None)
            if total > limit:
                return total, lazy
        else:
            stack.pop()
    return total, lazy


def _plain(value, meter, depth, strict_keys):
    """A plain copy of ``value``: tuples and lazy iterables become lists, bounded by ``meter``."""
    kind = type(value)
    if kind is str:
        meter.use(len(value) + 2)
        return value
    if kind in _JSON_SCALARS:
        meter.use(8)
        return value
    if depth > MAX_DEPTH:
        raise RenderError(_lt("The value is nested too deeply to be written as JSON"))
    if kind is dict:
        meter.use(2)
        copy = {}
        for key, item in value.items():
            if type(key) is str:
                meter.use(len(key) + 4)
            elif strict_keys:
                raise RenderError(_lt("Object keys built by an expression must be text"))
            else:
                meter.use(12)
            copy[key] = _plain(item, meter, depth + 1, strict_keys)
        return copy
    if kind is list or isinstance(value, tuple):
        items = value
    elif isinstance(value, _LAZY_TYPES):
        items = take(value)
    elif isinstance(value, Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, str):
        return _plain(str.__str__(value), meter, depth, strict_keys)
    else:
        raise not_a_value(value)
    meter.use(2 + len(items))
    return [_plain(item, meter, depth + 1, strict_keys) for item in items]


_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dump_json(value, indent=None, shown=None):
    """json.dumps with size, NaN and type checks turned into RenderError."""
    if type(value) not in _JSON_SCALARS:  # a scalar's size is checked on its text
        size, lazy = _json_size(value, MAX_OUTPUT_BYTES, shown, indent or 0)
        if size > MAX_OUTPUT_BYTES:
            raise RenderError(TOO_BIG)
        if lazy:
            value = _plain(value, _Meter(MAX_OUTPUT_BYTES), 0, strict_keys=False)
    encoder = _COMPACT_JSON if indent is None else json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=indent)
    try:
        text = encoder.encode(value)
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise RenderError(_lt("NaN or infinite numbers cannot be written as JSON")) from None
        # %(detail)s: the json module's own text, kept as it is.
        raise RenderError(_lt("The value cannot be written as JSON: %(detail)s"), params={"detail": str(exc)}) from None
    except TypeError as exc:
        raise RenderError(_lt("The value cannot be written as JSON: %(detail)s"), params={"detail": str(exc)}) from None
    except RecursionError:
        raise RenderError(_lt("The value is nested too deeply to be written as JSON")) from None
    if len(text) > MAX_OUTPUT_BYTES:
        raise RenderError(TOO_BIG)
    return text


def to_plain(value):
    """Turn an expression result into plain JSON data (lists, not tuples), bounded in size."""
    if type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if not (isinstance(value, (dict, list, tuple, str, *_LAZY_TYPES))):
        raise RenderError(
            _lt("The expression returned something that is not a value from the input data (%(what)s)"),
            params={"what": _what(value)},
        )
    try:
        return _plain(value, _Meter(MAX_OUTPUT_BYTES), 0, strict_keys=True)
    except RecursionError:
        raise RenderError(_lt("The expression result is nested too deeply")) from None


# -- filters -------------------------------------------------------------
#
# Jinja calls a filter with the context, eval context or environment first
# when it is marked so; the guards keep the original's mark.


def _check_attribute(attribute):
    if isinstance(attribute, str) and attribute.count(".") + attribute.count(",") >= MAX_ATTRIBUTE_PARTS:
        raise RenderError(
            _lt("An attribute of a filter may have at most %(limit)s parts (a.b.c)"),
            params={"limit": str(MAX_ATTRIBUTE_PARTS)},
        )
    return attribute


def _getter(environment, attribute, multi=False, **kwargs):
    """Jinja's attribute getter (``attribute="a.b"``), refusing too long paths."""
    _check_attribute(attribute)
    return (make_multi_attrgetter if multi else make_attrgetter)(environment, attribute, **kwargs)


def _attribute_checked(func, position):
    """A Jinja filter taking ``attribute`` (keyword, or positional at ``position``), checked first."""

    def checked(context, value, *args, **kwargs):
        attribute = args[position] if 0 <= position < len(args) else kwargs.get("attribute")
        _check_attribute(attribute)
        return func(context, value, *args, **kwargs)

    checked.jinja_pass_arg = func.jinja_pass_arg
    return checked


def _ticking(func):
    """``func`` with a deadline check after each call, same calling convention."""
    mark = getattr(func, "jinja_pass_arg", None)

    def guarded(*args, **kwargs):
        result = func(*args, **kwargs)
        budget = _budget.get()
        if budget is not None and monotonic() > budget.deadline:
            raise RenderError(TOO_SLOW)
        return result

    if mark is not None:
        guarded.jinja_pass_arg = mark
    return guarded


@pass_context  # pass_context also stops Jinja from running it at compile time
def _loop_guard(_context, iterable):
    """Wrapped around every ``{% for %}`` iterable to charge each step."""
    budget = _budget.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.steps += 1
        if budget.steps > MAX_WORK_STEPS:
            raise RenderError(TOO_MUCH_WORK)
        if monotonic() > budget.deadline:
            raise RenderError(TOO_SLOW)
        yield item


def _tick_value(value):
    """Wrapped around comparisons: the comparison's result, after a deadline check."""
    budget = _budget.get()
    if budget is not None and monotonic() > budget.deadline:
        raise RenderError(TOO_SLOW)
    return value


@pass_context
def _built(_context, value):
    """Wrapped around list, tuple and dict literals that are not constant."""
    return built_container(value)


def _concat(pieces):
    """Replacement for ``~`` that refuses to build oversized text."""
    parts = [to_text(piece) for piece in pieces]
    check_size(sum(map(len, parts)), MAX_OUTPUT_BYTES)
    return built_text("".join(parts))


def _text_in(value, name, limit=MAX_OUTPUT_BYTES):
    text = to_text(value)
    if limit is not None and len(text) > limit:
        raise RenderError(
            _lt("The filter '%(name)s' accepts at most %(kb)s KB of text"),
            params={"name": name, "kb": str(limit // 1024)},
        )
    return text


def _text_filter(name, method):
    def text_filter(value):
        return built_text(method(_text_in(value, name)))

    text_filter.__name__ = name
    return text_filter


_jinja_title = FILTERS["title"]
_jinja_truncate = FILTERS["truncate"]
_word_re = re.compile(r"\w+")
_non_word_re = re.compile(r"\W")
_WORDCOUNT_SLICE = 64 * 1024
# markupsafe's patterns; _cut makes them linear.
_comment_re = re.compile(r"<!--.*?-->", re.DOTALL)
_tag_re = re.compile(r"<.*?>", re.DOTALL)


def _title(value):
    return built_text(_jinja_title(_text_in(value, "title", MAX_TITLE_TEXT)))


def _trim(value, chars=None):
    text = _text_in(value, "trim")
    if chars is not None:
        chars = to_text(chars)
        if len(chars) > MAX_STRIP_CHARS:
            raise RenderError(
                _lt("trim can remove at most %(limit)s different characters"), params={"limit": f"{MAX_STRIP_CHARS:,}"}
            )
    return built_text(text.strip(chars))


@pass_environment
def _truncate(environment, s, *args, **kwargs):
    return built_text(_jinja_truncate(environment, _text_in(s, "truncate", None), *args, **kwargs))


def _wordcount(value):
    """Jinja's wordcount, counted in slices so the list of words stays small."""
    text = _text_in(value, "wordcount", None)  # linear, and little memory
    count, position, length = 0, 0, len(text)
    while position < length:
        cut = _non_word_re.search(text, min(position + _WORDCOUNT_SLICE, length))
        end = cut.start() if cut else length  # never cut a word in two
        count += len(_word_re.findall(text, position, end))
        position = end + 1
        tick()
    return count


def _cut(text, pattern, end_mark):
    """pattern.sub("", text) where pattern is start_mark...end_mark, in linear time.

    Nothing can match after the last end mark, and without that tail every
    match attempt ends at the next end mark, so the regex never rescans.
    """
    last = text.rfind(end_mark)
    if last < 0:
        return text
    last += len(end_mark)
    return pattern.sub("", text[:last]) + text[last:]


def _striptags(value):
    """Jinja's striptags (comments, tags, whitespace, entities) in linear time.

    markupsafe runs ``<.*?>`` over the whole text, which is quadratic on
    text with many ``<`` and no ``>`` (4 s for 32 KB).
    """
    if hasattr(value, "__html__"):
        value = value.__html__()
    text = _text_in(value, "striptags")
    text = _cut(_cut(text, _comment_re, "-->"), _tag_re, ">")
    text = " ".join(text.split())
    if "&" in text:
        text = html.unescape(text)
    return built_text(text)


_URL_ALWAYS_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"


def _url_quote(value, for_qs, meter):
    raw = to_text(value).encode("utf-8")
    safe = b"" if for_qs else b"/"
    escaped = len(raw.translate(None, _URL_ALWAYS_SAFE + safe))
    meter.use(len(raw) + 2 * escaped)  # checked before the text is built
    text = quote_from_bytes(raw, safe)
    return text.replace("%20", "+") if for_qs else text


def _urlencode(value):
    """Jinja's urlencode, with the size of the result checked before it is built."""
    meter = _Meter(MAX_OUTPUT_BYTES)
    if isinstance(value, str) or not isinstance(value, (dict, list, tuple, *_LAZY_TYPES)):
        return built_text(_url_quote(value, False, meter))
    pairs = value.items() if isinstance(value, dict) else take(value)
    parts = []
    for key, item in pairs:
        parts.append(f"{_url_quote(key, True, meter)}={_url_quote(item, True, meter)}")
        meter.use(1)
    return built_text("&".join(parts))


@pass_environment
def _join(environment, value, d="", attribute=None):
    if attribute is not None:
        value = map(_getter(environment, attribute), value)
    separator = to_text(d)
    parts, total = [], 0
    for item in value:
        text = to_text(item)
        total += len(text) + len(separator)
        check_size(total, MAX_OUTPUT_BYTES)
        parts.append(text)
        if len(parts) & 1023 == 0:
            charge(1024)
    return built_text(separator.join(parts))


def _replace(s, old, new, count=None):
    s, old, new = to_text(s), to_text(old), to_text(new)
    hits = s.count(old) if old else len(s) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    check_size(len(s) + hits * (len(new) - len(old)), MAX_OUTPUT_BYTES)
    return built_text(s.replace(old, new, -1 if count is None else count))


@pass_environment
def _sum(environment, iterable, attribute=None, start=0):
    if type(start) not in (int, float):
        raise RenderError(_lt("sum can only add up numbers"))
    _check_attribute(attribute)
    total = sync_do_sum(environment, iterable, attribute, start)
    tick()
    return total


def _list(value):
    items = take(value)
    if items is value:  # already a list: nothing new
        tick()
        return items
    # Items of a lazy iterable may repeat a value (map(default=...)).
    return built_container(items, None if not isinstance(value, str) else 2 + 3 * len(items))


def _reverse(value):
    if isinstance(value, str):
        return charge_copy(value[::-1])
    try:
        result = reversed(value)
    except TypeError:
        items = list(take(value))
        items.reverse()
        return built_container(items)
    tick()
    return result


def _lowered(key):
    return key.lower() if isinstance(key, str) else key


# What _keys' callers do with the keys, for its message.
_SORT = Phrase(_lt("sort"))
_COMPARE = Phrase(_lt("compare"))
_GROUP = Phrase(_lt("group"))


def _keys(getter, items, what):
    """``getter(item)`` for each item, refusing keys larger than MAX_SORT_KEYS in total.

    Comparing and lowercasing keys costs time and memory in proportion to
    their size; checked key by key, so a huge key is refused before the
    next one is built.
    """
    keys, total, budget = [], 0, _budget.get()
    for item in items:
        key = getter(item)
        total += value_size(key, budget, MAX_SORT_KEYS - total)
        if total > MAX_SORT_KEYS:
            raise RenderError(
                _lt("The values to %(what)s are larger than %(mb)s MB in total; use a shorter attribute"),
                params={"what": what, "mb": str(MAX_SORT_KEYS // 2**20)},
            )
        keys.append(key)
    charge(len(keys))
    return keys


@pass_environment
def _sort(environment, value, reverse=False, case_sensitive=False, attribute=None):
    items = take(value)
    keys = _keys(_getter(environment, attribute, multi=True), items, _SORT)
    if not case_sensitive:
        keys = [[_lowered(part) for part in key] for key in keys]
    order = sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)
    result = [items[index] for index in order]
    # A sorted list (or tuple) holds what it held; anything else is measured.
    return built_container(result, 0 if isinstance(value, (list, tuple)) else None)


@pass_environment
def _unique(environment, value, case_sensitive=False, attribute=None):
    items = take(value)
    keys = _keys(_getter(environment, attribute), items, _COMPARE)
    if not case_sensitive:
        keys = list(map(_lowered, keys))
    seen = set()
    for item, key in zip(items, keys, strict=True):
        if key not in seen:
            seen.add(key)
            yield item


def _bounded_keys(jinja_filter):
    """Jinja's min or max, with the items and the size of their keys bounded first."""

    @pass_environment
    def bounded(environment, value, case_sensitive=False, attribute=None):
        items = take(value)
        _keys(_getter(environment, attribute), items, _COMPARE)
        return jinja_filter(environment, items, case_sensitive, attribute)

    return bounded


@pass_environment
def _groupby(environment, value, attribute, default=None, case_sensitive=False):
    items = take(value)
    _keys(_getter(environment, attribute, default=default), items, _GROUP)
    return built_container(sync_do_groupby(environment, items, attribute, default, case_sensitive))


def _same(value):
    return value


def _dictsort(value, case_sensitive=False, by="key", reverse=False):
    if not isinstance(value, dict):
        raise RenderError(_lt("dictsort needs an object"))
    if len(value) > MAX_LIST_ITEMS:
        raise RenderError(TOO_LONG)
    _keys(_same, value.keys() if by == "key" else value.values(), _SORT)
    return built_container(FILTERS["dictsort"](value, case_sensitive, by, reverse), 0)


def _tojson(value, indent=None):
    if indent is not None and (type(indent) is not int or not 0 <= indent <= 8):
        raise RenderError(_lt("tojson indent must be a number from 0 to 8"))
    return built_text(dump_json(value, indent))


def _string(value):
    return built_text(to_text(value)) if type(value) is not str else value


def _as_type(value, value_type="auto", fmt=None, label=None):
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return convert_value(to_plain(value), value_type, fmt or None, label)


def _required(value, source=""):
    """The value of a Template Mapper line marked *required*: missing or empty refuses the postback."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None:
        raise RenderError(
            _lt("The required value '%(source)s' is empty in the input data"),
            path=source or None,
            params={"source": source},
        )
    return value


# Jinja filters used as they are (linear, bounded results), with a deadline check.
_PLAIN_FILTERS = "abs count d default first float int items last length map reject rejectattr round select selectattr"


def xml_text(value):
    """Text of a value printed in an advanced XML body: null is empty (not "null"), markup
    (``| safe``, ``| e``) is kept as markup (printed without a second escaping)."""
    if isinstance(value, Markup):
        return value
    return "" if value is None else to_text(value)


def _print_xml(value, shown=None):
    """``_print`` of an XML body: markup (``| safe``, ``| e``) is kept as it is, to be printed
    without a second escaping; null prints nothing."""
    if isinstance(value, Markup):
        text = value
    else:
        text = "" if value is None else to_text(value, shown)
    budget = _budget.get()
    if budget is not None and monotonic() > budget.deadline:
        raise RenderError(TOO_SLOW)
    return text


def _safe(value):
    """``| safe`` (XML bodies only): print the value as markup, not escaped."""
    return Markup(_text_in(value, "safe"))


def _escape(value):
    """``| e`` (XML bodies only): escape the value (already done for every printed value); the
    escaped text is bounded like any other (one character can become six)."""
    text = markup_escape(_text_in(value, "escape"))
    check_size(len(text), MAX_OUTPUT_BYTES)
    return built_text(text)


def build_filters(xml=False):
    # The synchronous variant where Jinja has one (the environment is never async).
    filters = {
        name: _ticking(getattr(jinja_filters, f"sync_do_{name}", FILTERS[name])) for name in _PLAIN_FILTERS.split()
    }
    filters.update(
        map=_ticking(_attribute_checked(jinja_filters.sync_do_map, -1)),
        selectattr=_ticking(_attribute_checked(jinja_filters.sync_do_selectattr, 0)),
        rejectattr=_ticking(_attribute_checked(jinja_filters.sync_do_rejectattr, 0)),
        capitalize=_text_filter("capitalize", str.capitalize),
        lower=_text_filter("lower", str.lower),
        upper=_text_filter("upper", str.upper),
        title=_title,
        trim=_trim,
        truncate=_truncate,
        wordcount=_wordcount,
        striptags=_striptags,
        urlencode=_urlencode,
        join=_join,
        replace=_replace,
        sum=_sum,
        list=_list,
        reverse=_reverse,
        sort=_sort,
        unique=_unique,
        max=_bounded_keys(FILTERS["max"]),
        min=_bounded_keys(FILTERS["min"]),
        groupby=_groupby,
        dictsort=_dictsort,
        string=_string,
        tojson=_tojson,
        as_type=_as_type,
        required=_required,
        _pb_loop=_loop_guard,
        _pb_concat=_concat,
        _pb_print=_print_xml if xml else _print,
        _pb_tick=_tick_value,
        _pb_built=_built,
    )
    if xml:  # markup exists only in XML bodies (a JSON body prints JSON, never markup)
        filters.update(safe=_safe, escape=_escape, e=_escape)
    return filters


def build_tests():
    """Jinja's tests, each with a deadline check (``in`` and ``==`` compare whole values)."""
    return {name: _ticking(test) for name, test in TESTS.items()}
