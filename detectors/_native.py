"""The profile replay to run: the compiled one when it was built from the current source.

``pip install -e .`` (``setup.py``) compiles :mod:`clearance.detectors._replay` with mypyc into
``clearance.detectors._replay_native``: the same code, so the same features and profiles, about
1.6 times as fast. Without a C compiler there is no extension and the pure-Python module runs.
An extension built from another version of the source (the module was edited since the last
install) is not used: it would compute the old features.
"""

import hashlib
import warnings
from pathlib import Path
from types import ModuleType

from clearance.detectors import _replay

__all__ = ["COMPILED", "replay_events"]


def _compiled_replay() -> ModuleType | None:
    try:
        from clearance.detectors import _replay_native  # type: ignore[attr-defined]
    except ImportError:
        return None
    source = Path(_replay.__file__).read_bytes()
    if hashlib.sha256(source).hexdigest() != _replay_native.SOURCE_SHA256:
        warnings.warn(
            f"{_replay_native.__file__} was compiled from another version of "
            f"{_replay.__file__}, so the pure-Python replay runs instead. Fix: reinstall "
            "(make install, or pip install -e .) to compile the current one.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return _replay_native


_compiled = _compiled_replay()
COMPILED = _compiled is not None
"""Whether the compiled replay runs."""
replay_events = _replay.replay_events if _compiled is None else _compiled.replay_events
