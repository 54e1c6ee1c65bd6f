"""A small fictional world shared by the demo's stream (make_stream.py) and the pretraining corpus
(make_model.py): entity kinds, their attributes, the question templates and a seeded name maker.

Everything is deterministic given a `random.Random`; nothing here reads or downloads anything.
Both scripts draw entities from the same name space but keep their names disjoint, so the
pretrained model knows the question forms and answer shapes, never the stream's facts.
"""
import random

YEARS = ["2022", "2023", "2024", "2025"]

_ONSETS = ["b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "r", "s", "st", "t", "th", "v", "w", "z"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
_CODAS = ["", "", "n", "r", "l", "s", "th", "nd", "rk", "m"]
_TOWN_ENDS = ["ford", "wick", "ton", "mere", "bury", "vale", "holm", "stead"]
_COMPANY_ENDS = ["Systems", "Labs", "Foods", "Motors", "Works", "Textiles", "Energy", "Media"]
_TEAM_ANIMALS = ["Otters", "Falcons", "Badgers", "Herons", "Wolves", "Foxes", "Ravens", "Lynxes"]
JOBS = ["architect", "baker", "pilot", "surgeon", "teacher", "chemist", "lawyer", "painter", "farmer", "engineer", "sailor", "judge"]
PRODUCTS = ["lamps", "bicycles", "tea", "batteries", "boots", "radios", "paper", "cheese", "drones", "glass", "soap", "kites"]


def _syllable(rng: random.Random) -> str:
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(_syllable(rng) for _ in range(syllables)).capitalize()


class NameMaker:
    """Unique fictional names of each kind; `taken` keeps names out that another world uses."""

    def __init__(self, rng: random.Random, taken: set = None):
        self.rng = rng
        self.used = set(taken or ())

    def _unique(self, make) -> str:
        while True:
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name

    def person(self) -> str:
        return self._unique(lambda: f"{_word(self.rng, 2)} {_word(self.rng, 2)}")

    def town(self) -> str:
        return self._unique(lambda: _word(self.rng, 1) + self.rng.choice(_TOWN_ENDS))

    def company(self) -> str:
        return self._unique(lambda: f"{_word(self.rng, 2)} {self.rng.choice(_COMPANY_ENDS)}")

    def team(self) -> str:
        return self._unique(lambda: f"{_word(self.rng, 1)}{self.rng.choice(_TOWN_ENDS)} {self.rng.choice(_TEAM_ANIMALS)}")


# kind -> attribute -> (value kind, training templates, test templates). {e} is the entity, {y} the year.
# Test templates are paraphrases never used for training.
ATTRIBUTES = {
    "company": {
        "ceo": ("person",
                ["In {y}, who was the CEO of {e}?", "Who ran {e} as chief executive in {y}?", "Name the CEO of {e} in {y}."],
                ["Which person led {e} as its CEO in {y}?", "{e} had which chief executive in {y}?"]),
        "hq": ("town",
               ["In {y}, where was {e} headquartered?", "Which town was home to the head office of {e} in {y}?", "Name the headquarters town of {e} in {y}."],
               ["Where did {e} have its headquarters in {y}?", "In {y}, the main office of {e} was in which town?"]),
        "product": ("product",
                    ["In {y}, what did {e} mainly make?", "What was the main product of {e} in {y}?", "Name the main product of {e} in {y}."],
                    ["What did {e} produce most in {y}?", "In {y}, {e} was best known for making what?"]),
    },
    "town": {
        "mayor": ("person",
                  ["In {y}, who was the mayor of {e}?", "Who served as mayor of {e} in {y}?", "Name the mayor of {e} in {y}."],
                  ["Which person held the office of mayor in {e} in {y}?", "{e} was governed by which mayor in {y}?"]),
        "population": ("number",
                       ["In {y}, what was the population of {e}?", "How many people lived in {e} in {y}?", "State the population of {e} in {y}."],
                       ["What number of residents did {e} have in {y}?", "In {y}, {e} had how many inhabitants?"]),
    },
    "team": {
        "coach": ("person",
                  ["In {y}, who coached the {e}?", "Who was the head coach of the {e} in {y}?", "Name the coach of the {e} in {y}."],
                  ["Which person trained the {e} as head coach in {y}?", "The {e} were coached by whom in {y}?"]),
        "captain": ("person",
                    ["In {y}, who was the captain of the {e}?", "Who captained the {e} in {y}?", "Name the captain of the {e} in {y}."],
                    ["Which player led the {e} as captain in {y}?", "The {e} had which captain in {y}?"]),
        "titles": ("count",
                   ["In {y}, how many titles had the {e} won?", "What was the title count of the {e} in {y}?", "State how many titles the {e} had by {y}."],
                   ["By {y}, the {e} had won how many titles?", "How many championships did the {e} hold in {y}?"]),
    },
    "person": {
        "employer": ("company",
                     ["In {y}, which company did {e} work for?", "Who employed {e} in {y}?", "Name the employer of {e} in {y}."],
                     ["Where was {e} employed in {y}?", "In {y}, {e} was on the staff of which company?"]),
        "home": ("town",
                 ["In {y}, where did {e} live?", "Which town was the home of {e} in {y}?", "Name the home town of {e} in {y}."],
                 ["Where was {e} living in {y}?", "In {y}, {e} resided in which town?"]),
        "job": ("job",
                ["In {y}, what was the job of {e}?", "What did {e} work as in {y}?", "Name the profession of {e} in {y}."],
                ["What was the occupation of {e} in {y}?", "In {y}, {e} earned a living as what?"]),
    },
}


class Value:
    """Draws attribute values; `people`, `towns`, `companies` are the world's own entities."""

    def __init__(self, rng: random.Random, names: NameMaker, towns: list, companies: list):
        self.rng, self.names, self.towns, self.companies = rng, names, towns, companies

    def draw(self, kind: str, previous: str = None) -> str:
        for _ in range(100):
            v = self._draw(kind, previous)
            if v != previous:
                return v
        raise RuntimeError(f"cannot draw a new {kind}")

    def _draw(self, kind: str, previous):
        r = self.rng
        if kind == "person":
            return self.names.person()
        if kind == "town":
            return r.choice(self.towns)
        if kind == "company":
            return r.choice(self.companies)
        if kind == "product":
            return r.choice(PRODUCTS)
        if kind == "job":
            return r.choice(JOBS)
        if kind == "number":
            if previous is not None:  # a population moves a little
                return str(max(1000, int(previous) + r.choice([-1, 1]) * r.randrange(200, 3000, 100)))
            return str(r.randrange(4000, 90000, 100))
        if kind == "count":
            return str(int(previous) + r.randint(1, 2)) if previous is not None else str(r.randint(0, 9))
        raise ValueError(kind)


def message(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
