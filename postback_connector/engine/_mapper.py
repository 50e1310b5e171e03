"""The Template Mapper: build a JSON document from (output path, source) lines.

Output paths
    ``order.id`` builds nested objects; ``items[].sku`` builds a list with
    one object per element of an input list; ``tags[]`` builds a list of
    plain values; ``lines[0].sku`` puts a value at a fixed position (gaps
    are filled with null).

Sources
    A *path* (``order.reference``, ``order.lines[0].sku``,
    ``order.lines[].sku``) is read straight from the input; anything else
    is a Jinja *expression* run in the sandbox (``order.total * 100``).

Lists (``[]``)
    The n-th ``[]`` of a source path pairs with the n-th ``[]`` of the
    output path, outermost first: ``items[].sku <- order.lines[].sku``
    makes one ``items`` element per ``order.lines`` element. That pairing
    decides which input list an output list goes through; every other line
    of the same output list (``items[].total <- item.qty * item.price``,
    ``items[].currency <- order.currency``) runs once per element of that
    same list, and ``item`` is the current element (of the innermost
    list). An output list needs at least one line with a ``[]`` source,
    and two lines naming different input lists for it is an error. For
    nested lists write the full path, e.g. ``order.lines[].taxes[].name``.

Missing values
    A value is missing when its path (or a path an expression uses) does
    not exist, a parent object on the way is missing or null (``shipment``
    on an order.received), or the value itself is null. Each line says what
    then happens (``if_missing``):

    ``default``  the line's default, converted like any other value; an
                 empty default is the empty value of the type: ``""`` for
                 text and "as is", ``[]`` for a list, ``null`` otherwise;
    ``omit``     the field is left out (an element of a list of values is
                 left out of the list);
    ``null``     JSON ``null``;
    ``required`` an error naming the value: the postback is not sent.

    An input list that is missing gives an empty output list, unless one
    of the lines under it is required.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from ._diagnose import translate
from ._filters import tick, to_plain
from ._paths import ITER, is_path, parse_output_path, parse_source_path, show, split_iters
from ._sandbox import MissingValueError, compile_expression, evaluate, parse_expression
from ._values import VALUE_TYPES, Phrase, RenderError, _lt, convert_value


@dataclass
class MappingLine:
    """One row of the Template Mapper."""

    output_path: str
    source: str
    default: str | None = None
    value_type: str = "auto"
    fmt: str | None = None
    if_missing: str = "default"


#: What a line does when its value is missing (see the module's docstring).
MISSING_MODES = ("default", "omit", "null", "required")


class _Omitted:
    """The value of a line whose field is left out."""

    __slots__ = ()

    def __repr__(self):
        return "OMITTED"


OMITTED = _Omitted()


def empty_value(value_type):
    """The value of an empty default: "" for text and "as is", [] for a list, else null."""
    if value_type in ("auto", "string"):
        return ""
    return [] if value_type == "list" else None


_A_LIST = Phrase(_lt("a list"))
_AN_OBJECT = Phrase(_lt("an object"))
_A_SINGLE_VALUE = Phrase(_lt("a single value"))


class _Missing(Exception):
    def __init__(self, shown, reason=None):
        super().__init__(shown)
        self.shown = shown
        self.reason = reason


def _kind_word(value):
    if isinstance(value, str):
        return Phrase(_lt("text"))
    if isinstance(value, list):
        return _A_LIST
    if isinstance(value, dict):
        return _AN_OBJECT
    return Phrase(_lt("null")) if value is None else _A_SINGLE_VALUE


class _Getter:
    """Reads a source path, starting at the root or at a list element."""

    __slots__ = ("level", "steps")

    def __init__(self, level, steps):
        self.level = level  # 0 = input root, n = current element of list n
        self.steps = steps

    def prefix(self, frames):
        return "" if self.level == 0 else frames[self.level - 1][1]

    def get(self, data, frames):
        value = data if self.level == 0 else frames[self.level - 1][0]
        for position, step in enumerate(self.steps):
            try:
                if type(step) is int and type(value) is not list:
                    raise TypeError  # text must not be indexable character by character
                value = value[step]  # dict key or list position
            except (KeyError, IndexError, TypeError):
                prefix = self.prefix(frames)
                shown = show(prefix, self.steps[: position + 1])
                bad_type = not isinstance(value, dict if type(step) is str else list)
                container = _AN_OBJECT if type(step) is str else _A_LIST
                reason = (
                    Phrase(
                        _lt("'%(path)s' is %(kind)s, not %(container)s"),
                        {
                            "path": show(prefix, self.steps[:position]),
                            "kind": _kind_word(value),
                            "container": container,
                        },
                    )
                    if bad_type
                    else None
                )
                raise _Missing(shown, reason) from None
        return value


class _Leaf:
    __slots__ = ("default", "fmt", "getter", "if_missing", "output", "source", "template", "value_type")

    def __init__(self, output, source, default, value_type, fmt, *, if_missing="default"):
        self.output, self.source = output, source
        self.value_type, self.fmt = value_type, fmt
        self.if_missing = if_missing
        # Only "default" uses the default; "" and None both mean the empty value.
        self.default = default if if_missing == "default" and default not in (None, "") else None
        self.getter = self.template = None

    @property
    def required(self):
        return self.if_missing == "required"

    def label(self, frames):
        parts = iter(frames)
        return re.sub(r"\[\]", lambda _m: f"[{next(parts)[2]}]", self.output)

    def fail(self, cause, frames, path=None):
        """Raise a RenderError naming the output field around ``cause``, the error of this line."""
        raise RenderError(
            _lt("%(detail)s (output field '%(field)s')"), path=path, params={"field": self.label(frames)}, cause=cause
        )

    def value(self, data, frames):
        if self.getter is not None:
            try:
                value = self.getter.get(data, frames)
            except _Missing as missing:
                if self.required:
                    if missing.reason:
                        cause = RenderError(
                            _lt("The value '%(path)s' does not exist in the input data: %(reason)s"),
                            params={"path": missing.shown, "reason": missing.reason},
                        )
                    else:
                        cause = RenderError(
                            _lt("The value '%(path)s' does not exist in the input data"), params={"path": missing.shown}
                        )
                    self.fail(cause, frames, missing.shown)
                value = None
        else:
            value = self._evaluate(data, frames)
        if value is None:
            mode = self.if_missing
            if mode == "required":
                cause = RenderError(
                    _lt("The required value '%(source)s' is empty in the input data"), params={"source": self.source}
                )
                self.fail(cause, frames, self.source)
            if mode == "omit":
                return OMITTED
            if mode == "null":
                return None
            if self.default is None:
                return empty_value(self.value_type)
            value = self.default
        if self.value_type != "auto":
            try:
                value = convert_value(value, self.value_type, self.fmt)
            except RenderError as exc:
                self.fail(exc, frames)
        return value

    def _evaluate(self, data, frames):
        variables = data
        roots = None
        if frames:
            element, shown, _index = frames[-1]
            variables = {**data, "item": element}
            roots = {"item": [(element, shown)]}
        try:
            return to_plain(evaluate(self.template, variables))
        except MissingValueError as exc:
            if not self.required:
                return None
            error = translate(exc, lambda: parse_expression(self.source), variables, roots)
        except Exception as exc:  # noqa: BLE001 - anything the expression did wrong becomes a RenderError
            error = translate(exc)
        self.fail(error, frames, error.path)


class _Object:
    __slots__ = ("fields",)
    what = _AN_OBJECT

    def __init__(self):
        self.fields = {}


class _Indexed:
    __slots__ = ("fields",)
    what = Phrase(_lt("a list with fixed positions ([0])"))

    def __init__(self):
        self.fields = {}


class _Iter:
    __slots__ = ("binding", "bound_by", "fields", "getter", "level", "scope")
    what = Phrase(_lt("a list filled from the input ([])"))

    def __init__(self, scope, level):
        self.fields = {}  # the single key ITER -> element node
        self.scope, self.level = scope, level
        self.getter = self.binding = self.bound_by = None


_NODE_FOR = {str: _Object, int: _Indexed, type(None): _Iter}


def _normalize(line):
    if type(line) is MappingLine:
        output, source, default, value_type, fmt, if_missing = (
            line.output_path,
            line.source,
            line.default,
            line.value_type,
            line.fmt,
            line.if_missing,
        )
    else:
        get = line.get
        output, source, default, value_type, fmt, if_missing = (
            get("output_path"),
            get("source"),
            get("default"),
            get("value_type"),
            get("fmt"),
            get("if_missing"),
        )
    # Odoo hands empty fields over as False; treat them like "not set".
    if default is not None and type(default) is not str:
        default = None if default is False else str(default)
    return (
        output.strip() if output else "",
        source.strip() if source else "",
        default,
        value_type or "auto",
        fmt or None,
        if_missing or "default",
    )


def _insert(root, steps, leaf):
    node = root
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        existing = node.fields.get(step)
        if last:
            if type(existing) is _Leaf:
                raise RenderError(_lt("The output '%(output)s' is used by two lines"), params={"output": leaf.output})
            if existing is not None:
                raise RenderError(
                    _lt(
                        "The output '%(output)s' conflicts with another line: it cannot be both "
                        "%(what)s and a single value"
                    ),
                    params={"output": leaf.output, "what": existing.what},
                )
            node.fields[step] = leaf
            return
        wanted = _NODE_FOR[type(steps[position + 1])]
        if existing is None:
            if wanted is _Iter:
                level = sum(1 for item in steps[: position + 2] if item is ITER)
                existing = _Iter(show("", steps[: position + 2]), level)
            else:
                existing = wanted()
            node.fields[step] = existing
        elif type(existing) is not wanted:
            prefix = show("", steps[: position + 1])
            raise RenderError(
                _lt(
                    "The output '%(output)s' conflicts with another line: '%(prefix)s' cannot be both "
                    "%(what)s and %(wanted)s"
                ),
                params={
                    "output": leaf.output,
                    "prefix": prefix,
                    "what": getattr(existing, "what", _A_SINGLE_VALUE),
                    "wanted": wanted.what,
                },
            )
        node = existing


def _chain(root, steps):
    """The _Iter nodes an output path goes through, outermost first."""
    chain, node = [], root
    for step in steps[:-1]:
        node = node.fields[step]
        if type(node) is _Iter:
            chain.append(node)
    return chain


def _bind(leaf, steps, chain):
    """Attach the leaf's getter; record which input list each [] goes through."""
    iters = split_iters(steps)  # check_line already refused impossible pairings
    if steps[0] == "item" and chain:
        leaf.getter = _Getter(len(chain), steps[1:])
        return
    for depth, position in enumerate(iters):
        node, binding = chain[depth], show("", steps[:position])
        if node.binding is None:
            node.binding, node.bound_by = binding, leaf.output
            node.getter = _Getter(depth, steps[(iters[depth - 1] + 1 if depth else 0) : position])
        elif node.binding != binding:
            raise RenderError(
                _lt(
                    "The output list '%(list)s' is filled from two different input lists: "
                    "'%(first)s' (line '%(first_line)s') and '%(second)s' (line '%(second_line)s')"
                ),
                params={
                    "list": node.scope,
                    "first": node.binding,
                    "first_line": node.bound_by,
                    "second": binding,
                    "second_line": leaf.output,
                },
            )
    leaf.getter = _Getter(len(iters), steps[iters[-1] + 1 :] if iters else steps)


