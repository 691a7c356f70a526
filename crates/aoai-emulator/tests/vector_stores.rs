//! Files and vector stores through `aoai_core::Client` against the emulator,
//! in both URL forms (`/openai/…?api-version=` and `/openai/v1/…`): ingestion
//! polled to completion on a shared manual clock with progress observed,
//! search that finds the right file, failures with `last_error`, deletion
//! that removes chunks from search, paging over several pages, file batches
//! and cancellation, 404s in Azure's shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use aoai_core::clock::{ManualClock, Time};
use aoai_core::files::{FileListQuery, FilePurpose};
use aoai_core::page::{ListQuery, Order};
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_core::vector_stores::{
    AddVectorStoreFile, ChunkingStrategy, CreateFileBatch, CreateVectorStore, IngestionProgress, IngestionStatus,
    LastErrorCode, PollOptions, UpdateVectorStore, VectorStoreFileListQuery, VectorStoreSearchRequest,
    VectorStoreStatus,
};
use aoai_core::{Client, Error};
use aoai_emulator::{Emulator, EmulatorHandle};
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde_json::json;

/// Ingestion takes one batch step on the emulator's clock.
const STEP: Duration = Duration::from_secs(1);

const LEAVE: &str = "Holiday policy. Every employee receives twenty-five days of paid annual leave. \
                     Unused leave days carry over to the next year, up to five days.";
const BIKES: &str = "Commuting. Bicycles are parked in the basement garage; showers are on the second floor.";
const CANTEEN: &str = "The canteen serves lunch from noon until two o'clock. Vegetarian dishes are marked green.";

async fn emulator(clock: &ManualClock) -> EmulatorHandle {
    Emulator::builder().time(Time::manual(clock)).batch_step(STEP).start().await.unwrap()
}

/// A client on `endpoint` sharing the emulator's manual clock: the client's
/// polling sleeps move the emulator's time forward.
fn client(emulator: &EmulatorHandle, endpoint: Endpoint, clock: &ManualClock) -> Client {
    Client::builder(endpoint)
        .api_key(emulator.api_key())
        .retry(RetryPolicy::none())
        .time(Time::manual(clock))
        .build()
        .unwrap()
}

