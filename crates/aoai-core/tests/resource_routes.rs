//! Every Files, Vector Stores and Conversations call pinned to its exact URL
//! (method, path, query, api-version) and headers (`OpenAI-Beta`), in both
//! Azure URL forms, against a raw recording server; plus metrics names, the
//! pager over recorded pages, and typed 404s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::{Arc, Mutex};

use aoai_core::Client;
use aoai_core::conversations::CreateConversation;
use aoai_core::files::{FileListQuery, FilePurpose};
use aoai_core::metrics::{MetricsRecorder, RequestRecord};
use aoai_core::page::ListQuery;
use aoai_core::responses::InputItem;
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_core::vector_stores::{
    AddVectorStoreFile, CreateFileBatch, CreateVectorStore, IngestionStatus, UpdateVectorStore,
    VectorStoreFileListQuery, VectorStoreSearchRequest,
};
use futures_util::TryStreamExt;
use serde_json::{Map, json};
use support::{RawServer, Reply};

/// Keeps the operation name of every record.
#[derive(Debug, Default)]
struct Names(Mutex<Vec<&'static str>>);

impl MetricsRecorder for Names {
    fn record(&self, record: &RequestRecord) {
        self.0.lock().unwrap().push(record.operation.as_str());
    }
}

const OK: &str = r#"{"id":"x"}"#;

fn client(endpoint: Endpoint) -> Client {
    Client::builder(endpoint).api_key("routes-key").retry(RetryPolicy::none()).build().unwrap()
}

/// Makes every call once; the server answers each with `{"id":"x"}`.
async fn call_everything(client: &Client) {
    client.upload_file_for(&FilePurpose::Assistants, "a.txt", "text".into()).await.unwrap();
    client.retrieve_file("file-1").await.unwrap();
    client.file_content("file-1").await.unwrap();
    client.delete_file("file-1").await.unwrap();
    let _: Vec<_> =
        client.list_files(&FileListQuery::new().purpose(FilePurpose::Assistants).limit(5)).try_collect().await.unwrap();

    client.create_vector_store(&CreateVectorStore::new().name("n")).await.unwrap();
    let _: Vec<_> = client.list_vector_stores(&ListQuery::new().limit(3).after("vs_0")).try_collect().await.unwrap();
    client.retrieve_vector_store("vs_1").await.unwrap();
    client.update_vector_store("vs_1", &UpdateVectorStore::new().name("m")).await.unwrap();
    client.delete_vector_store("vs_1").await.unwrap();
    client.add_vector_store_file("vs_1", &AddVectorStoreFile::new("file-1")).await.unwrap();
    let _: Vec<_> = client
        .list_vector_store_files("vs_1", &VectorStoreFileListQuery::new().status(IngestionStatus::Failed))
        .try_collect()
        .await
        .unwrap();
    client.retrieve_vector_store_file("vs_1", "file-1").await.unwrap();
    client.delete_vector_store_file("vs_1", "file-1").await.unwrap();
    client.create_vector_store_file_batch("vs_1", &CreateFileBatch::new(["file-1"])).await.unwrap();
    client.retrieve_vector_store_file_batch("vs_1", "vsfb_1").await.unwrap();
    client.cancel_vector_store_file_batch("vs_1", "vsfb_1").await.unwrap();
    let _: Vec<_> = client
        .list_vector_store_file_batch_files("vs_1", "vsfb_1", &VectorStoreFileListQuery::new())
        .try_collect()
        .await
        .unwrap();
    client.search_vector_store("vs_1", &VectorStoreSearchRequest::new("q")).await.unwrap();

    client.create_conversation(&CreateConversation::new()).await.unwrap();
    client.retrieve_conversation("conv_1").await.unwrap();
    client.update_conversation("conv_1", Map::new()).await.unwrap();
    client.delete_conversation("conv_1").await.unwrap();
    client.add_conversation_items("conv_1", &[InputItem::user("hi")]).await.unwrap();
    let _: Vec<_> = client.list_conversation_items("conv_1", &ListQuery::new()).try_collect().await.unwrap();
    client.retrieve_conversation_item("conv_1", "msg_1").await.unwrap();
    client.delete_conversation_item("conv_1", "msg_1").await.unwrap();
}

/// (method, path and query with `{q}` for the api-version part, OpenAI-Beta expected).
const EXPECTED: &[(&str, &str, bool)] = &[
    ("POST", "files", false),
    ("GET", "files/file-1", false),
    ("GET", "files/file-1/content", false),
    ("DELETE", "files/file-1", false),
    ("GET", "files?limit=5&purpose=assistants", false),
    ("POST", "vector_stores", true),
    ("GET", "vector_stores?limit=3&after=vs_0", true),
    ("GET", "vector_stores/vs_1", true),
    ("POST", "vector_stores/vs_1", true),
    ("DELETE", "vector_stores/vs_1", true),
    ("POST", "vector_stores/vs_1/files", true),
    ("GET", "vector_stores/vs_1/files?filter=failed", true),
    ("GET", "vector_stores/vs_1/files/file-1", true),
    ("DELETE", "vector_stores/vs_1/files/file-1", true),
    ("POST", "vector_stores/vs_1/file_batches", true),
    ("GET", "vector_stores/vs_1/file_batches/vsfb_1", true),
    ("POST", "vector_stores/vs_1/file_batches/vsfb_1/cancel", true),
    ("GET", "vector_stores/vs_1/file_batches/vsfb_1/files", true),
    ("POST", "vector_stores/vs_1/search", true),
    ("POST", "conversations", false),
    ("GET", "conversations/conv_1", false),
    ("POST", "conversations/conv_1", false),
    ("DELETE", "conversations/conv_1", false),
    ("POST", "conversations/conv_1/items", false),
    ("GET", "conversations/conv_1/items", false),
    ("GET", "conversations/conv_1/items/msg_1", false),
    ("DELETE", "conversations/conv_1/items/msg_1", false),
];

/// The api-version a dated endpoint configured with the default sends for this path.
fn dated_version(path: &str) -> &'static str {
    if path.starts_with("conversations") || path.ends_with("/search") {
        "2025-04-01-preview"
    } else {
        "2024-10-01-preview"
    }
}

