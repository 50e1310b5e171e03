"""Rendering of postback bodies: the Template Mapper and the advanced body.

Public entry points (the Odoo models only use these):

* ``render_mapping(lines, data)``: build a document from mapper lines
  (rules in ``_mapper``'s docstring);
* ``render_body(body, data)``: render an advanced Jinja2 body in the
  sandbox (rules in ``_sandbox``'s docstring) and parse it as JSON;
* ``render_to_bytes(doc)``: the bytes that are signed and sent;
* ``mapping_to_body(lines)``: the advanced body equivalent to a mapping;
* ``render_text(text, data)``: a plain-text template (email subject);
* ``check_body_syntax``/``check_text_syntax``/``check_mapping_line``:
  validation for the forms;
* ``list_paths(data)``, ``parse_json_sample(text)`` and
  ``preview_lines(lines, data)``: UI helpers.

Every problem is reported as ``RenderError`` with a merchant-readable
message, carried as an English template and its parameters so that
``error_text(error, translate)`` can give it in the user's language; input
data must be plain JSON values (``ensure_plain``).

Every render (``render_body``, ``render_text``, ``render_mapping``: the
deliveries, the preview, the test and the email subject all go through
them) runs inside one budget, compile included: at most ``RENDER_SECONDS``
of wall-clock time, ``MAX_RENDER_MEMORY`` of values built, bounded texts,
lists and work (see ``_filters``). A mapping made only of paths does no
template work: its cost is linear in the input.
"""

import json

from jinja2 import nodes
from jinja2.parser import Parser

from . import formats
from ._diagnose import translate
from ._filters import MAX_RENDER_MEMORY, RENDER_SECONDS, work_budget
from ._mapper import (
    MappingLine,
    _Indexed,
    _Iter,
    _Leaf,
    _Object,
    check_line,
    compile_mapping,
    empty_value,
    has_required,
    normalize_lines,
    render_node,
)
from ._paths import ITER, jinja_literal, parse_output_path, path_step
from ._sandbox import ENV, compile_template, parse_expression
from ._values import (
    MAX_OUTPUT_BYTES,
    VALUE_TYPES,
    EngineMessage,
    RenderError,
    _lt,
    ensure_plain,
    error_text,
    estimate_size,
    short_repr,
    type_name,
)

__all__ = [
    "LEFT_OUT",
    "MAX_OUTPUT_BYTES",
    "MAX_RENDER_MEMORY",
    "RENDER_SECONDS",
    "VALUE_TYPES",
    "MappingLine",
    "RenderError",
    "check_body_syntax",
    "check_mapping_line",
    "check_text_syntax",
    "ensure_plain",
    "error_text",
    "list_paths",
    "mapping_to_body",
    "parse_json_sample",
    "pretty_json",
    "preview_lines",
    "render_body",
    "render_mapping",
    "render_payload",
    "render_text",
    "render_to_bytes",
    "render_xml_body",
]

#: Most entries list_paths returns; enough for any order, bounded for the UI.
MAX_LISTED_PATHS = 2000
# Characters of output shown around a JSON syntax error.
_SNIPPET_RADIUS = 25
# json.dumps(ensure_ascii=False, separators=(",", ":"), allow_nan=False), built once.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_JINJA_WORDS = frozenset({"and", "or", "not", "in", "is", "if", "else", "true", "false", "none"})


_too_big = formats.too_big


def render_mapping(lines, data):
    """Build the output document described by mapper ``lines`` from ``data``."""
    ensure_plain(data)
    with work_budget():
        tree, _uses_expressions = compile_mapping(normalize_lines(lines))
        return render_node(tree, data, [])


