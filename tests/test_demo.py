"""``make demo``'s job, its output piped to a file as in a CI log."""

import subprocess
import sys

import torch

from nmn_bench import demo

from evaluate.references import REFERENCE_NAMES
from training import zoo


def test_piped_demo_prints_one_line_per_finished_stage(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "nmn_bench.demo", "--n-tasks", "4", "--reps", "50",
         "--envs", "NMN-Bandit-v0", "NMN-Harlow-v0", "--board-env", "NMN-Harlow-v0",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "\r" not in output  # no progress-bar redraws
    stages = [line for line in output.splitlines() if line.startswith("done: ")]
    rows = len(REFERENCE_NAMES) + len(zoo.available("NMN-Harlow-v0"))
    assert [stage.split()[1] for stage in stages] == ["NMN-Bandit-v0:", "NMN-Harlow-v0:", str(rows)]
    assert "reference and zoo rows of NMN-Harlow-v0 stored" in stages[-1]
    (bandit_row,) = [line for line in output.splitlines() if line.startswith("| NMN-Bandit-v0 |")]
    assert "–" not in "".join(bandit_row.split("|")[-3:-1])  # the zoo RNN and NMN played beside the references
    assert (tmp_path / "NMN-Bandit-v0" / "report.md").is_file()
    assert (tmp_path / "site" / "index.html").is_file()


def test_the_demo_plays_its_model_agents_on_one_torch_thread_as_nmn_eval_does(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        demo.main(["--n-tasks", "2", "--reps", "20", "--envs", "NMN-Harlow-v0",
                   "--board-env", "NMN-Harlow-v0", "--out", str(tmp_path)])
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