fn replies() -> Vec<Reply> {
    (0..EXPECTED.len()).map(|_| Reply::json(200, &[], OK)).collect()
}

#[tokio::test]
async fn every_route_in_the_dated_form() {
    let server = RawServer::start(replies()).await;
    call_everything(&client(Endpoint::azure(&server.base).unwrap())).await;
    let requests = server.requests();
    assert_eq!(requests.len(), EXPECTED.len());
    for (request, (method, path, beta)) in requests.iter().zip(EXPECTED) {
        let (bare, query) = path.split_once('?').map_or((*path, None), |(bare, query)| (bare, Some(query)));
        let mut expected = format!("/openai/{bare}?api-version={}", dated_version(bare));
        if let Some(query) = query {
            expected.push('&');
            expected.push_str(query);
        }
        assert_eq!((request.method.as_str(), request.target.as_str()), (*method, expected.as_str()));
        assert!(!request.target.contains("deployments"));
        assert_eq!(request.header("openai-beta"), beta.then_some("assistants=v2"), "{expected}");
        assert_eq!(request.header("api-key"), Some("routes-key"));
    }
    // Bodies as the wire has them.
    assert_eq!(requests[5].json(), json!({"name": "n"}));
    assert_eq!(requests[8].json(), json!({"name": "m"}));
    assert_eq!(requests[10].json(), json!({"file_id": "file-1"}));
    assert_eq!(requests[14].json(), json!({"file_ids": ["file-1"]}));
    assert_eq!(requests[18].json(), json!({"query": "q"}));
    assert_eq!(requests[21].json(), json!({"metadata": {}}));
    assert_eq!(requests[23].json(), json!({"items": [{"type": "message", "role": "user", "content": "hi"}]}));
    let upload = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(upload.contains("name=\"purpose\"\r\n\r\nassistants\r\n"), "{upload}");
}

