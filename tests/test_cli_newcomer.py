"""The CLI conventions a newcomer relies on: --version, an example in every --help, shell
completion, repeated options written once, the Megatron spelling of the batch flag, the split
legend, and estimate/search from flags (zoo model or a traced module) without a YAML file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dojosim.cli import app, expand_repeated, main

ROOT = Path(__file__).resolve().parents[1]


def run(args, capsys, code=0):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code in ((0, None) if code == 0 else (code,)), capsys.readouterr().err
    return capsys.readouterr()


def test_version(capsys):
    from dojosim import __version__

    assert run(["--version"], capsys).out.strip() == f"dojosim {__version__}"


def _commands():
    import typer.main

    group = typer.main.get_command(app)

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            if getattr(cmd, "invoke_without_command", False) and path:
                yield path
            for name, sub in subs.items():
                yield from walk(sub, path + [name])
        else:
            yield path
    return list(walk(group, []))


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p))
def test_every_command_help_has_an_example(path, capsys):
    out = run(path + ["--help"], capsys).out
    assert "Example: dojosim" in " ".join(out.split()), f"dojosim {' '.join(path)} --help has no example"


def test_completion_is_offered(capsys):
    assert "--install-completion" in run(["--help"], capsys).out
    # `--show-completion` detects the shell from the process tree (sh under some runners), so the
    # script itself is asked for by name: the same one typer installs for bash.
    from typer.completion import get_completion_script
    script = get_completion_script(prog_name="dojosim", complete_var="_DOJOSIM_COMPLETE", shell="bash")
    assert "_dojosim_completion" in script


def test_repeated_options_written_once():
    assert expand_repeated(["models", "show", "gpt", "--set", "layers=2", "hidden=128", "--json"]) == \
        ["models", "show", "gpt", "--set", "layers=2", "--set", "hidden=128", "--json"]
    assert expand_repeated(["search", "--fix", "tp=8", "pp=2", "--top", "3"]) == \
        ["search", "--fix", "tp=8", "--fix", "pp=2", "--top", "3"]


def test_set_space_separated_reaches_the_model(capsys):
    out = json.loads(run(["models", "show", "gpt", "--set", "layers=2", "hidden=128", "heads=2", "--json"],
                         capsys).out)
    assert out["layers"] == 2 if "layers" in out else out["params"] < 20e6


def test_explain_split(capsys):
    out = " ".join(run(["explain-split", "dp75", "cp40", "mb1", "z1"], capsys).out.split())
    assert "data parallel: 75 replicas" in out and "spatial" in out and "ZeRO stage 1" in out
    err = run(["explain-split", "dp2", "qq7"], capsys, code=2).err
    assert err.startswith("error: split: unknown token 'qq7'") and len(err.strip().splitlines()) == 1


def test_estimate_from_flags_with_the_megatron_batch_spelling(capsys):
    out = json.loads(run(["estimate", "--model", "gpt", "--set", "layers=4", "--system", "a100-80gb-dgx",
                          "--tp", "2", "--micro-batch", "1", "--global-batch-size", "8", "--json"], capsys).out)
    assert out["devices"] == 8 and out["strategy"]["tp"] == 2 and out["strategy"]["dp"] == 4
    assert out["strategy"]["global_batch"] == 8


def test_estimate_run_file_and_flags_together_is_one_line(capsys):
    err = run(["estimate", str(ROOT / "examples" / "fsd-dojo-tile.yaml"), "--tp", "2"], capsys, code=2).err
    assert err.startswith("error: --tp") and len(err.strip().splitlines()) == 1


def test_estimate_spatial_flag_is_the_cnn_split(capsys):
    out = run(["estimate", "--model", "fsd", "--set", "frames=1", "cameras=2", "--system", "dojo-tile",
               "--spatial", "25", "--global-batch", "25", "--micro-batch", "1"], capsys).out
    assert "spatial25" in out


def test_estimate_and_search_a_traced_module(capsys):
    pytest.importorskip("torch")
    net = f"{ROOT / 'examples' / 'my_net.py'}:build"
    est = json.loads(run(["estimate", "--model-file", net, "--input", "8,3,64,64", "--system", "h100-dgx",
                          "--global-batch", "64", "--json"], capsys).out)
    assert est["model"] == "build" and est["step_time_s"] > 0
    res = json.loads(run(["search", "--model-file", net, "--input", "8,3,64,64", "--system", "h100-dgx",
                          "--global-batch", "64", "--top", "2", "--workers", "1", "--zero", "0", "--json"],
                         capsys).out)
    assert len(res["candidates"]) == 2 and all(c["strategy"]["zero"] == 0 for c in res["candidates"])
    err = run(["estimate", "--model-file", net, "--system", "h100-dgx"], capsys, code=2).err
    assert err.startswith("error: --input")


def test_the_readme_python_example_runs(capsys):
    import re

    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("Estimate: gpt3-175b on a100-80gb-dgx (1,024 devices)")


def test_compare_takes_the_megatron_batch_spelling(capsys):
    out = json.loads(run(["compare", "--model", "gpt", "--set", "layers=4", "--systems", "dojo-tile,a100-80gb-dgx",
                          "--normalize", "chips", "--global-batch-size", "200", "--json"], capsys).out)
    assert all(r["global_batch"] == 200 for r in out["rows"])


def test_every_label_token_is_explained():
    """Whatever split the tables print, `explain-split` can read it back, token by token."""
    from hypothesis import given, settings, strategies as st

    from dojosim.strategy import Strategy, explain

    @settings(max_examples=60, deadline=None)
    @given(dp=st.integers(1, 64), tp=st.sampled_from([1, 2, 8]), pp=st.sampled_from([1, 4]),
           cp=st.sampled_from([1, 2]), ep=st.sampled_from([1, 2]), v=st.sampled_from([1, 2]),
           mb=st.sampled_from([None, 1, 4]), rc=st.sampled_from(["none", "selective", "full"]),
           z=st.integers(0, 3), sp=st.booleans(), prec=st.sampled_from(["bf16", "fp8", "cfp8"]),
           sched=st.sampled_from(["1f1b", "gpipe"]), order=st.permutations(["tp", "cp", "ep", "pp", "dp"]),
           cnn=st.booleans())
    def check(dp, tp, pp, cp, ep, v, mb, rc, z, sp, prec, sched, order, cnn):
        s = Strategy(dp=dp, tp=tp, pp=pp, cp=cp, ep=ep, interleave=v, micro_batch=mb, recompute=rc, zero=z,
                     sequence_parallel=sp, precision=prec, schedule=sched, order=tuple(order))
        text = s.label(spatial=cnn)
        assert [t for t, _ in explain(text)] == text.split()
    check()
