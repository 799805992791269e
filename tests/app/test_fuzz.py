"""The fuzz suite (fuzz/): a small budget of mutated project files, data files, predict inputs, bundles and
run folders, each given to the core API the window uses and to the command line, in worker processes capped
in memory and time. No case may end in a traceback, raw exception text, a hang, a memory error, a write
outside its folder or an unpickled member, except the problems fuzz/known.py lists (being fixed elsewhere).
`make fuzz` runs the long budget. And the oracle itself: it catches each kind of failure it claims to."""

from __future__ import annotations

import os
import sys

import pytest

FUZZ = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fuzz")
sys.path.insert(0, FUZZ)

import harness  # noqa: E402
import worker  # noqa: E402
from known import known  # noqa: E402
from mutate import DECOY_TEXT, MARKER, decoy_file, pickled_marker  # noqa: E402
from seeds import build_seeds  # noqa: E402

CASES = 300
SEED = 11


@pytest.fixture(scope="module")
def seeds_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    build_seeds(str(folder))
    return str(folder / "seeds.json")


def test_a_small_fuzz_budget_finds_nothing_new(seeds_file, tmp_path):
    report = harness.run_session(seeds_file, str(tmp_path / "cases"), session_seed=SEED, indices=range(CASES),
                                 workers=2, memory_mb=1024, timeout=5)
    assert report.cases == CASES
    assert set(report.by_kind) >= {"project", "csv", "npz", "images", "predict", "bundle", "run"}
    # the seeds work, and some mutations leave inputs usable: the cases reach past the readers
    assert report.accepted["layerloom train"] > 0 and report.accepted["layerloom export"] > 0
    assert report.accepted["api load_bundle"] > 0 and report.accepted["layerloom predict"] > 0
    new = [f for f in report.failures if not known(f)]
    listing = "\n".join(f"{f['kind']} {f['action']} {f['where']}: {f['detail'][:200]}\n  {f['describe'][:200]}\n"
                        f"  reproduce: python fuzz/run_fuzz.py --seed {SEED} --case {f['index']}" for f in new)
    assert not new, f"{len(new)} new fuzz failures:\n{listing}"


# --- the oracle ------------------------------------------------------------------------------------------


@pytest.fixture
def in_case(tmp_path, monkeypatch):
    case = tmp_path / "case-0"
    case.mkdir()
    monkeypatch.chdir(case)
    worker._set_decoy(str(case))
    return case


def _register(monkeypatch, name, run):
    from layerloom.app.cli import build_parser
    from layerloom.core import cli

    build_parser()
    monkeypatch.setitem(cli.SUBCOMMANDS, name, cli.Subcommand(name, "a test command", lambda p: None, run))


def test_the_oracle_catches_raw_exceptions_tracebacks_and_silent_failures(in_case, monkeypatch):
    def raw(_args):
        raise KeyError("weights")

    _register(monkeypatch, "fuzz-raw", raw)
    monkeypatch.delenv("LAYERLOOM_DEBUG", raising=False)
    assert [f["kind"] for f in worker.run_action(("cli", "fuzz-raw"), "x")] == ["raw_exception"]
    monkeypatch.setenv("LAYERLOOM_DEBUG", "1")
    failures = worker.run_action(("cli", "fuzz-raw"), "x")
    assert failures[0]["kind"] == "raw_exception" and "test_fuzz.py" in failures[0]["where"]

    def traceback_text(_args):
        print("Traceback (most recent call last):\n  ...", file=sys.stderr)
        return 1

    _register(monkeypatch, "fuzz-tb", traceback_text)
    assert [f["kind"] for f in worker.run_action(("cli", "fuzz-tb"), "x")] == ["traceback"]
    _register(monkeypatch, "fuzz-silent", lambda _args: 1)
    assert [f["kind"] for f in worker.run_action(("cli", "fuzz-silent"), "x")] == ["no_message"]

    def memory(_args):
        raise MemoryError()

    _register(monkeypatch, "fuzz-memory", memory)
    assert [f["kind"] for f in worker.run_action(("cli", "fuzz-memory"), "x")] == ["memory"]

    from layerloom.core.errors import LayerloomError

    def plain(_args):
        raise LayerloomError("model.layerloom: is not a Layerloom bundle")

    _register(monkeypatch, "fuzz-plain", plain)
    assert worker.run_action(("cli", "fuzz-plain"), "x") == []  # a plain message and exit 1: fine


def test_the_oracle_catches_writes_through_links_and_unpickling(in_case):
    import pickle

    work = str(in_case.parent)
    assert worker._outside(work, str(in_case)) == []
    with open(decoy_file(str(in_case)), "a", encoding="utf-8") as f:  # what writing through a link does
        f.write("damage")
    assert worker._outside(work, str(in_case)) == [decoy_file(str(in_case)) + " (changed through a link)"]
    worker._set_decoy(str(in_case))
    with open(decoy_file(str(in_case)), encoding="utf-8") as f:
        assert f.read() == DECOY_TEXT
    escape = os.path.join(work, "lfz-escape")
    open(escape, "w").close()
    assert worker._outside(work, str(in_case)) == [escape] and not os.path.exists(escape)
    pickle.loads(pickled_marker(str(in_case)))  # what a reader that unpickles does
    assert os.path.exists(in_case / MARKER)


def test_a_hang_and_a_crash_are_caught_by_the_harness(seeds_file, tmp_path, monkeypatch):
    """A worker stuck in a case is killed after the timeout and the grace; one that dies is replaced."""
    monkeypatch.setattr(harness, "GRACE_S", 1.0)
    monkeypatch.setattr(harness, "WORKER", str(tmp_path / "stuck.py"))
    (tmp_path / "stuck.py").write_text(
        "import json, sys, time, os\n"
        "print(json.dumps({'event': 'ready'}), flush=True)\n"
        "for line in sys.stdin:\n"
        "    i = int(line)\n"
        "    if i == 0: time.sleep(60)\n"
        "    if i == 1: os._exit(3)\n"
        "    print(json.dumps({'event': 'done', 'index': i, 'failures': [], 'kind': 'x'}), flush=True)\n")
    report = harness.run_session(seeds_file, str(tmp_path / "w"), session_seed=0, indices=range(3), workers=1,
                                 timeout=1)
    kinds = {f["index"]: f["kind"] for f in report.failures}
    assert report.cases == 3 and kinds == {0: "hang", 1: "crash"}
