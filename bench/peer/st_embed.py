"""Peer side of bench/embed.ts: sentence-transformers `encode`.

  python3 bench/peer/st_embed.py --make DIR [--vocab N] [--layers 12]   # write the random-init model
  python3 bench/peer/st_embed.py --model DIR --sentences FILE --threads 2 --batch 32 [--out emb.f32]

--make writes a sentence-transformers directory of the paraphrase-multilingual-MiniLM-L12-v2 shape
(BertModel hidden 384, 12 layers, 12 heads, intermediate 1536, max 512 positions, mean pooling,
max_seq_length 128) with random weights and the fixtures' Unigram tokenizer
(test/fixtures/encoder/trained-tokenizers/unigram.json; its 400 ids come first in a vocabulary of
--vocab rows). The timing run prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import setup, vm_hwm_mb  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make(args, torch) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    tok = Tokenizer.from_file(os.path.join(REPO, "test/fixtures/encoder/trained-tokenizers/unigram.json"))
    fast = XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
                                   unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512)
    cfg = BertConfig(vocab_size=max(args.vocab, tok.get_vocab_size()), hidden_size=384, num_hidden_layers=args.layers,
                     num_attention_heads=12, intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2,
                     hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=1)
    torch.manual_seed(0)
    model = BertModel(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        fast.save_pretrained(tmp)
        st = SentenceTransformer(modules=[Transformer(tmp, max_seq_length=128), Pooling(384, "mean")], device="cpu")
        st.save(args.make)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--make")
    ap.add_argument("--vocab", type=int, default=250037)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--model")
    ap.add_argument("--sentences")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    torch = setup(args.threads)
    if args.make:
        make(args, torch)
        return
    from sentence_transformers import SentenceTransformer

    sentences = json.load(open(args.sentences, encoding="utf-8"))
    t0 = time.perf_counter()
    st = SentenceTransformer(args.model, device=args.device)
    if args.dtype == "bf16":
        st = st.to(torch.bfloat16)
    load_ms = (time.perf_counter() - t0) * 1000
    st.encode(sentences[:16], batch_size=args.batch)  # warmup
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        emb = st.encode(sentences, batch_size=args.batch, convert_to_numpy=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    if args.out:
        emb.astype("float32").tofile(args.out)
    extra = {}
    if args.device.startswith("cuda"):
        extra = {"peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20, "gpu": torch.cuda.get_device_name()}
    ms = statistics.median(times)
    tokens = int(st.preprocess(sentences)["attention_mask"].sum())
    print(json.dumps({
        "impl": "sentence-transformers", "sentences": len(sentences), "tokens": tokens, "ms_median": ms,
        "sentences_per_s": len(sentences) / (ms / 1000), "load_ms": load_ms, "peak_rss_mb": vm_hwm_mb(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device, "dtype": args.dtype,
        **extra,
    }))


if __name__ == "__main__":
    main()
