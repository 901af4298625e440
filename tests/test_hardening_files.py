"""Hardening: every user file goes through one strict reader (yamlfile), and every mistake in it
is one line naming the field, exit 2, in bounded time and memory (issue 13, kinds 4, 6, 7)."""
from __future__ import annotations

import time

import pytest
import yaml

from conftest import one_line_error
from dojosim.errors import SpecError
from dojosim.yamlfile import parse_yaml, read_yaml

RUN = {"workload": {"model": "gpt", "layers": 4, "hidden": 512, "heads": 8, "seq_len": 256},
       "system": {"preset": "dojo-tile"},
       "strategy": {"dp": 25, "global_batch": 25, "micro_batch": 1}}


def write(tmp_path, name, data) -> str:
    p = tmp_path / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(p)


def alias_bomb(levels: int = 9) -> str:
    """~1 kB of YAML whose aliases expand to 9^levels nodes."""
    text = 'a0: &a0 ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n"
    return text


def test_non_utf8_file_is_one_line_for_every_reader(tmp_path, cli):
    bad = write(tmp_path, "bad.yaml", b"workload: {model: gpt}\nname: caf\xe9\n")
    for args in (["estimate", bad], ["trace", bad, "-o", tmp_path / "t.json"], ["sweep", bad],
                 ["fleet", bad], ["validate", "--cases", bad], ["show", bad]):
        code, _, err = cli(*args)
        assert one_line_error(code, err, "not UTF-8", "line 2"), (args, err)


def test_nesting_and_alias_bombs_are_refused_quickly():
    with pytest.raises(SpecError, match="nested deeper than 32"):
        parse_yaml("a: " + "[" * 5000 + "]" * 5000, "run")
    with pytest.raises(SpecError, match="nested deeper"):
        parse_yaml("- " * 100 + "1", "run")
    t0 = time.monotonic()
    with pytest.raises(SpecError, match="aliases expand it to more than"):
        parse_yaml(alias_bomb(), "sweep")
    assert time.monotonic() - t0 < 2
    with pytest.raises(SpecError, match="refers to itself"):
        parse_yaml("a: &a [*a]", "run")
    # a few aliases are fine
    assert parse_yaml("a: &a {x: 1}\nb: *a", "run") == {"a": {"x": 1}, "b": {"x": 1}}


def test_alias_bomb_in_a_sweep_description_is_one_line(tmp_path, cli):
    text = alias_bomb() + "description: *a8\ngrid: {workload.layers: [1]}\n"
    code, _, err = cli("sweep", write(tmp_path, "s.yaml", text), "--out", tmp_path / "o")
    assert one_line_error(code, err, "sweep", "aliases expand")
    assert not (tmp_path / "o").exists()


def test_duplicate_keys_are_refused():
    with pytest.raises(SpecError, match="duplicate key 'layers' at line 3"):
        parse_yaml("workload:\n  layers: 4\n  layers: 8\n", "run")
    # merge keys are not duplicates
    assert parse_yaml("b: &b {x: 1}\nc: {<<: *b, x: 2}", "f")["c"] == {"x": 2}


def test_size_and_kind_of_file(tmp_path, monkeypatch):
    from dojosim import limits

    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 100)
    with pytest.raises(SpecError, match="larger than 100 bytes"):
        read_yaml(write(tmp_path, "big.yaml", "a: " + "x" * 200), "run")
    with pytest.raises(SpecError, match="not a regular file"):
        read_yaml(tmp_path, "run")
    with pytest.raises(SpecError, match="no such file"):
        read_yaml(tmp_path / "nope.yaml", "run")


def test_python_tags_still_refused():
    with pytest.raises(SpecError, match="python/object"):
        parse_yaml("x: !!python/object/apply:os.system ['true']", "run")


@pytest.mark.parametrize("change, words", [
    ({"device": 16}, ["run.device", "unknown key"]),
    ({"system": {"preset": "dojo-tile", "device": 16}}, ["system.device", "unknown key"]),
    ({"system": {"preset": 5}}, ["system.preset"]),
    ({"system": {"preset": "dojo-tile", "devices": 2**40}}, ["system.devices", "limit"]),
    ({"workload": {"model": "gpt", "layers": float("inf")}}, ["workload.layers"]),
    ({"workload": {"model": "gpt", "layers": "1e400"}}, ["workload.layers"]),
])
def test_run_file_mistakes_are_one_line(tmp_path, cli, change, words):
    run = {**RUN, **change}
    code, out, err = cli("estimate", write(tmp_path, "r.yaml", run))
    assert one_line_error(code, err, *words), err


def test_set_overflowing_number_is_one_line(cli):
    code, _, err = cli("search", "--model", "gpt", "--set", "layers=1e400", "--system", "dojo-tile",
                       "--global-batch", "25")
    assert one_line_error(code, err, "layers"), err


def test_control_characters_are_one_line():
    with pytest.raises(SpecError, match=r"line 2: character #x001b is not allowed"):
        parse_yaml("a: 1\nb: \x1b", "sweep")


def test_a_file_name_too_long_is_one_line(cli, tmp_path):
    long = "x" * 300
    for args, words in ((["estimate", long], "run: cannot read"), (["show", long], "unknown"),
                        (["trace", tmp_path / "r.yaml", "-o", tmp_path / long], "--output")):
        code, _, err = cli(*args)
        assert one_line_error(code, err, words), (args, err)
