"""The wire contract stands alone (nothing of ours) and the API imports no worker code."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

OUR_PACKAGES = {"api", "bench", "contract", "detectors", "gridwatch", "ingest"}
# pydantic and what pydantic itself imports; pyyaml for camera files; shapely (and its numpy) to
# refuse zones and masks the worker could not use, the same way wherever a camera is loaded.
CONTRACT_DEPENDENCIES = {
    "shapely",
    "numpy",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
    "yaml",
    "_yaml",
    "cython_runtime",  # pyyaml's compiled loader
}


def modules_after_import(*modules: str) -> set[str]:
    """Top-level names of every module loaded by importing `modules` in a fresh interpreter."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_api_imports_no_worker_module() -> None:
    loaded = modules_after_import("api.app")
    assert "gridwatch" not in loaded
    assert "contract" in loaded


def test_the_contract_imports_only_the_standard_library_pydantic_yaml_and_shapely() -> None:
    contract_modules = [
        f"contract.{path.stem}"
        for path in (REPO / "contract").glob("*.py")
        if path.stem != "__init__"
    ]
    loaded = modules_after_import("contract", *contract_modules) - modules_after_import()
    foreign = {
        name
        for name in loaded - set(sys.stdlib_module_names) - CONTRACT_DEPENDENCIES - {"contract"}
        if not name.startswith(("_cython_", "_sysconfigdata_"))  # compiled yaml, sysconfig
    }
    assert not foreign & OUR_PACKAGES
    assert not foreign, f"the contract pulls in {sorted(foreign)}"
