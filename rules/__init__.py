"""Policy engine: YAML policy packs with CEL conditions, compiled once, deciding each event.

Load a pack with :func:`load_pack`, compile it with :func:`compile_pack`, and call
:meth:`CompiledPolicy.decide` per event. :func:`lint_pack` and :func:`run_policy_tests` back
``clearance policy lint`` and ``clearance policy test``. The pack format is described in
``rules/README.md``.
"""

from pathlib import Path

from ._errors import PolicyError
from ._lint import LintFinding, lint_pack
from ._loader import load_pack
from ._model import ApprovalRequirement, PolicyPack, Rule, RuleMatch
from ._synthetic import synthetic_event, synthetic_pack
from ._testing import CaseResult, TestReport, run_policy_tests
from ._verdict import Verdict, merge_approvals
from .engine import CompiledPolicy, compile_pack

__all__ = [
    "DEFAULT_PACK_PATH",
    "ApprovalRequirement",
    "CaseResult",
    "CompiledPolicy",
    "LintFinding",
    "PolicyError",
    "PolicyPack",
    "Rule",
    "RuleMatch",
    "TestReport",
    "Verdict",
    "compile_pack",
    "lint_pack",
    "load_pack",
    "merge_approvals",
    "run_policy_tests",
    "synthetic_event",
    "synthetic_pack",
]

#: The policy pack shipped with Clearance (package data).
DEFAULT_PACK_PATH: Path = Path(__file__).resolve().parent / "packs" / "default"
