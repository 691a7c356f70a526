#!/usr/bin/env python3
"""Proof that the official OpenAI Python SDK's files, vector stores and
conversations work against aoai-emulator, in both URL forms:
`OpenAI(base_url=…/openai/v1/)` and `AzureOpenAI(api_version="2025-04-01-preview")`.

Started by `tests/python_sdk_stores.rs`, which passes:

  AOAI_EMULATOR_BASE_URL  http://127.0.0.1:PORT
  AOAI_EMULATOR_KEY       a key the emulator accepts

Every check prints "ok <name>"; a failing check prints "FAIL <name>: why".
The script exits 1 if any check failed, 2 if it could not start.
"""

import os
import signal
import sys
import traceback

try:
    import openai
except ImportError as error:  # pragma: no cover - reported to the Rust test
    print(f"cannot import the OpenAI Python SDK ({error}); run `cargo xtask ci` to install it", file=sys.stderr)
    sys.exit(2)

API_VERSION = "2025-04-01-preview"
BASE_URL = os.environ.get("AOAI_EMULATOR_BASE_URL", "")
KEY = os.environ.get("AOAI_EMULATOR_KEY", "")
if not BASE_URL or not KEY:
    print("set AOAI_EMULATOR_BASE_URL and AOAI_EMULATOR_KEY (tests/python_sdk_stores.rs does)", file=sys.stderr)
    sys.exit(2)

signal.alarm(120)

LEAVE = b"Holiday policy. Every employee receives twenty-five days of paid annual leave each year."
BIKES = b"Commuting. Bicycles are parked in the basement garage next to the showers."


def clients():
    yield "v1", openai.OpenAI(base_url=f"{BASE_URL}/openai/v1/", api_key=KEY, timeout=20.0, max_retries=0)
    yield "dated", openai.AzureOpenAI(
        azure_endpoint=BASE_URL, api_key=KEY, api_version=API_VERSION, timeout=20.0, max_retries=0
    )


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def vector_stores_upload_and_search():
    for form, client in clients():
        store = client.vector_stores.create(name=f"handbook-{form}", metadata={"team": "hr"})
        expect(store.id.startswith("vs_") and store.object == "vector_store", f"{form}: {store}")
        leave = client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=("leave.md", LEAVE), poll_interval_ms=20
        )
        expect(leave.status == "completed", f"{form}: {leave}")
        expect(leave.chunking_strategy.type == "static", f"{form}: {leave.chunking_strategy}")
        expect(leave.chunking_strategy.static.max_chunk_size_tokens == 800, f"{form}")
        uploaded = client.files.create(file=("bikes.md", BIKES), purpose="assistants")
        batch = client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=[uploaded.id], poll_interval_ms=20
        )
        expect(batch.status == "completed" and batch.file_counts.completed == 1, f"{form}: {batch}")
        batch_files = list(client.vector_stores.file_batches.list_files(vector_store_id=store.id, batch_id=batch.id))
        expect([file.id for file in batch_files] == [uploaded.id], f"{form}: {batch_files}")
        files = list(client.vector_stores.files.list(vector_store_id=store.id, limit=1))
        expect(len(files) == 2, f"{form}: auto-paging over two pages gives both files: {files}")
        results = client.vector_stores.search(vector_store_id=store.id, query="days of paid leave", max_num_results=5)
        hits = list(results)
        expect(hits and hits[0].filename == "leave.md", f"{form}: {hits}")
        expect(0 < hits[0].score < 1 and hits[0].content[0].type == "text", f"{form}: {hits[0]}")
        expect("twenty-five" in hits[0].content[0].text, f"{form}: {hits[0]}")
        content = list(client.vector_stores.files.content(vector_store_id=store.id, file_id=leave.id))
        expect(content and "paid annual leave" in content[0].text, f"{form}: {content}")
        updated = client.vector_stores.update(vector_store_id=store.id, name="renamed")
        expect(updated.name == "renamed" and updated.file_counts.total == 2, f"{form}: {updated}")
        deleted = client.vector_stores.files.delete(vector_store_id=store.id, file_id=leave.id)
        expect(deleted.deleted and deleted.object == "vector_store.file.deleted", f"{form}: {deleted}")
        hits = list(client.vector_stores.search(vector_store_id=store.id, query="paid leave"))
        expect(all(hit.file_id != leave.id for hit in hits), f"{form}: {hits}")
        stores = [s.id for s in client.vector_stores.list(limit=1)]
        expect(store.id in stores, f"{form}: {stores}")
        gone = client.vector_stores.delete(vector_store_id=store.id)
        expect(gone.deleted and gone.object == "vector_store.deleted", f"{form}: {gone}")
        try:
            client.vector_stores.retrieve(vector_store_id=store.id)
        except openai.NotFoundError:
            pass
        else:
            raise AssertionError(f"{form}: a deleted store is still found")


def failed_file_has_last_error():
    for form, client in clients():
        store = client.vector_stores.create(name="failures")
        failed = client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00"), poll_interval_ms=20
        )
        expect(failed.status == "failed", f"{form}: {failed}")
        expect(failed.last_error.code == "unsupported_file", f"{form}: {failed.last_error}")


def conversations():
    for form, client in clients():
        conversation = client.conversations.create(
            items=[{"type": "message", "role": "user", "content": "Hello"}], metadata={"topic": "demo"}
        )
        expect(conversation.id.startswith("conv_") and conversation.object == "conversation", f"{form}")
        added = client.conversations.items.create(
            conversation_id=conversation.id,
            items=[
                {"type": "message", "role": "assistant", "content": "Hi there"},
                {"type": "message", "role": "user", "content": "Bye"},
            ],
        )
        expect(len(added.data) == 2, f"{form}: {added}")
        items = list(client.conversations.items.list(conversation_id=conversation.id, limit=1, order="asc"))
        expect(len(items) == 3 and items[0].content[0].text == "Hello", f"{form}: {items}")
        expect(items[1].role == "assistant", f"{form}: {items[1]}")
        item = client.conversations.items.retrieve(conversation_id=conversation.id, item_id=items[1].id)
        expect(item.id == items[1].id, f"{form}: {item}")
        client.conversations.items.delete(conversation_id=conversation.id, item_id=items[1].id)
        updated = client.conversations.update(conversation_id=conversation.id, metadata={"topic": "other"})
        expect(updated.metadata == {"topic": "other"}, f"{form}: {updated}")
        deleted = client.conversations.delete(conversation_id=conversation.id)
        expect(deleted.deleted, f"{form}: {deleted}")
        try:
            client.conversations.retrieve(conversation_id=conversation.id)
        except openai.NotFoundError:
            pass
        else:
            raise AssertionError(f"{form}: a deleted conversation is still found")


CHECKS = [vector_stores_upload_and_search, failed_file_has_last_error, conversations]


def main():
    print(f"openai {openai.__version__}, emulator {BASE_URL}", flush=True)
    failed = []
    for check in CHECKS:
        try:
            check()
        except Exception as error:  # noqa: BLE001 - every failure is reported
            failed.append(check.__name__)
            print(f"FAIL {check.__name__}: {type(error).__name__}: {error}", flush=True)
            traceback.print_exc()
        else:
            print(f"ok {check.__name__}", flush=True)
    if failed:
        print(f"{len(failed)} of {len(CHECKS)} checks failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    print(f"all {len(CHECKS)} checks passed")


if __name__ == "__main__":
    main()
