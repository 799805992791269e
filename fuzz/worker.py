"""One fuzz worker process: reads case indices on stdin, writes one JSON line per case on stdout.

    python fuzz/worker.py SEEDS.json WORK_DIR SESSION_SEED MEMORY_MB TIMEOUT_S [KIND,KIND…]

It imports everything first, then caps its address space at what it uses plus MEMORY_MB (RLIMIT_AS), so an
input that makes Layerloom allocate beyond that fails the case instead of exhausting the machine. Each case
runs in its own folder (the working directory) under an alarm of TIMEOUT_S; the harness kills the worker
when even the alarm does not end a case (a hang in C code). The oracle (`judge`): a plain message and a
non-zero exit status, no traceback, no raw exception text, no memory error, nothing written outside the
case folder, nothing unpickled; core functions raise only LayerloomError.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import sys
import time
import traceback
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cases import make_case
from mutate import DECOY_TEXT, ESCAPE, MARKER, decoy_file

RAW_EXCEPTION = re.compile(r"\b(?:[A-Z][A-Za-z]*(?:Error|Exception)|BadZipFile|Traceback)\b")
MEMORY_WORDS = ("MemoryError", "out of memory", "Unable to allocate", "annot allocate memory",
                "an't allocate memory", "bad_alloc",
                "not enough memory")  # the error layer's words for a MemoryError: the cap was hit, no guard refused


class CaseTimeout(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in Layerloom swallows it."""


def _alarm(_signum, _frame):
    raise CaseTimeout()


