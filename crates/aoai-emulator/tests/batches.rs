//! The Files and Batch APIs: multipart upload, the batch status lifecycle,
//! output and error files in Azure's line format, cancellation, failures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use aoai_core::Client;
use aoai_core::clock::{Sleep, SystemClock};
use aoai_core::routing::Route;
use aoai_emulator::{Emulator, EmulatorHandle};
use axum::http::Method;
use serde_json::{Value, json};
use support::{client, multipart, raw};

async fn upload(emulator: &EmulatorHandle, purpose: &str, filename: &str, content: &str) -> support::RawResponse {
    let (content_type, body) = multipart(&[("purpose", purpose)], Some(("file", filename, content.as_bytes())));
    raw(
        emulator.addr(),
        "POST",
        "/openai/files?api-version=2024-10-01-preview",
        &[("api-key", "k"), ("Content-Type", &content_type)],
        &body,
    )
    .await
    .unwrap()
}

async fn call(client: &Client, method: Method, path: &str, body: Option<Value>) -> Value {
    client.request_json::<Value>(method, Route::Resource { path }, body).await.unwrap().body
}

/// Polls a batch until it reaches a terminal status; returns every status seen, in order, and the last object.
async fn wait_for_batch(client: &Client, id: &str) -> (Vec<String>, Value) {
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..2_000 {
        let batch = call(client, Method::GET, &format!("batches/{id}"), None).await;
        let status = batch["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if matches!(status.as_str(), "completed" | "failed" | "cancelled" | "expired") {
            return (seen, batch);
        }
        SystemClock.sleep(Duration::from_millis(5)).await;
    }
    panic!("batch {id} never finished: {seen:?}");
}

fn line(custom_id: &str, model: &str, content: &str) -> String {
    json!({
        "custom_id": custom_id,
        "method": "POST",
        "url": "/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 20},
    })
    .to_string()
}

fn jsonl(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[tokio::test]
async fn files_upload_list_download_delete() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);
    let content = format!("{}\n{}\n", line("a", "gpt-4o", "one"), line("b", "gpt-4o", "two"));
    let uploaded = upload(&emulator, "batch", "input.jsonl", &content).await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.text());
    assert!(uploaded.header("apim-request-id").is_some());
    let file = uploaded.json();
    let id = file["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("file-"));
    assert_eq!(file["object"], "file");
    assert_eq!(file["purpose"], "batch");
    assert_eq!(file["filename"], "input.jsonl");
    assert_eq!(file["bytes"], content.len());
    assert_eq!(file["status"], "processed");
    assert!(file["created_at"].as_u64().unwrap() > 1_600_000_000);

    let listed = call(&client, Method::GET, "files", None).await;
    assert_eq!(listed["object"], "list");
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(call(&client, Method::GET, &format!("files/{id}"), None).await, file);
    let downloaded = client
        .request_bytes(Method::GET, Route::Resource { path: &format!("files/{id}/content") }, None)
        .await
        .unwrap();
    assert_eq!(downloaded.body, content.as_bytes());

    let deleted = call(&client, Method::DELETE, &format!("files/{id}"), None).await;
    assert_eq!(deleted, json!({"id": id, "object": "file", "deleted": true}));
    let error = client
        .request_json::<Value>(Method::GET, Route::Resource { path: &format!("files/{id}") }, None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(404));

    // Bad uploads.
    let (content_type, body) = multipart(&[], Some(("file", "x.jsonl", b"{}")));
    let missing = raw(
        emulator.addr(),
        "POST",
        "/openai/files?api-version=2024-10-01-preview",
        &[("api-key", "k"), ("Content-Type", &content_type)],
        &body,
    )
    .await
    .unwrap();
    assert_eq!((missing.status, missing.json()["error"]["param"].as_str()), (400, Some("purpose")));
    let wrong = upload(&emulator, "nonsense", "x.jsonl", "{}").await;
    assert_eq!(wrong.json()["error"]["param"], "purpose");
    let not_multipart = raw(
        emulator.addr(),
        "POST",
        "/openai/files?api-version=2024-10-01-preview",
        &[("api-key", "k"), ("Content-Type", "application/json")],
        b"{}",
    )
    .await
    .unwrap();
    assert_eq!(not_multipart.status, 400);
    let unauthorised =
        raw(emulator.addr(), "GET", "/openai/files?api-version=2024-10-01-preview", &[], b"").await.unwrap();
    assert_eq!(unauthorised.status, 401);
}

