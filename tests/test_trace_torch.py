"""The torch tracer on hand-written modules: exact counts, tied/unused parameters, uncosted ops
listed (never silently zero), repeated layers folded, per-sample division."""
import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from dojosim.workload import from_torch  # noqa: E402


class MLP(nn.Module):
    def __init__(self, d=16, n=3):
        super().__init__()
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
                                    for _ in range(n))

    def forward(self, x):
        for layer in self.layers:
            x = x + layer(x)
        return x


def test_exact_counts_and_folded_layers():
    d, n, b, s = 16, 3, 4, 10
    m = from_torch(MLP(d, n), (torch.randn(b, s, d),))
    assert m.params == n * (2 * 4 * d * d + 5 * d)
    per_layer = 2 * s * d * 4 * d * 2 + s * 4 * d + s * d   # two GEMMs, GELU, residual add
    assert m.flops_fwd_per_sample == per_layer * n
    layer_blocks = [blk for blk in m.blocks if blk.layer]
    assert len(layer_blocks) == 1 and layer_blocks[0].count == n and m.layers == n
    mm = [op for _, op in m.iter_ops() if op.kind == "matmul"]
    assert all(op.flops == 2 * op.gemm[0] * op.gemm[1] * op.gemm[2] for op in mm)
    assert mm[0].gemm == (s, 4 * d, d) and mm[0].name.startswith("layers.*.")


def test_per_sample_does_not_depend_on_batch():
    a = from_torch(MLP(), (torch.randn(1, 10, 16),))
    b = from_torch(MLP(), (torch.randn(8, 10, 16),))
    assert a.flops_fwd_per_sample == b.flops_fwd_per_sample
    assert a.activation_elements_per_sample == b.activation_elements_per_sample


class Weird(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.unused = nn.Linear(3, 3)

    def forward(self, tokens):
        x = self.emb(tokens)
        y = torch.special.erfinv(torch.tanh(x)).cumprod(-1)   # ops without a cost rule
        return F.linear(y, self.emb.weight)                   # tied output projection


def test_uncosted_ops_are_listed_and_warned_and_params_complete():
    module = Weird()
    with pytest.warns(UserWarning) as caught:
        m = from_torch(module, (torch.zeros(2, 5, dtype=torch.long),))
    said = " ".join(str(w.message) for w in caught)
    assert "uncosted op aten.erfinv" in said and "uncosted op aten.cumprod" in said
    assert any("aten.cumprod" in w for w in m.warnings) and any("aten.erfinv" in w for w in m.warnings)
    # tied weights once, the unused Linear still counted
    assert m.params == sum(p.numel() for p in module.parameters()) == 50 * 8 + 12
    assert m.seq_len == 5 and m.sample_unit == "sequence"


def test_module_is_left_untouched_and_no_real_memory():
    module = MLP()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    from_torch(module, (torch.randn(2, 10, 16),))
    assert all(torch.equal(before[k], v) and v.device.type == "cpu" for k, v in module.state_dict().items())
    with torch.device("meta"):
        big = MLP(d=8192, n=4)   # 2 GB of fp32 weights if it were real
    m = from_torch(big, (torch.empty(1, 4096, 8192, device="meta"),))
    assert m.params == 4 * (8 * 8192 ** 2 + 5 * 8192)


def test_attention_is_one_fused_op():
    class Attn(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    b, h, s, d = 2, 4, 32, 16
    q = torch.randn(b, h, s, d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = from_torch(Attn(), (q, q, q))
    ops = [op for _, op in m.iter_ops()]
    assert [op.kind for op in ops] == ["attention"]
    assert ops[0].flops == 4 * s * s * h * d and ops[0].attn == (s, h, d)
    assert m.heads == h and m.hidden == h * d


def test_hints_for_separate_qkv_projections():
    class Layer(nn.Module):   # HF style: separate q, k, v linears, post-norm, no ModuleList glue
        def __init__(self, d=32, h=4):
            super().__init__()
            self.h = h
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
            self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)

        def forward(self, x):
            b, s, d = x.shape
            q, k, v = (f(x).view(b, s, self.h, -1).transpose(1, 2) for f in (self.q, self.k, self.v))
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, s, d)
            x = self.n1(x + self.o(a))
            return self.n2(x + self.fc2(F.relu(self.fc1(x))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(Layer() for _ in range(2))

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    m = from_torch(Net(), (torch.randn(2, 8, 32),))
    hints = {op.name: op.tp for _, op in m.iter_ops() if op.kind == "matmul"}
    assert [hints[f"layers.*.{n}:addmm"] for n in ("q", "k", "v", "o", "fc1", "fc2")] == \
        ["column", "column", "column", "row", "column", "row"]
    relu = next(op for _, op in m.iter_ops() if op.name.endswith(":relu"))
    norms = [op for _, op in m.iter_ops() if op.kind == "norm"]
    assert relu.tp == "split" and all(n.seq and n.tp is None for n in norms)