fn both_forms(emulator: &EmulatorHandle) -> [(&'static str, Endpoint); 2] {
    [("dated", emulator.endpoint()), ("v1", emulator.v1_endpoint())]
}

fn poll() -> PollOptions {
    PollOptions::default().initial_interval(Duration::from_millis(250)).max_interval(Duration::from_secs(2))
}

#[tokio::test]
async fn ingest_search_fail_and_delete_in_both_url_forms() {
    let clock = ManualClock::new();
    let emulator = emulator(&clock).await;
    for (form, endpoint) in both_forms(&emulator) {
        let client = client(&emulator, endpoint, &clock);
        let store = client
            .create_vector_store(&CreateVectorStore::new().name(format!("handbook-{form}")).metadata("team", "hr"))
            .await
            .unwrap();
        assert!(store.meta.request_id.is_some());
        let store = store.body;
        assert!(store.id.starts_with("vs_"), "{form}: {store:?}");
        assert_eq!(store.status, VectorStoreStatus::Completed, "{form}: an empty store is ready");
        assert_eq!(store.metadata.as_ref().unwrap()["team"], "hr");

        let files = vec![
            ("leave.md".to_owned(), Bytes::from(LEAVE)),
            ("bikes.md".to_owned(), Bytes::from(BIKES)),
            ("canteen.txt".to_owned(), Bytes::from(CANTEEN)),
            ("logo.png".to_owned(), Bytes::from_static(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")),
        ];
        let mut seen: Vec<IngestionProgress> = Vec::new();
        let report = client
            .upload_files_to_vector_store(&store.id, files, &poll(), &mut |progress| seen.push(progress))
            .await
            .unwrap();
        assert!(seen.len() >= 2, "{form}: {seen:?}");
        assert_eq!(seen[0].in_progress, 4, "{form}: the first poll sees every file in progress");
        assert_eq!(
            *seen.last().unwrap(),
            IngestionProgress { completed: 3, failed: 1, in_progress: 0, cancelled: 0, total: 4 }
        );
        assert_eq!(report.files.len(), 4);
        assert_eq!(report.polls as usize, seen.len());
        let failures: Vec<_> = report.failures().collect();
        assert_eq!(failures.len(), 1, "{form}");
        let error = failures[0].last_error.as_ref().unwrap();
        assert_eq!(error.code, LastErrorCode::UnsupportedFile);
        assert!(error.message.contains("logo.png"), "{error:?}");
        assert!(!report.all_completed());

        let ready = client.retrieve_vector_store(&store.id).await.unwrap().body;
        assert_eq!(ready.status, VectorStoreStatus::Completed);
        assert_eq!(ready.file_counts.completed, 3);
        assert!(ready.usage_bytes >= (LEAVE.len() + BIKES.len() + CANTEEN.len()) as u64);

        // Search finds the right file, with a score in (0, 1).
        let hits = client
            .search_vector_store(&store.id, &VectorStoreSearchRequest::new("how many days of paid leave"))
            .await
            .unwrap()
            .body;
        assert_eq!(hits.object, "vector_store.search_results.page");
        assert_eq!(hits.search_query, ["how many days of paid leave"]);
        assert_eq!(hits.data[0].filename, "leave.md", "{form}: {hits:?}");
        assert!(hits.data[0].score > 0.0 && hits.data[0].score < 1.0);
        assert!(hits.data[0].text().contains("twenty-five days"));
        assert!(hits.data.windows(2).all(|pair| pair[0].score >= pair[1].score));
        let leave_id = hits.data[0].file_id.clone();

        // An unknown file id ends failed with invalid_file.
        let unknown =
            client.add_vector_store_file(&store.id, &AddVectorStoreFile::new("file-missing")).await.unwrap().body;
        assert_eq!(unknown.status, IngestionStatus::InProgress);
        clock.advance(STEP);
        let unknown = client.retrieve_vector_store_file(&store.id, "file-missing").await.unwrap().body;
        assert_eq!(unknown.status, IngestionStatus::Failed);
        assert_eq!(unknown.last_error.unwrap().code, LastErrorCode::InvalidFile);

        // Only completed files with status filter.
        let completed: Vec<_> = client
            .list_vector_store_files(&store.id, &VectorStoreFileListQuery::new().status(IngestionStatus::Completed))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(completed.len(), 3);
        assert!(
            completed.iter().all(|file| file.vector_store_id == store.id && file.status == IngestionStatus::Completed)
        );

        // Removing the file removes its chunks from search.
        let deleted = client.delete_vector_store_file(&store.id, &leave_id).await.unwrap().body;
        assert!(deleted.deleted);
        assert_eq!(deleted.object, "vector_store.file.deleted");
        let hits = client
            .search_vector_store(&store.id, &VectorStoreSearchRequest::new("paid annual leave"))
            .await
            .unwrap()
            .body;
        assert!(hits.data.iter().all(|hit| hit.file_id != leave_id), "{form}: {hits:?}");
        let gone = client.retrieve_vector_store_file(&store.id, &leave_id).await.unwrap_err();
        assert!(gone.is_not_found(), "{gone:?}");
        // The file itself stays uploaded.
        assert_eq!(client.retrieve_file(&leave_id).await.unwrap().body.purpose, FilePurpose::Assistants);

        let renamed =
            client.update_vector_store(&store.id, &UpdateVectorStore::new().name("renamed")).await.unwrap().body;
        assert_eq!(renamed.name, "renamed");
        assert_eq!(renamed.metadata.as_ref().unwrap()["team"], "hr", "metadata untouched");

        let deleted = client.delete_vector_store(&store.id).await.unwrap().body;
        assert_eq!((deleted.object.as_str(), deleted.deleted), ("vector_store.deleted", true));
        let error = client.retrieve_vector_store(&store.id).await.unwrap_err();
        assert!(error.is_not_found());
        assert!(error.request_id().is_some(), "404s carry apim-request-id");
        let error = client.search_vector_store(&store.id, &VectorStoreSearchRequest::new("leave")).await.unwrap_err();
        assert!(error.is_not_found(), "{form}: {error:?}");
    }
}

#[tokio::test]
async fn attributes_filters_and_static_chunking() {
    let clock = ManualClock::new();
    let emulator = emulator(&clock).await;
    let client = client(&emulator, emulator.v1_endpoint(), &clock);
    let english = client.upload_file_for(&FilePurpose::Assistants, "en.md", LEAVE.into()).await.unwrap().body;
    let long_text = format!("{LEAVE} ").repeat(40);
    let long =
        client.upload_file_for(&FilePurpose::Assistants, "long.md", long_text.clone().into()).await.unwrap().body;
    let store = client.create_vector_store(&CreateVectorStore::new().name("filters")).await.unwrap().body;
    client
        .add_vector_store_file(
            &store.id,
            &AddVectorStoreFile::new(&english.id).attribute("lang", "en").attribute("year", 2024),
        )
        .await
        .unwrap();
    let added = client
        .add_vector_store_file(
            &store.id,
            &AddVectorStoreFile::new(&long.id)
                .attribute("lang", "de")
                .chunking_strategy(ChunkingStrategy::fixed(100, 50)),
        )
        .await
        .unwrap()
        .body;
    assert_eq!(added.chunking_strategy, Some(ChunkingStrategy::fixed(100, 50)));
    let report = client.wait_for_vector_store(&store.id, &poll(), &mut |_| {}).await.unwrap();
    assert!(report.all_completed());
    let long_file = report.files.iter().find(|file| file.id == long.id).unwrap();
    assert!(long_file.usage_bytes > long_text.len() as u64, "overlapping chunks store more than the text");

    let filtered = client
        .search_vector_store(
            &store.id,
            &VectorStoreSearchRequest::new("paid leave").filters(json!({"type": "eq", "key": "lang", "value": "en"})),
        )
        .await
        .unwrap()
        .body;
    assert!(!filtered.data.is_empty());
    assert!(
        filtered.data.iter().all(|hit| hit.file_id == english.id && hit.attributes.as_ref().unwrap()["year"] == 2024)
    );

    let chunks = client
        .search_vector_store(&store.id, &VectorStoreSearchRequest::new("paid leave").max_num_results(50))
        .await
        .unwrap()
        .body;
    let tokenizer = aoai_core::tokens::Tokenizer::new(aoai_core::tokens::Encoding::Cl100kBase);
    let long_chunks: Vec<_> = chunks.data.iter().filter(|hit| hit.file_id == long.id).collect();
    assert!(long_chunks.len() > 5, "the long file is cut into many chunks");
    assert!(long_chunks.iter().all(|hit| tokenizer.count(&hit.text()) <= 102), "chunks of about 100 tokens");

    let strict = client
        .search_vector_store(&store.id, &VectorStoreSearchRequest::new("paid leave").score_threshold(0.99))
        .await
        .unwrap()
        .body;
    assert!(strict.data.is_empty(), "a threshold drops lower scores");

    let refused = client
        .search_vector_store(&store.id, &VectorStoreSearchRequest::new("x").filters(json!({"type": "like"})))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(400));
    assert_eq!(refused.as_api().unwrap().param(), Some("filters"));
    let refused = client.search_vector_store(&store.id, &VectorStoreSearchRequest::new("x").max_num_results(51)).await;
    assert!(matches!(refused, Err(Error::InvalidRequest(_))), "checked before sending");
}

#[tokio::test]
async fn paging_follows_cursors_over_several_pages() {
    let clock = ManualClock::new();
    let emulator = emulator(&clock).await;
    for (form, endpoint) in both_forms(&emulator) {
        let client = client(&emulator, endpoint, &clock);
        let mut created = Vec::new();
        for index in 0..5 {
            created.push(
                client.create_vector_store(&CreateVectorStore::new().name(format!("s{index}"))).await.unwrap().body.id,
            );
        }
        let listed: Vec<String> = client
            .list_vector_stores(&ListQuery::new().limit(2).order(Order::Asc))
            .map_ok(|store| store.id)
            .try_collect()
            .await
            .unwrap();
        let mine: Vec<&String> = listed.iter().filter(|id| created.contains(id)).collect();
        assert_eq!(mine, created.iter().collect::<Vec<_>>(), "{form}: every store once, oldest first");
        let unique: std::collections::HashSet<&String> = listed.iter().collect();
        assert_eq!(unique.len(), listed.len());

        let page = client.list_vector_stores_page(&ListQuery::new().limit(2), None).await.unwrap().body;
        assert_eq!(page.data.len(), 2);
        assert!(page.has_more);
        assert_eq!(page.last_id.as_deref(), Some(page.data[1].id.as_str()));

        // Files of one store, two per page, and the Files API's own listing.
        let store = &created[0];
        let mut file_ids = Vec::new();
        for index in 0..5 {
            let file = client
                .upload_file_for(
                    &FilePurpose::Assistants,
                    &format!("f{index}.txt"),
                    format!("note number {index}").into(),
                )
                .await
                .unwrap()
                .body;
            file_ids.push(file.id);
        }
        let batch =
            client.create_vector_store_file_batch(store, &CreateFileBatch::new(file_ids.clone())).await.unwrap().body;
        assert_eq!(batch.file_counts.total, 5);
        let files: Vec<String> = client
            .list_vector_store_files(store, &VectorStoreFileListQuery::new().limit(2))
            .map_ok(|file| file.id)
            .try_collect()
            .await
            .unwrap();
        let mut newest_first = file_ids.clone();
        newest_first.reverse();
        assert_eq!(files, newest_first, "{form}");
        let in_batch: Vec<String> = client
            .list_vector_store_file_batch_files(store, &batch.id, &VectorStoreFileListQuery::new().limit(2))
            .map_ok(|file| file.id)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(in_batch, newest_first);
        let uploaded: Vec<String> = client
            .list_files(&FileListQuery::new().purpose(FilePurpose::Assistants).limit(2))
            .map_ok(|file| file.id)
            .try_collect()
            .await
            .unwrap();
        assert!(file_ids.iter().all(|id| uploaded.contains(id)), "{form}");
        assert_eq!(client.file_content(&file_ids[3]).await.unwrap().body, Bytes::from("note number 3"));
        assert!(client.delete_file(&file_ids[4]).await.unwrap().body.deleted);
        assert!(client.retrieve_file(&file_ids[4]).await.unwrap_err().is_not_found());
    }
}

#[tokio::test]
async fn file_batches_wait_and_cancel() {
    let clock = ManualClock::new();
    let emulator = emulator(&clock).await;
    for (form, endpoint) in both_forms(&emulator) {
        let client = client(&emulator, endpoint, &clock);
        let store = client.create_vector_store(&CreateVectorStore::new()).await.unwrap().body;
        let one = client.upload_file_for(&FilePurpose::Assistants, "a.txt", LEAVE.into()).await.unwrap().body;
        let two = client.upload_file_for(&FilePurpose::Assistants, "b.txt", BIKES.into()).await.unwrap().body;

        let batch = client
            .create_vector_store_file_batch(&store.id, &CreateFileBatch::new([one.id.clone(), two.id.clone()]))
            .await
            .unwrap()
            .body;
        assert!(batch.id.starts_with("vsfb_"));
        assert_eq!(batch.status, IngestionStatus::InProgress);
        assert_eq!(client.retrieve_vector_store(&store.id).await.unwrap().body.status, VectorStoreStatus::InProgress);
        let mut polls = 0;
        let report = client.wait_for_file_batch(&store.id, &batch.id, &poll(), &mut |_| polls += 1).await.unwrap();
        assert_eq!(report.batch_id.as_deref(), Some(batch.id.as_str()));
        assert!(report.all_completed(), "{form}");
        assert_eq!(
            client.retrieve_vector_store_file_batch(&store.id, &batch.id).await.unwrap().body.status,
            IngestionStatus::Completed
        );

        // A batch cancelled while in progress: its files end cancelled and are not searchable.
        let three = client.upload_file_for(&FilePurpose::Assistants, "c.txt", CANTEEN.into()).await.unwrap().body;
        let batch = client
            .create_vector_store_file_batch(&store.id, &CreateFileBatch::new([three.id.clone()]))
            .await
            .unwrap()
            .body;
        let cancelled = client.cancel_vector_store_file_batch(&store.id, &batch.id).await.unwrap().body;
        assert_eq!(cancelled.status, IngestionStatus::Cancelled, "{form}");
        assert_eq!(cancelled.file_counts.cancelled, 1);
        clock.advance(STEP);
        let file = client.retrieve_vector_store_file(&store.id, &three.id).await.unwrap().body;
        assert_eq!(file.status, IngestionStatus::Cancelled);
        let hits =
            client.search_vector_store(&store.id, &VectorStoreSearchRequest::new("canteen lunch")).await.unwrap().body;
        assert!(hits.data.iter().all(|hit| hit.file_id != three.id));

        let missing = client.retrieve_vector_store_file_batch(&store.id, "vsfb_missing").await.unwrap_err();
        assert!(missing.is_not_found());
    }
}

#[tokio::test]
async fn waiting_gives_up_at_the_deadline() {
    let clock = ManualClock::new();
    let emulator =
        Emulator::builder().time(Time::manual(&clock)).batch_step(Duration::from_secs(3600)).start().await.unwrap();
    let client = client(&emulator, emulator.endpoint(), &clock);
    let file = client.upload_file_for(&FilePurpose::Assistants, "a.txt", LEAVE.into()).await.unwrap().body;
    let store = client.create_vector_store(&CreateVectorStore::new().file_id(&file.id)).await.unwrap().body;
    let started = clock.elapsed();
    let mut seen = 0;
    let error = client
        .wait_for_vector_store(&store.id, &poll().deadline(Duration::from_secs(10)), &mut |progress| {
            assert_eq!(progress.in_progress, 1);
            seen += 1;
        })
        .await
        .unwrap_err();
    assert!(matches!(&error, Error::Timeout(timeout) if timeout.limit == Duration::from_secs(10)), "{error:?}");
    assert!(seen > 2);
    let waited = clock.elapsed() - started;
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(11), "{waited:?}");
    let sleeps = clock.sleeps();
    assert_eq!(sleeps[0], Duration::from_millis(250), "back-off starts at the initial interval");
    assert!(sleeps.windows(2).all(|pair| pair[1] >= pair[0] || pair[1] < Duration::from_secs(2)));
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_parameter() {
    let emulator = Emulator::start().await.unwrap();
    let key = emulator.api_key();
    let key = key.expose();
    let addr = emulator.addr();
    let store = support::post_json(addr, "/openai/v1/vector_stores", key, r#"{"name":"x"}"#).await.json();
    let id = store["id"].as_str().unwrap();
    for (path, body, param) in [
        ("/openai/v1/vector_stores".to_owned(), r#"{"file_ids":"file-1"}"#, "file_ids"),
        (
            "/openai/v1/vector_stores".to_owned(),
            r#"{"chunking_strategy":{"type":"static","static":{"max_chunk_size_tokens":50,"chunk_overlap_tokens":0}}}"#,
            "chunking_strategy",
        ),
        (
            "/openai/v1/vector_stores".to_owned(),
            r#"{"expires_after":{"anchor":"created_at","days":1}}"#,
            "expires_after",
        ),
        (format!("/openai/v1/vector_stores/{id}/files"), "{}", "file_id"),
        (format!("/openai/v1/vector_stores/{id}/search"), "{}", "query"),
        (format!("/openai/v1/vector_stores/{id}/search"), r#"{"query":"a","max_num_results":0}"#, "max_num_results"),
        (format!("/openai/v1/vector_stores/{id}/file_batches"), r#"{"files":[{}]}"#, "files[0].file_id"),
    ] {
        let response = support::post_json(addr, &path, key, body).await;
        assert_eq!(response.status, 400, "{path} {body}: {}", response.text());
        assert_eq!(response.json()["error"]["param"], param, "{path} {body}");
    }
    let response = support::get(addr, "/openai/v1/vector_stores?limit=1000", key).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["param"], "limit");
    let response = support::get(addr, &format!("/openai/v1/vector_stores/{id}/files?filter=done"), key).await;
    assert_eq!(response.json()["error"]["param"], "filter");
    let response = support::post_json(addr, "/openai/v1/vector_stores", key, "not json").await;
    assert_eq!(response.status, 400);
    let response = support::get(addr, "/openai/vector_stores", key).await;
    assert_eq!(response.status, 400, "the dated form needs api-version");
    let response = support::get(addr, "/openai/vector_stores/vs_nope?api-version=2024-10-01-preview", key).await;
    assert_eq!(response.status, 404);
    assert!(response.header("apim-request-id").is_some());
    assert_eq!(response.json()["error"]["code"], "NotFound");
    let response = support::get(addr, "/openai/v1/vector_stores", "").await;
    assert_eq!(response.status, 401);
}

/// The Responses API's `file_search` tool searches the stores created here
/// and cites the right file; `conversation` reads and extends a conversation.
#[tokio::test]
async fn responses_file_search_and_conversations_use_the_stores() {
    use aoai_core::conversations::CreateConversation;
    use aoai_core::responses::{Annotation, OutputItem, ResponseRequest, ResponseTool};

    let clock = ManualClock::new();
    let emulator = emulator(&clock).await;
    for (form, endpoint) in both_forms(&emulator) {
        let client = client(&emulator, endpoint, &clock);
        let store = client.create_vector_store(&CreateVectorStore::new().name("kb")).await.unwrap().body;
        let files = vec![("leave.md".to_owned(), Bytes::from(LEAVE)), ("bikes.md".to_owned(), Bytes::from(BIKES))];
        let report = client.upload_files_to_vector_store(&store.id, files, &poll(), &mut |_| {}).await.unwrap();
        assert!(report.all_completed());
        let hits = client.search_vector_store(&store.id, &VectorStoreSearchRequest::new("paid annual leave")).await;
        let leave_id = hits.unwrap().body.data[0].file_id.clone();

        let request = ResponseRequest::new("How many days of paid annual leave does an employee receive?")
            .tools(vec![ResponseTool::file_search([store.id.clone()])])
            .include("file_search_call.results");
        let response = client.create_response("gpt-4o", &request).await.unwrap().body;
        let citations: Vec<_> = response
            .annotations()
            .into_iter()
            .filter_map(|annotation| match annotation {
                Annotation::FileCitation(citation) => Some(citation),
                _ => None,
            })
            .collect();
        assert!(!citations.is_empty(), "{form}: {}", response.output_text());
        assert!(citations.iter().all(|citation| citation.file_id == leave_id && citation.filename == "leave.md"));
        let call = response
            .output
            .iter()
            .find_map(|item| match item {
                OutputItem::FileSearchCall(call) => Some(call),
                _ => None,
            })
            .unwrap();
        let results = call.results.as_ref().unwrap();
        assert_eq!(results[0].file_id, leave_id, "{form}");

        // An unknown store in the tool is a 404.
        let request = ResponseRequest::new("x").tools(vec![ResponseTool::file_search(["vs_unknown"])]);
        assert!(client.create_response("gpt-4o", &request).await.unwrap_err().is_not_found());

        // A response in a conversation reads its items and appends input and output.
        let conversation = client
            .create_conversation(
                &CreateConversation::new().item(aoai_core::responses::InputItem::user("My name is Ada.")),
            )
            .await
            .unwrap()
            .body;
        let request = ResponseRequest::new("What is my name?").conversation(&conversation.id);
        client.create_response("gpt-4o", &request).await.unwrap();
        let items: Vec<OutputItem> = client
            .list_conversation_items(&conversation.id, &ListQuery::new().order(Order::Asc))
            .try_collect()
            .await
            .unwrap();
        let items: Vec<serde_json::Value> = items.iter().map(|item| serde_json::to_value(item).unwrap()).collect();
        assert!(items.len() >= 3, "{form}: {items:?}");
        assert_eq!(items[1]["role"], "user");
        assert_eq!(items.last().unwrap()["role"], "assistant");
    }
}

#[tokio::test]
async fn the_files_list_pages_in_both_orders_and_names_bad_parameters() {
    let clock = ManualClock::new();
    let emulator = emulator(&clock).await;
    let client = client(&emulator, emulator.endpoint(), &clock);
    let mut ids = Vec::new();
    for index in 0..3 {
        let file = client.upload_file_for(&FilePurpose::Assistants, &format!("{index}.txt"), "x".into()).await.unwrap();
        ids.push(file.body.id);
    }
    client.upload_file_for(&FilePurpose::Batch, "b.jsonl", "{}\n".into()).await.unwrap();
    let oldest_first: Vec<String> = client
        .list_files(&FileListQuery {
            page: ListQuery::new().limit(1).order(Order::Asc),
            purpose: Some(FilePurpose::Assistants),
        })
        .map_ok(|file| file.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(oldest_first, ids);
    let key = emulator.api_key();
    let response = support::get(emulator.addr(), "/openai/v1/files?order=sideways", key.expose()).await;
    assert_eq!((response.status, response.json()["error"]["param"].as_str()), (400, Some("order")));
}
