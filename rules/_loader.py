"""Loading a policy pack: find its files, read the YAML with line numbers, validate everything.

A pack is one YAML file or a directory of them (searched recursively, in sorted order;
``*_test.yaml`` files, ``tests/`` folders and hidden entries are policy tests or not part of
the pack). Each file may hold ``pack``, ``lists``, ``macros`` and ``rules``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ._cel_source import RESERVED_WORDS
from ._errors import PolicyError
from ._model import (
    EFFECTS,
    SEVERITIES,
    ApprovalRequirement,
    Effect,
    Macro,
    PolicyPack,
    Rule,
    Severity,
)
from ._rule_reader import read_approval, read_rule
from ._variables import VARIABLES
from ._yaml import NodeReader, read_yaml

__all__ = ["LoadResult", "load_pack", "pack_files", "pack_version", "read_pack"]

_TOP_KEYS = ("pack", "lists", "macros", "rules")
_PACK_KEYS = (
    "name",
    "description",
    "default_effect",
    "default_reason",
    "default_severity",
    "default_approval",
    "environments",
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Names a macro may not take: they are variables (of either kind) or CEL words.
_TAKEN_NAMES = frozenset(
    {"lists", "glob", *RESERVED_WORDS, *(name for kind in VARIABLES.values() for name in kind)}
)


def is_test_file(relative: Path) -> bool:
    """Whether a pack-relative path is a policy test rather than part of the pack."""
    return relative.name.endswith(("_test.yaml", "_test.yml")) or "tests" in relative.parts[:-1]


def pack_files(path: Path) -> list[tuple[str, Path]]:
    """The pack's files as (pack-relative POSIX path, path), sorted by relative path.

    Raises
    ------
    PolicyError
        When ``path`` does not exist or holds no pack file.
    """
    if path.is_file():
        return [(path.name, path)]
    if not path.is_dir():
        raise PolicyError(
            f"policy pack {str(path)!r} does not exist",
            "pass a pack directory or a .yaml file",
            file=str(path),
        )
    files = []
    for candidate in path.rglob("*"):
        relative = candidate.relative_to(path)
        if (
            candidate.suffix in (".yaml", ".yml")
            and candidate.is_file()
            and not any(part.startswith(".") for part in relative.parts)
            and not is_test_file(relative)
        ):
            files.append((relative.as_posix(), candidate))
    if not files:
        raise PolicyError(
            f"policy pack {str(path)!r} holds no .yaml file",
            "add at least one rules file (tests named *_test.yaml do not count)",
            file=str(path),
        )
    return sorted(files)


def pack_version(contents: list[tuple[str, bytes]]) -> str:
    """``sha256:`` and 16 hex digits over (relative path, bytes), sorted by path.

    Each file contributes its path, a NUL, its length, a NUL and its bytes, so the digest
    depends only on names and contents, never on the machine or the pack's location.
    """
    digest = hashlib.sha256()
    for relative, data in sorted(contents):
        digest.update(relative.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return "sha256:" + digest.hexdigest()[:16]


@dataclass
class LoadResult:
    """A pack read as far as possible, with every problem found on the way.

    ``pack`` holds the rules that validated; rules with problems are left out, so lint can
    still check the rest. ``pack`` is ``None`` only when the files could not be found.
    """

    pack: PolicyPack | None
    problems: list[PolicyError] = field(default_factory=list)


@dataclass
class _PackSettings:
    name: str | None = None
    default_effect: Effect = "deny"
    default_reason: str | None = None
    default_severity: Severity = "info"
    default_approval: ApprovalRequirement | None = None
    environments: frozenset[str] | None = None
    file: str | None = None
    line: int | None = None


def load_pack(path: str | Path) -> PolicyPack:
    """Load and validate a policy pack.

    Parameters
    ----------
    path
        A pack directory (searched recursively for ``*.yaml``) or one YAML file.

    Returns
    -------
    PolicyPack
        The validated pack; compile it with :func:`compile_pack`.

    Raises
    ------
    PolicyError
        On the first problem, with file, line and rule id; the message counts the others
        (``clearance policy lint`` lists them all).
    """
    result = read_pack(path)
    if result.problems:
        first = result.problems[0]
        more = len(result.problems) - 1
        if more:
            raise PolicyError(
                f"{first.problem} (and {more} more problem{'s' if more > 1 else ''};"
                " `clearance policy lint` lists them all)",
                first.fix,
                file=first.file,
                line=first.line,
                rule_id=first.rule_id,
            )
        raise first
    assert result.pack is not None  # no problems means the pack was built
    return result.pack


def read_pack(path: str | Path) -> LoadResult:
    """Read a pack, collecting every problem instead of stopping at the first."""
    root = Path(path)
    try:
        files = pack_files(root)
    except PolicyError as exc:
        return LoadResult(None, [exc])
    contents = [(relative, file.read_bytes()) for relative, file in files]
    problems: list[PolicyError] = []
    settings = _PackSettings()
    lists: dict[str, tuple[str, ...]] = {}
    list_lines: dict[str, tuple[str, int]] = {}
    macros: dict[str, Macro] = {}
    rules: list[Rule] = []
    rule_lines: dict[str, str] = {}
    for relative, data in contents:
        label = relative if root.is_dir() else str(root)
        try:
            node, loader = read_yaml(data.decode("utf-8"), label)
        except UnicodeDecodeError:
            problems.append(PolicyError("file is not UTF-8 text", "save it as UTF-8", file=label))
            continue
        except PolicyError as exc:
            problems.append(exc)
            continue
        if node is None or loader is None:
            continue
        reader = NodeReader(label, loader)
        _read_file(reader, node, settings, lists, list_lines, macros, rules, rule_lines)
        problems.extend(reader.problems)
    if settings.default_effect == "escalate" and settings.default_approval is None:
        problems.append(
            PolicyError(
                "pack.default_effect is escalate but pack.default_approval is missing",
                "add pack.default_approval with at least roles: [...]",
                file=settings.file,
                line=settings.line,
            )
        )
    pack = PolicyPack(
        name=settings.name or (root.name if root.is_dir() else root.stem),
        path=root,
        version=pack_version(contents),
        default_effect=settings.default_effect,
        default_reason=settings.default_reason,
        default_severity=settings.default_severity,
        default_approval=settings.default_approval,
        environments=settings.environments,
        lists=lists,
        macros=macros,
        rules=tuple(rules),
        files=tuple(relative for relative, _ in contents),
        list_locations=list_lines,
    )
    return LoadResult(pack, problems)


def _read_file(
    reader: NodeReader,
    node: yaml.Node,
    settings: _PackSettings,
    lists: dict[str, tuple[str, ...]],
    list_lines: dict[str, tuple[str, int]],
    macros: dict[str, Macro],
    rules: list[Rule],
    rule_lines: dict[str, str],
) -> None:
    top = reader.mapping(node, "file", _TOP_KEYS)
    if top is None:
        return
    if "pack" in top:
        key_node, value_node = top["pack"]
        if settings.file is not None:
            reader.problem(
                key_node,
                f"pack settings are already given at {settings.file}:{settings.line}",
                "keep one pack: block for the whole pack",
            )
        else:
            settings.file, settings.line = reader.file, reader.line(key_node)
            _read_settings(reader, value_node, settings)
    if "lists" in top:
        _read_lists(reader, top["lists"][1], lists, list_lines)
    if "macros" in top:
        _read_macros(reader, top["macros"][1], macros)
    if "rules" in top:
        rules_node = top["rules"][1]
        if not isinstance(rules_node, yaml.SequenceNode):
            reader.problem(
                rules_node, "rules must be a list of rules", "write one '- id: ...' per rule"
            )
            return
        for index, rule_node in enumerate(rules_node.value):
            rule = read_rule(reader, rule_node, f"rules[{index}]")
            if rule is None:
                continue
            if rule.id in rule_lines:
                reader.problem(
                    rule_node,
                    f"rule id {rule.id!r} is already used at {rule_lines[rule.id]}",
                    "give every rule a unique id",
                    rule.id,
                )
                continue
            rule_lines[rule.id] = f"{reader.file}:{rule.line}"
            rules.append(rule)


def _read_settings(reader: NodeReader, node: yaml.Node, settings: _PackSettings) -> None:
    entries = reader.mapping(node, "pack", _PACK_KEYS)
    if entries is None:
        return
    if "name" in entries:
        settings.name = reader.string(entries["name"][1], "pack.name")
    if "description" in entries:
        reader.string(entries["description"][1], "pack.description")
    if "default_effect" in entries:
        effect = reader.choice(entries["default_effect"][1], "pack.default_effect", EFFECTS)
        settings.default_effect = effect or "deny"  # type: ignore[assignment]
    if "default_reason" in entries:
        settings.default_reason = reader.string(entries["default_reason"][1], "pack.default_reason")
    if "default_severity" in entries:
        severity = reader.choice(
            entries["default_severity"][1], "pack.default_severity", SEVERITIES
        )
        settings.default_severity = severity or "info"  # type: ignore[assignment]
    if "default_approval" in entries:
        settings.default_approval = read_approval(
            reader, entries["default_approval"][1], "pack.default_approval", None
        )
    if "environments" in entries:
        known = reader.string_list(entries["environments"][1], "pack.environments", non_empty=True)
        settings.environments = frozenset(known) if known is not None else None


def _read_lists(
    reader: NodeReader,
    node: yaml.Node,
    lists: dict[str, tuple[str, ...]],
    list_lines: dict[str, tuple[str, int]],
) -> None:
    entries = reader.mapping(node, "lists")
    for name, (key_node, value_node) in (entries or {}).items():
        if not _NAME.fullmatch(name):
            reader.problem(
                key_node,
                f"list name {name!r} is not an identifier",
                "use letters, digits and _ only",
            )
            continue
        if name in list_lines:
            file, line = list_lines[name]
            reader.problem(
                key_node,
                f"list {name!r} is already defined at {file}:{line}",
                "define each list once",
            )
            continue
        items = reader.string_list(value_node, f"lists.{name}")
        if items is not None:
            lists[name] = items
            list_lines[name] = (reader.file, reader.line(key_node))


def _read_macros(reader: NodeReader, node: yaml.Node, macros: dict[str, Macro]) -> None:
    entries = reader.mapping(node, "macros")
    for name, (key_node, value_node) in (entries or {}).items():
        if not _NAME.fullmatch(name) or name in _TAKEN_NAMES:
            reader.problem(
                key_node,
                f"macro name {name!r} is not a free identifier (variables, CEL words and"
                " 'lists' are taken)",
                "rename the macro",
            )
            continue
        if name in macros:
            earlier = macros[name]
            reader.problem(
                key_node,
                f"macro {name!r} is already defined at {earlier.file}:{earlier.line}",
                "define each macro once",
            )
            continue
        source = reader.string(value_node, f"macros.{name}")
        if source is not None:
            macros[name] = Macro(name, source, reader.file, reader.line(value_node))
