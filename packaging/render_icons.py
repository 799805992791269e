"""Render the app icon (resources/icons/app.svg) into the bitmaps desktops and installers want.

    .venv/bin/python packaging/render_icons.py           # writes resources/icons/app/
    .venv/bin/python packaging/render_icons.py --check   # exit 1 when a file is missing or out of date

Writes, with Qt's QSvgRenderer (no other tool needed):
    resources/icons/app/layerloom-<N>.png   N = 16 24 32 48 64 128 256 512 (Linux hicolor sizes; the wheel
                                            carries them, packaging/linux/install.sh installs them)
    resources/icons/app/layerloom.ico       Windows: 16…256 as PNG entries (PyInstaller's EXE icon)
    resources/icons/app/layerloom.icns      macOS: 16…1024 with the @2x variants (the .app bundle's icon)

Run it again after changing app.svg and commit the results.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository (a script of the repo, not of the package)
SVG = ROOT / "resources" / "icons" / "app.svg"
OUT = ROOT / "resources" / "icons" / "app"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# icns element types holding PNG data, by pixel size (the @2x types repeat a size for Retina screens)
ICNS_TYPES = (("icp4", 16), ("icp5", 32), ("icp6", 64), ("ic07", 128), ("ic08", 256), ("ic09", 512),
              ("ic10", 1024), ("ic11", 32), ("ic12", 64), ("ic13", 256), ("ic14", 512))


def render_png(svg: bytes, size: int) -> bytes:
    """The SVG rendered into a size×size transparent PNG."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        raise SystemExit(f"{SVG}: Qt cannot read this SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise SystemExit("Qt could not write a PNG")
    buffer.close()
    return bytes(data.data())


def ico(pngs: dict[int, bytes]) -> bytes:
    """A Windows .ico holding PNG images (supported since Windows Vista)."""
    sizes = [s for s in ICO_SIZES if s in pngs]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = b"", b""
    for s in sizes:
        data = pngs[s]
        dim = 0 if s >= 256 else s  # 0 means 256
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset + len(blobs))
        blobs += data
    return header + entries + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    """A macOS .icns holding PNG images (supported since OS X 10.7)."""
    body = b""
    for kind, size in ICNS_TYPES:
        data = pngs[size]
        body += kind.encode("ascii") + struct.pack(">I", 8 + len(data)) + data
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def outputs() -> dict[Path, bytes]:
    svg = SVG.read_bytes()
    sizes = sorted(set(PNG_SIZES) | set(ICO_SIZES) | {s for _, s in ICNS_TYPES})
    pngs = {s: render_png(svg, s) for s in sizes}
    files = {OUT / f"layerloom-{s}.png": pngs[s] for s in PNG_SIZES}
    files[OUT / "layerloom.ico"] = ico(pngs)
    files[OUT / "layerloom.icns"] = icns(pngs)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether the files are up to date")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - QPainter needs it
    files = outputs()
    stale = [p for p, data in files.items() if not p.is_file() or p.read_bytes() != data]
    if args.check:
        for p in stale:
            print(f"out of date: {p.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for p in stale:
        p.write_bytes(files[p])
        print(f"wrote {p.relative_to(ROOT)} ({len(files[p]):,} bytes)")
    if not stale:
        print("the icons are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
