//! `aoai_batch::api` against the real emulator on loopback: upload, create,
//! wait, download and map results by `custom_id`; cancel; input checks that
//! send nothing; service errors; and spec-shaped models with unknown values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use aoai_batch::api::{
    ApiError, Batch, BatchClient, BatchInput, BatchPage, BatchStatus, CreateBatch, FileObject, FilePurpose, ResultFile,
    WaitOptions,
};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::retry::RetryPolicy;
use aoai_emulator::Emulator;
use serde_json::json;

fn chat_line(custom_id: &str, model: &str, prompt: &str) -> String {
    json!({
        "custom_id": custom_id,
        "method": "POST",
        "url": "/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 20}
    })
    .to_string()
}

fn jsonl(lines: &[String]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

const FAST: Duration = Duration::from_millis(10);

#[tokio::test]
async fn lifecycle_maps_output_and_error_lines_by_custom_id() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(5)).start().await.unwrap();
    let batches = BatchClient::new(emulator.client().unwrap());
    let input = BatchInput::parse(jsonl(&[
        chat_line("q-1", "gpt-4o-mini", "Name a river."),
        chat_line("q-2", "no-such-deployment", "Name a lake."),
        chat_line("q-3", "gpt-4o", "Name a sea."),
    ]))
    .unwrap();

    let file = batches.upload("questions.jsonl", &input).await.unwrap();
    assert!(file.id.starts_with("file-"), "{file:?}");
    assert_eq!(file.purpose, FilePurpose::Batch);
    assert_eq!(file.filename, "questions.jsonl");
    assert_eq!(file.bytes, Some(input.content().len() as u64));
    assert_eq!(batches.retrieve_file(&file.id).await.unwrap().id, file.id);

    let created = batches.create(&CreateBatch::new(&file.id, input.url()).metadata("job", "lifecycle")).await.unwrap();
    assert_eq!(created.status, BatchStatus::Validating);
    assert_eq!(created.completion_window, "24h");
    assert_eq!(created.metadata.as_ref().unwrap()["job"], "lifecycle");
    assert!(matches!(batches.download_output(&created).await, Err(ApiError::NotFinished { .. })));

    let mut seen = Vec::new();
    let done = batches
        .wait_with_progress(&created.id, &WaitOptions::new(FAST).timeout(Some(Duration::from_secs(10))), |batch| {
            if seen.last() != Some(&batch.status) {
                seen.push(batch.status.clone());
            }
        })
        .await
        .unwrap();
    assert_eq!(done.status, BatchStatus::Completed, "{done:?}");
    assert_eq!(seen.last(), Some(&BatchStatus::Completed));
    let counts = done.counts();
    assert_eq!((counts.total, counts.completed, counts.failed), (3, 2, 1));

    let results = batches.results_with_input(&done, &input).await.unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.missing.is_empty() && results.unexpected.is_empty() && results.duplicates.is_empty());
    for id in ["q-1", "q-3"] {
        let result = results.get(id).unwrap();
        assert_eq!(result.file, ResultFile::Output);
        assert!(result.line.is_success());
        let response = result.line.response.as_ref().unwrap();
        assert_eq!(response.status_code, 200);
        assert_eq!(response.body["object"], "chat.completion");
    }
    let refused = results.get("q-2").unwrap();
    assert_eq!(refused.file, ResultFile::Errors);
    assert!(!refused.line.is_success());
    assert_eq!(refused.line.response.as_ref().unwrap().status_code, 404);
    assert_eq!(refused.line.error_code(), Some("DeploymentNotFound"));
    let order: Vec<&str> = results.in_order(input.custom_ids()).map(|result| result.line.custom_id.as_str()).collect();
    assert_eq!(order, ["q-1", "q-2", "q-3"]);

    // The same mapping from the batch alone: the input file is read back.
    assert_eq!(batches.results(&done).await.unwrap(), results);
    let listed = batches.list().await.unwrap();
    assert!(listed.data.iter().any(|batch| batch.id == done.id));
}

#[tokio::test]
async fn cancel_ends_cancelled_with_every_request_missing() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(300)).start().await.unwrap();
    // The client retries a 409 by default; the last call here expects one.
    let batches = BatchClient::new(emulator.client_builder().retry(RetryPolicy::none()).build().unwrap());
    let input =
        BatchInput::parse(jsonl(&[chat_line("a", "gpt-4o-mini", "Hi"), chat_line("b", "gpt-4o-mini", "Ho")])).unwrap();
    let file = batches.upload("in.jsonl", &input).await.unwrap();
    let batch = batches.create(&CreateBatch::new(&file.id, "/chat/completions")).await.unwrap();
    let cancelling = batches.cancel(&batch.id).await.unwrap();
    assert_eq!(cancelling.status, BatchStatus::Cancelling);
    assert!(cancelling.cancelling_at.is_some());
    let ended = batches.wait(&batch.id, &WaitOptions::new(FAST).timeout(Some(Duration::from_secs(10)))).await.unwrap();
    assert_eq!(ended.status, BatchStatus::Cancelled);
    assert!(ended.cancelled_at.is_some());
    let results = batches.results(&ended).await.unwrap();
    assert!(results.is_empty());
    assert_eq!(results.missing, ["a", "b"]);
    // A terminal batch cannot be cancelled again: the service's 409 comes through.
    // It is the answer, not a passing conflict: one attempt, no retries.
    let error = batches.cancel(&batch.id).await.unwrap_err();
    assert_eq!(error.service_error().and_then(aoai_core::Error::status), Some(409), "{error}");
    assert_eq!(error.service_error().map(aoai_core::Error::attempts), Some(1), "{error}");
}