def _check_bound(node):
    for child in node.fields.values():
        if type(child) is _Iter and child.getter is None:
            raise RenderError(
                _lt(
                    "The output list '%(list)s' does not say which input list to go through: give "
                    "one of its lines a source with [], e.g. 'order.lines[].sku'"
                ),
                params={"list": child.scope},
            )
        if type(child) is not _Leaf:
            _check_bound(child)


def _check_source(leaf, steps, chain_depth):
    """Checks of a source that need only its own line."""
    if is_path(leaf.source):
        source_steps = parse_source_path(leaf.source)
        iters = len(split_iters(source_steps))
        if source_steps[0] == "item" and chain_depth and iters:
            raise RenderError(
                _lt("The source '%(source)s' starts with 'item' and cannot also contain []"),
                params={"source": leaf.source},
            )
        if iters > chain_depth:
            raise RenderError(
                _lt(
                    "The source '%(source)s' goes through a list ([]) but the output '%(output)s' "
                    "does not: add [] to the output path, e.g. 'items[].sku'"
                ),
                params={"source": leaf.source, "output": leaf.output},
            )
        return source_steps
    if "[]" in leaf.source:
        raise RenderError(
            _lt(
                "The source '%(source)s' uses [] inside an expression; [] only works in a plain "
                "path such as 'order.lines[].qty' (inside an expression use 'item', e.g. 'item.qty * 2')"
            ),
            params={"source": leaf.source},
        )
    leaf.template = compile_expression(leaf.source)
    return None


