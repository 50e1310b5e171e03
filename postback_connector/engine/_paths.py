"""Path syntax shared by the mapper and the advanced-body generator.

Output paths: keys separated by dots, each optionally followed by ``[]``
(a list filled from the input) or ``[N]`` (a fixed position); keys may be
any text without dots, brackets or line breaks.

Source paths: identifiers separated by dots, with ``[]`` (go through a
list) or ``[N]``/``[-N]`` (one element); anything else is an expression.

Parsed paths are lists of steps: ``str`` keys, ``int`` positions and
``ITER`` (None) for ``[]``.
"""

import json
import re

from ._values import RenderError, _lt

#: Highest fixed position accepted in an output path such as ``lines[0]``.
MAX_OUTPUT_INDEX = 999

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_IDENTIFIER_RE = re.compile(_IDENT)
_SOURCE_PATH = re.compile(rf"{_IDENT}(?:\.{_IDENT}|\[(?:-?\d+)?\])*")
_SOURCE_TOKEN = re.compile(rf"\.?({_IDENT})|\[(-?\d+)?\]")
# Output keys may hold inner spaces ("Order total") but no dots, brackets or
# line breaks, and no spaces at either end (they would be invisible in the UI).
_OUTPUT_KEY = re.compile(r"[^.\[\]\s](?:[^.\[\]\r\n\t]*[^.\[\]\s])?")
_OUTPUT_BRACKET = re.compile(r"\[(\d*)\]")
_LITERALS = frozenset({"true", "false", "none", "True", "False", "None"})
ITER = None  # a "[]" step in a parsed path; keys are str, positions int


def path_step(key):
    """How one lookup step is written in a path: .name, ["odd key"] or [3]."""
    if isinstance(key, int):
        return f"[{key}]"
    if _IDENTIFIER_RE.fullmatch(key):
        return f".{key}"
    return f'["{key}"]'


def show(prefix, steps):
    """Display form of parsed steps after a prefix (``order.lines[].sku``)."""
    text = prefix
    for step in steps:
        text += "[]" if step is ITER else path_step(step)
    return text.lstrip(".")


def parse_output_path(text):
    """Split an output path into steps (key text, position int or ITER)."""
    steps, pos, want_key = [], 0, True
    while pos < len(text):
        if want_key:
            match = _OUTPUT_KEY.match(text, pos)
            if not match:
                break
            steps.append(match.group())
            want_key = False
        elif text[pos] == ".":
            match, want_key = True, True
            pos += 1
            continue
        else:
            match = _OUTPUT_BRACKET.match(text, pos)
            if not match:
                break
            index = match.group(1)
            if index and int(index) > MAX_OUTPUT_INDEX:
                raise RenderError(
                    _lt("The position in '%(path)s' is too large (at most %(limit)s)"),
                    params={"path": text, "limit": str(MAX_OUTPUT_INDEX)},
                )
            steps.append(int(index) if index else ITER)
        pos = match.end()
    if want_key or pos < len(text):
        raise RenderError(
            _lt(
                "'%(path)s' is not a valid output path; write names separated by dots, "
                "with [] for lists, e.g. 'order.id' or 'items[].sku'"
            ),
            params={"path": text},
        )
    return steps


def is_path(source):
    """True when a source is a plain input path rather than an expression."""
    return bool(_SOURCE_PATH.fullmatch(source)) and source.split(".")[0].split("[")[0] not in _LITERALS


def parse_source_path(text):
    """Split a source path (already checked by ``is_path``) into steps."""
    steps = []
    for match in _SOURCE_TOKEN.finditer(text):
        key, index = match.groups()
        if key is not None:
            if key.startswith("_"):
                raise RenderError(
                    _lt("'%(name)s' is not allowed in a template (in the source '%(source)s')"),
                    params={"name": key, "source": text},
                )
            steps.append(key)
        else:
            steps.append(int(index) if index is not None else ITER)
    return steps


def split_iters(steps):
    """Positions of the ``[]`` steps."""
    return [position for position, step in enumerate(steps) if step is ITER]


def jinja_literal(value):
    """A Jinja string literal (JSON escapes are valid Jinja escapes)."""
    return "none" if value is None else json.dumps(value, ensure_ascii=False)
