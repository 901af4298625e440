"""Hand-built estimates for the report tests (no engine needed), and a check that they are sane."""
from __future__ import annotations

from dojosim.engine.result import BREAKDOWN_KEYS, Estimate, MemoryReport, StageTiming


def make_estimate(*, p: int = 4, m: int = 8, v: int = 1, fwd: float = 1e-3, bwd: float = 2e-3,
                  comm: dict | None = None, ops: bool = True, dp_comm: float = 4e-3,
                  exposed_dp: float = 1e-3, system: str = "dojo-tile", model: str = "fsd",
                  schedule: str = "1f1b") -> Estimate:
    """An estimate whose breakdown agrees with a 1F1B replay of its own stage timing."""
    comm = {"tp": 1e-4, "pp": 5e-5} if comm is None else comm
    c = sum(x for k, x in comm.items() if k != "pp")
    op_list = ()
    if ops:
        op_list = (("backbone.stem", fwd * 0.2, bwd * 0.2), ("backbone.stage1", fwd * 0.3, bwd * 0.3),
                   ("bev.attention", fwd * 0.4, bwd * 0.4), ("heads.objects", fwd * 0.1, bwd * 0.1))
    compute = m * v * (fwd + bwd)
    bubble = (p - 1) * (fwd + bwd + c)  # per-chunk slots: (p-1) slots idle
    breakdown = {k: 0.0 for k in BREAKDOWN_KEYS}
    breakdown.update(compute=compute, comm_tp=m * v * c, bubble=bubble, comm_dp=exposed_dp,
                     optimizer=5e-4, overhead=2e-4, input=1e-4)
    if p > 1:
        breakdown["comm_pp"] = 2 * comm.get("pp", 0.0) * (p - 1)
    step = sum(breakdown.values())
    mem = MemoryReport(components={"weights": 2e9, "gradients": 2e9, "optimizer": 12e9, "activations": 6e9,
                                   "buffers": 1e9},
                       tiers={"sram": {"used": 0.4e9, "capacity": 0.44e9}, "hbm": {"used": 22.6e9, "capacity": 32e9}},
                       per_device_bytes=23e9, capacity_bytes=32.44e9, fits=True)
    return Estimate(model=model, system=system, devices=p * 2, strategy={"dp": 2, "pp": p, "interleave": v,
                    "global_batch": 2 * m, "micro_batch": 1, "schedule": schedule},
                    step_time_s=step, breakdown=breakdown, samples_per_s=2 * m / step, tokens_per_s=None,
                    model_flops_per_step=1e15, hardware_flops_per_step=1.2e15, mfu=0.41, hfu=0.49, memory=mem,
                    energy_j_per_step=step * 15e3, power_w=15e3, cost_usd_per_step=1e-3, micro_batches=m,
                    pipeline_stages=p, interleave=v,
                    stage=StageTiming(forward_s=fwd, backward_s=bwd, comm_s=comm, ops=op_list),
                    dp_comm_s=dp_comm)


def test_fixture_breakdown_sums_to_step_time():
    est = make_estimate()
    assert abs(sum(est.breakdown.values()) - est.step_time_s) < 1e-12
