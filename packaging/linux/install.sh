#!/usr/bin/env bash
# Installs Layerloom's desktop integration for one user (or system-wide with --prefix /usr/local/share):
# the menu entry, the AppStream metadata, the MIME types of project files (*.layerloom.json) and bundles
# (*.layerloom) so that a double-click opens them, and the icons (hicolor, SVG and PNG 16…512).
#
#   packaging/linux/install.sh                          # uses `layerloom` on PATH (pip, pipx, make run's .venv)
#   packaging/linux/install.sh --exec /opt/Layerloom/layerloom
#   dist/Layerloom/linux/install.sh                     # from a PyInstaller build: runs that build's executable
#   packaging/linux/install.sh --uninstall
#
# Options: --prefix DIR (default ${XDG_DATA_HOME:-~/.local/share}), --exec COMMAND, --uninstall.
set -euo pipefail

APP_ID=io.github.layerloom.Layerloom
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${XDG_DATA_HOME:-$HOME/.local/share}"
EXEC=""
UNINSTALL=0

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --exec) EXEC="$2"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# Icons: in the repository (packaging/linux → resources/icons) or in a PyInstaller folder (linux → _internal).
ICONS=""
for candidate in "$HERE/../../resources/icons" "$HERE/../_internal/layerloom/resources/icons"; do
  if [ -f "$candidate/app.svg" ]; then ICONS="$(cd "$candidate" && pwd)"; break; fi
done
if [ -z "$EXEC" ] && [ -x "$HERE/../layerloom" ]; then EXEC="$(cd "$HERE/.." && pwd)/layerloom"; fi
SIZES="16 24 32 48 64 128 256 512"
MIME_ICONS="application-x-layerloom-project application-x-layerloom-bundle"

refresh() {
  command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$PREFIX/mime" >/dev/null 2>&1 || true
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$PREFIX/applications" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -f -t "$PREFIX/icons/hicolor" || true
}

if [ "$UNINSTALL" = 1 ]; then
  rm -f "$PREFIX/applications/$APP_ID.desktop" "$PREFIX/metainfo/$APP_ID.metainfo.xml" \
        "$PREFIX/mime/packages/$APP_ID.xml" "$PREFIX/icons/hicolor/scalable/apps/$APP_ID.svg"
  for size in $SIZES; do
    rm -f "$PREFIX/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
    for m in $MIME_ICONS; do rm -f "$PREFIX/icons/hicolor/${size}x${size}/mimetypes/$m.png"; done
  done
  refresh
  echo "Removed Layerloom's desktop integration from $PREFIX"
  exit 0
fi

if [ -z "$ICONS" ]; then
  echo "install.sh: the icons were not found next to this script (resources/icons/app.svg)" >&2
  exit 1
fi
if [ -z "$EXEC" ]; then
  if ! command -v layerloom >/dev/null 2>&1; then
    echo "install.sh: warning: \`layerloom\` is not on PATH; the menu entry needs it (or give --exec COMMAND)" >&2
  fi
  EXEC=layerloom
fi

install -d "$PREFIX/applications" "$PREFIX/metainfo" "$PREFIX/mime/packages" "$PREFIX/icons/hicolor/scalable/apps"
quoted_exec="$EXEC"
case "$EXEC" in *" "*) quoted_exec="\"$EXEC\"" ;; esac
sed -e "s|^Exec=layerloom |Exec=$quoted_exec |" -e "s|^TryExec=layerloom$|TryExec=$EXEC|" \
  "$HERE/$APP_ID.desktop" > "$PREFIX/applications/$APP_ID.desktop"
install -m 644 "$HERE/$APP_ID.metainfo.xml" "$PREFIX/metainfo/$APP_ID.metainfo.xml"
install -m 644 "$HERE/$APP_ID.xml" "$PREFIX/mime/packages/$APP_ID.xml"
install -m 644 "$ICONS/app.svg" "$PREFIX/icons/hicolor/scalable/apps/$APP_ID.svg"
for size in $SIZES; do
  dir="$PREFIX/icons/hicolor/${size}x${size}"
  install -d "$dir/apps" "$dir/mimetypes"
  install -m 644 "$ICONS/app/layerloom-$size.png" "$dir/apps/$APP_ID.png"
  for m in $MIME_ICONS; do install -m 644 "$ICONS/app/layerloom-$size.png" "$dir/mimetypes/$m.png"; done
done
refresh
echo "Installed Layerloom's desktop integration in $PREFIX (runs: $EXEC)"
