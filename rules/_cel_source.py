"""CEL source text, before compilation: tokens, macro and list expansion, referenced paths.

Macros and lists are expanded textually (Falco-style) so the CEL runtime only ever sees
plain CEL: a macro name becomes its parenthesised body and ``lists.<name>`` becomes a list
literal, which keeps lists out of every per-event activation. Tokenizing (instead of a
regular expression over the whole text) keeps string literals and field names intact:
``"lists.x"`` in quotes or ``resource.my_macro`` are not expanded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "RESERVED_WORDS",
    "ExpansionError",
    "Token",
    "attribute_paths",
    "expand",
    "referenced_roots",
    "tokenize",
]

# CEL's reserved words and literals: never usable as macro or list names.
RESERVED_WORDS = frozenset(
    {
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
        "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
        "void", "while",
    }
)  # fmt: skip

# Quoted strings, triple-quoted first; an escape skips the next character. Raw strings
# (r"...") have no escapes. Q3 and A3 stand for three double or single quotes.
_Q3, _A3 = '"' * 3, "'" * 3
_STRING = "|".join(
    (
        rf"[bB]?{_A3}(?:[^\\]|\\.)*?{_A3}",
        rf"[bB]?{_Q3}(?:[^\\]|\\.)*?{_Q3}",
        r"[bB]?'(?:[^'\\\n]|\\.)*'",
        r'[bB]?"(?:[^"\\\n]|\\.)*"',
    )
)
_RAW_STRING = "|".join(
    (
        rf"(?:[rR][bB]?|[bB][rR]){_A3}.*?{_A3}",
        rf"(?:[rR][bB]?|[bB][rR]){_Q3}.*?{_Q3}",
        r"(?:[rR][bB]?|[bB][rR])'[^'\n]*'",
        r'(?:[rR][bB]?|[bB][rR])"[^"\n]*"',
    )
)
_TOKEN = re.compile(
    rf"""
    (?P<space>\s+|//[^\n]*)
  | (?P<string>{_RAW_STRING}|{_STRING})
  | (?P<number>(?:0[xX][0-9a-fA-F]+|\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?
        |\d+[eE][+-]?\d+|\d+)[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%!<>?:.,()\[\]{{}}])
    """,
    re.VERBOSE | re.DOTALL,
)


class ExpansionError(ValueError):
    """A condition refers to an unknown list, uses ``lists`` wrongly, or macros recurse."""


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: ``kind`` is string, number, ident, op or error."""

    kind: str
    text: str
    start: int


def tokenize(source: str) -> list[Token]:
    """Split CEL ``source`` into tokens, dropping whitespace and comments.

    Characters no CEL token can start with become ``error`` tokens; the compiler reports
    them properly, so this never raises.
    """
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        found = _TOKEN.match(source, position)
        if found is None:
            tokens.append(Token("error", source[position], position))
            position += 1
            continue
        kind = found.lastgroup or "error"
        if kind != "space":
            tokens.append(Token(kind, found.group(), position))
        position = found.end()
    return tokens


def _is_root(tokens: list[Token], index: int) -> bool:
    """Whether the identifier at ``index`` starts a name (is not a field after a dot)."""
    return index == 0 or tokens[index - 1].text != "."


def expand(
    source: str,
    macros: Mapping[str, str],
    lists: Mapping[str, tuple[str, ...]],
) -> str:
    """Return ``source`` with macros and ``lists.<name>`` replaced by plain CEL.

    Parameters
    ----------
    source
        A CEL condition.
    macros
        Macro name to CEL source; macros may use other macros and lists.
    lists
        List name to its strings.

    Raises
    ------
    ExpansionError
        On an unknown list name, ``lists`` used other than as ``lists.<name>``, or a macro
        that (indirectly) uses itself.
    """
    return _expand(source, macros, lists, ())


def _expand(
    source: str,
    macros: Mapping[str, str],
    lists: Mapping[str, tuple[str, ...]],
    active: tuple[str, ...],
) -> str:
    tokens = tokenize(source)
    pieces: list[str] = []
    cursor = 0
    index = 0
    changed = False
    while index < len(tokens):
        token = tokens[index]
        replacement: str | None = None
        end_index = index
        if token.kind == "ident" and _is_root(tokens, index):
            if token.text == "lists":
                replacement, end_index = _list_literal(tokens, index, lists), index + 2
            elif token.text in macros and not _is_call(tokens, index):
                if token.text in active:
                    cycle = " -> ".join((*active, token.text))
                    raise ExpansionError(f"macro {token.text!r} uses itself: {cycle}")
                body = _expand(macros[token.text], macros, lists, (*active, token.text))
                replacement = f"({body})"
        if replacement is not None:
            last = tokens[end_index]
            pieces.append(source[cursor : token.start])
            pieces.append(replacement)
            cursor = last.start + len(last.text)
            changed = True
        index = end_index + 1
    if not changed:
        return source
    pieces.append(source[cursor:])
    return "".join(pieces)


def _is_call(tokens: list[Token], index: int) -> bool:
    return index + 1 < len(tokens) and tokens[index + 1].text == "("


def _list_literal(tokens: list[Token], index: int, lists: Mapping[str, tuple[str, ...]]) -> str:
    if (
        index + 2 >= len(tokens)
        or tokens[index + 1].text != "."
        or tokens[index + 2].kind != "ident"
    ):
        raise ExpansionError("'lists' must be followed by '.<name>', as in lists.sensitive_levels")
    name = tokens[index + 2].text
    if name not in lists:
        known = ", ".join(sorted(lists)) or "none"
        raise ExpansionError(f"unknown list {name!r} (lists defined: {known})")
    # JSON string escapes are valid CEL string escapes; non-ASCII stays literal because CEL
    # rejects the surrogate pairs json would write for characters beyond the BMP.
    return "[" + ", ".join(json.dumps(item, ensure_ascii=False) for item in lists[name]) + "]"


def referenced_roots(source: str) -> frozenset[str]:
    """Identifiers that may name a variable: not a field after a dot, not a function call.

    A superset of the variables the expression reads (comprehension variables such as the
    ``r`` in ``roles.exists(r, ...)`` are included), which is what building an activation
    needs: everything a condition might read, nothing the event does not have to provide.
    """
    tokens = tokenize(source)
    return frozenset(
        token.text
        for index, token in enumerate(tokens)
        if token.kind == "ident" and _is_root(tokens, index) and not _is_call(tokens, index)
    )


def attribute_paths(source: str) -> Iterator[tuple[tuple[str, ...], int]]:
    """Yield each dotted attribute path (``("resource", "sensitivity")``) and its offset.

    Only ``root.field.field`` chains are walked; an index (``context["x"]``) or a method
    call ends the chain, since what follows is no longer a schema field.
    """
    tokens = tokenize(source)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.kind != "ident" or not _is_root(tokens, index) or _is_call(tokens, index):
            index += 1
            continue
        path = [token.text]
        index += 1
        while (
            index + 1 < len(tokens)
            and tokens[index].text == "."
            and tokens[index + 1].kind == "ident"
            and not _is_call(tokens, index + 1)
        ):
            path.append(tokens[index + 1].text)
            index += 2
        yield tuple(path), token.start
