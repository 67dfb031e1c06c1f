"""examples/recurrent_residual.py runs with small sizes and prints a consistent summary of its credit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "recurrent_residual.py"


def _run(n: int, steps: int, batch: int, show: int) -> list[str]:
    args = ["--n", str(n), "--d", "8", "--steps", str(steps), "--batch", str(batch), "--show", str(show)]
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _own_first(line: str, n_outputs: int) -> int:
    own = re.fullmatch(r"own input ranked first for (\d+) of (\d+) outputs", line)
    assert own is not None
    assert int(own.group(2)) == n_outputs
    return int(own.group(1))


def test_recurrent_residual_example_prints_its_credit() -> None:
    n, steps, batch, show = 6, 3, 2, 4
    lines = _run(n, steps, batch, show)
    assert lines[0] == f"recorded {steps} phis (one per step) from routing, each ({batch}, {n}, {n})"
    assert lines[1] == f"end-to-end credit ({batch}, {n}, {n}) [batch, n_inp, n_out]"
    outputs = [line for line in lines if line.startswith("sample 0, output")]
    assert len(outputs) == show
    for j, line in enumerate(outputs):
        assert line.startswith(f"sample 0, output {j}: most credited inputs ")
        cells = re.findall(r"#(\d+) \(([+-]\d+\.\d+)\)", line)
        assert len(cells) == 3
        indices = [int(i) for i, _ in cells]
        values = [float(v) for _, v in cells]
        assert len(set(indices)) == 3 and all(0 <= i < n for i in indices)
        assert values == sorted(values, reverse=True)
    assert 0 <= _own_first(lines[-1], batch * n) <= batch * n


def test_one_residual_step_credits_each_output_to_its_own_input_first() -> None:
    # With alpha = 1 the skip path's 1 is at least the branch's whole column (absolute sum 1), so after one
    # step every output's own input ranks first.
    n, batch = 7, 3
    lines = _run(n, 1, batch, show=n)
    assert _own_first(lines[-1], batch * n) == batch * n
    for j, line in enumerate(line for line in lines if line.startswith("sample 0, output")):
        assert line.startswith(f"sample 0, output {j}: most credited inputs #{j} ")
