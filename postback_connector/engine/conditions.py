"""The condition of a trigger: a domain written as text, read without running code.

Odoo's domain editor stores a domain as the text of a Python literal, e.g.
``[("amount_total", ">", 500), ("tag_ids", "in", [3])]``. ``parse_condition``
reads it with ``ast.literal_eval`` (never ``eval``) and checks its shape:
prefix operators ``&``, ``|`` and ``!`` with their operands, and conditions
``(path, operator, value)``, the value of ``any``/``not any`` being a domain
itself. It returns the domain normalised (every implicit "and" made
explicit, conditions as tuples, operators in lower case), ready for the ORM.

Expressions (``uid``, ``context_today()``, the editor's relative dates of
"is within") are refused, with the expression named or the relative date
said: a condition compares an order's fields with fixed values. Whether the
fields and operators exist is the Odoo layer's business (it knows the model
and the Odoo version).
"""

import ast

from ._values import EngineMessage, _lt

#: Longest condition text accepted (the domain editor writes a few hundred characters).
MAX_CONDITION_LENGTH = 10_000
#: Deepest nesting of ``any`` sub-domains (``partner_id any [country_id any [...]]``).
MAX_SUBDOMAIN_DEPTH = 8

AND, OR, NOT = "&", "|", "!"
#: Operands taken by each domain operator.
ARITY = {AND: 2, OR: 2, NOT: 1}
#: The always-true and always-false conditions the domain editor may write.
TRUE_LEAF = (1, "=", 1)
FALSE_LEAF = (0, "=", 1)
#: Operators whose value is a domain of the related records.
SUBDOMAIN_OPERATORS = frozenset(("any", "not any"))

# The nodes of a literal: anything else in the text is an expression.
_LITERAL_NODES = (ast.Expression, ast.List, ast.Tuple, ast.Constant, ast.Load)
_SHOWN_EXPRESSION = 80
# The names of the domain editor's relative dates ("is within", "today").
_RELATIVE_DATE_NAMES = frozenset(("context_today", "relativedelta", "datetime", "today", "now"))


class ConditionError(EngineMessage, ValueError):
    """A condition text that is not a domain, with a merchant sentence carried by code.

    ``template``/``params`` as for the render errors; ``render.error_text``
    translates it.
    """


def has_condition(text):
    """Is there a condition at all? (empty text and ``[]`` mean every order)."""
    return bool(text and text.strip() and "".join(text.split()) != "[]")


def parse_condition(text):
    """The domain of a condition text, normalised; ``[]`` for no condition.

    Raises ConditionError when the text is not a literal domain.
    """
    if not has_condition(text):
        return []
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(
            _lt("The condition is longer than %(limit)s characters"), {"limit": f"{MAX_CONDITION_LENGTH:,}"})
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise ConditionError(_lt(
            "The condition cannot be read; it should look like [(\"amount_total\", \">\", 500)]")) from None
    expression = _first_expression(tree)
    if expression is not None and _RELATIVE_DATE_NAMES & {
        node.id for node in ast.walk(expression) if isinstance(node, ast.Name)
    }:
        raise ConditionError(_lt(
            "The condition compares a date with a date relative to today (the editor's “is within”), which a "
            "trigger cannot use: compare with a fixed date instead"))
    if expression is not None:
        shown = ast.get_source_segment(text.strip(), expression) or type(expression).__name__
        if len(shown) > _SHOWN_EXPRESSION:
            shown = shown[: _SHOWN_EXPRESSION - 1] + "…"
        raise ConditionError(
            _lt("The condition uses “%(expression)s”, which is not a fixed value: compare the order's fields "
                "with fixed values (numbers, texts, dates written as text, lists of records)"),
            {"expression": shown},
        )
    try:
        value = ast.literal_eval(tree)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ConditionError(_lt(
            "The condition cannot be read; it should look like [(\"amount_total\", \">\", 500)]")) from None
    return normalize(value)


def normalize(domain, depth=0):
    """``domain`` (a list) with every implicit "and" made explicit; raises ConditionError."""
    if not isinstance(domain, (list, tuple)):
        raise ConditionError(_lt(
            "The condition must be a list of conditions, like [(\"amount_total\", \">\", 500)]"))
    if depth > MAX_SUBDOMAIN_DEPTH:
        raise ConditionError(
            _lt("The condition nests more than %(limit)s levels of related records"),
            {"limit": str(MAX_SUBDOMAIN_DEPTH)},
        )
    if not domain:
        return []
    result, expected = [], 1
    for token in domain:
        if expected == 0:  # an implicit "and" of what came before and this token
            result.insert(0, AND)
            expected = 1
        if isinstance(token, str):
            if token not in ARITY:
                raise ConditionError(
                    _lt("“%(token)s” is not a way to combine conditions: use “&” (and), “|” (or) or “!” (not)"),
                    {"token": token},
                )
            expected += ARITY[token] - 1
            result.append(token)
            continue
        result.append(_leaf(token, depth))
        expected -= 1
    if expected != 0:
        raise ConditionError(_lt(
            "The condition is incomplete: “&” and “|” combine the two conditions after them, “!” the one after it"))
    return result


def leaves(domain):
    """The conditions ``(path, operator, value)`` of a normalised domain, outside sub-domains."""
    return [token for token in domain if isinstance(token, tuple) and token not in (TRUE_LEAF, FALSE_LEAF)]


def _leaf(token, depth):
    if not isinstance(token, (list, tuple)) or len(token) != 3:
        raise ConditionError(
            _lt("“%(condition)s” is not a condition: a condition has three parts, (field, operator, value)"),
            {"condition": _short(token)},
        )
    path, operator, value = token
    if tuple(token) in (TRUE_LEAF, FALSE_LEAF):
        return tuple(token)
    if not isinstance(path, str) or not path.strip() or not isinstance(operator, str):
        raise ConditionError(
            _lt("“%(condition)s” is not a condition: it should start with a field name and an operator, "
                "like (\"amount_total\", \">\", 500)"),
            {"condition": _short(token)},
        )
    operator = operator.strip().lower()
    if operator in SUBDOMAIN_OPERATORS:
        value = normalize(value, depth + 1)
    return (path.strip(), operator, value)


def _first_expression(tree):
    """The first node of ``tree`` that is not part of a literal (a name, a call, an operation)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) and (
            isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float))
        ):
            continue  # a negative number
        if isinstance(node, (ast.USub, ast.UAdd)):
            continue
        if not isinstance(node, _LITERAL_NODES):
            return node
        if isinstance(node, ast.Constant) and not isinstance(node.value, (str, int, float, bool, type(None))):
            return node  # bytes, complex numbers, Ellipsis
    return None


def _short(value):
    text = repr(value)
    return text if len(text) <= _SHOWN_EXPRESSION else text[: _SHOWN_EXPRESSION - 1] + "…"
