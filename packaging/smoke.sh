#!/usr/bin/env bash
# Smoke test of the packaged app (after `make package`): from a temporary folder outside the repository,
# offscreen, it runs the built executable's `doctor --check` (template, training, ONNX export, the window)
# and prints the figures the README quotes: the folder's size and the start-up times.
#
#   packaging/smoke.sh                       # dist/Layerloom/layerloom (or the Windows / macOS equivalent)
#   packaging/smoke.sh path/to/layerloom     # another build
#
# Exit status: the doctor's (0 when every check passes).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="${1:-}"
if [ -z "$APP" ]; then
  for candidate in "$ROOT/dist/Layerloom/layerloom" "$ROOT/dist/Layerloom/layerloom-cli.exe" \
                   "$ROOT/dist/Layerloom.app/Contents/MacOS/layerloom-cli"; do
    if [ -x "$candidate" ]; then APP="$candidate"; break; fi
  done
fi
if [ -z "$APP" ] || [ ! -x "$APP" ]; then
  echo "smoke.sh: no packaged app found; build it first with \`make package\`" >&2
  exit 2
fi
APP="$(cd "$(dirname "$APP")" && pwd)/$(basename "$APP")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
export QT_QPA_PLATFORM=offscreen
export LAYERLOOM_DATA_DIR="$work/datasets"

seconds() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1" 2>/dev/null \
            || echo "?"; }

echo "== $APP"
folder="$(dirname "$APP")"
case "$folder" in */Contents/MacOS) folder="$(cd "$folder/../.." && pwd)" ;; esac
echo "size: $(du -sh "$folder" | cut -f1) ($folder)"

t0="$(date +%s.%N)"; "$APP" --version; echo "start-up, first run (--version): $(seconds "$t0") s"
t0="$(date +%s.%N)"; "$APP" --version >/dev/null; echo "start-up, again (--version): $(seconds "$t0") s"
t0="$(date +%s.%N)"; "$APP" templates >/dev/null; echo "layerloom templates: $(seconds "$t0") s"
"$APP" new --template lenet5 -o net.json >/dev/null
"$APP" summary net.json | tail -n 4

echo
t0="$(date +%s.%N)"
status=0
"$APP" doctor --check || status=$?
echo "doctor --check: $(seconds "$t0") s, exit status $status"
exit $status
