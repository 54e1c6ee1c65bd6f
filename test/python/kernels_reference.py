"""Reference values for test/kernels.test.ts, computed with PyTorch autograd the way HF
transformers writes these ops (LlamaRMSNorm, LlamaMLP's act_fn(gate) * up, apply_rotary_pos_emb).

stdin: JSON list of cases {op, dtype, eps?, layout?, inputs: {name: {shape, data}}, gradOutput: {shape, data}}
stdout: JSON list of {output: [...], grads: {name: [...]}} (float32 values, flattened).
"""
import json
import sys

import torch
import torch.nn.functional as F


def rms_norm(x, weight, eps):
    dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps)
    return weight * h.to(dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def rope(x, cos, sin):
    return (x * cos) + (rotate_half(x) * sin)


def rope_case(t, case):
    x = t["x"]
    if case.get("layout") == "bshd":  # x given as [B, S, H, D]; the op sees the strided view
        x = x.transpose(1, 2)
    return rope(x, t["cos"], t["sin"])


OPS = {
    "rmsNorm": (lambda t, case: rms_norm(t["x"], t["weight"], case["eps"]), ["x", "weight"]),
    "swiglu": (lambda t, case: F.silu(t["gate"]) * t["up"], ["gate", "up"]),
    "rope": (rope_case, ["x"]),
}


def tensor(spec, dtype):
    return torch.tensor(spec["data"], dtype=torch.float32).reshape(spec["shape"]).to(dtype)


def run(case):
    dtype = getattr(torch, case["dtype"])
    fn, differentiable = OPS[case["op"]]
    inputs = {}
    for name, spec in case["inputs"].items():
        t = tensor(spec, dtype)
        if name in differentiable:
            t.requires_grad_(True)
        inputs[name] = t
    out = fn(inputs, case)
    out.backward(tensor(case["gradOutput"], out.dtype))
    return {
        "output": out.detach().float().flatten().tolist(),
        "grads": {n: inputs[n].grad.float().flatten().tolist() for n in differentiable},
    }


if __name__ == "__main__":
    torch.manual_seed(0)
    cases = json.load(sys.stdin)
    json.dump([run(c) for c in cases], sys.stdout)