def check_line(line):
    """Validate one normalized line on its own; returns (leaf, output steps)."""
    output, source, default, value_type, fmt, if_missing = line
    if not output:
        raise RenderError(_lt("The mapping line has no output path"))
    if not source:
        raise RenderError(_lt("The mapping line for '%(output)s' has no source"), params={"output": output})
    if value_type not in VALUE_TYPES:
        raise RenderError(
            _lt("Unknown value type '%(type)s' for '%(output)s'; choose one of: %(choices)s"),
            params={"type": value_type, "output": output, "choices": ", ".join(VALUE_TYPES)},
        )
    steps = parse_output_path(output)
    if if_missing not in MISSING_MODES:
        raise RenderError(
            _lt("Unknown choice '%(choice)s' for a missing value of '%(output)s'; choose one of: %(choices)s"),
            params={"choice": if_missing, "output": output, "choices": ", ".join(MISSING_MODES)},
        )
    leaf = _Leaf(output, source, default, value_type, fmt, if_missing=if_missing)
    _check_source(leaf, steps, len(split_iters(steps)))
    return leaf, steps


@lru_cache(maxsize=512)
def compile_mapping(lines):
    """Compile normalized mapping lines (a tuple of tuples).

    Returns ``(tree, uses_expressions)``; the tree is read-only afterwards
    and shared between threads through the cache.
    """
    root = _Object()
    placed = []
    for line in lines:
        leaf, steps = check_line(line)
        _insert(root, steps, leaf)
        placed.append((leaf, steps))
        tick()  # inside a render, compiling the expressions counts against its deadline
    for leaf, steps in placed:
        if leaf.template is None:
            _bind(leaf, parse_source_path(leaf.source), _chain(root, steps))
    _check_bound(root)
    return root, has_expressions(root)


