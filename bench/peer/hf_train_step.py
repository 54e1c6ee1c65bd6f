#!/usr/bin/env python3
"""Peer benchmark: one LoRA training step (forward + backward + AdamW) with HF transformers + PEFT.

Random-init Qwen2 (sdpa attention) at a named shape, PEFT LoRA on every linear layer
(all-linear: q/k/v/o/gate/up/down, not lm_head), labels -100 on the first half of every
sequence, torch.optim.AdamW over the LoRA parameters. Reports the median step time over
--steps timed steps after --warmup untimed ones.

Prints exactly one JSON line on stdout, e.g.
  {"impl": "hf+peft", "bench": "train-step", "shape": "tiny", "ms_per_step": ..., "tokens_per_s": ...,
   "peak_rss_mb": ..., "torch": ..., "transformers": ..., "peft": ..., "threads": ..., ...}
tokens_per_s counts every input token of the batch (batch * seq) per second.
"""
from __future__ import annotations

import argparse

import _common as c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(c.SHAPES), default="tiny")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="dtype of the base weights (no autocast); the JSON reports the LoRA parameters' dtype "
                         "(PEFT's get_peft_model upcasts bf16 adapters to fp32 by default)")
    ap.add_argument("--seq", type=int, default=0, help="sequence length (0: the shape's default)")
    ap.add_argument("--batch", type=int, default=0, help="batch size (0: the shape's default)")
    ap.add_argument("--rank", type=int, default=8, help="LoRA rank; alpha = 2 * rank")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch = c.setup(args.threads)
    peak = c.PeakRss()
    rss_start = c.vm_rss_mb()
    shape = c.SHAPES[args.shape]
    batch, seq = args.batch or shape["batch"], args.seq or shape["seq"]
    dtype = c.parse_dtype(torch, args.dtype)
    dev = args.device

    t0 = c.now()
    model = c.build_model(torch, args.shape, dev, dtype, args.seed)
    model.config.use_cache = False
    model = c.lora(model, args.rank)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    n_total = sum(p.numel() for p in model.parameters())
    lora_dtype = str(params[0].dtype).replace("torch.", "")
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    c.sync(torch, dev)
    build_s = c.now() - t0
    peak.sample()
    if dev.startswith("cuda"):  # the peak of the run, not of building the model (ours does the same)
        torch.cuda.reset_peak_memory_stats()

    g = torch.Generator().manual_seed(args.seed + 1)
    vocab = shape["config"]["vocab_size"]
    ids = torch.randint(1, vocab - 1, (batch, seq), generator=g).to(dev)
    labels = ids.clone()
    labels[:, : seq // 2] = -100
    mask = torch.ones_like(ids)

    def step():
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    losses, times = [], []
    for i in range(args.warmup + args.steps):
        c.sync(torch, dev)
        t = c.now()
        loss = step()
        c.sync(torch, dev)
        dt = c.now() - t
        losses.append(float(loss))
        peak.sample()
        if i >= args.warmup:
            times.append(dt)
        c.log(f"step {i}{' (warmup)' if i < args.warmup else ''}: {dt * 1000:.1f} ms, loss {losses[-1]:.4f}")

    ms = c.median_ms(times)
    out = {
        "impl": "hf+peft",
        "bench": "train-step",
        "shape": args.shape,
        "ms_per_step": round(ms, 3),
        "tokens_per_s": round(batch * seq / (ms / 1000.0), 1),
        **peak.result(),
        **c.versions(torch),
        "threads": torch.get_num_threads(),
        "device": dev,
        "dtype": args.dtype,
        "batch": batch,
        "seq": seq,
        "rank": args.rank,
        "steps": args.steps,
        "warmup": args.warmup,
        "ms_per_step_min": round(min(times) * 1000.0, 3),
        "ms_per_step_mean": round(sum(times) / len(times) * 1000.0, 3),
        "rss_at_start_mb": round(rss_start, 1) if rss_start else None,
        "build_s": round(build_s, 3),
        "trainable_params": n_trainable,
        "total_params": n_total,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "attn": "sdpa",
        "optimizer": {"type": "AdamW", "lr": args.lr, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
        "lora": {"dtype": lora_dtype, "r": args.rank, "alpha": 2 * args.rank, "dropout": 0.0, "target_modules": "all-linear"},
    }
    if dev.startswith("cuda"):
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        out["gpu"] = torch.cuda.get_device_name()
    c.emit(out)


if __name__ == "__main__":
    main()