#[tokio::test]
async fn every_route_in_the_v1_form() {
    let server = RawServer::start(replies()).await;
    call_everything(&client(Endpoint::azure_v1(&server.base).unwrap())).await;
    let requests = server.requests();
    assert_eq!(requests.len(), EXPECTED.len());
    for (request, (method, path, beta)) in requests.iter().zip(EXPECTED) {
        let expected = format!("/openai/v1/{path}");
        assert_eq!((request.method.as_str(), request.target.as_str()), (*method, expected.as_str()));
        assert_eq!(request.header("openai-beta"), beta.then_some("assistants=v2"), "{expected}");
    }
}

#[tokio::test]
async fn a_newer_configured_version_is_kept() {
    let server = RawServer::start(vec![Reply::json(200, &[], OK)]).await;
    let client = client(Endpoint::azure_with_version(&server.base, "2025-06-01-preview").unwrap());
    client.create_conversation(&CreateConversation::new()).await.unwrap();
    assert_eq!(server.requests()[0].target, "/openai/conversations?api-version=2025-06-01-preview");
}

#[tokio::test]
async fn lists_follow_cursors_and_calls_are_named_in_metrics() {
    let server = RawServer::start(vec![
        Reply::json(200, &[], r#"{"object":"list","data":[{"id":"vs_a"},{"id":"vs_b"}],"first_id":"vs_a","last_id":"vs_b","has_more":true}"#),
        Reply::json(200, &[], r#"{"object":"list","data":[{"id":"vs_c"}],"has_more":true}"#),
        Reply::json(200, &[], r#"{"object":"list","data":[],"has_more":true}"#),
    ])
    .await;
    let recorder = Arc::new(Names::default());
    let client = Client::builder(Endpoint::azure_v1(&server.base).unwrap())
        .api_key("k")
        .retry(RetryPolicy::none())
        .metrics(recorder.clone())
        .build()
        .unwrap();
    let ids: Vec<String> =
        client.list_vector_stores(&ListQuery::new().limit(2)).map_ok(|store| store.id).try_collect().await.unwrap();
    assert_eq!(ids, ["vs_a", "vs_b", "vs_c"], "an empty page with has_more ends the list");
    let targets: Vec<String> = server.requests().into_iter().map(|request| request.target).collect();
    assert_eq!(
        targets,
        [
            "/openai/v1/vector_stores?limit=2",
            "/openai/v1/vector_stores?limit=2&after=vs_b",
            "/openai/v1/vector_stores?limit=2&after=vs_c",
        ],
        "without last_id, the last item's id is the cursor"
    );
    assert_eq!(*recorder.0.lock().unwrap(), ["vector_stores.list"; 3]);
}

#[tokio::test]
async fn a_404_is_typed_and_keeps_the_request_id() {
    let body = r#"{"error":{"code":"404","message":"Resource not found"}}"#;
    let server = RawServer::start(vec![Reply::json(404, &[], body)]).await;
    let client = client(Endpoint::azure_v1(&server.base).unwrap());
    let error = client.create_conversation(&CreateConversation::new()).await.unwrap_err();
    assert!(error.is_not_found());
    assert_eq!(error.request_id(), Some("req-0001"));
    assert!(!aoai_core::Error::InvalidRequest(aoai_core::error::InvalidRequestError::new("x")).is_not_found());
    // Ids that would reach another route are refused before sending.
    assert!(matches!(client.retrieve_vector_store("vs_1/files").await, Err(aoai_core::Error::InvalidRequest(_))));
    assert_eq!(server.requests().len(), 1);
}
