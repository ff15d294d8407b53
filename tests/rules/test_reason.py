"""Reason templates: placeholders, literal braces, absent values."""

from __future__ import annotations

from clearance.rules._reason import ReasonTemplate


def test_placeholders_render_nested_values() -> None:
    template = ReasonTemplate.parse("{principal.id} reads {resource.id}: {context.flag}")
    variables = {
        "principal": {"id": "alice"},
        "resource": {"id": "customers"},
        "context": {"flag": True},
    }
    assert template.render(variables) == "alice reads customers: true"
    assert template.roots == {"principal", "resource", "context"}


def test_absent_values_and_literal_braces() -> None:
    template = ReasonTemplate.parse("{{x}} {missing.path} {principal.roles} {not a placeholder}")
    assert template.render({"principal": {"roles": ["a", "b"]}}) == (
        "{x} <none> a, b {not a placeholder}"
    )
    assert list(template.paths()) == [("missing", "path"), ("principal", "roles")]


def test_plain_text_has_no_paths() -> None:
    template = ReasonTemplate.parse("just text")
    assert template.render({}) == "just text"
    assert template.roots == frozenset()
