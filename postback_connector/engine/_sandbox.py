"""The hardened Jinja2 environment shared by the mapper and the advanced body.

Jinja's ImmutableSandboxedEnvironment already refuses private attributes
and mutation of lists and dicts. Templates here are written by merchants
and run inside the Odoo cron, so this module goes further:

* names, attributes and filters starting with ``_`` are refused when the
  template is compiled, with the template line in the error;
* attributes are allow-listed per type (a few harmless text/dict/list
  methods), and object keys win over dict methods, so ``order.items``
  means the "items" field rather than ``dict.items``;
* no globals except a bounded ``range()``; no macros, includes, imports,
  block captures or recursive loops (they are how output is built outside
  the streamed, size-checked path or how work explodes exponentially);
* every loop step and every ``range()`` number is charged to a per-render
  work budget, and every operator that can grow a value (``+ * ** ~``)
  checks the size of its result before building it.

Printing ``{{ value }}`` writes numbers, ``true``/``false``/``null``,
objects and lists as JSON; text is written raw (use ``| tojson`` to get
a quoted, escaped JSON string). ``~`` and ``| string`` follow the same
rules. The runtime guards and filters are in ``_filters``.
"""

from functools import lru_cache

from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.runtime import LoopContext, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

from ._filters import MAX_LIST_ITEMS, build_filters, check_size, safe_range, to_text
from ._values import MAX_OUTPUT_BYTES, RenderError

#: Largest integer (in bits) a template may compute with ``*`` or ``**``.
MAX_INT_BITS = 4096
#: Longest template or expression accepted, in characters.
MAX_TEMPLATE_CHARS = 200_000

_FORBIDDEN_STATEMENTS = {
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.AssignBlock: "{% set %}...{% endset %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Include: "{% include %}",
    nodes.Extends: "{% extends %}",
    nodes.Block: "{% block %}",
}

