#!/usr/bin/env bash
# Validates the Linux desktop integration files with the freedesktop tools, each when it is installed
# (Debian/Ubuntu: apt-get install desktop-file-utils appstream shared-mime-info), then installs them into a
# temporary prefix with install.sh and checks the MIME database that update-mime-database built from them.
# Exit status 0 when every available check passes; a missing tool is reported and skipped.
set -euo pipefail

APP_ID=io.github.layerloom.Layerloom
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
status=0

if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$HERE/$APP_ID.desktop" && echo "desktop entry: valid" || status=1
else
  echo "desktop entry: not checked (desktop-file-validate is not installed: apt-get install desktop-file-utils)"
fi

if command -v appstreamcli >/dev/null 2>&1; then
  appstreamcli validate --no-net "$HERE/$APP_ID.metainfo.xml" >/dev/null && echo "AppStream metainfo: valid" \
    || { appstreamcli validate --no-net "$HERE/$APP_ID.metainfo.xml" || true; status=1; }
else
  echo "AppStream metainfo: not checked (appstreamcli is not installed: apt-get install appstream)"
fi

if command -v xmllint >/dev/null 2>&1; then
  xmllint --noout "$HERE/$APP_ID.xml" && echo "MIME types: well-formed XML" || status=1
fi

if command -v update-mime-database >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  bash "$HERE/install.sh" --prefix "$tmp" --exec layerloom >/dev/null
  XDG_DATA_DIRS="$tmp:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}" update-mime-database "$tmp/mime" 2>"$tmp/mime.err" || { cat "$tmp/mime.err"; status=1; }
  if [ -s "$tmp/mime.err" ]; then cat "$tmp/mime.err"; status=1; fi
  ok=1
  grep -q "application/x-layerloom-project:\*\.layerloom\.json" "$tmp/mime/globs2" || ok=0
  grep -q "application/x-layerloom-bundle:\*\.layerloom$" "$tmp/mime/globs2" || ok=0
  grep -q "application/x-layerloom-project application/json" "$tmp/mime/subclasses" || ok=0
  grep -aq '"layerloom-project"' "$tmp/mime/magic" || ok=0
  for f in applications/$APP_ID.desktop metainfo/$APP_ID.metainfo.xml icons/hicolor/scalable/apps/$APP_ID.svg \
           icons/hicolor/16x16/apps/$APP_ID.png icons/hicolor/512x512/apps/$APP_ID.png; do
    [ -f "$tmp/$f" ] || { echo "install.sh did not install $f"; ok=0; }
  done
  if command -v gio >/dev/null 2>&1; then  # what a file manager will say about real files
    mkdir -p "$tmp/files"
    cp "$HERE/../../resources/templates/lenet5.json" "$tmp/files/net.json"
    cp "$tmp/files/net.json" "$tmp/files/net.layerloom.json"
    echo '{"format": "something-else"}' > "$tmp/files/other.json"
    printf 'PK\003\004' > "$tmp/files/model.layerloom"
    for pair in net.json:application/x-layerloom-project net.layerloom.json:application/x-layerloom-project \
                other.json:application/json model.layerloom:application/x-layerloom-bundle; do
      file="${pair%%:*}"; want="${pair#*:}"
      got="$(XDG_DATA_HOME="$tmp" XDG_DATA_DIRS="$tmp:/usr/share" gio info -a standard::content-type \
             "$tmp/files/$file" | sed -n 's/.*content-type: //p')"
      [ "$got" = "$want" ] || { echo "gio: $file is $got, expected $want"; ok=0; }
    done
  fi
  if [ "$ok" = 1 ]; then echo "MIME database: project glob, bundle glob, JSON subclass and magic registered"
  else echo "MIME database: the types were not registered as expected"; status=1; fi
else
  echo "MIME types: not checked (update-mime-database is not installed: apt-get install shared-mime-info)"
fi
exit $status
