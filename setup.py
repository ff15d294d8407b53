"""Builds the detectors' two compiled hot paths; everything else is in pyproject.toml.

* mypyc compiles ``detectors/_replay.py`` (the profiles' per-event replay) into
  ``clearance.detectors._replay_native``, about 1.6 times as fast;
* Cython compiles ``detectors/_forest_kernel.pyx`` (the isolation forest's walk, every tree in
  one call) into ``clearance.detectors._forest_native``.

Both compute the same numbers as the Python they replace (``detectors/_native.py`` picks them,
and only when built from the current source). Both are optional: without a C compiler the
install goes on and the Python runs instead.
"""

import hashlib
import shutil
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
REPLAY = ROOT / "detectors" / "_replay.py"
FOREST = ROOT / "detectors" / "_forest_kernel.pyx"


def _stamped(source: bytes) -> bytes:
    """``source`` with ``SOURCE_SHA256``, its digest, appended (checked at import)."""
    return source + f'\nSOURCE_SHA256 = "{hashlib.sha256(source).hexdigest()}"\n'.encode()


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
    native = package / "_replay_native.py"
    native.write_bytes(_stamped(REPLAY.read_bytes()))
    return native


def _forest_extension() -> list:
    try:
        from Cython.Build import cythonize
    except ImportError:  # built without Cython: scikit-learn walks the trees
        return []
    from setuptools import Extension

    staged = ROOT / "build" / "cython-src"
    staged.mkdir(parents=True, exist_ok=True)
    native = staged / "_forest_native.pyx"
    native.write_bytes(_stamped(FOREST.read_bytes()))
    extension = Extension(
        "clearance.detectors._forest_native",
        [str(native.relative_to(ROOT))],
        extra_compile_args=["-O3"],
        optional=True,
    )
    return cythonize([extension], quiet=True, build_dir=str(staged / "c"))


def _extensions() -> list:
    try:
        from mypyc.build import mypycify
    except ImportError:  # built without mypy: the pure-Python replay runs
        return _forest_extension()
    extensions = mypycify([str(_staged_replay().relative_to(ROOT))], opt_level="3")
    for extension in extensions:
        extension.optional = True
    return extensions + _forest_extension()


setup(ext_modules=_extensions())
