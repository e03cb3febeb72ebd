"""The package's shape: one top-level name, imports down through the layers.

``tfxp.LAYERS`` ranks the folders (core 0 ... cli 6). These tests read the
source with ``ast`` (every import, module-level or inside a function) and
fail on an upward or sideways import between folders, an import cycle between
files, or any import of the old top-level names; they build the wheel and
check that it installs exactly one top-level package; and they run the
command line in fresh interpreters to check that ``--help`` and ``status``
import no TensorFlow, TFX or Beam.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from typing import Dict, Iterator, Set, Tuple

import pytest

from tfxp import LAYERS
from tests.conftest import PROJECT_ROOT

OLD_TOP_LEVEL = ("pipeline", "models", "serving", "components", "kubeflow")
HEAVY = ("tensorflow", "tfx", "apache_beam", "tensorflow_transform",
         "tensorflow_model_analysis", "tensorflow_data_validation", "tfx_bsl", "kfp",
         "keras", "tf_keras", "grpc")


def package_modules() -> Dict[str, str]:
    """``tfxp.<folder>.<module>`` -> file path, for every module of every layer."""
    modules = {"tfxp": os.path.join(PROJECT_ROOT, "tfxp", "__init__.py")}
    for layer in LAYERS:
        for folder, _, files in os.walk(os.path.join(PROJECT_ROOT, layer)):
            rel = os.path.relpath(folder, PROJECT_ROOT).split(os.sep)
            for name in files:
                if not name.endswith(".py"):
                    continue
                parts = ["tfxp", *rel] + ([] if name == "__init__.py" else [name[:-3]])
                modules[".".join(parts)] = os.path.join(folder, name)
    return modules


def imports_of(path: str, module: str) -> Iterator[Tuple[str, int]]:
    """Absolute dotted names ``path`` imports (relative ones resolved), with line numbers."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                # "from tfxp.observability import mlmd" names the module tfxp.observability.mlmd
                yield f"{base}.{alias.name}", node.lineno


def _resolve(name: str, modules: Dict[str, str]) -> str:
    """The longest known module that ``name`` is or lies in ('' if none)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def import_graph() -> Dict[str, Set[str]]:
    modules = package_modules()
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for name, _ in imports_of(path, module):
            target = _resolve(name, modules)
            if target and target != module and target != "tfxp":
                graph[module].add(target)
    return graph


def test_layer_table_names_every_folder_that_setup_installs():
    assert set(LAYERS) == {"core", "models", "serving", "components", "pipeline",
                           "observability", "runner", "kubeflow", "cli"}
    for layer in LAYERS:
        assert os.path.isfile(os.path.join(PROJECT_ROOT, layer, "__init__.py")), layer


def test_imports_go_down_through_the_layers_only():
    modules = package_modules()
    wrong = []
    for module, path in modules.items():
        own = _layer(module)
        for name, line in imports_of(path, module):
            target = _resolve(name, modules)
            if not target or target == "tfxp" or _layer(target) == own:
                continue
            if own == "" or LAYERS[_layer(target)] >= LAYERS[own]:
                wrong.append(f"{os.path.relpath(path, PROJECT_ROOT)}:{line} ({own}, layer "
                             f"{LAYERS.get(own)}) imports {name} "
                             f"({_layer(target)}, layer {LAYERS[_layer(target)]})")
    assert wrong == []


def test_core_imports_nothing_of_the_project():
    graph = import_graph()
    assert {m: sorted(t) for m, t in graph.items()
            if _layer(m) == "core" and any(_layer(x) != "core" for x in t)} == {}


def test_no_import_cycle_between_files():
    """Tarjan's strongly connected components over every import, lazy ones included."""
    graph = import_graph()
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack, on_stack, cycles = [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    assert cycles == []


def test_nothing_imports_the_old_top_level_names():
    roots = [os.path.join(PROJECT_ROOT, d) for d in (*LAYERS, "tfxp", "tests", "bench")]
    found = []
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    for imported, line in imports_of(path, "x.y"):
                        if imported.split(".")[0] in OLD_TOP_LEVEL:
                            found.append(f"{os.path.relpath(path, PROJECT_ROOT)}:{line} {imported}")
    assert found == []


def test_the_wheel_installs_one_top_level_package(tmp_path):
    """Builds the wheel from a copy of the sources (the checkout stays clean)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "tfxp", *LAYERS):
        source = os.path.join(PROJECT_ROOT, name)
        if os.path.isdir(source):
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, src / name)
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True, text=True)
    [wheel] = list(out.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"tfxp"}
    assert "tfxp/kubeflow/runner.py" in names
    assert "tfxp/models/tfx_module/module_file.py" in names
    assert "tfxp/serving/deploy/generate.py" in names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "tfxp = tfxp.cli.main:console_main" in text


_PROBE = """
import importlib, json, sys
main = importlib.import_module(sys.argv[1])
try:
    code = main.main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
# A package counts as imported when its top-level module ran (status loads one
# generated proto module of TFMA's by path, not the package).
print(json.dumps({"code": code, "heavy": sorted(m for m in sys.modules if m in %r)}))
""" % (HEAVY,)


def _probe(*argv: str, entry: str = "tfxp.cli.main") -> Dict[str, object]:
    """Runs the CLI (``entry``'s ``main``) in a fresh interpreter; returns its
    exit code and the heavy top-level packages it imported."""
    done = subprocess.run([sys.executable, "-c", _PROBE, entry, *argv], capture_output=True,
                          text=True, cwd=PROJECT_ROOT, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


HELP_COMMANDS = [(), ("run",), ("status",), ("report",), ("serve",), ("predict",),
                 ("compile",), ("submit",), ("drift",), ("score",)]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "tfxp")
def test_help_imports_no_tensorflow_tfx_or_beam(command):
    result = _probe(*command, "--help")
    assert result == {"code": 0, "heavy": []}


def test_model_server_help_imports_no_tensorflow():
    """python -m tfxp.serving.main --help, the tensorflow_model_server-like
    entry point (its description is server.py's first docstring line)."""
    from tfxp.serving import main, server

    assert _probe("--help", entry="tfxp.serving.main") == {"code": 0, "heavy": []}
    assert main.DESCRIPTION == server.__doc__.split("\n")[0]


def test_drift_refuses_bad_input_before_importing_tensorflow(tmp_path):
    """An unknown model or absent logs answer at once: the checks run on
    the standard library, before the command loads TFDV."""
    from tests.mlmd_fixtures import build_store, several_families
    build_store(str(tmp_path / "metadata.sqlite"), several_families())
    os.makedirs(tmp_path / "serving" / "dense" / "1")
    for model in ("nope", "dense"):  # unknown model; no request logs
        result = _probe("drift", "--model", model, "--workspace", str(tmp_path))
        assert result == {"code": 2, "heavy": []}


def test_status_reads_mlmd_without_tensorflow_tfx_or_beam(tmp_path):
    from tests.mlmd_fixtures import build_store, several_families
    build_store(str(tmp_path / "metadata.sqlite"), several_families())
    result = _probe("status", "--workspace", str(tmp_path))
    # ml_metadata's MetadataStore imports grpc (its client for remote stores).
    assert result == {"code": 0, "heavy": ["grpc"]}


def test_status_of_a_real_run_reads_its_metrics_without_tensorflow(dense_run):
    """With a real run (TFMA metrics to read), ``status`` still loads no
    TensorFlow, TFX or Beam."""
    config, _ = dense_run
    result = _probe("status", "--workspace", config.workspace)
    assert result == {"code": 0, "heavy": ["grpc"]}
