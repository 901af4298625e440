"""Shared test settings: headless plotting, and hypothesis without wall-clock deadlines
(CI has 2 shared cores, so per-example timing would make tests flaky, not stricter)."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

settings.register_profile("dojosim", deadline=None, max_examples=60)
settings.load_profile("dojosim")


import pytest  # noqa: E402


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: ``cli("estimate", path)`` -> (exit code, stdout, stderr)."""
    from dojosim.cli import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def one_line_error(code: int, err: str, *words: str) -> bool:
    """True when a command failed as every user mistake must: exit 2, one line naming ``words``."""
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and all(w in lines[0] for w in words)