def normalize_lines(lines):
    return tuple(_normalize(line) for line in lines)


def render_node(node, data, frames):
    kind = type(node)
    if kind is _Leaf:
        return node.value(data, frames)
    if kind is _Object:
        result = {}
        for key, child in node.fields.items():
            value = render_node(child, data, frames)
            if value is not OMITTED:
                result[key] = value
        return result
    if kind is _Indexed:
        result = [None] * (max(node.fields) + 1)
        for index, child in node.fields.items():
            value = render_node(child, data, frames)
            result[index] = None if value is OMITTED else value
        return result
    try:
        items = node.getter.get(data, frames)
    except _Missing as missing:
        if not has_required(node):
            return []  # a missing input list (e.g. no shipment yet) is an empty output list
        raise RenderError(
            _lt("The value '%(path)s' does not exist in the input data"),
            path=missing.shown,
            params={"path": missing.shown},
        ) from None
    shown = show(node.getter.prefix(frames), node.getter.steps)
    if items is None and not has_required(node):
        return []
    if type(items) is not list:
        raise RenderError(
            _lt("The value '%(path)s' is %(kind)s, not a list (output list '%(list)s')"),
            path=shown,
            params={"path": shown, "kind": _kind_word(items), "list": node.scope},
        )
    element = node.fields[ITER]
    result = []
    for index, item in enumerate(items):
        frames.append((item, f"{shown}[{index}]", index))
        try:
            value = render_node(element, data, frames)
        finally:
            frames.pop()
        if value is not OMITTED:
            result.append(value)
    return result


def has_required(node):
    """Whether a line under ``node`` is required (then a missing input list is an error)."""
    if type(node) is _Leaf:
        return node.required
    return any(has_required(child) for child in node.fields.values())


def has_expressions(node):
    if type(node) is _Leaf:
        return node.template is not None
    return any(has_expressions(child) for child in node.fields.values())
