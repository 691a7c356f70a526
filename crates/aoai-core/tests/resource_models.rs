//! Files, vector stores and conversations models read raw payloads: the
//! response bodies of the 2024-10-01-preview spec's examples (file names
//! below, from `specification/cognitiveservices/data-plane/AzureOpenAI/inference/preview/2024-10-01-preview/examples/`),
//! with unknown fields kept and unknown enum values kept as sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aoai_core::conversations::Conversation;
use aoai_core::files::{FileObject, FilePurpose, FileStatus};
use aoai_core::page::Page;
use aoai_core::responses::OutputItem;
use aoai_core::vector_stores::{
    IngestionStatus, VectorStore, VectorStoreFile, VectorStoreFileBatch, VectorStoreSearchResults, VectorStoreStatus,
};

/// `get_file.json`.
const GET_FILE: &str = r#"{"object":"file","id":"inference-uzdgnx4i8PPe96zgXQ1vJ9W3","purpose":"assistants",
"filename":"test78686269-a3d7-4c96-be67-fecdf3f39de8.txt","bytes":4,"created_at":1718886199,"status":"processed",
"status_details":null}"#;

/// `list_vector_stores.json` (its stores have `bytes`, not `usage_bytes`, and no `status`).
const LIST_VECTOR_STORES: &str = r#"{"object":"list","data":[
{"id":"vs_abc123","object":"vector_store","created_at":1699061776,"name":"Support FAQ","bytes":139920,
 "file_counts":{"in_progress":0,"completed":3,"failed":0,"cancelled":0,"total":3}},
{"id":"vs_abc456","object":"vector_store","created_at":1699061776,"name":"Support FAQ v2","bytes":139920,
 "file_counts":{"in_progress":0,"completed":3,"failed":0,"cancelled":0,"total":3}}],
"first_id":"vs_abc123","last_id":"vs_abc456","has_more":false}"#;

/// `create_vector_store_file.json`.
const CREATE_VECTOR_STORE_FILE: &str = r#"{"id":"file-abc123","object":"vector_store.file","created_at":1699061776,
"usage_bytes":1234,"vector_store_id":"vs_abcd","status":"completed","last_error":null}"#;

/// `retrieve_vector_store_file_batch.json` (`object` is `vector_store.file_batch` there,
/// `vector_store.files_batch` in the SDK).
const RETRIEVE_FILE_BATCH: &str = r#"{"id":"vsfb_abc123","object":"vector_store.file_batch","created_at":1699061776,
"vector_store_id":"vs_abc123","status":"in_progress",
"file_counts":{"in_progress":1,"completed":1,"failed":0,"cancelled":0,"total":0}}"#;

#[test]
fn spec_examples_parse() {
    let file: FileObject = serde_json::from_str(GET_FILE).unwrap();
    assert_eq!((file.purpose, file.status, file.bytes), (FilePurpose::Assistants, Some(FileStatus::Processed), 4));

    let stores: Page<VectorStore> = serde_json::from_str(LIST_VECTOR_STORES).unwrap();
    assert_eq!(stores.data.len(), 2);
    assert_eq!(stores.next_cursor(), Some("vs_abc456"));
    assert_eq!(stores.data[0].file_counts.completed, 3);
    assert_eq!(stores.data[0].extra["bytes"], 139920, "a field the type doesn't name is kept");
    assert_eq!(stores.data[0].status, VectorStoreStatus::InProgress, "absent: the default");

    let file: VectorStoreFile = serde_json::from_str(CREATE_VECTOR_STORE_FILE).unwrap();
    assert_eq!((file.status, file.usage_bytes, file.last_error), (IngestionStatus::Completed, 1234, None));

    let batch: VectorStoreFileBatch = serde_json::from_str(RETRIEVE_FILE_BATCH).unwrap();
    assert_eq!(batch.object, "vector_store.file_batch");
    assert_eq!(batch.file_counts.in_progress, 1);
}

#[test]
fn unknown_values_are_kept() {
    let store: VectorStore = serde_json::from_str(r#"{"id":"vs_1","status":"archived","usage_bytes":1}"#).unwrap();
    assert_eq!(store.status, VectorStoreStatus::Unknown("archived".to_owned()));
    let results: VectorStoreSearchResults = serde_json::from_str(
        r#"{"object":"vector_store.search_results.page","search_query":["q"],"data":[{"file_id":"f","filename":"a",
        "score":0.5,"content":[{"type":"image","url":"x"}],"rank":1}],"has_more":false,"next_page":null}"#,
    )
    .unwrap();
    assert_eq!(results.data[0].extra["rank"], 1);
    assert_eq!(results.data[0].content[0].kind, "image");
    let conversation: Conversation =
        serde_json::from_str(r#"{"id":"conv_1","object":"conversation","created_at":1,"metadata":{},"x":true}"#)
            .unwrap();
    assert_eq!(conversation.extra["x"], true);
    let items: Page<OutputItem> = serde_json::from_str(
        r#"{"object":"list","data":[{"type":"message","id":"msg_1","role":"user","status":"completed",
        "content":[{"type":"input_text","text":"Hi"}]},{"type":"computer_call","id":"cu_1"}],
        "first_id":"msg_1","last_id":"cu_1","has_more":false}"#,
    )
    .unwrap();
    assert!(matches!(&items.data[0], OutputItem::Message(message) if message.text() == "Hi"));
    assert!(matches!(&items.data[1], OutputItem::Other(value) if value["type"] == "computer_call"));
    assert_eq!(items.data[1].id(), Some("cu_1"));
}
