"""The documentation site builds strictly, and every Python block of the README and the site runs.

``mkdocs build --strict`` fails on a broken link, a page missing from the nav's targets, or an
API reference that no longer matches the code; pytest-markdown-docs runs each ```` ```python ````
block of ``README.md`` and ``docs/`` as a user would paste it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import nmn_envs

ROOT = Path(__file__).parents[1]
QUIET = {**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}


def test_the_site_builds_strictly_with_a_page_and_a_frame_per_environment(tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, env=QUIET, timeout=900,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    for env_id in nmn_envs.ENV_IDS:
        page = (site / "envs" / env_id / "index.html").read_text()
        assert "Action Space" in page and "Bound" in page, env_id  # the docstring and the bound
        assert f'src="../{env_id}.png"' in page
        assert (site / "envs" / f"{env_id}.png").read_bytes().startswith(b"\x89PNG")
    # the results page includes the report that `nmn-zoo report` writes, row for row
    results = (site / "results" / "index.html").read_text()
    report = (ROOT / "docs" / "zoo" / "results.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| NMN-")]
    assert rows
    for row in rows:
        assert f"<td>{row.split('|')[1].strip()}</td>" in results
    assert (site / "zoo" / "learning_curves.png").is_file()
    api = (site / "api" / "index.html").read_text()
    assert "evaluate.harness.evaluate" in api  # mkdocstrings rendered the API
    # the site states the demo's time that the README states (one measurement, one text)
    timed = re.search(r"took \*\*([^*]+)\*\*", (ROOT / "README.md").read_text())
    assert timed, "the README no longer states how long make demo took"
    assert f"took <strong>{timed[1]}</strong>" in (site / "getting-started" / "index.html").read_text()


def test_every_python_block_of_the_readme_and_the_docs_runs(tmp_path: Path) -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "--markdown-docs", "-p", "no:cacheprovider", "-o", "addopts=",
         "-q", "--rootdir", str(tmp_path), *map(str, pages)],
        cwd=tmp_path, capture_output=True, text=True, env=QUIET, timeout=900,
    )
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-2000:]
    assert " passed" in ran.stdout and " failed" not in ran.stdout
