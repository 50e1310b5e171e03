"""Trigger conditions: the domain text the domain editor writes, read without running code."""

import pytest

from postback_connector.engine.conditions import ConditionError, has_condition, leaves, parse_condition
from postback_connector.engine.render import error_text


@pytest.mark.parametrize("text", [None, "", "   ", "[]", " [ ] ", "[\n]"])
def test_empty_text_means_every_order(text):
    assert not has_condition(text)
    assert parse_condition(text) == []


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        # what Odoo's domain editor writes: double quotes, implicit "and", ids in lists
        (
            '[("amount_total", ">", 500), ("team_id", "in", [2])]',
            ["&", ("amount_total", ">", 500), ("team_id", "in", [2])],
        ),
        (
            '["|", ("tag_ids", "in", [3, 4]), ("partner_shipping_id.country_id.code", "=", "DE")]',
            ["|", ("tag_ids", "in", [3, 4]), ("partner_shipping_id.country_id.code", "=", "DE")],
        ),
        ('[("team_id", "!=", False), ("note", "=", None)]', ["&", ("team_id", "!=", False), ("note", "=", None)]),
        ('["!", ("amount_total", "<=", -1.5)]', ["!", ("amount_total", "<=", -1.5)]),
        ("[('date_order', '>=', '2026-01-01 00:00:00')]", [("date_order", ">=", "2026-01-01 00:00:00")]),
        # the always-true and always-false leaves, lists as leaves, operator case
        ("[(1, '=', 1)]", [(1, "=", 1)]),
        ("[[0, '=', 1]]", [(0, "=", 1)]),
        ('[["amount_total", "NOT IN", [1, 2]]]', [("amount_total", "not in", [1, 2])]),
        # a sub-domain on related records, itself normalised
        (
            '[("partner_shipping_id", "any", [("country_id.code", "=", "DE"), ("city", "ilike", "berl")])]',
            [("partner_shipping_id", "any", ["&", ("country_id.code", "=", "DE"), ("city", "ilike", "berl")])],
        ),
    ],
)
def test_domain_editor_forms_are_read(text, domain):
    assert has_condition(text)
    assert parse_condition(text) == domain


def test_leaves_skip_operators_and_constant_leaves():
    domain = parse_condition('["|", ("a", "=", 1), "!", ("b", "=", 2), (1, "=", 1)]')
    assert leaves(domain) == [("a", "=", 1), ("b", "=", 2)]


def _refused(text):
    with pytest.raises(ConditionError) as info:
        parse_condition(text)
    return info.value


@pytest.mark.parametrize(
    ("text", "expression"),
    [
        # the current user, any call, any operation: code, never run
        ('[("user_id", "=", uid)]', "uid"),
        ("[('amount_total', '>', __import__('os').system('true'))]", "__import__('os').system('true')"),
        ("[('amount_total', '>', 1 + 1)]", "1 + 1"),
        ("[('tag_ids', 'in', {1: 2})]", "{1: 2}"),
        ("[('name', '=', b'x')]", "b'x'"),
    ],
)
def test_expressions_are_refused_and_named(text, expression):
    error = _refused(text)
    assert error.params == {"expression": expression}
    assert "not a fixed value" in str(error)


@pytest.mark.parametrize(
    "text",
    [
        # what the domain editor writes for "is within" on a date and on a date and time field
        '[("commitment_date", ">=", (context_today() + relativedelta(days=-7)).strftime("%Y-%m-%d"))]',
        '[("date_order", ">=", datetime.datetime.combine(context_today() + relativedelta(months = -1), '
        'datetime.time(0, 0, 0)).to_utc().strftime("%Y-%m-%d %H:%M:%S"))]',
    ],
)
def test_relative_dates_of_the_editor_are_refused_as_such(text):
    assert "a date relative to today (the editor's “is within”)" in str(_refused(text))


def test_a_long_expression_is_shortened_in_the_message():
    error = _refused("[('a', '=', f(" + "1, " * 100 + "))]")
    assert error.params["expression"].endswith("…")
    assert len(error.params["expression"]) == 80


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[('amount_total', '>', 500", "cannot be read"),
        ("amount_total > 500", "not a fixed value"),
        ("'amount_total'", "must be a list of conditions"),
        ("[('amount_total', '>')]", "three parts"),
        ("[('amount_total', '>', 500, 1)]", "three parts"),
        ("[(5, '>', 500)]", "should start with a field name"),
        ("[('', '=', 1)]", "should start with a field name"),
        ("[('a', 5, 1)]", "should start with a field name"),
        ("['and', ('a', '=', 1), ('b', '=', 2)]", "“and” is not a way to combine conditions"),
        ("['|', ('a', '=', 1)]", "incomplete"),
        ("['!']", "incomplete"),
        ("[('partner_id', 'any', 'DE')]", "must be a list of conditions"),
        ("[" + "('a', '=', 1), " * 1000 + "]", "longer than 10,000 characters"),
        ("[" * 300 + "]" * 300, "cannot be read"),
    ],
)
def test_malformed_conditions_are_refused_with_a_sentence(text, words):
    assert words in str(_refused(text))


def test_sub_domains_are_bounded_in_depth():
    text = "[('partner_id', 'any', " * 10 + "[]" + ")]" * 10
    assert "more than 8 levels" in str(_refused(text))
    assert parse_condition("[('partner_id', 'any', " * 3 + "[]" + ")]" * 3)


def test_condition_errors_are_translated_like_the_other_engine_messages():
    error = _refused('[("user_id", "=", uid)]')
    french = {error.template: "La condition utilise « %(expression)s »"}
    assert error_text(error, lambda text: french.get(text, text)) == "La condition utilise « uid »"
    assert error_text(error) == str(error)


def test_code_in_a_condition_never_runs(tmp_path):
    marker = tmp_path / "ran"
    error = _refused(f"[('amount_total', '>', __import__('pathlib').Path({str(marker)!r}).touch())]")
    assert "not a fixed value" in str(error)
    assert not marker.exists()
