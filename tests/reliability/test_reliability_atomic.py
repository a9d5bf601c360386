"""Atomic writes under SIGKILL: a writer process rewriting a JSON file and a checkpoint in a loop is
killed at random moments 40 times; every time both files are intact, load, and hold a complete
version no older than the last one confirmed, and at most the one temporary file being written is left.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from unshuffle.runs.checkpoints import load_checkpoint

WRITER = Path(__file__).parents[1] / "hostile" / "kill_writer.py"
KILLS = 40
START_TIMEOUT = 180.0  # importing torch in a fresh process takes long on a loaded 2-core machine
LINE_TIMEOUT = 30.0


class WriterServer:
    """The fork server of ``hostile/kill_writer.py`` with its stdout lines in a queue."""

    def __init__(self, folder: Path):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, str(WRITER), str(folder)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for raw in self.proc.stdout:
            self.lines.put(raw.decode().strip())
        self.lines.put("<eof>")

    def send(self, cmd: str) -> None:
        self.proc.stdin.write(f"{cmd}\n".encode())
        self.proc.stdin.flush()

    def expect(self, prefix: str, timeout: float = LINE_TIMEOUT) -> tuple[str, list[str]]:
        """Wait for a line starting with ``prefix``; returns it and the lines seen before it."""
        seen, deadline = [], time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"writer server: no {prefix!r} line within {timeout} s (saw {seen[-3:]})")
            if line == "<eof>":
                pytest.fail(f"writer server exited (code {self.proc.wait()}) before {prefix!r}")
            if line.startswith(prefix):
                return line, seen
            seen.append(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.send("quit")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _check_files(folder: Path, confirmed: dict[str, int], attempted: dict[str, int]) -> dict[str, int]:
    """Both files load and hold one whole version between the last confirmed and the last attempted;
    returns the versions found."""
    doc = json.loads((folder / "result.json").read_text())
    v = doc["version"]
    assert confirmed["json"] <= v <= attempted["json"], (v, confirmed, attempted)
    assert doc["fill"] == f"{v:08d}" * 100_000
    ckpt = load_checkpoint(folder / "last.ckpt")
    w = ckpt["version"]
    assert confirmed["ckpt"] <= w <= attempted["ckpt"], (w, confirmed, attempted)
    weights = ckpt["weights"]
    assert weights.shape == (2_000_000,) and bool((weights == float(w)).all())
    return {"json": v, "ckpt": w}


def test_sigkill_at_random_moments_never_tears_a_file(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    rng = random.Random(20240601)
    server = WriterServer(folder)
    try:
        server.expect("ready", timeout=START_TIMEOUT)
        confirmed = {"json": 0, "ckpt": 0}
        attempted = dict(confirmed)
        mid_write = before_rename = 0
        in_place = dict(confirmed)
        for kill in range(KILLS):
            start = 1000 * (kill + 1)  # each writer's versions are new and increasing
            server.send(f"fork {start}")
            line, events = server.expect("child ")
            pid = int(line.split()[1])
            # the first writer completes both files once before it may be killed; the others are
            # killed at a random moment of their first loops (one loop writes both files)
            line, seen = server.expect(f"{pid} wrote ckpt" if kill == 0 else f"{pid} writing json")
            events += [*seen, line]
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(pid, signal.SIGKILL)
            server.send(f"wait {pid}")
            dead, seen = server.expect(f"dead {pid}")
            events += seen
            assert os.WIFSIGNALED(int(dead.split()[2])), f"writer {pid} stopped on its own: {dead}"
            for line in events:
                _, event, what, version = line.split()
                if event == "writing":
                    attempted[what] = int(version)
                else:
                    confirmed[what] = int(version)
            temps = _temps(folder)
            # only the write in progress may leave its temporary file (a killed process cannot clean up)
            assert len(temps) <= 1, temps
            # the newest version known to be complete: confirmed by the writer, or found in place last time
            # (a writer killed after its rename but before it said "wrote" still replaced the file)
            floor = {k: max(confirmed[k], in_place[k]) for k in confirmed}
            found = _check_files(folder, floor, attempted)
            last = events[-1].split()
            if last[1] == "writing":  # killed inside atomic_write_json / save_checkpoint
                mid_write += 1
                what = last[2]
                if temps:  # before the rename: the previous version is still in place
                    assert temps[0].startswith({"json": ".result.json.", "ckpt": ".last.ckpt."}[what]), temps
                    assert found[what] == floor[what], (what, found, floor)
                    before_rename += 1
            else:
                assert not temps, (events[-1], temps)
            in_place = found
            for name in temps:  # a later write would not reuse it; remove it so each kill is judged alone
                (folder / name).unlink()
        print(f"{KILLS} kills: {mid_write} inside a write call, {before_rename} of them before the rename "
              "(temporary file left, previous version intact)")
        assert mid_write >= KILLS / 3, f"only {mid_write} of {KILLS} kills landed mid-write"
        assert before_rename >= KILLS / 10, f"only {before_rename} kills landed before the rename"
        assert confirmed["ckpt"] > 0 and confirmed["json"] > 0
    finally:
        server.close()
