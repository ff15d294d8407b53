"""CEL source handling: tokens, macro and list expansion, referenced variables and paths."""

from __future__ import annotations

import re

import pytest

from clearance.rules._cel_source import (
    ExpansionError,
    attribute_paths,
    expand,
    referenced_roots,
    tokenize,
)

LISTS = {"levels": ("confidential", "restricted"), "odd": ('say "hi"', "naïve")}


def test_tokens_keep_strings_whole_and_drop_comments() -> None:
    tokens = tokenize('a.b == "x.y // no" && r"\\d" in c // comment\n || 1.5e3')
    assert [(t.kind, t.text) for t in tokens] == [
        ("ident", "a"),
        ("op", "."),
        ("ident", "b"),
        ("op", "=="),
        ("string", '"x.y // no"'),
        ("op", "&&"),
        ("string", 'r"\\d"'),
        ("ident", "in"),
        ("ident", "c"),
        ("op", "||"),
        ("number", "1.5e3"),
    ]


def test_unknown_characters_become_error_tokens() -> None:
    assert [t.kind for t in tokenize("a # b")] == ["ident", "error", "ident"]


def test_macros_expand_recursively_in_parentheses() -> None:
    macros = {"is_prod": 'env == "prod"', "risky": "is_prod && !safe", "safe": "false"}
    assert expand("risky || x", macros, {}) == '((env == "prod") && !(false)) || x'


def test_field_names_strings_and_calls_are_not_expanded() -> None:
    macros = {"prod": "true"}
    source = 'resource.prod && "prod" == x && prod(1)'
    assert expand(source, macros, {}) == source


def test_lists_become_list_literals() -> None:
    expanded = expand("s in lists.levels || t in lists.odd", {}, LISTS)
    assert expanded == 's in ["confidential", "restricted"] || t in ["say \\"hi\\"", "naïve"]'


@pytest.mark.parametrize(
    ("source", "macros", "fragment"),
    [
        ("x in lists.missing", {}, "unknown list 'missing' (lists defined: levels, odd)"),
        ('lists["levels"]', {}, "'lists' must be followed by '.<name>'"),
        ("a", {"a": "b || c", "b": "a"}, "macro 'a' uses itself: a -> b -> a"),
    ],
)
def test_expansion_errors(source: str, macros: dict[str, str], fragment: str) -> None:
    with pytest.raises(ExpansionError, match="^" + re.escape(fragment)):
        expand(source, macros, LISTS)


def test_referenced_roots_skip_fields_and_functions() -> None:
    roots = referenced_roots("principal.roles.exists(r, r == action) && size(context) > 0")
    assert roots == {"principal", "r", "action", "context"}


def test_attribute_paths_stop_at_calls_and_indexes() -> None:
    paths = [
        path
        for path, _ in attribute_paths(
            'has(resource.sensitivty) && principal.roles.exists(r, r.startsWith("x"))'
            ' && context["a"].b && detectors.access.score > 0.5'
        )
    ]
    assert ("resource", "sensitivty") in paths
    assert ("principal", "roles") in paths
    assert ("detectors", "access", "score") in paths
    assert ("context",) in paths
    assert not any(path[-1] in ("exists", "startsWith", "b") for path in paths)
