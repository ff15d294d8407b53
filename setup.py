"""Builds the compiled profile replay; everything else is declared in pyproject.toml.

mypyc compiles ``detectors/_replay.py`` (the detectors' per-event hot path) into the extension
``clearance.detectors._replay_native``, about 1.6 times as fast and computing the same numbers
(see ``detectors/_native.py``, which picks it). The extension is optional: without a C compiler
the install goes on and the pure-Python module runs instead.
"""

import hashlib
import shutil
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
REPLAY = ROOT / "detectors" / "_replay.py"


def _staged_replay() -> Path:
    """A copy of the detectors package laid out as ``clearance.detectors`` (as the installed
    package is, so mypyc names the extension and types the imports right), plus a copy of the
    replay named ``_replay_native`` and stamped with the digest of the source it was built
    from."""
    staged = ROOT / "build" / "mypyc-src"
    shutil.rmtree(staged, ignore_errors=True)
    package = staged / "clearance" / "detectors"
    package.mkdir(parents=True)
    (staged / "clearance" / "__init__.py").write_text("")
    for module in (ROOT / "detectors").glob("*.py"):
        shutil.copy(module, package / module.name)
    # The build runs without the package's dependencies (numpy, scikit-learn): only the modules
    # the replay imports are type-checked, not every one the package's __init__ would pull in.
    (package / "__init__.py").write_text("")
    source = REPLAY.read_bytes()
    native = package / "_replay_native.py"
    native.write_bytes(
        source + f'\nSOURCE_SHA256 = "{hashlib.sha256(source).hexdigest()}"\n'.encode()
    )
    return native


def _extensions() -> list:
    try:
        from mypyc.build import mypycify
    except ImportError:  # built without mypy: the pure-Python replay runs
        return []
    extensions = mypycify([str(_staged_replay().relative_to(ROOT))], opt_level="3")
    for extension in extensions:
        extension.optional = True
    return extensions


setup(ext_modules=_extensions())
