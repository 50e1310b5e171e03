"""Engine messages are carried by code: ``_lt`` templates plus parameters.

The Odoo layer translates them with ``render.error_text(error, translate)``;
these tests keep every message extractable and translatable, and the
English texts unchanged.
"""

import ast
import re
from pathlib import Path

import pytest

from postback_connector.engine import netcheck, render
from postback_connector.engine.render import MappingLine, RenderError, error_text

ENGINE = Path(render.__file__).parent
# Classes whose first argument is a message template.
MESSAGE_CALLS = {"RenderError", "URLError", "UnsafeTargetError", "_ConstantError", "Phrase", "ConditionError"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _trees():
    return {path.name: ast.parse(path.read_text(), str(path)) for path in sorted(ENGINE.glob("*.py"))}


def _name(func):
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _is_lt(node):
    return isinstance(node, ast.Call) and _name(node.func) == "_lt"


def _lt_calls():
    for filename, tree in _trees().items():
        for node in ast.walk(tree):
            if _is_lt(node):
                yield filename, node


def _message_constants():
    """Module-level names bound to ``_lt("...")`` or ``Phrase(_lt("..."), ...)``, in any engine module."""
    names = set()
    for tree in _trees().values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = node.value
                if _is_lt(value) or (
                    isinstance(value, ast.Call) and _name(value.func) == "Phrase" and _is_lt(value.args[0])
                ):
                    names.add(node.targets[0].id)
    return names


def test_every_lt_argument_is_one_plain_literal_and_a_valid_template():
    templates = []
    for filename, call in _lt_calls():
        where = f"{filename}:{call.lineno}"
        assert len(call.args) == 1 and not call.keywords, where
        argument = call.args[0]
        # Implicit concatenation of adjacent literals is one Constant; an
        # f-string is a JoinedStr and "a" + "b" a BinOp: babel skips both.
        assert isinstance(argument, ast.Constant) and isinstance(argument.value, str), where
        templates.append((where, argument.value))
    assert len(templates) > 100  # the walk found the engine's messages
    for where, template in templates:
        names = _PLACEHOLDER.findall(template)
        if not names:
            continue  # used as is, never formatted: a literal % is fine
        rest = _PLACEHOLDER.sub("", template).replace("%%", "")
        assert "%" not in rest, f"{where}: only %(name)s placeholders are allowed: {template!r}"
        assert template % dict.fromkeys(names, "x"), where


def _is_template(node, constants):
    if isinstance(node, ast.IfExp):
        return _is_template(node.body, constants) and _is_template(node.orelse, constants)
    return _is_lt(node) or (isinstance(node, ast.Name) and node.id in constants)


def test_every_message_call_passes_an_lt_template():
    constants = _message_constants()
    assert {"TOO_BIG", "TOO_SLOW", "TOO_LONG"} <= constants
    for filename, tree in _trees().items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _name(node.func) in MESSAGE_CALLS):
                continue
            where = f"{filename}:{node.lineno}"
            assert node.args, where
            first = node.args[0]
            assert _is_template(first, constants), (
                f"{where}: {_name(node.func)}() must get _lt('...') or a module constant built from it"
            )


def test_netcheck_raises_no_plain_value_error():
    tree = _trees()["netcheck.py"]
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            assert _name(node.exc.func) != "ValueError", f"netcheck.py:{node.lineno}"


def _error(function, *args):
    with pytest.raises(ValueError) as info:
        function(*args)
    return info.value


def _shout(template):
    """A fake translation: upper case outside the placeholders."""
    parts = re.split(r"(%\(\w+\)s)", template)
    return "".join(part if part.startswith("%(") else part.upper() for part in parts)


def _convert():
    return render.render_mapping(
        [MappingLine("total", "order.total", value_type="integer")], {"order": {"total": "abc"}}
    )


def _conversion_error():
    return _error(_convert)


def test_nested_cause_is_translated_first():
    error = _conversion_error()
    assert error.template == "%(detail)s (output field '%(field)s')"
    assert error.params == {"field": "total", "detail": "Cannot convert 'abc' to a whole number"}
    assert error.cause.template == "Cannot convert %(value)s to %(target)s"
    assert error.cause.params["target"] == "a whole number"
    french = {
        "%(detail)s (output field '%(field)s')": "%(detail)s (champ de sortie « %(field)s »)",
        "Cannot convert %(value)s to %(target)s": "Impossible de convertir %(value)s en %(target)s",
        "a whole number": "un nombre entier",
        "%(message)s.": "%(message)s !",
    }
    assert error_text(error, lambda text: french.get(text, text)) == (
        "Impossible de convertir 'abc' en un nombre entier (champ de sortie « total ») !"
    )
    assert error_text(error, _shout) == "CANNOT CONVERT 'abc' TO A WHOLE NUMBER (OUTPUT FIELD 'total')."


