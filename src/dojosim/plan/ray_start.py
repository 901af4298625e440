"""Starting (or joining) Ray for the sweep executor without phoning anywhere.

What dojosim sets when it starts Ray itself (no ``--address``):

- ``include_dashboard=False``: no web UI, no HTTP server;
- ``RAY_USAGE_STATS_ENABLED=0``: no usage report to usage-stats.ray.io, no prompt;
- ``_node_ip_address=127.0.0.1``: the local instance binds to loopback, and Ray does not work
  out "its" address by routing a socket towards 8.8.8.8 or looking up the host name;
- a bootstrap config for Ray's own processes: Ray 2.x always starts its usage-stats module (even
  with usage stats off and no dashboard), and that module, finding no
  ``~/ray_bootstrap_config.yaml``, asks the cloud metadata address (169.254.169.254) which
  cloud it runs on. Ray's processes get a private ``HOME`` holding an empty bootstrap config, so
  that question is never asked.

What remains (docs/reliability.md): joining an existing cluster (``--address``) uses that
cluster as it was started; dojosim cannot change what its processes do.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import SpecError

PRIVATE_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
               "RAY_DISABLE_DOCKER_CPU_WARNING": "1"}


def _private_home() -> str:
    home = Path(tempfile.mkdtemp(prefix="dojosim-ray-home-"))
    (home / "ray_bootstrap_config.yaml").write_text("{}\n")
    return str(home)


def init_kwargs(address: str | None, workers: int) -> dict:
    """The arguments dojosim passes to ``ray.init``."""
    kw = {"address": address, "include_dashboard": False, "ignore_reinit_error": True,
          "log_to_driver": False, "configure_logging": False}
    if not address:
        kw.update(num_cpus=max(1, workers), _node_ip_address="127.0.0.1")
    return kw


def start_ray(address: str | None, workers: int):
    """The ``ray`` module, initialised privately (see the module docstring)."""
    try:
        import ray
    except ImportError:
        raise SpecError("executor", "ray is not installed; pip install 'dojosim[ray]'") from None
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise SpecError("address", f"expected host:port of a Ray cluster, got {address!r}")
    if ray.is_initialized():
        return ray
    home = os.environ.get("HOME")
    os.environ.update(PRIVATE_ENV)  # kept: the driver's own Ray calls stay private too
    if not address:
        os.environ["HOME"] = _private_home()  # inherited by the processes Ray starts now
    try:
        ray.init(**init_kwargs(address, workers))
    except (ConnectionError, TimeoutError, OSError, RuntimeError, ValueError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise SpecError("address", f"cannot start or reach Ray at {address or 'a local instance'}: {first}") from None
    finally:
        if home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = home
    return ray
