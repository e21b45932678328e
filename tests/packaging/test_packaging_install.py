"""What a production install gets: every module of the ``oncall`` package imports without
the test and benchmark tools, and the wheel holds the product and its reusable fakes
(``oncall/testing/``), never the test harness (``tests/support/``)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# Named outright, so the checks hold even where a tool is not installed.
ALWAYS_FORBIDDEN = frozenset({"pytest", "_pytest", "hypothesis", "freezegun", "pandas"})
HARNESS_MODULE = re.compile(r"(reliab_|crashworker|load_clients|databases|harness)\w*\.py$")
PRODUCTION_EXTRAS = ("postgres",)  # optional, but a production install may have it


def _closure(requirements: Iterable[str]) -> set[str]:
    """Distributions these requirements pull in, transitively (as far as installed here)."""
    seen: set[tuple[str, str]] = set()
    todo = [(r, "") for r in requirements]
    found: set[str] = set()
    while todo:
        text, extra = todo.pop()
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        found.add(name)
        for wanted in ("", *req.extras):
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            try:
                requires = metadata.distribution(name).requires or []
            except metadata.PackageNotFoundError:
                continue
            todo += [(r, wanted) for r in requires]
    return found


def dev_only_modules() -> frozenset[str]:
    """Top-level modules of the distributions only the test and benchmark extras bring."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    runtime = _closure([*project["dependencies"], *(r for e in PRODUCTION_EXTRAS for r in extras[e])])
    tools = _closure(r for e, reqs in extras.items() if e not in PRODUCTION_EXTRAS for r in reqs) - runtime
    modules = {module for module, dists in metadata.packages_distributions().items()
               if {canonicalize_name(d) for d in dists} & tools
               and not {canonicalize_name(d) for d in dists} & runtime}
    return frozenset(modules | ALWAYS_FORBIDDEN)


# Runs in a fresh interpreter (-I: no PYTHONPATH, no tests/ on the path): makes the test
# tools unimportable, as in a production install, and notes every attempt by an oncall
# module to import one. Optional imports by third-party libraries just see them missing.
IMPORT_ALL = r"""
import importlib, json, pkgutil, sys

forbidden = frozenset(json.loads(sys.argv[1]))
attempts = []

class Forbid:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in forbidden:
            return None
        frame = sys._getframe(1)
        while frame is not None and (frame.f_globals.get("__name__") or "").startswith(("importlib", "_frozen")):
            frame = frame.f_back
        importer = frame.f_globals.get("__name__", "?") if frame is not None else "?"
        if importer.partition(".")[0] == "oncall":
            attempts.append(f"{importer} imports {name}")
        raise ModuleNotFoundError(f"{name} is not part of a production install", name=name)

already = sorted(m for m in sys.modules if m.partition(".")[0] in forbidden)
sys.meta_path.insert(0, Forbid())
import oncall

def fail(name):
    raise RuntimeError(f"cannot import {name}")

names = ["oncall"] + [m.name for m in pkgutil.walk_packages(oncall.__path__, "oncall.", onerror=fail)]
for name in names:
    if name != "oncall.__main__":  # runs the command line
        importlib.import_module(name)
print(json.dumps({"modules": names, "attempts": attempts, "already": already,
                  "file": oncall.__file__}))
"""


def test_every_module_imports_without_the_test_tools() -> None:
    forbidden = dev_only_modules()
    done = subprocess.run([sys.executable, "-I", "-c", IMPORT_ALL, json.dumps(sorted(forbidden))],
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT.parent)
    assert 0 == done.returncode, done.stderr
    report = json.loads(done.stdout)
    assert [] == report["attempts"]
    assert [] == report["already"]
    assert "oncall.testing.fake_twilio" in report["modules"]  # the walk reached the fakes
    assert not any(HARNESS_MODULE.search(m.replace(".", "/") + ".py") for m in report["modules"])


def _imported_roots(source: str) -> set[str]:
    """Top-level names of every absolute import, at module level or inside functions."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.partition(".")[0])
    return roots


@pytest.mark.slow
def test_wheel_holds_no_test_harness_and_no_test_only_import(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300,
                           check=False)
    assert 0 == built.returncode, built.stdout[-2000:] + built.stderr[-2000:]
    [wheel] = tmp_path.glob("oncall-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        sources = {n: archive.read(n).decode() for n in archive.namelist() if n.endswith(".py")}
    assert "oncall/testing/fake_twilio.py" in sources
    assert [] == [n for n in sources if not n.startswith("oncall/")]
    assert [] == [n for n in sources if HARNESS_MODULE.search(n)]
    forbidden = dev_only_modules() | {"support", "tests"}
    imports = {n: sorted(_imported_roots(text) & forbidden) for n, text in sources.items()}
    assert {} == {n: found for n, found in imports.items() if found}