def test_location_suffix_is_translated():
    error = _error(render.render_body, '{"a": {{ order.id }', {"order": {"id": 1}})
    assert (error.line, error.column) == (1, 19)
    # Jinja's own description is a plain parameter: it stays as it is.
    assert error_text(error, _shout) == "THE TEMPLATE HAS A SYNTAX ERROR: unexpected '}' (LINE 1, COLUMN 19)."
    output = _error(render.render_body, '{"a": }', {})
    assert output.where == "output"
    assert error_text(output, _shout).endswith("(OUTPUT LINE 1, COLUMN 7).")


def test_url_errors_are_translated():
    error = _error(netcheck.validate_url, "http://a/" + "x" * 3000)
    assert isinstance(error, netcheck.URLError)
    assert (error.template, error.params) == ("The URL is longer than %(limit)s characters", {"limit": "2048"})
    assert error_text(error, _shout) == "THE URL IS LONGER THAN 2048 CHARACTERS"
    refused = _error(netcheck.check_target, "http://127.0.0.1/hook")
    assert error_text(refused, _shout).startswith("THE SERVER '127.0.0.1' RESOLVES TO A LOOPBACK ADDRESS (127.0.0.1)")


@pytest.mark.parametrize(
    "broken",
    [
        "Impossible de convertir %(valeur)s en %(target)s",  # unknown placeholder
        "Impossible de convertir en %(target)s",  # a placeholder is missing
        "Impossible de convertir %(value)s en %(target)d",  # not %(name)s
        "Convertir %(value)s à 100 % en %(target)s",  # a stray %
    ],
)
def test_a_broken_translation_falls_back_to_english(broken):
    error = _conversion_error()
    translations = {"Cannot convert %(value)s to %(target)s": broken, "a whole number": "un nombre entier"}
    assert error_text(error, lambda text: translations.get(text, text)) == (
        "Cannot convert 'abc' to un nombre entier (output field 'total')."
    )


def test_a_translator_breaking_every_placeholder_gives_english():
    error = _conversion_error()
    # %(value)s becomes %(VALUE)S: every template with placeholders stays
    # English; only the fragment without any is "translated".
    assert error_text(error, str.upper) == "Cannot convert 'abc' to A WHOLE NUMBER (output field 'total')."


def test_error_text_of_other_exceptions_is_their_text():
    assert error_text(KeyError("x")) == "'x'"


@pytest.mark.parametrize(
    ("render_it", "expected"),
    [
        (
            lambda: render.render_mapping([MappingLine("ref", "order.nope", if_missing="required")], {"order": {}}),
            "The value 'order.nope' does not exist in the input data (output field 'ref').",
        ),
        (
            lambda: render.render_body('{"a": 1}\n{% if %}', {}),
            "The template has a syntax error: Expected an expression, got 'end of statement block' (line 2, column 7).",
        ),
        (_convert, "Cannot convert 'abc' to a whole number (output field 'total')."),
        (
            lambda: render.render_body('{"a": {{ range }}}', {}),
            "{{ range }} is not a value from the input data (it is a function); "
            "print a field such as {{ order.reference }} (line 1).",
        ),
        (
            lambda: render.parse_json_sample('{"a": NaN}'),
            "The sample data is not valid JSON: NaN is not allowed in JSON.",
        ),
        (
            lambda: netcheck.check_target("http://10.0.0.1/hook"),
            "The server '10.0.0.1' resolves to a private address (10.0.0.1), which postbacks may not be sent "
            "to; an administrator can allow them in Postbacks › Configuration › Settings, "
            "“Allow private network targets”",
        ),
    ],
)
def test_english_texts_are_unchanged(render_it, expected):
    try:
        render_it()
    except ValueError as error:
        assert str(error) == expected
        assert error_text(error) == expected
    else:
        pytest.fail("no error")


def test_a_broken_location_translation_falls_back_to_english():
    error = RenderError("The template divides by zero", line=3)
    assert str(error) == "The template divides by zero (line 3)."
    translations = {
        "The template divides by zero": "Le modèle divise par zéro",
        "%(message)s (line %(line)s).": "%(message)s (ligne %(ligne)s).",
    }
    assert error_text(error, lambda text: translations.get(text, text)) == "Le modèle divise par zéro (line 3)."


def test_where_is_one_of_the_documented_codes():
    assert RenderError.WHERE == (None, "output")
    with pytest.raises(ValueError, match="location"):
        RenderError("The template is empty", line=1, where="sample")