_TEXT_METHODS = frozenset(
    "upper lower title capitalize casefold swapcase strip lstrip rstrip startswith endswith "
    "split rsplit splitlines find rfind count isdigit isalpha isalnum isspace islower isupper "
    "removeprefix removesuffix".split()
)
_ALLOWED_ATTRIBUTES = {
    str: _TEXT_METHODS,
    dict: frozenset({"get", "keys", "values", "items"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    range: frozenset({"start", "stop", "step", "count", "index"}),
    LoopContext: frozenset(
        "index index0 revindex revindex0 first last length depth depth0 previtem nextitem cycle changed".split()
    ),
}


class MissingValueError(UndefinedError):
    """An undefined value was used; remembers where it was looked up."""

    def __init__(self, message, obj=missing, name=None):
        super().__init__(message)
        self.obj = obj
        self.name = name


class _Undefined(StrictUndefined):
    """Strict undefined with merchant-readable messages and lookup details."""

    __slots__ = ()

    def __init__(self, hint=None, obj=missing, name=None, exc=UndefinedError):
        super().__init__(hint, obj, name, exc)
        if exc is UndefinedError:
            self._undefined_exception = lambda msg: MissingValueError(msg, obj, name)

    @property
    def _undefined_message(self):
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        shown = f"[{name}]" if isinstance(name, int) else name
        return f"The value '{shown}' does not exist in the input data"


# -- compile-time checks -------------------------------------------------


def _refuse(what, lineno):
    raise RenderError(f"{what} is not allowed in a template", line=lineno)


class _Hardener(NodeTransformer):
    """Refuse dangerous constructs and insert the runtime guards."""

    def visit(self, node, *args, **kwargs):
        what = _FORBIDDEN_STATEMENTS.get(type(node))
        if what:
            _refuse(what, node.lineno)
        return super().visit(node, *args, **kwargs)

    def visit_Name(self, node):
        if node.name.startswith("_"):
            _refuse(f"'{node.name}'", node.lineno)
        return node

    def visit_Getattr(self, node):
        if node.attr.startswith("_"):
            _refuse(f"'{node.attr}'", node.lineno)
        return self.generic_visit(node)

    def visit_Filter(self, node):
        if node.name.startswith("_"):
            _refuse(f"The filter '{node.name}'", node.lineno)
        return self.generic_visit(node)

    visit_Test = visit_Filter

    def visit_For(self, node):
        if node.recursive:
            _refuse("A recursive loop", node.lineno)
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_pb_loop", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node):
        node = self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "_pb_concat", [], [], None, None, lineno=node.lineno)


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment with the restrictions described above."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self):
        super().__init__(
            autoescape=False,
            undefined=_Undefined,
            finalize=to_text,
            keep_trailing_newline=True,
            cache_size=0,
            auto_reload=False,
        )
        self.globals.clear()
        self.globals["range"] = safe_range
        self.filters = build_filters()

    def _parse(self, source, name, filename):
        return harden(super()._parse(source, name, filename), self)

    def is_safe_attribute(self, obj, attr, value):
        if not super().is_safe_attribute(obj, attr, value):
            return False
        allowed = _ALLOWED_ATTRIBUTES.get(type(obj))
        if allowed is None and isinstance(obj, tuple):  # named tuples (groupby)
            return attr in getattr(type(obj), "_fields", ()) or attr in _ALLOWED_ATTRIBUTES[tuple]
        return allowed is not None and attr in allowed

    def getattr(self, obj, attribute):
        # Data first: a field called "items" or "values" must not turn
        # into the dict method of the same name.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj, attribute):
        raise SecurityError(f"'{attribute}' is not allowed in a template")

    def call_binop(self, context, operator, left, right):
        if operator == "%":
            if isinstance(left, str):
                raise SecurityError("Formatting text with % is not allowed in a template; join values with ~")
            return left % right
        if operator == "+":
            if isinstance(left, str) and isinstance(right, str):
                check_size(len(left) + len(right), MAX_OUTPUT_BYTES)
            elif isinstance(left, list) and isinstance(right, list):
                check_size(len(left) + len(right), MAX_LIST_ITEMS)
            return left + right
        if operator == "*":
            sequence, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(times, int) and isinstance(sequence, (str, list, tuple)):
                limit = MAX_OUTPUT_BYTES if isinstance(sequence, str) else MAX_LIST_ITEMS
                check_size(len(sequence) * max(times, 0), limit)
            elif isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise RenderError("The template computes a number that is too large")
            return left * right
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                if left.bit_length() * right > MAX_INT_BITS:
                    raise RenderError("The template computes a number that is too large")
            return left**right
        return super().call_binop(context, operator, left, right)


def harden(tree, environment):
    """Check a parsed template/expression tree and add the runtime guards."""
    tree = _Hardener().visit(tree)
    tree.set_environment(environment)
    return tree


ENV = SandboxEnvironment()


def _syntax_error(prefix, exc, with_line=True):
    message = (exc.message or "unknown problem").replace("unexpected 'end of template'", "it ends too early")
    message = message.replace("'end of template'", "the end of the text")
    line = exc.lineno if with_line else None
    if message.startswith("No filter named "):
        name = message[len("No filter named ") :].rstrip(".")
        return RenderError(f"The filter {name} is not available in a template", line=line)
    if message.startswith("No test named "):
        name = message[len("No test named ") :].rstrip(".")
        return RenderError(f"The test {name} is not available in a template", line=line)
    return RenderError(f"{prefix} has a syntax error: {message}", line=line)


@lru_cache(maxsize=256)
def compile_template(source):
    """Compile (and cache) an advanced-body template."""
    if not isinstance(source, str) or not source.strip():
        raise RenderError("The template is empty")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise RenderError(f"The template is longer than {MAX_TEMPLATE_CHARS:,} characters")
    try:
        return ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error("The template", exc) from None


def parse_expression(source):
    """Parse an expression without the guards (used for error analysis)."""
    parser = Parser(ENV, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        raise TemplateSyntaxError(f"unexpected '{parser.stream.current.value}'", parser.stream.current.lineno)
    return expr


@lru_cache(maxsize=4096)
def compile_expression(source):
    """Compile (and cache) a mapper expression into a template object."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise RenderError(f"The expression is longer than {MAX_TEMPLATE_CHARS:,} characters")
    try:
        expr = parse_expression(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(f"The expression '{source}'", exc, with_line=False) from None
    tree = nodes.Template([nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)], lineno=1)
    try:
        return ENV.from_string(harden(tree, ENV))
    except TemplateSyntaxError as exc:
        raise _syntax_error(f"The expression '{source}'", exc, with_line=False) from None


def evaluate(template, variables):
    """Run a compiled expression; the result may still hold Jinja values."""
    # Built by hand: Template.new_context copies the globals ChainMap on
    # every call, which costs more than the expression itself.
    context = ENV.context_class(ENV, {"range": safe_range, **variables}, None, {})
    for _ in template.root_render_func(context):
        pass
    result = context.vars["result"]
    if isinstance(result, Undefined):
        result._fail_with_undefined_error()
    return result
