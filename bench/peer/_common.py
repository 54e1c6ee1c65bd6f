"""Shared pieces of the HF transformers + PEFT peer benchmarks (see hf_train_step.py, hf_generate.py).

The benchmarks are launched as child processes by our bench runners: stdout carries exactly one
JSON line; everything else (warnings, progress) goes to stderr.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import warnings

# Shapes. "tiny" is a small Qwen2 for quick relative numbers; "qwen0.5b" has the Qwen2.5-0.5B dimensions,
# "qwen7b" Qwen2-7B's (the GPU runs). bench/ours/shapes.ts holds the same.
SHAPES = {
    "tiny": dict(
        config=dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
                    intermediate_size=704, vocab_size=8192, tie_word_embeddings=True,
                    max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-6),
        batch=8, seq=128,
    ),
    "qwen0.5b": dict(
        config=dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                    intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True,
                    max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6),
        batch=1, seq=256,
    ),
    # Qwen2-7B's dimensions (untied head), for the GPU runs
    "qwen7b": dict(
        config=dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                    intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False,
                    max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6),
        batch=1, seq=2048,
    ),
}
PAD_ID = 0


def setup(threads: int | None):
    """Quiet the libraries, fix the thread count, import torch. Returns the torch module."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    if threads:
        torch.set_num_threads(threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    return torch


def parse_dtype(torch, name):
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def build_model(torch, shape: str, device: str, dtype, seed: int):
    """Random-init Qwen2ForCausalLM (sdpa attention) at `shape`, on `device` in `dtype`."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(**SHAPES[shape]["config"], pad_token_id=PAD_ID, bos_token_id=1,
                      eos_token_id=SHAPES[shape]["config"]["vocab_size"] - 1, attn_implementation="sdpa")
    # made in `dtype` from the start: a float32 7B model would take 30 GB before the cast
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(previous)
    return model.to(dtype)


def lora(model, rank: int):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear")
    return get_peft_model(model, cfg)


def vm_hwm_mb() -> float | None:
    """Peak resident set from /proc/self/status (VmHWM), in MiB; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def vm_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


class PeakRss:
    """Tracks max(VmHWM) across samples; ru_maxrss is read at the end (KiB on Linux)."""

    def __init__(self):
        self.hwm = 0.0

    def sample(self):
        v = vm_hwm_mb()
        if v is not None:
            self.hwm = max(self.hwm, v)

    def result(self):
        self.sample()
        ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return {"peak_rss_mb": round(max(ru, self.hwm), 1), "peak_rss_mb_ru_maxrss": round(ru, 1),
                "peak_rss_mb_vmhwm": round(self.hwm, 1) if self.hwm else None}


def sync(torch, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def now():
    return time.perf_counter()


def versions(torch):
    import peft
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def median_ms(times_s):
    return statistics.median(times_s) * 1000.0


def emit(obj: dict):
    sys.stdout.write(json.dumps(obj, sort_keys=False) + "\n")
    sys.stdout.flush()


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)
