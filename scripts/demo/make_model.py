#!/usr/bin/env python3
"""Builds the demo's small pretrained decoder (assets/demo/model) from scratch on CPU.

Usage:
    python3 scripts/demo/make_model.py [OUT_DIR] [--steps N]     (default: assets/demo/model)

1. A background corpus: ChatML question/answer conversations about a fictional world of its own
   (other people, companies, towns and teams than the stream's, built with scripts/demo/world.py),
   asked with every template, training and test ones alike, for the years 2022-2025. So the model
   learns the chat format, the question forms and the shape of each answer (a person's name, a
   town, a number), but none of the stream's facts.
2. A byte-level BPE tokenizer with Qwen2's pre-tokenizer (Python `tokenizers`, vocabulary of 1024) trained on that corpus,
   with the ChatML special tokens <|endoftext|> (padding), <|im_start|> and <|im_end|> (end of
   turn, the eos token), and a ChatML chat_template in tokenizer_config.json.
3. A Qwen2-architecture decoder (2 layers, hidden size 128, tied embeddings; 427 k
   parameters, float32, 1.7 MB) pretrained with transformers on that corpus: AdamW, cosine schedule,
   loss on every token of the conversation.

Deterministic: fixed seeds, one data order, torch.use_deterministic_algorithms; two runs on the
same machine wrote byte-identical files (bitwise equality across CPUs or thread counts is not
promised: float reductions may differ). 400 steps: about 30 s on 2 idle cores, 6 minutes on a
heavily shared machine. Nothing is downloaded.
"""
import json
import math
import os
import random
import shutil
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tokenizer training in one thread: one merge order

import torch  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_stream import stream_names  # noqa: E402
from world import ATTRIBUTES, YEARS, NameMaker, Value  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 7
BACKGROUND = {"town": 40, "company": 40, "team": 30, "person": 60}
UPDATE_RATE = 0.4
VOCAB_SIZE = 1024
QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
MODEL = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=256,
             max_position_embeddings=512, rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
TRAIN = dict(steps=400, batch_size=32, lr=3e-3, warmup=20, weight_decay=0.01)


def background_conversations():
    """Every (question, answer) of the background world, with every template."""
    rng = random.Random(SEED)
    names = NameMaker(rng, taken=stream_names())
    entities = {
        "town": [names.town() for _ in range(BACKGROUND["town"])],
        "company": [names.company() for _ in range(BACKGROUND["company"])],
        "team": [names.team() for _ in range(BACKGROUND["team"])],
        "person": [names.person() for _ in range(BACKGROUND["person"])],
    }
    values = Value(rng, names, entities["town"], entities["company"])
    pairs, previous = [], {}
    for year in YEARS:
        current = {}
        for kind, attrs in ATTRIBUTES.items():
            for entity in entities[kind]:
                for attr, (value_kind, train_t, test_t) in attrs.items():
                    key = (kind, entity, attr)
                    if key in previous and rng.random() >= UPDATE_RATE:
                        current[key] = previous[key]
                    else:
                        current[key] = values.draw(value_kind, previous.get(key))
                    for t in train_t + test_t:
                        pairs.append((t.format(e=entity, y=year), current[key]))
        previous = current
    return pairs


def chatml(question: str, answer: str) -> str:
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"


def train_tokenizer(texts):
    # Qwen2's own normalizer and pre-tokenizer (one digit per token): transformers 5 rebuilds them
    # for any model_type qwen2 tokenizer, so with these its AutoTokenizer gives our ids.
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>"], chat_template=CHAT_TEMPLATE,
                                   model_max_length=512, clean_up_tokenization_spaces=False)


def finish_tokenizer_config(out: str) -> None:
    """Keeps the chat template inside tokenizer_config.json (where every loader looks, older
    transformers included) instead of transformers 5's separate chat_template.jinja, and names
    the generic fast-tokenizer class."""
    path = os.path.join(out, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    config["chat_template"] = CHAT_TEMPLATE
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(config, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
    jinja = os.path.join(out, "chat_template.jinja")
    if os.path.exists(jinja):
        os.remove(jinja)


def main() -> None:
    args = sys.argv[1:]
    steps = TRAIN["steps"]
    if "--steps" in args:
        i = args.index("--steps")
        steps = int(args[i + 1])
        del args[i:i + 2]
    out = args[0] if args else os.path.join(ROOT, "assets", "demo", "model")
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    started = time.time()

    pairs = background_conversations()
    texts = [chatml(q, a) for q, a in pairs]
    tokenizer = train_tokenizer([f"{q}\n{a}" for q, a in pairs] + ["user\nassistant\n"])
    pad, eos = tokenizer.convert_tokens_to_ids("<|endoftext|>"), tokenizer.convert_tokens_to_ids("<|im_end|>")
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    print(f"corpus: {len(texts)} conversations, {sum(map(len, encoded))} tokens, longest {max(map(len, encoded))}", flush=True)

    config = Qwen2Config(vocab_size=len(tokenizer), bos_token_id=None, eos_token_id=eos, pad_token_id=pad, **MODEL)
    model = Qwen2ForCausalLM(config)
    print(f"model: {sum(p.numel() for p in model.parameters() if p.requires_grad)} parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": TRAIN["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=TRAIN["lr"], betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / TRAIN["warmup"]) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    rng = random.Random(SEED)
    order = []
    model.train()
    for step in range(steps):
        if len(order) < TRAIN["batch_size"]:
            more = list(range(len(encoded)))
            rng.shuffle(more)
            order += more
        batch = [encoded[i] for i in order[:TRAIN["batch_size"]]]
        del order[:TRAIN["batch_size"]]
        width = max(map(len, batch))
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, seq in enumerate(batch):
            ids[i, :len(seq)] = torch.tensor(seq)
            mask[i, :len(seq)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.4f} ({time.time() - started:.0f} s)", flush=True)

    model.eval()
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    model.generation_config = GenerationConfig(eos_token_id=[eos, pad], pad_token_id=pad, do_sample=False, max_new_tokens=16)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    finish_tokenizer_config(out)
    print(f"wrote {out} in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
