"""No module of Layerloom is longer than 500 lines: a file that grows past that holds more than one job and
is split along its seams (issue 13). Counts every .py file under core/, gui/, app/ and resources/."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ("core", "gui", "app", "resources")
MAX_LINES = 500


def _line_count(path: Path) -> int:
    with path.open(encoding="utf-8") as f:
        return sum(1 for _ in f)


def test_no_module_is_longer_than_500_lines():
    files = [p for floor in FLOORS for p in sorted((ROOT / floor).rglob("*.py")) if "__pycache__" not in p.parts]
    assert len(files) > 100  # the walk found the package
    too_long = [f"{p.relative_to(ROOT).as_posix()}: {n} lines" for p in files if (n := _line_count(p)) > MAX_LINES]
    assert too_long == [], f"modules over {MAX_LINES} lines (split them along their jobs):\n" + "\n".join(too_long)
