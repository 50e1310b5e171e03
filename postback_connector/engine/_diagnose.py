"""Turn exceptions raised while rendering into merchant-readable RenderErrors.

Runs only when something already went wrong, so it can afford to re-parse
the template and walk the input data to name the exact missing value
(``order.lines[2].sku`` rather than Jinja's "'dict object' has no
attribute 'sku'").
"""

from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.utils import missing

from ._paths import path_step
from ._sandbox import MissingValueError
from ._values import RenderError, _lt

# Enough to explain any realistic template; bounds the error path itself.
MAX_CANDIDATES = 10_000


def template_line(exc):
    """Template line of the innermost template frame in exc's traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        # Jinja rewrites template frames into fake frames that carry the
        # template line number and this marker in their globals.
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _lookup(value, key):
    if type(value) is dict and isinstance(key, str):
        return value.get(key, missing)
    if type(value) is list and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    return missing


def _constant_key(node):
    if isinstance(node, nodes.Const) and isinstance(node.value, (str, int)):
        return node.value
    if isinstance(node, nodes.Neg) and isinstance(node.node, nodes.Const):
        return -node.node.value if isinstance(node.node.value, int) else None
    return None


class _PathFinder:
    """Finds which input path an undefined lookup came from."""

    def __init__(self, tree, variables, roots):
        self.variables = variables
        self.roots = roots or {}
        self.budget = MAX_CANDIDATES
        self.loops = {}
        for loop in tree.find_all(nodes.For):
            if isinstance(loop.target, nodes.Name):
                self.loops.setdefault(loop.target.name, loop.iter)

    def candidates(self, node, depth=0):
        """(value, display path) pairs an expression node may stand for."""
        if depth > 8 or self.budget <= 0:
            return
        if isinstance(node, nodes.Name):
            name = node.name
            if name in self.roots:
                yield from self.roots[name]
            if name in self.loops:
                for value, shown in self.candidates(self.loops[name], depth + 1):
                    if type(value) is list:
                        for index, element in enumerate(value):
                            self.budget -= 1
                            yield element, f"{shown}[{index}]"
            if name in self.variables and name not in self.roots:
                yield self.variables[name], name
        elif isinstance(node, (nodes.Getattr, nodes.Getitem)):
            key = node.attr if isinstance(node, nodes.Getattr) else _constant_key(node.arg)
            if key is None:
                return
            for value, shown in self.candidates(node.node, depth + 1):
                child = _lookup(value, key)
                if child is not missing:
                    self.budget -= 1
                    yield child, shown + path_step(key)

    def find(self, tree, obj, name):
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            key = node.attr if isinstance(node, nodes.Getattr) else _constant_key(node.arg)
            if key != name:
                continue
            for value, shown in self.candidates(node.node):
                if value is obj:
                    return shown + path_step(name)
        return None


def find_missing_path(tree, variables, obj, name, roots=None):
    """Full input path of a failed lookup of ``name`` in ``obj``, if found."""
    if obj is missing:
        return name if isinstance(name, str) else None
    if tree is None:
        return None
    try:
        return _PathFinder(tree, variables, roots).find(tree, obj, name)
    except RecursionError:
        return None


def translate(exc, tree_factory=None, variables=None, roots=None):
    """Map any exception from rendering to a RenderError with location."""
    line = template_line(exc)
    if isinstance(exc, RenderError):
        if exc.line is None and line is not None:
            exc.line = line
        return exc
    if isinstance(exc, MissingValueError):
        path = None
        if variables is not None:
            try:
                tree = tree_factory() if tree_factory else None
            except Exception:  # noqa: BLE001 - the error path must never fail itself
                tree = None
            path = find_missing_path(tree, variables, exc.obj, exc.name, roots)
        if path:
            return RenderError(
                _lt("The value '%(path)s' does not exist in the input data"), line, path=path, params={"path": path}
            )
        return RenderError.from_text(exc.message, line, path=exc.name if isinstance(exc.name, str) else None)
    if isinstance(exc, (SecurityError, UndefinedError)):
        return RenderError.from_text(exc.message or str(exc), line)
    # In the messages below, %(detail)s is the text of a foreign exception
    # (Jinja's or Python's), which stays as it is.
    if isinstance(exc, TemplateError):
        return RenderError(_lt("The template could not be rendered: %(detail)s"), line, params={"detail": str(exc)})
    if isinstance(exc, RecursionError):
        return RenderError(_lt("The template or its data is nested too deeply"), line)
    if isinstance(exc, MemoryError):
        return RenderError(_lt("The template needs too much memory to render"), line)
    if isinstance(exc, ZeroDivisionError):
        return RenderError(_lt("The template divides by zero"), line)
    if isinstance(exc, OverflowError):
        return RenderError(_lt("A number in the template is too large"), line)
    return RenderError(_lt("The template could not be rendered: %(detail)s"), line, params={"detail": str(exc)})
