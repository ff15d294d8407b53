"""The compiled hot paths to run: each only when it was built from the current source.

``pip install -e .`` (``setup.py``) compiles two modules when a C compiler is there:

* :mod:`clearance.detectors._replay` with mypyc into ``clearance.detectors._replay_native``:
  the same code, so the same features and profiles, about 1.6 times as fast;
* ``detectors/_forest_kernel.pyx`` with Cython into ``clearance.detectors._forest_native``:
  the isolation forest's walk, every tree in one call, with the same sums as scikit-learn's
  walk that :class:`~clearance.detectors.scorers.ForestScorer` does without it.

Without a compiler there is no extension and the Python runs. An extension built from another
version of its source (the source was edited since the last install) is not used: it would
compute what the old source computed.
"""

import hashlib
import importlib
import warnings
from pathlib import Path
from types import ModuleType

from clearance.detectors import _replay

__all__ = ["COMPILED", "FOREST_KERNEL", "replay_events"]

_HERE = Path(__file__).resolve().parent


def _compiled(name: str, source: Path) -> ModuleType | None:
    try:
        module = importlib.import_module(f"clearance.detectors.{name}")
    except ImportError:
        return None
    if hashlib.sha256(source.read_bytes()).hexdigest() != module.SOURCE_SHA256:
        warnings.warn(
            f"{module.__file__} was compiled from another version of {source}, so the "
            "Python runs instead. Fix: reinstall (make install, or pip install -e .) to "
            "compile the current one.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return module


_replay_compiled = _compiled("_replay_native", Path(_replay.__file__))
COMPILED = _replay_compiled is not None
"""Whether the compiled replay runs."""
replay_events = (_replay_compiled or _replay).replay_events

FOREST_KERNEL = _compiled("_forest_native", _HERE / "_forest_kernel.pyx")
"""The compiled forest walk (``add_path_lengths``), or None when it is not built."""
