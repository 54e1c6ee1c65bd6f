#!/usr/bin/env python3
"""Writes the demo's knowledge-evolution stream: four yearly tasks (2022-2025) of questions about
fictional people, companies, towns and teams whose facts change from year to year.

Usage:
    python3 scripts/demo/make_stream.py [OUT_DIR]     (default: assets/demo/stream)

For each year it writes OUT_DIR/<year>/train.jsonl and test.jsonl in ms-swift `messages` form
(one user question, one short assistant answer). Every record carries an extra field `kind`:
`new` (the fact did not exist the year before; every 2022 fact is new), `updated` (its value
changed since the previous year) or `unchanged`. Test questions use paraphrase templates that
never occur in training. OUT_DIR/facts.json holds the whole fact table, year by year.

Deterministic (fixed seed, no clock, no network): rerunning gives byte-identical files.
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from world import ATTRIBUTES, YEARS, NameMaker, Value, message  # noqa: E402

SEED = 2022
# entities active from 2022, then added each later year
START = {"company": 4, "town": 4, "team": 3, "person": 5}
ADDED_PER_YEAR = {"company": 1, "town": 1, "team": 1, "person": 1}
TOTAL = {k: START[k] + ADDED_PER_YEAR[k] * (len(YEARS) - 1) for k in START}
UPDATE_RATE = 0.4           # share of last year's facts that change
TEST_FACTS_PER_YEAR = 48    # facts asked per year (all new and updated ones, then unchanged ones)
TRAIN_TEMPLATES_PER_FACT = 2
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_world(rng: random.Random):
    """The stream's entities by kind, plus the NameMaker that made them (for value names)."""
    names = NameMaker(rng)
    entities = {
        "town": [names.town() for _ in range(TOTAL["town"])],
        "company": [names.company() for _ in range(TOTAL["company"])],
        "team": [names.team() for _ in range(TOTAL["team"])],
        "person": [names.person() for _ in range(TOTAL["person"])],
    }
    return entities, names


def stream_names() -> set:
    """Every name the stream uses (entities and values), so the pretraining corpus can avoid them."""
    return set(build_facts()[1].used)


def build_facts():
    rng = random.Random(SEED)
    entities, names = build_world(rng)
    values = Value(rng, names, entities["town"], entities["company"])
    facts = {}  # year -> {(kind, entity, attribute): value}
    previous = {}
    for y_index, year in enumerate(YEARS):
        current = {}
        for kind, attrs in ATTRIBUTES.items():
            active = START[kind] + ADDED_PER_YEAR[kind] * y_index
            for entity in entities[kind][:active]:
                for attr, (value_kind, _, _) in attrs.items():
                    key = (kind, entity, attr)
                    if key not in previous:
                        current[key] = values.draw(value_kind)
                    elif rng.random() < UPDATE_RATE:
                        current[key] = values.draw(value_kind, previous[key])
                    else:
                        current[key] = previous[key]
        facts[year] = current
        previous = current
    return facts, names


def label(facts, y_index, key) -> str:
    if y_index == 0 or key not in facts[YEARS[y_index - 1]]:
        return "new"
    return "unchanged" if facts[YEARS[y_index - 1]][key] == facts[YEARS[y_index]][key] else "updated"


def write_jsonl(path: str, records) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "assets", "demo", "stream")
    facts, _ = build_facts()
    rng = random.Random(SEED + 1)
    table = {}
    for y_index, year in enumerate(YEARS):
        keys = sorted(facts[year])
        labelled = [(k, label(facts, y_index, k)) for k in keys]
        changed = [x for x in labelled if x[1] != "unchanged"]
        same = [x for x in labelled if x[1] == "unchanged"]
        rng.shuffle(changed)
        rng.shuffle(same)
        asked = (changed + same)[:TEST_FACTS_PER_YEAR]
        train, test = [], []
        for (kind, entity, attr), kind_label in asked:
            _, train_templates, test_templates = ATTRIBUTES[kind][attr]
            answer = facts[year][(kind, entity, attr)]
            for t in rng.sample(train_templates, TRAIN_TEMPLATES_PER_FACT):
                train.append({**message(t.format(e=entity, y=year), answer), "kind": kind_label})
            test.append({**message(rng.choice(test_templates).format(e=entity, y=year), answer), "kind": kind_label})
        rng.shuffle(train)
        rng.shuffle(test)
        os.makedirs(os.path.join(out, year), exist_ok=True)
        write_jsonl(os.path.join(out, year, "train.jsonl"), train)
        write_jsonl(os.path.join(out, year, "test.jsonl"), test)
        table[year] = [{"kind": k, "entity": e, "attribute": a, "value": facts[year][(k, e, a)], "change": label(facts, y_index, (k, e, a))} for (k, e, a) in keys]
        counts = {c: sum(1 for _, l in asked if l == c) for c in ("unchanged", "updated", "new")}
        print(f"{year}: {len(train)} train, {len(test)} test ({counts})")
    with open(os.path.join(out, "facts.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(table, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