#[tokio::test]
async fn a_batch_runs_through_its_lifecycle() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(40)).start().await.unwrap();
    let client = client(&emulator);
    let content = [
        line("first", "gpt-4o", "Tell me about rivers."),
        line("second", "gpt-4o-mini", "Tell me about lakes."),
        line("broken", "no-such-deployment", "Anything."),
    ]
    .join("\n");
    let file_id = upload(&emulator, "batch", "jobs.jsonl", &content).await.json()["id"].as_str().unwrap().to_owned();
    let created = call(
        &client,
        Method::POST,
        "batches",
        Some(json!({
            "input_file_id": file_id,
            "endpoint": "/chat/completions",
            "completion_window": "24h",
            "metadata": {"job": "lifecycle-test"},
        })),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("batch_"));
    assert_eq!(created["object"], "batch");
    assert_eq!(created["status"], "validating");
    assert_eq!(created["metadata"], json!({"job": "lifecycle-test"}));
    assert_eq!(created["expires_at"].as_u64().unwrap() - created["created_at"].as_u64().unwrap(), 86_400);
    for field in ["output_file_id", "error_file_id", "in_progress_at", "completed_at", "errors"] {
        assert!(created[field].is_null(), "{field}");
    }

    let (seen, batch) = wait_for_batch(&client, &id).await;
    assert_eq!(seen.first().map(String::as_str), Some("validating"));
    assert_eq!(seen.last().map(String::as_str), Some("completed"));
    let order = ["validating", "in_progress", "finalizing", "completed"];
    let positions: Vec<usize> = seen.iter().map(|status| order.iter().position(|o| o == status).unwrap()).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{seen:?}");
    for field in ["in_progress_at", "finalizing_at", "completed_at"] {
        assert!(batch[field].as_u64().is_some(), "{field}");
    }
    assert_eq!(batch["request_counts"], json!({"total": 3, "completed": 2, "failed": 1}));

    let output_id = batch["output_file_id"].as_str().unwrap();
    let output = client
        .request_bytes(Method::GET, Route::Resource { path: &format!("files/{output_id}/content") }, None)
        .await
        .unwrap();
    let lines = jsonl(&output.body);
    assert_eq!(lines.len(), 2);
    for (line, custom_id) in lines.iter().zip(["first", "second"]) {
        assert_eq!(line["custom_id"], custom_id);
        assert!(line["id"].as_str().unwrap().starts_with("batch_req_"));
        assert!(line["error"].is_null());
        let response = &line["response"];
        assert_eq!(response["status_code"], 200);
        assert_eq!(response["request_id"].as_str().unwrap().len(), 36);
        let body: aoai_core::chat::ChatResponse = serde_json::from_value(response["body"].clone()).unwrap();
        assert!(body.text().is_some_and(|text| !text.is_empty()));
        assert!(body.prompt_filter_results.is_some());
    }
    let meta = call(&client, Method::GET, &format!("files/{output_id}"), None).await;
    assert_eq!(meta["purpose"], "batch_output");

    let error_id = batch["error_file_id"].as_str().unwrap();
    let errors = client
        .request_bytes(Method::GET, Route::Resource { path: &format!("files/{error_id}/content") }, None)
        .await
        .unwrap();
    let lines = jsonl(&errors.body);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["custom_id"], "broken");
    assert_eq!(lines[0]["response"]["status_code"], 404);
    assert_eq!(lines[0]["response"]["body"]["error"]["code"], "DeploymentNotFound");

    let stats = emulator.stats();
    assert_eq!(stats.deployment("gpt-4o").unwrap().batch_requests, 1);
    assert_eq!(stats.deployment("gpt-4o").unwrap().requests, 0, "batch lines are not online requests");

    let listed =
        support::get(emulator.addr(), "/openai/batches?api-version=2024-10-01-preview&limit=1", "k").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["has_more"], false);
}

