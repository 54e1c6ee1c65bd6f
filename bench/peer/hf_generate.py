#!/usr/bin/env python3
"""Peer benchmark: batched greedy generation with HF transformers (optionally through a PEFT LoRA).

Random-init Qwen2 (sdpa attention) at a named shape; --prompts prompts whose lengths come from a
seeded RNG in [--min-prompt, --max-prompt], left-padded into one batch; one
generate(do_sample=False, max_new_tokens=N, min_new_tokens=N) call with the KV cache, so every
row produces exactly N tokens. A short untimed generate runs first as warmup.

Prints exactly one JSON line on stdout:
  {"impl": "hf" | "hf+peft", "bench": "generate", "shape", "tokens_per_s", "ms_total", "new_tokens",
   "prompts", "peak_rss_mb", "torch", "transformers", "peft", "threads", ...}
tokens_per_s = prompts * new_tokens / wall time of the timed generate call (prefill included);
prefill_ms is a separate generate(max_new_tokens=1) on the same batch.
"""
from __future__ import annotations

import argparse
import statistics

import _common as c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(c.SHAPES), default="tiny")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--min-prompt", type=int, default=16)
    ap.add_argument("--max-prompt", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=1, help="timed generate calls; the median is reported")
    ap.add_argument("--rank", type=int, default=0, help="LoRA rank (all-linear, alpha 2*rank, B random); 0: no adapter")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch = c.setup(args.threads)
    peak = c.PeakRss()
    rss_start = c.vm_rss_mb()
    shape = c.SHAPES[args.shape]
    vocab = shape["config"]["vocab_size"]
    dev = args.device

    t0 = c.now()
    model = c.build_model(torch, args.shape, dev, c.parse_dtype(torch, args.dtype), args.seed)
    if args.rank:
        model = c.lora(model, args.rank)
        with torch.no_grad():  # B starts at zero; make the adapter do real work
            for n, p in model.named_parameters():
                if ".lora_B." in n:
                    p.normal_(0.0, 0.01)
    model.eval()
    c.sync(torch, dev)
    build_s = c.now() - t0
    peak.sample()
    if dev.startswith("cuda"):  # the peak of the run, not of building the model (ours does the same)
        torch.cuda.reset_peak_memory_stats()

    g = torch.Generator().manual_seed(args.seed + 1)
    lengths = torch.randint(args.min_prompt, args.max_prompt + 1, (args.prompts,), generator=g).tolist()
    width = max(lengths)
    ids = torch.full((args.prompts, width), c.PAD_ID, dtype=torch.long)
    mask = torch.zeros((args.prompts, width), dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, width - n:] = torch.randint(1, vocab - 1, (n,), generator=g)
        mask[i, width - n:] = 1
    ids, mask = ids.to(dev), mask.to(dev)
    eos = vocab - 1

    def gen(n):
        with torch.no_grad():
            return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                                  do_sample=False, pad_token_id=c.PAD_ID, eos_token_id=eos, use_cache=True)

    gen(min(4, args.new_tokens))  # warmup
    peak.sample()
    c.sync(torch, dev)
    t = c.now()
    gen(1)
    c.sync(torch, dev)
    prefill_s = c.now() - t

    times, out = [], None
    for r in range(args.repeats):
        c.sync(torch, dev)
        t = c.now()
        out = gen(args.new_tokens)
        c.sync(torch, dev)
        times.append(c.now() - t)
        peak.sample()
        c.log(f"generate {r}: {times[-1] * 1000:.1f} ms")
    produced = out.shape[1] - width
    assert produced == args.new_tokens, f"generated {produced} tokens, expected {args.new_tokens}"
    total_s = statistics.median(times)
    new_total = args.prompts * args.new_tokens

    res = {
        "impl": "hf+peft" if args.rank else "hf",
        "bench": "generate",
        "shape": args.shape,
        "tokens_per_s": round(new_total / total_s, 1),
        "ms_total": round(total_s * 1000.0, 3),
        "ms_per_new_token_step": round(total_s * 1000.0 / args.new_tokens, 3),
        "prefill_ms": round(prefill_s * 1000.0, 3),
        "new_tokens": args.new_tokens,
        "prompts": args.prompts,
        "prompt_lengths": lengths,
        **c.PeakRss.result(peak),
        **c.versions(torch),
        "threads": torch.get_num_threads(),
        "device": dev,
        "dtype": args.dtype,
        "rank": args.rank,
        "repeats": args.repeats,
        "rss_at_start_mb": round(rss_start, 1) if rss_start else None,
        "build_s": round(build_s, 3),
        "attn": "sdpa",
        "decoding": "greedy, KV cache, left padding, min_new_tokens = max_new_tokens",
    }
    if dev.startswith("cuda"):
        res["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        res["gpu"] = torch.cuda.get_device_name()
    c.emit(res)


if __name__ == "__main__":
    main()