def render_text(text, data, xml=False):
    """Render a plain-text template (e.g. an email subject) in the sandbox.

    ``xml``: the text is an XML body, every printed value is escaped for XML.
    """
    ensure_plain(data)
    chunks, size = [], 0
    with work_budget():
        template = compile_template(text, xml)
        try:
            # Streamed so a runaway loop is stopped as soon as the output
            # passes the limit instead of after it has been built.
            for chunk in template.generate(data):
                size += len(chunk)
                if size > MAX_OUTPUT_BYTES:
                    raise RenderError(
                        _lt("The template produces more than %(kb)s KB of output"),
                        params={"kb": str(MAX_OUTPUT_BYTES // 1024)},
                    )
                chunks.append(chunk)
        except Exception as exc:  # noqa: BLE001 - every failure inside the template becomes a RenderError
            raise translate(exc, lambda: Parser(ENV, text).parse(), data) from None
    return "".join(chunks)


def check_body_syntax(body, xml=False):
    """Raise RenderError if an advanced body (or any template text) does not compile."""
    compile_template(body, xml)


check_text_syntax = check_body_syntax


def check_mapping_line(line):
    """Raise RenderError if one mapping line is invalid on its own.

    Checks what can be checked without the other lines (paths, expression
    syntax, type, [] pairing); ``render_mapping`` checks the whole mapping.
    """
    check_line(normalize_lines([line])[0])


def render_body(body, data):
    """Render an advanced body template and parse its output as JSON."""
    text = render_text(body, data)
    if not text.strip():
        raise RenderError(_lt("The template produced no output; it must produce a JSON document"))
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        snippet = text[max(0, exc.pos - _SNIPPET_RADIUS) : exc.pos + _SNIPPET_RADIUS]
        snippet = " ".join(snippet.split())
        # %(detail)s: the json module's own description, kept as it is.
        raise RenderError(
            _lt("The template output is not valid JSON: %(detail)s near '%(snippet)s'"),
            line=exc.lineno,
            column=exc.colno,
            where="output",
            params={"detail": exc.msg, "snippet": snippet},
        ) from None
    except _ConstantError as exc:
        raise RenderError(_lt("The template output is not valid JSON: %(detail)s"), cause=exc) from None
    except RecursionError:
        raise RenderError(_lt("The template output is nested too deeply")) from None


def render_xml_body(body, data):
    """Render an advanced XML body: the exact UTF-8 bytes, checked well-formed."""
    return formats.xml_body_to_bytes(render_text(body, data, xml=True))


def render_payload(kind, value, fmt, xml_root, xml_namespace, data):  # noqa: PLR0917 - a template's spec, then data
    """The payload bytes of a template: ``kind`` "mapper" (``value``: lines) or "advanced"
    (``value``: the body), written in ``fmt`` (see ``formats``)."""
    if kind == "advanced" and fmt == formats.XML:
        return render_xml_body(value, data)
    document = render_body(value, data) if kind == "advanced" else render_mapping(value, data)
    if fmt == formats.XML:
        return formats.to_xml(document, xml_root, xml_namespace)
    if fmt == formats.FORM:
        return formats.to_form(document)
    return render_to_bytes(document)


class _ConstantError(EngineMessage, ValueError):
    """NaN/Infinity in JSON text: Python accepts them, JSON does not."""


def _refuse_constant(name):
    raise _ConstantError(_lt("%(name)s is not allowed in JSON"), {"name": name})


def render_to_bytes(doc):
    """Compact UTF-8 JSON of ``doc`` (the exact bytes that are signed and sent).

    Keys keep their order (the mapping's order) rather than being sorted,
    so the message reads the way the merchant designed it; the output is
    still deterministic for a given document.
    """
    estimate = estimate_size(doc, MAX_OUTPUT_BYTES)
    if estimate > MAX_OUTPUT_BYTES:
        raise _too_big(estimate)
    try:
        text = _COMPACT_JSON.encode(doc)
    except ValueError:
        raise RenderError(_lt("The message contains a number that JSON cannot represent (NaN or infinity)")) from None
    except TypeError as exc:
        # %(detail)s: the json module's own text, kept as it is.
        raise RenderError(
            _lt("The message contains a value that cannot be written as JSON: %(detail)s"), params={"detail": str(exc)}
        ) from None
    except RecursionError:
        raise RenderError(_lt("The message is nested too deeply")) from None
    # "replace" keeps a stray half of an emoji (a lone surrogate, e.g. from
    # a broken import) from blocking every future postback of the record.
    raw = text.encode("utf-8", "replace")
    if len(raw) > MAX_OUTPUT_BYTES:
        raise _too_big(len(raw))
    return raw


def parse_json_sample(text):
    """Parse the merchant's sample data; it must be a JSON object."""
    if not text or not text.strip():
        raise RenderError(_lt('The sample data is empty; paste a JSON object such as {"order": {}}'))
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        # %(detail)s: the json module's own description, kept as it is.
        raise RenderError(
            _lt("The sample data is not valid JSON: %(detail)s"),
            line=exc.lineno,
            column=exc.colno,
            params={"detail": exc.msg},
        ) from None
    except _ConstantError as exc:
        raise RenderError(_lt("The sample data is not valid JSON: %(detail)s"), cause=exc) from None
    except RecursionError:
        raise RenderError(_lt("The sample data is nested too deeply")) from None
    if not isinstance(value, dict):
        raise RenderError(_lt("The sample data must be a JSON object, starting with {"))
    try:
        ensure_plain(value)
    except TypeError:  # parsed JSON is plain, so only its depth can fail
        raise RenderError(_lt("The sample data is nested too deeply")) from None
    return value


def list_paths(data):
    """(path, type name, short example) for every value in ``data``.

    Lists are described by their first element, written ``order.lines[]``
    and ``order.lines[].sku``, which is exactly how mapper sources go
    through lists.
    """
    found = []

    def walk(value, path, depth):
        if len(found) >= MAX_LISTED_PATHS or depth > 64:
            return
        if type(value) is dict:
            for key, child in value.items():
                child_path = (path + path_step(key)) if path else path_step(key).lstrip(".")
                found.append((child_path, type_name(child), short_repr(child)))
                walk(child, child_path, depth + 1)
        elif type(value) is list and value:
            child_path = path + "[]"
            found.append((child_path, type_name(value[0]), short_repr(value[0])))
            walk(value[0], child_path, depth + 1)

    walk(data, "", 0)
    return found[:MAX_LISTED_PATHS]


#: What ``preview_lines`` gives for a line whose field is left out of the output.
LEFT_OUT = object()


def _value_at(document, steps):
    """The value(s) an output path holds in ``document``; LEFT_OUT when absent.

    A ``[]`` step gives the list of the values found in each element.
    """
    if not steps:
        return document
    step, rest = steps[0], steps[1:]
    if step is ITER:
        if type(document) is not list:
            return LEFT_OUT
        found = (_value_at(item, rest) for item in document)
        return [value for value in found if value is not LEFT_OUT]
    if isinstance(step, int):
        if type(document) is not list or step >= len(document):
            return LEFT_OUT
        return _value_at(document[step], rest)
    if type(document) is not dict or step not in document:
        return LEFT_OUT
    return _value_at(document[step], rest)


def preview_lines(lines, data):
    """What each mapper line yields on ``data``, for the Template Mapper's Value column.

    Returns one ``(value, error)`` per line: the plain value the line puts
    in the output (a list of values for a line under ``[]``), ``LEFT_OUT``
    when the field is left out, or ``(None, RenderError)`` when the line
    fails. The whole mapping is rendered once; only when it fails is each
    line rendered on its own, so every line shows its own error.
    """
    lines = list(lines)
    try:
        steps = [parse_output_path(line.output_path) for line in lines]
    except RenderError:
        steps = None
    if steps is not None:
        try:
            document = render_mapping(lines, data)
        except RenderError:
            pass
        else:
            return [(_value_at(document, line_steps), None) for line_steps in steps]
    results = []
    for line in lines:
        try:
            document = render_mapping([line], data)
            results.append((_value_at(document, parse_output_path(line.output_path)), None))
        except RenderError as error:
            results.append((None, error))
    return results


# -- mapping_to_body -------------------------------------------------------
#
# The generated template mirrors the mapping tree: objects become JSON
# text, each output list becomes a {% for item in ... %} loop (outer list
# elements stay reachable as pb_item1, pb_item2, ...), and each value is
# written with | as_type(...) | tojson, so types and formats are converted
# by the same code as in the mapper. Approximations: a default on an
# expression source is used when any input path the expression mentions
# is missing (or the result is null); an input "list" that is an object is
# iterated over its keys instead of being refused; positions in error
# messages are not filled in (items[].qty instead of items[2].qty).


def _jinja_step(step):
    if isinstance(step, int):
        return f"[{step}]"
    dotted = path_step(step)
    if dotted.startswith(".") and step not in _JINJA_WORDS:
        return dotted
    return f"[{jinja_literal(step)}]"


def _getter_chain(getter, depth, needed):
    """Jinja text of each prefix of a getter's path, shortest first."""
    steps = list(getter.steps)
    if getter.level == 0:
        base = steps.pop(0)
    elif getter.level == depth:
        base = "item"
    else:
        base = f"pb_item{getter.level}"
        needed.add(getter.level)
    chain = [base]
    for step in steps:
        chain.append(chain[-1] + _jinja_step(step))
    return chain


def _expression_chains(source):
    """Jinja text of every input path an expression reads, shortest first."""

    def text(node):
        if isinstance(node, nodes.Name):
            return node.name, 0
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
        else:
            return None, 0
        parent, length = text(node.node)
        return (parent + _jinja_step(key), length + 1) if parent else (None, 0)

    chains = set()
    for node in parse_expression(source).find_all((nodes.Name, nodes.Getattr, nodes.Getitem)):
        chain = text(node)
        if chain[0] and chain[0] != "range":
            chains.add((chain[1], chain[0]))
    return [chain for _length, chain in sorted(chains)]


def _leaf_expression(leaf, depth, needed, printed=" | tojson"):
    if leaf.if_missing == "omit":
        raise RenderError(
            _lt(
                "The line '%(output)s' leaves its field out when the value is missing: an advanced body "
                "cannot do that; choose another option for the missing value, then convert"
            ),
            params={"output": leaf.output},
        )
    if leaf.getter is not None:
        chain = _getter_chain(leaf.getter, depth, needed)
        value = chain[-1]
    else:
        value = f"({leaf.source})"
        chain = [] if leaf.required else _expression_chains(leaf.source)
    typed = f" | as_type({_type_arguments(leaf)})" if leaf.value_type != "auto" else ""
    if leaf.required:
        return f"{value} | required({jinja_literal(leaf.source)}){typed}{printed}"
    guards = " and ".join([f"{part} is defined" for part in chain] + [f"{value} is not none"])
    if leaf.default is not None:  # the default is converted like a value
        return f"({value} if {guards} else {jinja_literal(leaf.default)}){typed}{printed}"
    # the empty value (or null) is not converted
    fallback = "none" if leaf.if_missing == "null" else jinja_literal(empty_value(leaf.value_type))
    present = f"({value}{typed})" if typed else value
    return f"({present} if {guards} else {fallback}){printed}"


def _type_arguments(leaf):
    arguments = jinja_literal(leaf.value_type)
    if leaf.fmt:
        arguments += f", {jinja_literal(leaf.fmt)}"
    return arguments


def _json_key(key):
    text = json.dumps(key, ensure_ascii=False)
    # A "{" in template text could open a Jinja tag; print such keys instead.
    return f"{{{{ {jinja_literal(key)} | tojson }}}}" if "{" in text else text


def _emit(node, indent, depth, needed):
    pad = "  " * indent
    kind = type(node)
    if kind is _Leaf:
        return "{{ " + _leaf_expression(node, depth, needed) + " }}"
    if kind is _Object:
        if not node.fields:
            return "{}"
        parts = [
            f"{pad}  {_json_key(key)}: {_emit(child, indent + 1, depth, needed)}" for key, child in node.fields.items()
        ]
        return "{\n" + ",\n".join(parts) + f"\n{pad}}}"
    if kind is _Indexed:
        parts = [
            f"{pad}  " + (_emit(node.fields[index], indent + 1, depth, needed) if index in node.fields else "null")
            for index in range(max(node.fields) + 1)
        ]
        return "[\n" + ",\n".join(parts) + f"\n{pad}]"
    assert kind is _Iter
    inner = set()  # outer list levels the element refers to as pb_itemN
    element = _emit(node.fields[ITER], indent + 1, node.level, inner)
    needed.update(level for level in inner if level < node.level)
    chain = _getter_chain(node.getter, depth, needed)
    source = chain[-1]
    if not has_required(node):  # a missing input list is an empty output list, as in the mapper
        guards = " and ".join([f"{part} is defined" for part in chain] + [f"{source} is not none"])
        source = f"({source} if {guards} else [])"
    keep = f"{{% set pb_item{node.level} = item %}}" if node.level in inner else ""
    return (
        f"[{{% for item in {source} %}}{keep}{{% if not loop.first %}},{{% endif %}}\n"
        f"{pad}  {element}{{% endfor %}}\n{pad}]"
    )


def mapping_to_body(lines):
    """An advanced body that renders the same JSON as the mapping ``lines``."""
    tree, _uses_expressions = compile_mapping(normalize_lines(lines))
    return _emit(tree, 0, 0, set()) + "\n"


# -- the advanced XML body of a mapping ------------------------------------------------------------
# The same rules as formats.to_xml: a key is an element, a list repeats its key's element (a list in a
# list: <item> elements), "@name" is an attribute, "#text" the element's text. Printed values are
# escaped by the XML body's environment; null prints nothing.


def _xml_value(leaf, depth, needed):
    return "{{ " + _leaf_expression(leaf, depth, needed, printed="") + " }}"


def _xml_element(node, name, pad, depth, needed):
    """One element named ``name`` holding ``node``."""
    kind = type(node)
    if kind is _Leaf:
        return f"{pad}<{name}>{_xml_value(node, depth, needed)}</{name}>"
    if kind is not _Object:  # a list in a list
        return f"{pad}<{name}>\n{_xml_items(node, 'item', pad + '  ', depth, needed)}\n{pad}</{name}>"
    attributes, text, children = "", "", []
    for key, child in node.fields.items():
        if key == "#text" or key.startswith("@"):
            if type(child) is not _Leaf:
                raise RenderError(
                    _lt("'%(path)s' is an XML attribute or text: it cannot be an object or a list"),
                    params={"path": key},
                )
            if key == "#text":
                text = _xml_value(child, depth, needed)
            else:
                formats.check_xml_name(key[1:], key)
                attributes += f' {key[1:]}="{_xml_value(child, depth, needed)}"'
            continue
        children.append((key, child))
    if not children:
        return f"{pad}<{name}{attributes}>{text}</{name}>"
    # Mixed content (text and elements): no whitespace may be added between them.
    inner_pad, joiner = ("", "") if text else (pad + "  ", "\n")
    parts = []
    for key, child in children:
        formats.check_xml_name(key)
        if type(child) in (_Iter, _Indexed):
            parts.append(_xml_items(child, key, inner_pad, depth, needed))
        else:
            parts.append(_xml_element(child, key, inner_pad, depth, needed))
    if text:
        return f"{pad}<{name}{attributes}>{text}" + "".join(parts) + f"</{name}>"
    return f"{pad}<{name}{attributes}>\n" + joiner.join(parts) + f"\n{pad}</{name}>"


def _xml_items(node, name, pad, depth, needed):
    """The repeated elements named ``name`` of a list node."""
    if type(node) is _Indexed:
        return "\n".join(
            _xml_element(node.fields[index], name, pad, depth, needed) if index in node.fields else f"{pad}<{name}/>"
            for index in range(max(node.fields) + 1)
        )
    inner = set()  # outer list levels the element refers to as pb_itemN
    element = _xml_element(node.fields[ITER], name, pad + "  ", node.level, inner)
    needed.update(level for level in inner if level < node.level)
    chain = _getter_chain(node.getter, depth, needed)
    source = chain[-1]
    if not has_required(node):  # a missing input list is no element, as in the mapper
        guards = " and ".join([f"{part} is defined" for part in chain] + [f"{source} is not none"])
        source = f"({source} if {guards} else [])"
    keep = f"{{% set pb_item{node.level} = item %}}" if node.level in inner else ""
    # "-": the loop adds no whitespace of its own (it may sit in an element's mixed content)
    return f"{pad}{{%- for item in {source} -%}}{keep}\n{element}\n{pad}{{%- endfor -%}}"


def mapping_to_xml_body(lines, root=formats.DEFAULT_XML_ROOT, namespace=None):
    """An advanced XML body that renders the same XML as the mapping ``lines`` (formats.to_xml)."""
    tree, _uses_expressions = compile_mapping(normalize_lines(lines))
    root = (root or formats.DEFAULT_XML_ROOT).strip()
    formats.check_xml_name(root)
    namespace = formats.check_namespace(namespace)
    body = _xml_element(tree, root, "", 0, set())
    if namespace:
        first_end = body.index(">") if not body.startswith(f"<{root}>") else len(root) + 1
        body = body[:first_end] + f' xmlns="{namespace}"' + body[first_end:]
    return formats.XML_DECLARATION.decode() + body + "\n"


def pretty_json(text):
    """Indented JSON of a JSON text for display; the text itself when it is not JSON."""
    return formats.pretty(text, formats.JSON)
