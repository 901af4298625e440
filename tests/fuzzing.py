"""The fuzz harness: mutations of the example files and of CLI arguments, and an isolated runner.

Each input runs the real CLI (`dojosim.cli.main`) in a forked child, so that a hang, a crash or a
memory blow-up is contained and measured: the child gets a wall-clock alarm and an address-space
limit. The property every run must hold (`verdict`):

- exit 0, and no NaN or infinity printed as an answer; or
- exit 2 with exactly one line on stderr ("error: ...");
- within `TIME_S` seconds and `MEMORY_BYTES` of extra address space.

`DOJOSIM_FUZZ_LOG=path` appends one JSON line per input (kind, outcome, seconds) for the figures
in docs/reliability.md; with `DOJOSIM_FUZZ_KEEP_GOING=1` a failing input is logged (to
``path.failures``, with its stderr) instead of stopping the run.
"""
from __future__ import annotations

import copy
import io
import json
import os
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import yaml
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
TIME_S = float(os.environ.get("DOJOSIM_FUZZ_TIME_S", 90))   # per input, on a loaded 2-core CI box
MEMORY_BYTES = 2 * 2**30                                    # extra address space per input

# ---- values that have broken, or could break, a reader --------------------------------------
NASTY_VALUES = [0, -1, 1.5, 2**31, 2**63, -2**63, 2**200, 1e308, -1e308, 5e-324,
                float("nan"), float("inf"), float("-inf"), "", " ", "abc", "[/bold]", "[red]x[/]", None,
                [], {}, True, False, "1e400", "5e-324 B/s", "1e308 FLOPS", "-3 GB", "nan GB", "x" * 3000,
                [[[[[[[1]]]]]]], {"a": {"b": {"c": 1}}}, "../../etc/passwd", "evil:f", "\u202e\u0000",
                ".inf", "0x10", "1_000", "1 TB/s", "2 GiB", [1, "a", None], {"uniform": [0, 1]}]
NASTY_ARGS = ["abc", "-1", "0", "1", str(2**63), str(2**31), "1e400", "nan", "inf", "", "[/bold]", "-", "/",
              "/dev/full", "/dev/null", "..", "x" * 300, "1.5", "--json", "dojo-tile,", ",", "a=b=c", "=",
              "layers=.inf", "layers=1e400", "hidden=0", "heads=-3", "1 EFLOP", "5e-324 FLOPS", "1e30 EFLOPS",
              "h100-dgx,h100-dgx", "gpt,fsd", "tp=0", "recompute=[x]", "\u202e", "d1,"]
EXTRA_FLAGS = ["--bogus", "--json", "--force", "--help", "--workers", "--devices", "--set", "-o", "--plot"]


def scalars():
    return st.one_of(st.sampled_from(NASTY_VALUES), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=12), st.none(), st.booleans())


# ---- the seed inputs -----------------------------------------------------------------------
def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _trim_sweep(spec: dict) -> dict:
    """A seed sweep small enough to run in seconds: two values per grid axis, two samples."""
    spec = copy.deepcopy(spec)
    for k, v in (spec.get("grid") or {}).items():
        spec["grid"][k] = v[:2]
    if isinstance(spec.get("random"), dict):
        spec["random"]["samples"] = min(2, spec["random"].get("samples", 2))
    return spec


