"""Per-function packages: each function's requirements are exactly what its modules import."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from moto import mock_aws
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from local_stack.resources import FunctionSpec
from local_stack.template import plan
from tests.unit.template.template_support import ROOT, TEMPLATE, resources_of_type

FUNCTIONS_DIR = ROOT / "functions"
BUILD_TARGET = re.compile(r"^build-(?P<function>[A-Za-z0-9]+):", re.M)
PACKAGE_CALL = re.compile(r"^build-(?P<function>[A-Za-z0-9]+):\n\t\$\(call package,(?P<req>[a-z_]+)\)", re.M)
IMPORT_TIMEOUT_SECONDS = 60
_LIST_MODULES = (
    "import importlib, json, sys\n"
    "importlib.import_module(sys.argv[1])\n"
    "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items()\n"
    "    if n.split('.')[0] == 'ocr_pipeline' and getattr(m, '__file__', None))))\n"
)


def _requirements(path: Path) -> dict[str, Requirement]:
    """Requirement lines of ``path``, following ``-r`` includes, by canonical name."""
    found: dict[str, Requirement] = {}
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("-r "):
            found.update(_requirements(path.parent / text[3:].strip()))
            continue
        requirement = Requirement(text)
        found[canonicalize_name(requirement.name)] = requirement
    return found


def _loaded_modules(handler: str, environment: dict[str, str]) -> list[Path]:
    """Files of the ``ocr_pipeline`` modules a cold start of ``handler`` imports (fresh interpreter)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(FUNCTIONS_DIR),
        "AWS_DEFAULT_REGION": "us-east-1",
        **environment,
    }
    module = handler.rpartition(".")[0]
    completed = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, module],
        env=env,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_SECONDS,
        check=True,
    )
    return [Path(p) for p in json.loads(completed.stdout)]


def _runtime_imports(path: Path) -> set[str]:
    """Top-level third-party names ``path`` imports at run time (not under ``if TYPE_CHECKING``)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("ocr_pipeline", "__future__")}


def _closure(direct: set[str], extras_of: dict[str, set[str]]) -> set[str]:
    """``direct`` distributions plus everything they require (with the extras the requirements ask for)."""
    seen: set[str] = set()
    pending = [(name, extras_of.get(name, set())) for name in direct]
    while pending:
        name, extras = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            pending.append((canonicalize_name(requirement.name), set(requirement.extras)))
    return seen


def _build_targets() -> dict[str, str]:
    return {m["function"]: m["req"] for m in PACKAGE_CALL.finditer((FUNCTIONS_DIR / "Makefile").read_text())}


def test_every_function_is_built_by_its_own_makefile_target() -> None:
    # GIVEN the template's functions and the build targets of functions/Makefile
    functions = resources_of_type("AWS::Serverless::Function")
    targets = set(BUILD_TARGET.findall((FUNCTIONS_DIR / "Makefile").read_text()))

    # WHEN / THEN each function is built with BuildMethod makefile and has its target (and no target is stale)
    for logical_id, body in functions.items():
        assert body.get("Metadata", {}).get("BuildMethod") == "makefile", logical_id
    assert targets == set(functions)
    assert set(_build_targets()) == targets


with mock_aws():
    SPEC = plan(TEMPLATE, {"OcrClientId": "id", "OcrClientSecret": "secret"})


@pytest.mark.parametrize("function", SPEC.functions, ids=lambda f: f.logical_id)
def test_function_requirements_are_exactly_what_its_modules_import(function: FunctionSpec) -> None:
    # GIVEN a function of the template, its environment, and the requirements file its target installs
    listed = _requirements(FUNCTIONS_DIR / "requirements" / f"{_build_targets()[function.logical_id]}.txt")

    # WHEN its handler is imported in a fresh interpreter and the ocr_pipeline modules loaded are read
    imported = set().union(
        *(_runtime_imports(p) for p in _loaded_modules(function.handler, function.environment))
    )
    distributions = metadata.packages_distributions()
    direct = {canonicalize_name(distributions[name][0]) for name in imported}
    needed = _closure(direct, {name: set(r.extras) for name, r in listed.items()})

    # THEN the package holds every distribution those imports need, and nothing else
    missing, unused = sorted(needed - set(listed)), sorted(set(listed) - needed)
    assert not missing and not unused, f"{function.logical_id}: missing {missing}, unused {unused}"


def test_on_upload_package_excludes_the_image_libraries() -> None:
    # GIVEN the requirements the S3-triggered function is built with
    listed = _requirements(FUNCTIONS_DIR / "requirements" / f"{_build_targets()['OnUploadFunction']}.txt")

    # WHEN / THEN it never starts with numpy or Pillow in its package
    assert not {"numpy", "pillow"} & set(listed)
