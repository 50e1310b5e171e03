"""Sandbox: escapes are refused and runaway templates end with RenderError."""

import time

import pytest

from postback_connector.engine import _diagnose
from postback_connector.engine.render import MappingLine, RenderError, render_body, render_mapping

DATA = {"order": {"id": 1, "name": "abc", "lines": [{"sku": "A"}]}}


@pytest.mark.parametrize(
    "body",
    [
        "{{ order.__class__ }}",
        "{{ order.name.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        '{{ order["__class__"] }}',
        '{{ order[("_" ~ "_class__")] }}',
        "{{ order._private }}",
        "{{ _secret }}",
        "{{ order.name.upper.__self__ }}",
        "{{ order.lines | map(attribute='__class__') | list }}",
        "{{ order | _pb_concat }}",
        "{{ order.name.zfill(5) }}",
        '{{ "{0.__class__}".format(order) }}',
        "{{ order.lines.append(1) }}",
        '{{ "%s" % order }}',
    ],
)
def test_escapes_are_not_allowed(body):
    with pytest.raises(RenderError, match="not allowed in a template"):
        render_body(body, DATA)


@pytest.mark.parametrize("name", ["cycler", "joiner", "namespace", "lipsum", "dict"])
def test_only_range_is_a_global(name):
    with pytest.raises(RenderError, match="does not exist"):
        render_body("{{ %s }}" % name, DATA)
    assert render_body("{{ range(3) | list | tojson }}", DATA) == [0, 1, 2]


@pytest.mark.parametrize("name", ["attr", "format", "center", "indent", "batch", "slice", "pprint", "xmlattr"])
def test_dangerous_filters_are_not_available(name):
    with pytest.raises(RenderError, match=f"The filter '{name}' is not available"):
        render_body("{{ order.name | %s(1) }}" % name, DATA)


@pytest.mark.parametrize(
    "body",
    [
        "{% macro f() %}{% endmacro %}",
        "{% call f() %}{% endcall %}",
        "{% filter upper %}x{% endfilter %}",
        "{% set x %}x{% endset %}",
        "{% include 'x' %}",
        "{% import 'x' as y %}",
        "{% extends 'x' %}",
        "{% block b %}{% endblock %}",
        "{% for x in order.lines recursive %}{{ loop(x) }}{% endfor %}",
    ],
)
def test_statements_that_escape_the_limits_are_refused(body):
    with pytest.raises(RenderError, match="not allowed in a template"):
        render_body(body, DATA)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{{ range(10**9) | list | length }}", "range() is limited to 10,000"),
        ("{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}1", "too much work"),
        ("{% for a in order.name * 100000 %}{% endfor %}1", "too much work"),
        ('{{ "x" * 10**9 }}', "512 KB"),
        ('{% set a = "x" * 400000 %}{% set a = a ~ a %}1', "512 KB"),
        ('{% set a = "x" * 400000 %}{% set a = a + a %}1', "512 KB"),
        ('{{ ("x" * 1000) | replace("x", "x" * 1000) }}', "512 KB"),
        ('{{ range(5000) | join("x" * 1000) }}', "512 KB"),
        ("{{ [order] * 100000 }}", "longer than 10,000 items"),
        ("{{ 10 ** 100000 }}", "too large"),
        ("{{ (10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000) }}", "too large"),
        ("{{ [1] | sum(start=[]) }}", "sum can only add up numbers"),
        ("{{ order.lines | tojson(indent=100) }}", "indent"),
    ],
)
def test_runaway_work_is_stopped(body, words):
    started = time.monotonic()
    with pytest.raises(RenderError, match=words.replace("(", r"\(").replace(")", r"\)")):
        render_body(body, DATA)
    assert time.monotonic() - started < 5


def test_mapper_expressions_use_the_same_sandbox():
    with pytest.raises(RenderError, match="not allowed"):
        render_mapping([MappingLine("x", "order.name.__class__")], DATA)
    with pytest.raises(RenderError, match="range"):
        render_mapping([MappingLine("x", "range(10**9) | list")], DATA)
    with pytest.raises(RenderError, match="not allowed"):
        render_mapping([MappingLine("x", "order._private")], DATA)


def test_recursion_and_memory_errors_become_render_errors():
    assert "nested too deeply" in str(_diagnose.translate(RecursionError()))
    assert "too much memory" in str(_diagnose.translate(MemoryError()))


def test_data_is_not_changed_by_a_template():
    data = {"order": {"lines": [1, 2]}}
    with pytest.raises(RenderError):
        render_body("{{ order.lines.pop() }}", data)
    assert data == {"order": {"lines": [1, 2]}}