def _trim_fleet(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    spec["parts"] = spec["parts"][:2]
    return spec


def seed_files() -> list[tuple[str, str, object]]:
    """(kind, name, parsed document) of every example the fuzzer starts from."""
    out = [("run", p.name, _load(p)) for p in sorted(EXAMPLES.glob("*.yaml"))]
    out += [("sweep", p.name, _trim_sweep(_load(p))) for p in sorted((EXAMPLES / "sweeps").glob("*.yaml"))]
    out += [("fleet", p.name, _trim_fleet(_load(p))) for p in sorted((EXAMPLES / "fleets").glob("small*.yaml"))]
    out += [("claim", p.name, _load(p)) for p in sorted((EXAMPLES / "claims").glob("*.yaml"))[:3]]
    return out


def command_for(kind: str, path: str, workdir: str) -> list[str]:
    if kind == "run":
        return ["estimate", path]
    if kind == "sweep":
        return ["sweep", path, "--out", os.path.join(workdir, "store"), "--workers", "1"]
    if kind == "fleet":
        return ["fleet", path, "--workers", "1"]
    if kind == "claim":
        d = os.path.join(workdir, "claims")
        os.makedirs(d, exist_ok=True)
        os.replace(path, os.path.join(d, "claim.yaml"))
        return ["claims", "--dir", d]
    raise ValueError(kind)


RUN = str(EXAMPLES / "fsd-dojo-tile.yaml")
SMALL_GPT = ["--set", "layers=4", "--set", "hidden=512", "--set", "heads=8", "--set", "seq_len=256"]
SEED_COMMANDS = [
    ["estimate", RUN],
    ["search", "--model", "gpt", *SMALL_GPT, "--system", "dojo-tile", "--global-batch", "25", "--workers", "1",
     "--top", "3"],
    ["compare", "--model", "gpt", *SMALL_GPT, "--systems", "dojo-tile,h100-dgx", "--normalize", "chips"],
    ["capacity", "--target", "100 EFLOPS", "--chips", "d1,h100-dgx"],
    ["show", "dojo-tile", "--devices", "25"],
    ["trace", RUN, "-o", "t.json", "--gantt", "g.svg"],
    ["systems"],
    ["models"],
]


# ---- mutations -----------------------------------------------------------------------------
def _slots(node, out: list) -> list:
    """Every (container, key) in a parsed YAML tree."""
    if isinstance(node, dict):
        for k in list(node):
            out.append((node, k))
            _slots(node[k], out)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _slots(node[i], out)
    return out


def mutate_tree(data, doc):
    """Apply 1-3 structural mutations (replace, delete, add an unknown key, wrap) to ``doc``."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        slots = _slots(doc, [])
        if not slots:
            return data.draw(scalars(), label="whole document")
        parent, key = slots[data.draw(st.integers(0, len(slots) - 1), label="slot")]
        op = data.draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap"]), label="op")
        if op == "replace":
            parent[key] = data.draw(scalars(), label="value")
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["device", "bogus", "evaluator", "run", 1, None]), label="key")] = \
                data.draw(scalars(), label="value")
        elif op == "wrap":
            as_list = data.draw(st.booleans(), label="wrap in a list")
            parent[key] = [parent[key]] if as_list else {"x": parent[key]}
    return doc


def alias_bomb() -> str:
    text = 'zz0: &zz0 ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 9):
        text += f"zz{i}: &zz{i} [" + ",".join([f"*zz{i - 1}"] * 9) + "]\n"
    return text


def mutate_text(data, text: str) -> bytes:
    """A text-level mutation of the YAML: bytes, truncation, duplicate keys, bombs, deep nesting."""
    raw = text.encode("utf-8")
    op = data.draw(st.sampled_from(["none", "none", "bytes", "truncate", "dupkey", "bomb", "deep", "tab"]),
                   label="text op")
    pos = data.draw(st.integers(0, max(0, len(raw))), label="position")
    if op == "bytes":
        raw = raw[:pos] + data.draw(st.binary(min_size=1, max_size=8), label="bytes") + raw[pos:]
    elif op == "truncate":
        raw = raw[:pos]
    elif op == "dupkey":
        first = raw.split(b"\n", 1)[0]
        raw = first + b"\n" + raw
    elif op == "bomb":
        raw = raw + b"\n" + alias_bomb().encode()
    elif op == "deep":
        raw = raw + b"\ndeep: " + b"[" * 400 + b"]" * 400 + b"\n"
    elif op == "tab":
        raw = raw[:pos] + b"\t" + raw[pos:]
    return raw


def mutate_args(data, argv: list[str]) -> list[str]:
    argv = list(argv)
    for _ in range(data.draw(st.integers(1, 3), label="arg mutations")):
        op = data.draw(st.sampled_from(["value", "value", "delete", "insert", "dup"]), label="arg op")
        # mostly past the command name: a mangled name is refused at once and finds little
        low = 0 if len(argv) < 2 or data.draw(st.integers(0, 9), label="touch command") == 0 else 1
        i = data.draw(st.integers(low, max(low, len(argv) - 1)), label="index")
        if op == "value" and argv:
            argv[i] = data.draw(st.one_of(st.sampled_from(NASTY_ARGS), st.text(max_size=10)), label="arg")
        elif op == "delete" and len(argv) > 1:
            del argv[i]
        elif op == "insert":
            argv.insert(i, data.draw(st.sampled_from(EXTRA_FLAGS + NASTY_ARGS), label="inserted"))
        elif op == "dup" and argv:
            argv.insert(i, argv[i])
    return [a.replace("\x00", "") for a in argv]


# ---- running one input in isolation --------------------------------------------------------
def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def run_isolated(argv: list[str], cwd: str) -> dict:
    """Run the CLI on ``argv`` in a forked child: exit code, stdout, stderr, seconds, killed."""
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    limit = _vm_size() + MEMORY_BYTES
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            os.setpgid(0, 0)
            os.chdir(cwd)
            os.dup2(out_f.fileno(), 1)
            os.dup2(err_f.fileno(), 2)
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
            sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(int(TIME_S) + 5)
            from dojosim.cli import main

            try:
                main(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - the traceback is the finding
            traceback.print_exc()
            code = 70
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    killed = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - t0 > TIME_S:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            killed, status = True, -9
            break
        time.sleep(0.02)
    seconds = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status) if not killed else -9
    out_f.seek(0)
    err_f.seek(0)
    return {"code": code, "out": out_f.read(1 << 20).decode("utf-8", "replace"),
            "err": err_f.read(1 << 20).decode("utf-8", "replace"), "seconds": seconds, "killed": killed}


# ---- the property --------------------------------------------------------------------------
_NOT_A_NUMBER = re.compile(r"(?<![\w.])(nan|-?inf|-?infinity)(?![\w])", re.IGNORECASE)


def verdict(result: dict) -> str:
    """'ok', 'refused' (exit 2, one line), or what broke the property."""
    if result["killed"]:
        return "timeout"
    code = result["code"]
    if code == 0:
        return "nan-printed" if _NOT_A_NUMBER.search(result["out"]) else "ok"
    if code == 2:
        lines = result["err"].strip().splitlines()
        return "refused" if len(lines) == 1 and lines[0].startswith(("error:", "error ")) else "multi-line-error"
    if code in (-9, -14) or code == -signal.SIGALRM:
        return "timeout"
    return "crash" if code == 70 else f"exit-{code}"


def record(kind: str, result: dict, outcome: str, argv: list[str]) -> None:
    log = os.environ.get("DOJOSIM_FUZZ_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"kind": kind, "outcome": outcome, "code": result["code"],
                                 "seconds": round(result["seconds"], 3), "argv": argv[:12]}) + "\n")


def check(kind: str, argv: list[str], cwd: str) -> str:
    """Run one input and assert the property; returns its outcome."""
    result = run_isolated(argv, cwd)
    outcome = verdict(result)
    record(kind, result, outcome, argv)
    if os.environ.get("DOJOSIM_FUZZ_KEEP_GOING") and outcome not in ("ok", "refused"):
        with open(os.environ.get("DOJOSIM_FUZZ_LOG", os.devnull) + ".failures", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"outcome": outcome, "argv": argv, "err": result["err"][-2000:],
                                 "out": result["out"][-500:]}) + "\n")
        return outcome
    assert outcome in ("ok", "refused"), (
        f"{outcome} for dojosim {' '.join(argv)!r} (exit {result['code']}, {result['seconds']:.1f} s)\n"
        f"stderr: {result['err'][-3000:]}\nstdout: {result['out'][-1500:]}")
    return outcome