def _vm_size() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _where(err: BaseException) -> str:
    """The innermost Layerloom frame of an exception: "core/data/files.py:214 in read_npz"."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "/fuzz/" not in f.filename and ("layerloom" in f.filename or "/wt-" in f.filename)]
    f = (ours or frames or [None])[-1]
    if f is None:
        return "?"
    parts = f.filename.replace("\\", "/").split("/")
    short = "/".join(parts[parts.index("core"):]) if "core" in parts else "/".join(parts[-2:])
    return f"{short}:{f.lineno} in {f.name}"


# --- the actions ------------------------------------------------------------------------------------------


def _api(name: str, path: str):
    if name == "load_project":
        from layerloom.core.project import load_project

        return load_project(path)
    if name == "load_data":
        from layerloom.core.data import load_data

        return load_data(path, {}, val_fraction=0.25, seed=0)
    if name == "load_bundle":
        from layerloom.core.export import load_bundle

        return load_bundle(path)
    if name == "open_source":
        from layerloom.core.export import open_source

        return open_source(path).live_model()
    if name == "list_runs":
        from layerloom.core.training.history import list_runs, load_run
        from layerloom.core.training.run_status import read_status

        for r in list_runs("."):
            read_status(r.path).describe()
            load_run(r.path)
        return None
    raise ValueError(f"unknown api {name}")


def run_action(action: tuple, case_input: str, outcomes: list[str] | None = None) -> list[dict]:
    """Run one action; returns its failures ({"kind", "action", "detail", "where"}); appends what it did to
    `outcomes` ("layerloom export: exit 1: …")."""
    outcomes = [] if outcomes is None else outcomes
    from layerloom.core.errors import LayerloomError

    label = " ".join(action[:2]) if action[0] == "api" else "layerloom " + action[1]
    failures = []

    def fail(kind: str, detail: str, where: str = "") -> None:
        failures.append({"kind": kind, "action": label, "detail": detail[:400], "where": where})

    if action[0] == "api":
        try:
            _api(action[1], case_input)
            outcomes.append(f"{label}: ok")
        except LayerloomError as err:
            outcomes.append(f"{label}: {type(err).__name__}: {str(err)[:200]}")
            if not str(err).strip():
                fail("empty_message", type(err).__name__, _where(err))
        except CaseTimeout:
            raise
        except MemoryError as err:
            fail("memory", "MemoryError", _where(err))
        except RecursionError as err:
            fail("raw_exception", "RecursionError", _where(err))
        except Exception as err:
            fail("raw_exception", f"{type(err).__name__}: {err}", _where(err))
        return failures

    from layerloom.app.cli import main

    out, err_text = io.StringIO(), io.StringIO()
    code = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err_text):
            code = main(list(action[1:]))
    except CaseTimeout:
        raise
    except MemoryError as err:
        fail("memory", "MemoryError", _where(err))
    except BaseException as err:  # LAYERLOOM_DEBUG=1: the CLI's last resort re-raises, so we see where
        fail("raw_exception", f"{type(err).__name__}: {err}", _where(err))
    text = out.getvalue() + err_text.getvalue()
    message = err_text.getvalue().strip()
    outcomes.append(f"{label}: exit {code}: {message.splitlines()[-1][:200] if message else ''}")
    if code is not None:
        if "Traceback (most recent call last)" in text:
            fail("traceback", message[-400:])
        elif any(w in text for w in MEMORY_WORDS):
            fail("memory", message[-400:])
        elif "unexpected error" in message:
            fail("raw_exception", message)
        elif code != 0 and RAW_EXCEPTION.search(message):
            fail("raw_text", message)
        if code not in (0, 1, 2):
            fail("exit_status", f"exit status {code}: {message}")
        elif code != 0 and not message:
            fail("no_message", f"exit status {code} with nothing on stderr")
    return failures


# --- a case ------------------------------------------------------------------------------------------------


def _set_decoy(case_dir: str) -> None:
    decoy = decoy_file(case_dir)
    shutil.rmtree(os.path.dirname(decoy), ignore_errors=True)
    os.makedirs(os.path.dirname(decoy))
    with open(decoy, "w", encoding="utf-8") as f:
        f.write(DECOY_TEXT)


def _outside(work: str, case_dir: str) -> list[str]:
    """Files a path trick or a link may have written outside its case folder."""
    decoy = decoy_file(case_dir)
    found = []
    try:
        with open(decoy, encoding="utf-8") as f:
            if f.read() != DECOY_TEXT:
                found.append(decoy + " (changed through a link)")
        if os.listdir(os.path.dirname(decoy)) != [os.path.basename(decoy)]:
            found.append(os.path.dirname(decoy) + " (a file written in it through a link)")
    except OSError:
        found.append(decoy + " (removed through a link)")
    spots = [work, os.path.dirname(work), os.path.join(work, "home"), os.path.join(work, "tmp"), "/tmp"]
    for spot in spots:
        p = os.path.join(spot, ESCAPE)
        if os.path.lexists(p):
            found.append(p)
            with contextlib.suppress(OSError):
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
    return found


def run_case(seeds: dict, work: str, session_seed: int, index: int, timeout: float,
             kinds: tuple[str, ...] | None, keep: bool = False) -> dict:
    case_dir = os.path.join(work, f"case-{index}")
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(case_dir)
    _set_decoy(case_dir)
    home = os.getcwd()
    os.chdir(case_dir)
    t0 = time.perf_counter()
    result = {"event": "done", "index": index, "failures": []}
    try:
        signal.alarm(max(1, int(timeout)))
        case = make_case(seeds, session_seed, index, case_dir, kinds)
        result.update(kind=case.kind, describe=case.describe(), actions=[" ".join(a[:2]) for a in case.actions])
        result["outcomes"] = []
        for action in case.actions:
            result["running"] = " ".join(action[:2]) if action[0] == "api" else "layerloom " + action[1]
            result["failures"] += run_action(action, case.input, result["outcomes"])
    except CaseTimeout as err:
        result["failures"].append({"kind": "hang", "action": result.get("running", ""),
                                   "detail": f"still running after {timeout:g} s", "where": _where(err)})
    except Exception as err:  # the harness itself (a mutation that could not be written)
        result["failures"].append({"kind": "harness", "action": "", "detail": f"{type(err).__name__}: {err}",
                                   "where": _where(err)})
    finally:
        signal.alarm(0)
        os.chdir(home)
    if os.path.lexists(os.path.join(case_dir, MARKER)):
        result["failures"].append({"kind": "unpickled", "action": "", "detail": "a pickled member was unpickled",
                                   "where": ""})
    for path in _outside(work, case_dir):
        result["failures"].append({"kind": "wrote_outside", "action": "", "detail": path, "where": ""})
    result["seconds"] = round(time.perf_counter() - t0, 3)
    if not keep:
        shutil.rmtree(case_dir, ignore_errors=True)
    return result


def prepare(memory_mb: int) -> None:
    """Import what the cases use, then cap the address space (RLIMIT_AS) at the present size + memory_mb."""
    if memory_mb > 0:  # the guards' budget inside the cap: what they refuse is a plain message, not MemoryError
        os.environ["LAYERLOOM_MEMORY_LIMIT_MB"] = str(max(64, memory_mb // 4))
    import resource

    import torch

    torch.set_num_threads(1)
    from layerloom.app.cli import build_parser

    build_parser()  # imports every command's module
    import layerloom.core.data.files
    import layerloom.core.data.image_folder
    import layerloom.core.export.bundle
    import layerloom.core.predict.cli
    import layerloom.core.training.history
    import layerloom.core.training.trainer  # noqa: F401

    if memory_mb > 0:
        limit = _vm_size() + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _alarm)
    warnings.filterwarnings("ignore", message="Duplicate name")  # the zips the mutations write


def main(argv: list[str]) -> int:
    seeds_file, work, session_seed, memory_mb, timeout = argv[:5]
    kinds = tuple(argv[5].split(",")) if len(argv) > 5 and argv[5] else None
    with open(seeds_file, encoding="utf-8") as f:
        seeds = json.load(f)
    prepare(int(memory_mb))
    real_stdout = sys.stdout
    print(json.dumps({"event": "ready", "pid": os.getpid()}), file=real_stdout, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        index = int(line)
        print(json.dumps({"event": "start", "index": index}), file=real_stdout, flush=True)
        result = run_case(seeds, work, int(session_seed), index, float(timeout), kinds)
        print(json.dumps(result), file=real_stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
