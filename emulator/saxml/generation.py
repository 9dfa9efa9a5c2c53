"""Text an emulated language model generates: deterministic, plausible, and not meaningful.

The same (model, query, extra inputs) always gives the same samples, so tests and rehearsals can
compare answers; the text is words and punctuation, as a random-weight test model's detokenized
output would be, sized by the decode steps. Scores are log-probabilities (negative), best first.
"""

import hashlib
import json
import random

_WORDS = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "they",
    "you",
    "were",
    "her",
    "she",
    "there",
    "been",
    "one",
    "all",
    "we",
    "their",
    "has",
    "would",
    "when",
    "if",
    "so",
    "no",
    "will",
    "what",
    "can",
    "more",
    "out",
    "up",
    "into",
    "time",
    "only",
    "new",
    "some",
    "could",
    "these",
    "two",
    "may",
    "first",
    "then",
    "do",
    "any",
    "like",
    "my",
    "now",
    "over",
    "such",
    "our",
    "man",
    "me",
    "even",
    "most",
    "made",
    "after",
    "also",
    "did",
    "many",
    "before",
    "must",
    "through",
    "back",
    "years",
    "where",
    "much",
    "your",
    "way",
    "well",
    "down",
    "should",
    "because",
    "each",
    "just",
    "those",
    "people",
    "how",
    "too",
    "little",
    "state",
    "good",
    "very",
    "make",
    "world",
    "still",
    "own",
    "see",
    "men",
    "work",
    "long",
    "get",
    "here",
    "between",
    "both",
    "life",
    "being",
    "under",
    "never",
    "day",
    "same",
    "another",
    "know",
    "while",
    "last",
    "might",
    "us",
    "great",
    "old",
    "year",
    "off",
    "come",
    "since",
    "against",
    "go",
    "came",
    "right",
    "used",
    "take",
    "three",
    "week",
    "days",
    "seven",
    "number",
    "light",
    "water",
)
TOKENS_PER_WORD = 1.3


def generate(
    model_path: str, query: str, extra_inputs: dict[str, float], samples: int, decode_steps: int
) -> list[tuple[str, float]]:
    """`samples` (text, score) pairs, best score first."""
    seed = json.dumps([model_path, query, sorted(extra_inputs.items())])
    results = [_sample(f"{seed}#{index}", decode_steps) for index in range(samples)]
    return sorted(results, key=lambda result: result[1], reverse=True)


def _sample(seed: str, decode_steps: int) -> tuple[str, float]:
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    word_count = max(1, int(decode_steps / TOKENS_PER_WORD * rng.uniform(0.4, 1.0)))
    words = [rng.choice(_WORDS) for _ in range(word_count)]
    text, sentence_start = [], True
    for index, word in enumerate(words):
        text.append(word.capitalize() if sentence_start else word)
        sentence_start = False
        if index == len(words) - 1:
            text[-1] += "."
        elif rng.random() < 0.1:
            mark = rng.choice(".,.?!;")
            text[-1] += mark
            sentence_start = mark in ".?!"
    score = -round(word_count * TOKENS_PER_WORD * rng.uniform(1.5, 4.0), 4)
    return " ".join(text), score