#[tokio::test]
async fn embeddings_batches() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(1)).start().await.unwrap();
    let client = client(&emulator);
    let content = json!({
        "custom_id": "vec-1",
        "method": "POST",
        "url": "/embeddings",
        "body": {"model": "text-embedding-3-small", "input": "a river", "dimensions": 4},
    })
    .to_string();
    let file_id = upload(&emulator, "batch", "vectors.jsonl", &content).await.json()["id"].as_str().unwrap().to_owned();
    let created = call(
        &client,
        Method::POST,
        "batches",
        Some(json!({"input_file_id": file_id, "endpoint": "/embeddings", "completion_window": "24h"})),
    )
    .await;
    let (_, batch) = wait_for_batch(&client, created["id"].as_str().unwrap()).await;
    assert_eq!(batch["status"], "completed");
    assert!(batch["error_file_id"].is_null());
    let output_id = batch["output_file_id"].as_str().unwrap();
    let output = client
        .request_bytes(Method::GET, Route::Resource { path: &format!("files/{output_id}/content") }, None)
        .await
        .unwrap();
    let line = &jsonl(&output.body)[0];
    assert_eq!(line["response"]["body"]["data"][0]["embedding"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn invalid_input_fails_the_batch() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(1)).start().await.unwrap();
    let client = client(&emulator);
    let content = format!("{}\nthis is not json\n{}\n", line("a", "gpt-4o", "x"), line("a", "gpt-4o", "y"));
    let file_id = upload(&emulator, "batch", "bad.jsonl", &content).await.json()["id"].as_str().unwrap().to_owned();
    let created = call(
        &client,
        Method::POST,
        "batches",
        Some(json!({"input_file_id": file_id, "endpoint": "/chat/completions", "completion_window": "24h"})),
    )
    .await;
    // Created in `validating`; with a 1 ms step a loaded machine may poll
    // only after it failed, so the polls see `failed` with or without it.
    assert_eq!(created["status"], "validating");
    let (seen, batch) = wait_for_batch(&client, created["id"].as_str().unwrap()).await;
    assert!(seen == ["validating", "failed"] || seen == ["failed"], "{seen:?}");
    assert!(batch["failed_at"].as_u64().is_some());
    let errors = batch["errors"]["data"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!((errors[0]["code"].as_str(), errors[0]["line"].as_u64()), (Some("invalid_json_line"), Some(2)));
    assert_eq!((errors[1]["code"].as_str(), errors[1]["line"].as_u64()), (Some("duplicate_custom_id"), Some(3)));
    assert!(batch["output_file_id"].is_null());
}

#[tokio::test]
async fn batches_can_be_cancelled_and_are_checked() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(300)).start().await.unwrap();
    let client = client(&emulator);
    let file_id = upload(&emulator, "batch", "in.jsonl", &line("a", "gpt-4o", "x")).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = call(
        &client,
        Method::POST,
        "batches",
        Some(json!({"input_file_id": file_id, "endpoint": "/chat/completions", "completion_window": "24h"})),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let cancelling = call(&client, Method::POST, &format!("batches/{id}/cancel"), None).await;
    assert_eq!(cancelling["status"], "cancelling");
    assert!(cancelling["cancelling_at"].as_u64().is_some());
    let (seen, batch) = wait_for_batch(&client, &id).await;
    assert_eq!(seen, vec!["cancelling", "cancelled"]);
    assert!(batch["cancelled_at"].as_u64().is_some());
    assert_eq!(batch["request_counts"]["completed"], 0);
    let again = client
        .request_json::<Value>(Method::POST, Route::Resource { path: &format!("batches/{id}/cancel") }, None)
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(409));

    // Creation is validated.
    let checks = [
        (json!({"endpoint": "/chat/completions", "completion_window": "24h"}), "input_file_id"),
        (
            json!({"input_file_id": "file-nope", "endpoint": "/chat/completions", "completion_window": "24h"}),
            "input_file_id",
        ),
        (json!({"input_file_id": file_id, "endpoint": "/completions", "completion_window": "24h"}), "endpoint"),
        (
            json!({"input_file_id": file_id, "endpoint": "/chat/completions", "completion_window": "1h"}),
            "completion_window",
        ),
    ];
    for (body, param) in checks {
        let error = client
            .request_json::<Value>(Method::POST, Route::Resource { path: "batches" }, Some(body))
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(400));
        assert_eq!(error.as_api().unwrap().param(), Some(param));
    }
    let assistants_file =
        upload(&emulator, "assistants", "notes.txt", "hello").await.json()["id"].as_str().unwrap().to_owned();
    let error = client
        .request_json::<Value>(
            Method::POST,
            Route::Resource { path: "batches" },
            Some(
                json!({"input_file_id": assistants_file, "endpoint": "/chat/completions", "completion_window": "24h"}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(error.as_api().unwrap().param(), Some("input_file_id"));
    let missing = client
        .request_json::<Value>(Method::GET, Route::Resource { path: "batches/batch_nope" }, None)
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));
}
