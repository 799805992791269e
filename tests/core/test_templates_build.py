"""The shipped template files are what `python -m layerloom.core.templates_build` writes: a change to a
template is a change to the builder, never a hand edit of its JSON."""

from __future__ import annotations

import json

from layerloom.core import templates_build
from layerloom.resources import template_file


def test_shipped_templates_match_their_builder(capsys):
    assert templates_build.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_builder_writes_every_template_into_the_given_folder(tmp_path, capsys):
    assert templates_build.main(["--out", str(tmp_path)]) == 0
    written = sorted(p.stem for p in tmp_path.glob("*.json"))
    assert written == sorted(templates_build.TEMPLATES)
    for name in written:
        assert json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8")) == json.loads(
            template_file(name).read_text(encoding="utf-8"))
    assert f"wrote {tmp_path / 'lenet5.json'}" in capsys.readouterr().out


def test_check_names_a_stale_file(tmp_path, capsys):
    assert templates_build.main(["--out", str(tmp_path)]) == 0
    (tmp_path / "mlp.json").write_text("{}", encoding="utf-8")
    assert templates_build.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("out of date: mlp ") and "python -m layerloom.core.templates_build" in err
