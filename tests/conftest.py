"""Shared test settings: headless plotting, and hypothesis without wall-clock deadlines
(CI has 2 shared cores, so per-example timing would make tests flaky, not stricter)."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

settings.register_profile("dojosim", deadline=None, max_examples=60)
settings.load_profile("dojosim")
