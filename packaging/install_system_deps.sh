#!/usr/bin/env bash
# Installs, with apt-get, the system libraries Qt needs on a bare Debian/Ubuntu, and only those missing.
# Quiet and quick when everything is already there.
set -euo pipefail

declare -A wanted=(
  [libEGL.so.1]=libegl1
  [libGL.so.1]=libgl1
  [libxkbcommon.so.0]=libxkbcommon0
  [libfontconfig.so.1]=libfontconfig1
  [libdbus-1.so.3]=libdbus-1-3
  [libglib-2.0.so.0]=libglib2.0-0
)

# Read the linker cache once (piping it into `grep -q` would trip pipefail with SIGPIPE).
known=$(ldconfig -p 2>/dev/null || true)
missing=()
for lib in "${!wanted[@]}"; do
  [[ "$known" == *"$lib"* ]] || missing+=("${wanted[$lib]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Qt needs these system packages, please install them: ${missing[*]}" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "Installing Qt's system libraries: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
