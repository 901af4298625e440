"""The precision experiment: synthetic tasks, the mini models, and the `dojosim numerics` command."""
import json

import pytest

torch = pytest.importorskip("torch")

from dojosim.cli import main  # noqa: E402
from dojosim.numerics.experiment import build_model, run_experiment, write_results  # noqa: E402
from dojosim.numerics.minimodels import FsdMini  # noqa: E402
from dojosim.numerics.tasks import SceneSpec, bev_scenes, shapes  # noqa: E402


def test_tasks_are_seeded_and_shaped():
    spec = SceneSpec()
    x, y = bev_scenes(3, seed=11)
    assert x.shape == (3, spec.cameras, 3, spec.height, spec.width) and y.shape == (3, spec.grid, spec.grid)
    assert torch.equal(x, bev_scenes(3, seed=11)[0]) and not torch.equal(x, bev_scenes(3, seed=12)[0])
    assert 0 < y.mean() < 0.5  # something to find, mostly empty road
    xi, yi = shapes(5, seed=2)
    assert xi.shape == (5, 3, 32, 32) and yi.dtype == torch.int64
    assert torch.equal(xi, shapes(5, seed=2)[0])


def test_an_object_ahead_of_a_camera_shows_in_that_camera():
    # Noise-free scenes: a camera whose central +-30 degrees hold an occupied cell must show object
    # pixels (anything that is not exactly sky or ground colour). Geometry check of the renderer.
    spec = SceneSpec(noise=0.0)
    x, y = bev_scenes(64, seed=5, spec=spec)
    sky, ground = torch.tensor([0.55, 0.7, 0.9]), torch.tensor([0.35, 0.3, 0.25])
    horizon = spec.height // 2
    bg = torch.cat([sky[:, None].expand(3, horizon), ground[:, None].expand(3, spec.height - horizon)], 1)
    shows = (x != bg[None, None, :, :, None]).any(dim=(2, 3, 4))  # [B, cameras]
    cell = (torch.arange(spec.grid) + 0.5) / spec.grid * 2 * spec.extent - spec.extent
    cy, cx = torch.meshgrid(cell, cell, indexing="ij")
    checked = 0
    for cam in range(spec.cameras):
        yaw = cam * 2 * torch.pi / spec.cameras
        off = torch.remainder(torch.atan2(cy, cx) - yaw + torch.pi, 2 * torch.pi) - torch.pi
        central = (off.abs() < torch.pi / 6)[None]
        must_show = ((y > 0) & central).flatten(1).any(1)
        assert bool(shows[must_show, cam].all())
        checked += int(must_show.sum())
    assert checked > 20


def test_models_map_the_task_inputs_to_the_task_targets():
    x, y = bev_scenes(2, seed=0)
    assert build_model("fsd-mini", 0)(x).shape == y.shape  # the zoo's network when it is there
    assert FsdMini()(x).shape == y.shape  # the fallback
    xi, yi = shapes(2, seed=0, size=24)
    assert build_model("resnet-mini", 0)(xi).shape == (2, 4)


def test_experiment_runs_every_policy_from_the_same_start(tmp_path):
    res = run_experiment("resnet-mini", steps=3, batch=4)
    runs = {r["policy"]: r for r in res["runs"]}
    assert set(runs) == {"fp32", "bf16", "cfp8-nearest", "cfp8-stochastic"}
    # same weights and data: the very first loss differs only by the arithmetic
    first = [r["losses"][0] for r in res["runs"]]
    assert max(first) - min(first) < 0.05
    assert runs["cfp8-nearest"]["biases"]["grad"][1] > runs["cfp8-nearest"]["biases"]["act"][1]
    js, cs = write_results(res, tmp_path)
    assert json.loads(js.read_text())["steps"] == 3
    assert cs.read_text().splitlines()[0] == "step,fp32,bf16,cfp8-nearest,cfp8-stochastic"


def test_cli_json_and_plot(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["numerics", "--model", "fsd-mini", "--steps", "2", "--batch", "2",
              "--policies", "fp32,cfp8-stochastic", "--json", "--plot", str(tmp_path), "--out", str(tmp_path)])
    assert exit_.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["policy"] for r in out["runs"]] == ["fp32", "cfp8-stochastic"]
    assert (tmp_path / "numerics_fsd-mini.png").stat().st_size > 1000
    assert (tmp_path / "numerics_fsd-mini.json").exists()


def test_same_seed_same_numbers():
    """Threads are set explicitly, so a seed reproduces every loss and the metric exactly."""
    kw = dict(steps=2, policies=("fp32", "cfp8-stochastic"), seed=3, batch=2, eval_size=4, threads=1)
    a, b = run_experiment("fsd-mini", **kw), run_experiment("fsd-mini", **kw)
    for ra, rb in zip(a["runs"], b["runs"]):
        assert ra["losses"] == rb["losses"] and ra["metric"] == rb["metric"] and ra["eval_loss"] == rb["eval_loss"]
    assert a["threads"] == 1 and torch.get_num_threads() == 1
    c = run_experiment("fsd-mini", **{**kw, "seed": 4})
    assert c["runs"][0]["losses"] != a["runs"][0]["losses"]


def test_cli_in_a_pipe_prints_plain_progress_and_what_it_wrote(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["numerics", "--model", "fsd-mini", "--steps", "4", "--batch", "2", "--policies", "fp32",
              "--out", str(tmp_path)])
    assert exit_.value.code == 0
    cap = capsys.readouterr()
    assert "fsd-mini: training fp32 (4 steps, batch 2)" in cap.err and "\x1b" not in cap.err
    assert f"wrote {tmp_path / 'numerics_fsd-mini.json'}" in cap.out


@pytest.mark.parametrize("args, field", [
    (["--model", "gpt"], "model"),
    (["--policies", "fp32,int8"], "policies"),
    (["--steps", "-3"], "steps"),
    (["--threads", "0"], "threads"),
])
def test_cli_bad_input_is_one_line_exit_2(args, field, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["numerics", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {field}")


def test_without_torch_the_command_says_so_in_one_line():
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "import dojosim, dojosim.cli\n"
            "dojosim.cli.main(['numerics', '--steps', '1'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: numerics: needs PyTorch; install it with: pip install 'dojosim[torch]'"]
