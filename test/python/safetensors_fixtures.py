"""Reference side of test/safetensors.test.ts: the safetensors Python package writes and reads files.

  python3 safetensors_fixtures.py make DIR
      DIR/dtypes.safetensors + dtypes.json       every dtype, incl. 0-d and empty tensors and odd
                                                 float bit patterns, written with save_file;
                                                 the JSON holds each tensor's dtype, shape and raw
                                                 bytes (hex) as torch sees them
      DIR/sharded/                                a checkpoint sharded by huggingface_hub's
                                                 save_torch_state_dict (what transformers uses),
                                                 + DIR/sharded.json with the expected tensors
      DIR/pickle-only/pytorch_model.bin           a pickle whose unpickling would create
                                                 DIR/pickle-marker (checked here on a copy)
  python3 safetensors_fixtures.py check FILE EXPECTED_JSON
      loads FILE with safetensors.torch.load_file and compares it with EXPECTED_JSON
      ({metadata, tensors: {name: {dtype, shape, hex}}}); prints "ok" or exits 1 with the reasons.
"""

import json
import os
import pickle
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
NAME_OF = {v: k for k, v in DTYPES.items()}
SAME_WIDTH_INT = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float64: torch.int64}


def raw_hex(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes().hex()


def describe(tensors):
    return {name: {"dtype": NAME_OF[t.dtype], "shape": list(t.shape), "hex": raw_hex(t)} for name, t in tensors.items()}


def sample(dtype, gen):
    if dtype.is_floating_point:
        x = torch.randn(3, 5, generator=gen, dtype=torch.float64).to(dtype)
        flat = x.reshape(-1)
        flat[0], flat[1], flat[2], flat[3] = float("inf"), float("-inf"), -0.0, float("nan")
        flat[4] = torch.finfo(dtype).tiny / 4  # subnormal
        flat[5] = torch.finfo(dtype).max
        # A NaN with a payload: bit patterns must survive untouched.
        bits = flat.view(SAME_WIDTH_INT[dtype])
        bits[6] = bits[3] | 1
        return x
    if dtype == torch.bool:
        return torch.rand(4, 3, generator=gen) > 0.5
    info = torch.iinfo(dtype)
    x = torch.randint(info.min, info.max, (2, 3, 2), generator=gen, dtype=torch.int64).to(dtype)
    flat = x.reshape(-1)
    flat[0], flat[1] = info.min, info.max
    return x


def make(out):
    gen = torch.Generator().manual_seed(1234)
    tensors = {}
    for name, dtype in DTYPES.items():
        tensors[f"{name}.matrix"] = sample(dtype, gen)
        tensors[f"{name}.scalar"] = sample(dtype, gen).reshape(-1)[7].clone()  # 0-d
        tensors[f"{name}.empty"] = torch.empty(0, dtype=dtype)
        tensors[f"{name}.empty2d"] = torch.empty(2, 0, 3, dtype=dtype)
    tensors["model.layers.0.mlp.up_proj.weight"] = torch.randn(8, 4, generator=gen)
    metadata = {"format": "pt", "note": "caf\u00e9 \u2603 \"quoted\"\n"}
    save_file(tensors, os.path.join(out, "dtypes.safetensors"), metadata=metadata)
    with open(os.path.join(out, "dtypes.json"), "w") as f:
        json.dump({"metadata": metadata, "tensors": describe(tensors)}, f)

    # Sharded checkpoint, split the way transformers does it.
    from huggingface_hub import save_torch_state_dict

    state = {f"model.layers.{i}.weight": torch.randn(16, 16, generator=gen) for i in range(5)}
    state["model.norm.weight"] = torch.ones(16, dtype=torch.bfloat16)
    state["lm_head.bias"] = torch.arange(10, dtype=torch.int64)
    sharded = os.path.join(out, "sharded")
    os.makedirs(sharded)
    save_torch_state_dict(state, sharded, max_shard_size=2000)
    shards = sorted(f for f in os.listdir(sharded) if f.endswith(".safetensors"))
    with open(os.path.join(out, "sharded.json"), "w") as f:
        json.dump({"shards": shards, "tensors": describe(state)}, f)

    # A pickle that creates a marker file when unpickled.
    marker = os.path.join(out, "pickle-marker")
    payload = pickle.dumps({"weight": Touch(marker)}, protocol=2)
    pickle_dir = os.path.join(out, "pickle-only")
    os.makedirs(pickle_dir)
    with open(os.path.join(pickle_dir, "pytorch_model.bin"), "wb") as f:
        f.write(payload)
    with open(os.path.join(pickle_dir, "config.json"), "w") as f:
        f.write("{}")
    # Prove the payload is live: unpickling a copy aimed at another marker creates it.
    proof = os.path.join(out, "pickle-proof")
    pickle.loads(pickle.dumps(Touch(proof), protocol=2))
    assert os.path.exists(proof), "the pickle payload did not run"
    print("ok")


class Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def check(file, expected_file):
    with open(expected_file) as f:
        expected = json.load(f)
    got = load_file(file)
    with safe_open(file, "pt") as f:
        metadata = f.metadata() or {}
    problems = []
    if metadata != expected["metadata"]:
        problems.append(f"metadata {metadata!r} != {expected['metadata']!r}")
    if set(got) != set(expected["tensors"]):
        problems.append(f"names {sorted(got)} != {sorted(expected['tensors'])}")
    for name, want in expected["tensors"].items():
        t = got.get(name)
        if t is None:
            continue
        if NAME_OF.get(t.dtype) != want["dtype"]:
            problems.append(f"{name}: dtype {t.dtype} != {want['dtype']}")
        elif list(t.shape) != want["shape"]:
            problems.append(f"{name}: shape {list(t.shape)} != {want['shape']}")
        elif raw_hex(t) != want["hex"]:
            problems.append(f"{name}: bytes differ")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