#[tokio::test]
async fn invalid_input_is_refused_before_anything_is_sent() {
    let emulator = Emulator::builder().start().await.unwrap();
    let batches = BatchClient::new(emulator.client().unwrap());
    let dir = std::env::temp_dir().join(format!("aoai-batch-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let duplicate = dir.join("duplicate.jsonl");
    std::fs::write(
        &duplicate,
        jsonl(&[chat_line("x", "gpt-4o", "1"), chat_line("y", "gpt-4o", "2"), chat_line("x", "gpt-4o", "3")]),
    )
    .unwrap();
    match batches.upload_path(&duplicate).await.unwrap_err() {
        ApiError::DuplicateCustomId { custom_id, line, first_line } => {
            assert_eq!((custom_id.as_str(), line, first_line), ("x", 3, 1));
        }
        other => panic!("{other}"),
    }

    let malformed = dir.join("malformed.jsonl");
    std::fs::write(
        &malformed,
        format!("{}\n{{\"custom_id\": \"b\", \"method\": \"POST\"\n", chat_line("a", "gpt-4o", "1")),
    )
    .unwrap();
    let error = batches.upload_path(&malformed).await.unwrap_err();
    assert!(matches!(error, ApiError::MalformedLine { line: 2, .. }), "{error}");
    assert!(error.is_invalid_input());
    assert!(error.to_string().starts_with("line 2: "), "{error}");

    let missing = batches.upload_path(dir.join("absent.jsonl")).await.unwrap_err();
    assert!(matches!(missing, ApiError::Read { .. }), "{missing}");

    // Nothing reached the service.
    let files: serde_json::Value = emulator
        .client()
        .unwrap()
        .request_json(http::Method::GET, aoai_core::routing::Route::Resource { path: "files" }, None)
        .await
        .unwrap()
        .body;
    assert_eq!(files["data"].as_array().unwrap().len(), 0, "{files}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn service_errors_keep_status_and_code() {
    let emulator = Emulator::builder().start().await.unwrap();
    let batches = BatchClient::new(emulator.client().unwrap());
    let error = batches.retrieve("batch_unknown").await.unwrap_err();
    let source = error.service_error().unwrap();
    assert_eq!(source.status(), Some(404));
    assert_eq!(error.to_string(), "cannot retrieve batch batch_unknown");
    let error = batches.create(&CreateBatch::new("file-missing", "/chat/completions")).await.unwrap_err();
    assert_eq!(error.service_error().and_then(aoai_core::Error::status), Some(400), "{error}");
    assert!(matches!(batches.retrieve("../files").await.unwrap_err(), ApiError::InvalidId { what: "batch", .. }));
}

#[tokio::test]
async fn a_failed_batch_carries_the_services_line_errors() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(5)).start().await.unwrap();
    let batches = BatchClient::new(emulator.client().unwrap());
    // Valid for the client (any path), but not the batch's endpoint: the service fails the job.
    let input = BatchInput::parse(jsonl(&[
        json!({"custom_id": "e", "method": "POST", "url": "/embeddings", "body": {"model": "text-embedding-3-small", "input": "x"}})
            .to_string(),
    ]))
    .unwrap();
    let file = batches.upload("in.jsonl", &input).await.unwrap();
    let batch = batches.create(&CreateBatch::new(&file.id, "/chat/completions")).await.unwrap();
    let failed = batches.wait(&batch.id, &WaitOptions::new(FAST).timeout(Some(Duration::from_secs(10)))).await.unwrap();
    assert_eq!(failed.status, BatchStatus::Failed);
    let errors = failed.errors.unwrap();
    assert_eq!(errors.data[0].line, Some(1));
    assert_eq!(errors.data[0].code.as_deref(), Some("invalid_url"));
}

#[tokio::test]
async fn wait_gives_up_on_the_injected_clock() {
    let emulator = Emulator::builder().batch_step(Duration::from_secs(3600)).start().await.unwrap();
    let clock = ManualClock::new();
    let batches = BatchClient::new(emulator.client().unwrap()).with_time(Time::manual(&clock));
    let input = BatchInput::parse(jsonl(&[chat_line("a", "gpt-4o-mini", "Hi")])).unwrap();
    let file = batches.upload("in.jsonl", &input).await.unwrap();
    let batch = batches.create(&CreateBatch::new(&file.id, "/chat/completions")).await.unwrap();
    let options = WaitOptions::new(Duration::from_secs(10)).timeout(Some(Duration::from_secs(35)));
    match batches.wait(&batch.id, &options).await.unwrap_err() {
        ApiError::WaitTimeout { status, waited, .. } => {
            assert_eq!(status, BatchStatus::Validating);
            assert_eq!(waited, Duration::from_secs(35));
        }
        other => panic!("{other}"),
    }
    let sleeps = clock.sleeps();
    assert_eq!(sleeps, [10, 10, 10, 5].map(Duration::from_secs));
}

/// `GET /batches` as in the spec's `get_batches.json` example, with a status,
/// a field and a file purpose this version does not know.
#[test]
fn spec_shaped_models_tolerate_unknown_values() {
    let page: BatchPage = serde_json::from_value(json!({
        "object": "list",
        "first_id": "batch_abc123",
        "last_id": "batch_abc456",
        "has_more": false,
        "data": [{
            "object": "batch",
            "id": "batch_72a2792ef7d24ba7b82c7fe4a37e379f",
            "endpoint": "/chat/completions",
            "errors": null,
            "input_file_id": "file-b4fa7277f3eb4722ac18b90f46102c3f",
            "completion_window": "24h",
            "status": "paused_for_maintenance",
            "output_file_id": "file-f2ddaf43-b48b-46dd-b264-90da10c7a85b",
            "error_file_id": "file-c3b563b0-ebc7-47da-93e3-a2fa694aef0c",
            "created_at": 1646126127,
            "in_progress_at": 1646126130,
            "expires_at": 1646126170,
            "finalizing_at": 1646126134,
            "completed_at": 1646126136,
            "failed_at": null,
            "expired_at": null,
            "cancelling_at": null,
            "cancelled_at": null,
            "request_counts": {"total": 500, "completed": 400, "failed": 100},
            "metadata": {"batch_description": "Evaluation job"},
            "usage": {"input_tokens": 10}
        }]
    }))
    .unwrap();
    let batch: &Batch = &page.data[0];
    assert_eq!(batch.status, BatchStatus::Unknown("paused_for_maintenance".to_owned()));
    assert!(!batch.is_terminal());
    assert_eq!(batch.counts().failed, 100);
    assert_eq!(batch.completed_at, Some(1646126136));
    assert_eq!(batch.extra["usage"]["input_tokens"], 10);
    // Unknown values survive a round trip.
    let again = serde_json::to_value(batch).unwrap();
    assert_eq!(again["status"], "paused_for_maintenance");
    assert_eq!(again["usage"]["input_tokens"], 10);

    // `get_file.json`, with a purpose and a status this version does not know.
    let file: FileObject = serde_json::from_value(json!({
        "object": "file",
        "id": "inference-uzdgnx4i8PPe96zgXQ1vJ9W3",
        "purpose": "fine-tune-vision",
        "filename": "test78686269-a3d7-4c96-be67-fecdf3f39de8.txt",
        "bytes": 4,
        "created_at": 1718886199,
        "status": "quarantined",
        "status_details": null
    }))
    .unwrap();
    assert_eq!(file.purpose, FilePurpose::Unknown("fine-tune-vision".to_owned()));
    assert_eq!(file.status.as_str(), "quarantined");
    assert_eq!(file.bytes, Some(4));
}

#[tokio::test]
async fn listing_follows_the_cursors_over_several_pages() {
    use aoai_core::page::ListQuery;
    use futures_util::TryStreamExt as _;

    let emulator = Emulator::builder().batch_step(Duration::from_millis(5)).start().await.unwrap();
    let batches = BatchClient::new(emulator.client().unwrap());
    let input = BatchInput::parse(jsonl(&[chat_line("a", "gpt-4o-mini", "Hi")])).unwrap();
    let file = batches.upload("in.jsonl", &input).await.unwrap();
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(batches.create(&CreateBatch::new(&file.id, "/chat/completions")).await.unwrap().id);
    }
    created.reverse(); // newest first

    let first = batches.list_page(&ListQuery::new().limit(2), None).await.unwrap();
    assert_eq!(first.data.len(), 2);
    assert!(first.has_more);
    let second = batches.list_page(&ListQuery::new().limit(2), first.last_id.as_deref()).await.unwrap();
    assert_eq!(second.data[0].id, created[2]);

    let streamed: Vec<String> =
        batches.list_stream(&ListQuery::new().limit(2)).map_ok(|batch| batch.id).try_collect().await.unwrap();
    assert_eq!(streamed, created, "every batch once, in order, over three pages");
    let all = batches.list().await.unwrap();
    assert_eq!(all.data.iter().map(|batch| batch.id.clone()).collect::<Vec<_>>(), created);
    assert!(!all.has_more);
}
