"""`dojosim models`: list, show, trace; JSON keys; user mistakes as one line and exit 2."""
import json
import textwrap

import pytest

from dojosim.cli import main
from dojosim.workload import build


def _run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    assert not exc.value.code, err
    return out


def _fail(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2
    assert len(err.splitlines()) == 1, err
    return err


def test_models_lists_the_zoo(capsys):
    rows = json.loads(_run(capsys, "models", "--json"))
    names = {r["name"] for r in rows}
    assert {"gpt", "llama", "moe", "resnet50", "regnet", "vit", "fsd", "occupancy", "fsd-mini", "gpt3-175b",
            "megatron-1t", "llama3-8b", "llama3-70b", "llama3-405b", "mixtral-8x7b", "vit-b16"} <= names
    assert "fsd-mini" in _run(capsys, "models")


def test_show_json_keys_and_batch(capsys):
    s = json.loads(_run(capsys, "models", "show", "gpt", "--set", "layers=4", "--batch", "8", "--json"))
    for key in ("name", "params", "flops_fwd_per_sample", "flops_train_per_sample", "activation_bytes_per_sample"):
        assert key in s
    m = build("gpt", layers=4)
    assert s["params"] == m.params and s["flops_fwd_per_sample"] == m.flops_fwd_per_sample
    assert s["flops_train_per_batch"] == pytest.approx(8 * m.flops_train_per_sample)
    assert s["activation_bytes_per_sample"] == 2 * m.activation_elements_per_sample
    assert [b["count"] for b in s["blocks"]] == [1, 4, 1]


def test_show_table(capsys):
    out = _run(capsys, "models", "show", "resnet50")
    assert "25,557,032" in out and "layer1.0" in out


def test_show_tuple_override(capsys):
    s = json.loads(_run(capsys, "models", "show", "fsd-mini", "--set", "head_outputs=3,3", "--json"))
    assert s["config"]["head_outputs"] == [3, 3]


@pytest.mark.parametrize("argv, needle", [
    (["models", "show", "gtp"], "gpt"),
    (["models", "show", "gpt", "--set", "layerz=3"], "layerz"),
    (["models", "show", "gpt", "--set", "layers=-1"], "layers"),
    (["models", "show", "gpt", "--set", "layers"], "--set"),
    (["models", "show", "gpt", "--batch", "0"], "--batch"),
    (["models", "show", "gpt", "--set", "hidden=100"], "hidden"),
    (["models", "show", "fsd", "--set", "widths=48,100"], "widths"),
])
def test_show_mistakes(capsys, argv, needle):
    assert needle in _fail(capsys, *argv)


def test_trace_cli(capsys, tmp_path):
    pytest.importorskip("torch")
    f = tmp_path / "net.py"
    f.write_text(textwrap.dedent("""
        import torch.nn as nn
        def net():
            return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1))
    """))
    s = json.loads(_run(capsys, "models", "trace", f"{f}:net", "--input", "4,3,32,32", "--json"))
    assert s["params"] == 3 * 8 * 9 + 8 + 8 * 8 * 9 + 8
    assert s["flops_fwd_per_sample"] == pytest.approx(2 * 256 * (8 * 27 + 8 * 72) + 8 * 256)
    assert "nope" in _fail(capsys, "models", "trace", f"{f}:nope", "--input", "4,3,32,32")
    assert "--input" in _fail(capsys, "models", "trace", f"{f}:net", "--input", "4,x")
    assert "no such file" in _fail(capsys, "models", "trace", f"{tmp_path}/missing.py:net", "--input", "1")


def test_ops_listing(capsys, tmp_path):
    s = json.loads(_run(capsys, "models", "show", "gpt", "--set", "layers=2", "--ops", "--json"))
    assert len(s["ops"]) == sum(b["ops"] for b in s["blocks"])
    assert any(o["tp"] == "heads" and o["attn"] for o in s["ops"])
    pytest.importorskip("torch")
    f = tmp_path / "net.py"
    f.write_text("import torch.nn as nn\ndef net():\n    return nn.Linear(4, 3)\n")
    s = json.loads(_run(capsys, "models", "trace", f"{f}:net", "--input", "5,4", "--ops", "--json"))
    assert s["ops"][0]["shapes"][-1] == [5, 3] and [5, 4] in s["ops"][0]["shapes"]
    assert "->" in _run(capsys, "models", "trace", f"{f}:net", "--input", "5,4", "--ops")


def test_trace_user_code_failures_are_one_line(capsys, tmp_path):
    pytest.importorskip("torch")
    f = tmp_path / "bad.py"
    f.write_text("import torch.nn as nn\ndef boom():\n    raise ValueError('no weights here')\n"
                 "def notmod():\n    return 3\n")
    assert "no weights here" in _fail(capsys, "models", "trace", f"{f}:boom", "--input", "2,3")
    assert "not a torch.nn.Module" in _fail(capsys, "models", "trace", f"{f}:notmod", "--input", "2,3")
