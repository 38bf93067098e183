"""Every import points down the layers, and the paths that moved up still work for one release.

:data:`LAYERS` is the one place where the order is written: a module may import from its own
package and from the packages before it, never from one after it.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from evaluate import catalogues
from evaluate.harness import resolve_agent
from training import zoo

ROOT = Path(__file__).resolve().parents[1]
# --8<-- [start:layers]
LAYERS = (  # from the bottom up
    "nmn_envs",  # the environments
    "policies",  # the policy classes and their safe form
    "evaluate",  # the harness: task sets, bounds, references, rollouts, scores
    "training",  # the training pipeline, its validation callback, the zoo's cards
    "leaderboard",  # the board: its seed rows are the references and the zoo's agents
    "nmn_bench",  # the tools that span the chain: nmn-zoo, the zoo report, sweeps, the demo
    "tests",  # the suite, with its throwaway servers
    "benchmarks",  # measures anything, with the tests' servers
    "docs",  # the site's build scripts
)
# --8<-- [end:layers]
MOVED = {
    "policies.train": "training.train",
    "policies.validation": "training.validation",
    "policies.zoo": "training.zoo",
}
"""Old import paths kept as deprecated aliases for one release: new path of each."""


def module_name(path: Path) -> str:
    """``policies/zoo/__init__.py`` -> ``policies.zoo``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    """The package that the relative imports of the module at ``path`` start from."""
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports(text: str, package: str) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every module that the source ``text`` of a module of ``package``
    imports, anywhere in it: ``import x``, ``from x import y`` (both ``x`` and ``x.y``, which may
    be a submodule) and relative imports."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """:func:`imports` of the module at ``path``."""
    return imports(path.read_text(), package_of(path))


def layer(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module``'s package (``None`` outside the project)."""
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def project_files() -> list[Path]:
    return sorted(path for package in LAYERS for path in (ROOT / package).rglob("*.py"))


def test_the_imports_are_read_the_way_python_reads_them() -> None:
    text = (
        "import numpy, training.zoo as z\n"
        "from . import config\n"
        "from .trial import run_trial\n"
        "from .. import zoo\n"
        "def late():\n"
        "    from leaderboard.store import Store\n"
    )
    found = set(imports(text, "nmn_bench.sweep"))
    assert {(1, "numpy"), (1, "training.zoo"), (2, "nmn_bench.sweep.config"), (3, "nmn_bench.sweep.trial")} <= found
    assert {(4, "nmn_bench.zoo"), (6, "leaderboard.store")} <= found
    assert package_of(ROOT / "policies" / "zoo" / "__init__.py") == "policies.zoo"
    assert package_of(ROOT / "policies" / "moved.py") == "policies"


def test_no_import_runs_back_up_the_layers() -> None:
    upward: dict[tuple[Path, int], str] = {}
    for path in project_files():
        importer = module_name(path)
        own = layer(importer)
        for line, module in imports_of(path):
            above = layer(module)
            if above is None or above <= own or MOVED.get(importer) == module or (path, line) in upward:
                continue
            upward[path, line] = (
                f"{path.relative_to(ROOT)}:{line}: {importer} (layer {own}, {LAYERS[own]}) imports "
                f"{module} (layer {above}, {LAYERS[above]})"
            )
    assert not upward, "imports that run back up the layers:\n" + "\n".join(upward.values())


def test_nothing_in_the_project_uses_the_old_paths() -> None:
    users = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in project_files()
        for line, module in imports_of(path)
        if any(module == old or module.startswith(f"{old}.") for old in MOVED)
        and module_name(path) not in MOVED
    ]
    assert not users, "the deprecated paths are for users only:\n" + "\n".join(users)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_still_imports_the_module_and_warns(old: str, monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}") as warned:
        __import__(old)
    assert sys.modules[old] is importlib.import_module(MOVED[old])
    assert warned[0].filename == __file__  # the warning points at the importing line


def test_the_installed_metadata_declares_the_zoo_catalogue() -> None:
    installed = {point.name: point.value for point in entry_points(group=catalogues.GROUP)}
    prefix = zoo.PREFIX.removesuffix(catalogues.SEPARATOR)
    assert installed.get(prefix) == zoo.__name__, (
        f"the installed nmn-bench declares the catalogues {installed}, not pyproject.toml's "
        f"{prefix} = {zoo.__name__!r}: reinstall it (make install, or pip install -e .)"
    )


def test_the_harness_reaches_the_zoo_through_its_catalogue() -> None:
    env_id = "NMN-Bandit-v0"
    assert catalogues.catalogue_of("zoo:nmn") is zoo
    assert catalogues.available(env_id) == zoo.available(env_id)
    path, card = zoo.find("zoo:rnn", env_id)
    assert catalogues.find("zoo:rnn", env_id) == (path, card.name)
    assert resolve_agent("zoo:rnn", env_id, {}).name == card.name
    for agent in ("nope:nmn", "C:\\models\\mine.zip"):  # no such catalogue: a path, which is missing
        assert catalogues.catalogue_of(agent) is None
        with pytest.raises(ValueError, match=r"catalogued name \(zoo:\.\.\.\) nor an existing model file"):
            resolve_agent(agent, env_id, {})
