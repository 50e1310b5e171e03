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
* a template may hold at most ``MAX_TEMPLATE_TOKENS`` tokens (names,
  operators, literals, text runs) and a mapper expression
  ``MAX_EXPRESSION_TOKENS``: compiling costs 25-50 us and up to 3 KB of
  working memory per token, so this bounds a compile (at most about 0.5 s
  and 30 MB at the limit; a compiled template keeps well under 1 MB) the
  way the budget bounds a render, which counts its compile too. Nesting
  beyond what Python can compile is refused with a RenderError;
* every runtime step reports to the render's budget (``_filters``: time,
  work, memory and sizes): loop steps and ``range()`` numbers are counted;
  the operators that can grow a value (``+ * ** %`` and ``~``), calls of
  text methods (``split``, ``upper``...), slices and list, tuple and dict
  literals check the size of their result, before building it where it
  can be computed; comparisons, calls, filters and tests read the clock.

Printing ``{{ value }}`` writes numbers, ``true``/``false``/``null``,
objects and lists as JSON; text is written raw (use ``| tojson`` to get
a quoted, escaped JSON string). ``~`` and ``| string`` follow the same
rules. Anything else is refused rather than printed as its Python repr:
``{{ self }}``, ``{{ order.get }}``, ``{{ loop }}``, ``{{ range }}``, a
method... (the message names the expression). The runtime guards and
filters are in ``_filters``.
"""

import re
import sys
from functools import lru_cache

from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.lexer import TokenStream
from jinja2.parser import Parser
from jinja2.runtime import LoopContext, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from jinja2.visitor import NodeTransformer

from ._filters import (
    MAX_LIST_ITEMS,
    MAX_STRIP_CHARS,
    MAX_VALUE_SIZE,
    TOO_BIG,
    TOO_LARGE,
    TOO_LONG,
    build_filters,
    build_tests,
    built_container,
    built_text,
    charge_copy,
    charge_memory,
    check_size,
    measure,
    safe_range,
    tick,
    to_text,
    xml_text,
)
from ._values import MAX_OUTPUT_BYTES, Phrase, RenderError, _lt

#: Largest integer (in bits) a template may compute with ``*`` or ``**``.
MAX_INT_BITS = 4096
#: Longest template or expression accepted, in characters.
MAX_TEMPLATE_CHARS = 200_000
#: Most tokens in a template (a 200-line mapping written as an advanced body has 4,000-6,500).
MAX_TEMPLATE_TOKENS = 10_000
#: Most tokens in one mapper expression.
MAX_EXPRESSION_TOKENS = 1_000

# Text methods whose result is at least as long as the text.
_GROWING_TEXT_METHODS = frozenset("upper lower title capitalize casefold swapcase splitlines".split())

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
        return Phrase(_lt("The value '%(path)s' does not exist in the input data"), {"path": shown})


# -- compile-time checks -------------------------------------------------


def _shown(node, depth=0):
    """Template text of a printed expression, for messages (None if not simple)."""
    if depth > 8:
        return None
    if isinstance(node, nodes.Name):
        return node.name
    base = _shown(getattr(node, "node", None), depth + 1) if isinstance(node, nodes.Expr) else None
    if base is None:
        return None
    if isinstance(node, nodes.Getattr):
        return f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{base}[{node.arg.value!r}]"
    if isinstance(node, nodes.Call):
        return f"{base}(…)" if node.args or node.kwargs else f"{base}()"
    if isinstance(node, nodes.Filter):
        return f"{base} | {node.name}"
    return None


def _guard(node, name, *args):
    return nodes.Filter(node, name, [nodes.Const(arg) for arg in args], [], None, None, lineno=node.lineno)


class _Hardener(NodeTransformer):
    """Refuse dangerous constructs and insert the runtime guards."""

    def visit(self, node, *args, **kwargs):
        what = _FORBIDDEN_STATEMENTS.get(type(node))
        if what:
            raise RenderError(_lt("%(what)s is not allowed in a template"), line=node.lineno, params={"what": what})
        return super().visit(node, *args, **kwargs)

    def visit_Name(self, node):
        if node.name.startswith("_"):
            raise RenderError(
                _lt("'%(name)s' is not allowed in a template"), line=node.lineno, params={"name": node.name}
            )
        return node

    def visit_Getattr(self, node):
        if node.attr.startswith("_"):
            raise RenderError(
                _lt("'%(name)s' is not allowed in a template"), line=node.lineno, params={"name": node.attr}
            )
        return self.generic_visit(node)

    def visit_Filter(self, node):
        if node.name.startswith("_"):
            raise RenderError(
                _lt("The filter '%(name)s' is not allowed in a template"), line=node.lineno, params={"name": node.name}
            )
        return self.generic_visit(node)

    visit_Test = visit_Filter

    def visit_For(self, node):
        if node.recursive:
            raise RenderError(_lt("A recursive loop is not allowed in a template"), line=node.lineno)
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_pb_loop", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node):
        node = self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "_pb_concat", [], [], None, None, lineno=node.lineno)

    def visit_Output(self, node):
        shown = [None if isinstance(child, nodes.TemplateData) else _shown(child) for child in node.nodes]
        node = self.generic_visit(node)
        node.nodes = [
            child if isinstance(child, nodes.TemplateData) else _guard(child, "_pb_print", text)
            for child, text in zip(node.nodes, shown, strict=True)
        ]
        return node

    def visit_Compare(self, node):
        return _guard(self.generic_visit(node), "_pb_tick")

    @staticmethod
    def _built(node, parts):
        if all(isinstance(part, nodes.Const) for part in parts):
            return node  # bounded by the template's own length
        return nodes.Filter(node, "_pb_built", [], [], None, None, lineno=node.lineno)

    def visit_List(self, node):
        node = self.generic_visit(node)
        return self._built(node, node.items)

    def visit_Tuple(self, node):
        node = self.generic_visit(node)
        return self._built(node, node.items) if node.ctx == "load" else node

    def visit_Dict(self, node):
        node = self.generic_visit(node)
        return self._built(node, [part for pair in node.items for part in (pair.key, pair.value)])


def _limit_tokens(tokens, limit, what):
    for count, token in enumerate(tokens):
        if count >= limit:
            params = {"limit": f"{limit:,}"}
            if what == "template":
                raise RenderError(
                    _lt("The template is too long to compile: more than %(limit)s names, operators and values"),
                    line=token.lineno,
                    params=params,
                )
            raise RenderError(
                _lt("The expression is too long to compile: more than %(limit)s names, operators and values"),
                params=params,
            )
        yield token


def _text_method(method, text, args, kwargs):
    """Call a text method (``upper``, ``split``...) with its result bounded."""
    name = method.__name__
    if name in ("split", "rsplit"):
        maxsplit = args[1] if len(args) > 1 else kwargs.get("maxsplit", -1)
        if type(maxsplit) is int and not 0 <= maxsplit <= MAX_LIST_ITEMS:
            if len(args) > 1:
                args = (args[0], MAX_LIST_ITEMS, *args[2:])
            else:
                kwargs = {**kwargs, "maxsplit": MAX_LIST_ITEMS}
    elif name in ("strip", "lstrip", "rstrip"):
        chars = args[0] if args else kwargs.get("chars")
        if isinstance(chars, str) and len(chars) > MAX_STRIP_CHARS:
            raise RenderError(
                _lt("%(name)s() can remove at most %(limit)s different characters"),
                params={"name": name, "limit": f"{MAX_STRIP_CHARS:,}"},
            )
    elif name in _GROWING_TEXT_METHODS and len(text) > MAX_OUTPUT_BYTES:
        raise RenderError(TOO_BIG)
    elif name == "splitlines" and text.count("\n") > MAX_LIST_ITEMS:
        raise RenderError(TOO_LONG)
    result = method(*args, **kwargs)
    kind = type(result)
    if kind is str:
        return built_text(result)
    if kind is list:  # split, rsplit, splitlines: new pieces of text
        charge_memory(sum(map(sys.getsizeof, result)))
        return built_container(result)
    tick()
    return result


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment with the restrictions described above."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, autoescape=False):
        super().__init__(
            autoescape=autoescape,
            undefined=_Undefined,
            finalize=xml_text if autoescape else to_text,
            keep_trailing_newline=True,
            cache_size=0,
            auto_reload=False,
        )
        self.globals.clear()
        self.globals["range"] = safe_range
        self.filters = build_filters(xml=autoescape)
        self.tests = build_tests()

    def _tokenize(self, source, name, filename=None, state=None):
        # Environment._tokenize without extensions, with the number of tokens bounded.
        source = self.preprocess(source, name, filename)
        if state == "variable":
            limit, what = MAX_EXPRESSION_TOKENS, "expression"
        else:
            limit, what = MAX_TEMPLATE_TOKENS, "template"
        tokens = self.lexer.wrap(self.lexer.tokeniter(source, name, filename, state), name, filename)
        return TokenStream(_limit_tokens(tokens, limit, what), name, filename)

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
        raise SecurityError(Phrase(_lt("'%(name)s' is not allowed in a template"), {"name": attribute}))

    def getitem(self, obj, argument):
        # Also every step of a filter's attribute="a.b.c" path.
        result = super().getitem(obj, argument)
        if type(argument) is slice and type(result) in (str, list, tuple):
            charge_copy(result)  # a slice is never larger than what it slices; checks the clock
        else:
            tick()
        return result

    def call(self, context, obj, /, *args, **kwargs):
        owner = getattr(obj, "__self__", None)
        if type(owner) is str and getattr(obj, "__name__", None) in _TEXT_METHODS:  # its result is new text
            return _text_method(obj, owner, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        tick()
        return result

    def call_binop(self, context, operator, left, right):
        if operator == "%":
            if isinstance(left, str):
                raise SecurityError(
                    Phrase(_lt("Formatting text with % is not allowed in a template; join values with ~"))
                )
            result = left % right
        elif operator == "+":
            if isinstance(left, str) and isinstance(right, str):
                check_size(len(left) + len(right), MAX_OUTPUT_BYTES)
                return built_text(left + right)
            if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
                check_size(len(left) + len(right), MAX_LIST_ITEMS)
                size = measure(left) + measure(right) - 2
                if size > MAX_VALUE_SIZE:
                    raise RenderError(TOO_LARGE)
                return built_container(left + right, size)
            result = left + right
        elif operator == "*":
            sequence, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(times, int) and isinstance(sequence, (str, list, tuple)):
                times = max(times, 0)
                if isinstance(sequence, str):
                    check_size(len(sequence) * times, MAX_OUTPUT_BYTES)
                    return built_text(left * right)
                check_size(len(sequence) * times, MAX_LIST_ITEMS)
                size = 2 + (measure(sequence) - 2) * times
                if size > MAX_VALUE_SIZE:
                    raise RenderError(TOO_LARGE)
                return built_container(left * right, size)
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise RenderError(_lt("The template computes a number that is too large"))
            result = left * right
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                if left.bit_length() * right > MAX_INT_BITS:
                    raise RenderError(_lt("The template computes a number that is too large"))
            result = left**right
        else:
            result = super().call_binop(context, operator, left, right)
        tick()
        return result


def harden(tree, environment):
    """Check a parsed template/expression tree and add the runtime guards."""
    tree = _Hardener().visit(tree)
    tree.set_environment(environment)
    return tree


ENV = SandboxEnvironment()
# Advanced XML bodies: every printed value is escaped for XML (``| safe`` prints markup as it is).
XML_ENV = SandboxEnvironment(autoescape=True)


def _inside_tag(text):
    """Whether the end of ``text`` is inside a ``{{ }}``/``{% %}`` tag."""
    opened = max(text.rfind("{{"), text.rfind("{%"))
    closed = max(text.rfind("}}"), text.rfind("%}"))
    return opened > closed


def _column(source, line, raw):
    """Best 1-based column on ``line`` for the syntax error ``raw`` (Jinja only gives the line)."""
    lines = source.split("\n")
    if not line or line > len(lines):
        return None
    text = lines[line - 1]
    if "end of template" in raw:
        return len(text) + 1  # it stops at the very end
    match = re.search(r"(?:unexpected|named|unknown tag|got) '([^']+)'", raw)
    token = match[1] if match else None
    token = {"end of print statement": "}}", "end of statement block": "%}"}.get(token, token)
    if token:
        start = 0
        while (index := text.find(token, start)) >= 0:
            if _inside_tag(text[:index]) or token in ("}", "%}", "}}"):
                return index + 1
            start = index + 1
    openers = [i for i in (text.find("{{"), text.find("{%")) if i >= 0]
    return min(openers) + 1 if openers else 1


def _syntax_error(source, exc, expression=False):
    """The RenderError of a Jinja syntax error in a template or (``expression``) a mapper expression."""
    raw = exc.message or "unknown problem"
    message = raw.replace("unexpected 'end of template'", "it ends too early")
    message = message.replace("'end of template'", "the end of the text")
    line = None if expression else exc.lineno
    column = _column(source, line, raw) if line else None
    if message.startswith("No filter named "):
        name = message[len("No filter named ") :].rstrip(".")
        return RenderError(
            _lt("The filter %(name)s is not available in a template"), line=line, column=column, params={"name": name}
        )
    if message.startswith("No test named "):
        name = message[len("No test named ") :].rstrip(".")
        return RenderError(
            _lt("The test %(name)s is not available in a template"), line=line, column=column, params={"name": name}
        )
    # %(detail)s is Jinja's own description of the error, which stays as it is.
    if expression:
        return RenderError(
            _lt("The expression '%(source)s' has a syntax error: %(detail)s"),
            params={"source": source, "detail": message},
        )
    return RenderError(
        _lt("The template has a syntax error: %(detail)s"), line=line, column=column, params={"detail": message}
    )


@lru_cache(maxsize=256)
def compile_template(source, xml=False):
    """Compile (and cache) an advanced-body template (``xml``: values escaped for XML)."""
    if not isinstance(source, str) or not source.strip():
        raise RenderError(_lt("The template is empty"))
    if len(source) > MAX_TEMPLATE_CHARS:
        raise RenderError(
            _lt("The template is longer than %(limit)s characters"), params={"limit": f"{MAX_TEMPLATE_CHARS:,}"}
        )
    try:
        return (XML_ENV if xml else ENV).from_string(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(source, exc) from None
    except (RecursionError, SyntaxError, MemoryError):  # SyntaxError: from Python's compiler (nesting limits)
        raise RenderError(_lt("The template is nested too deeply")) from None


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
        raise RenderError(
            _lt("The expression is longer than %(limit)s characters"), params={"limit": f"{MAX_TEMPLATE_CHARS:,}"}
        )
    try:
        expr = parse_expression(source)
        tree = nodes.Template([nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)], lineno=1)
        return ENV.from_string(harden(tree, ENV))
    except TemplateSyntaxError as exc:
        raise _syntax_error(source, exc, expression=True) from None
    except (RecursionError, SyntaxError, MemoryError):
        raise RenderError(
            _lt("The expression '%(source)s' is nested too deeply"), params={"source": source[:80]}
        ) from None


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
