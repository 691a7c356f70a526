//! `aoai respond` and `aoai responses …` through the binary against the
//! emulator: chaining with `--previous` across processes (the response id on
//! stderr), streaming, background polling, JSON, stored-response commands,
//! `--no-store`, typed errors and the offline default.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::process::Output;

use aoai_emulator::Emulator;
use common::{aoai, env_for, text};
use serde_json::Value;

/// The `response: resp_…` line on stderr.
fn response_id(output: &Output) -> String {
    let stderr = text(&output.stderr);
    stderr
        .lines()
        .find_map(|line| line.strip_prefix("response: "))
        .unwrap_or_else(|| panic!("no response id on stderr: {stderr}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_across_processes_in_both_url_forms() {
    let emulator = Emulator::builder().start().await.unwrap();
    for v1 in [false, true] {
        let env = env_for(&emulator, v1);
        let first =
            aoai(&["respond", "--instructions", "Be brief.", "My", "name", "is", "Ada", "Lovelace."], &env).await;
        assert!(first.status.success(), "{}", text(&first.stderr));
        assert!(!text(&first.stdout).trim().is_empty());
        let id = response_id(&first);
        assert!(id.starts_with("resp_"), "{id}");

        let second = aoai(&["respond", "--previous", &id, "What did I say before?"], &env).await;
        assert!(second.status.success(), "{}", text(&second.stderr));
        assert!(text(&second.stdout).contains("Ada Lovelace"), "{}", text(&second.stdout));

        // The stored response reads back, as text and as JSON.
        let get = aoai(&["responses", "get", &id, "--json"], &env).await;
        assert!(get.status.success(), "{}", text(&get.stderr));
        let body: Value = serde_json::from_slice(&get.stdout).unwrap();
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["status"], "completed");
        assert_eq!(body["output_text"], Value::Null, "output_text is the SDKs' convenience, not a field");

        // Cancelling a finished (foreground) response is refused by the service: exit 1, one line.
        let cancel = aoai(&["responses", "cancel", &id], &env).await;
        assert_eq!(cancel.status.code(), Some(1), "{}", text(&cancel.stderr));

        let delete = aoai(&["responses", "delete", &id], &env).await;
        assert!(delete.status.success(), "{}", text(&delete.stderr));
        assert_eq!(text(&delete.stdout), format!("deleted {id}\n"));
        let gone = aoai(&["responses", "get", &id], &env).await;
        assert_eq!(gone.status.code(), Some(1));
        assert!(text(&gone.stderr).contains("HTTP 404"), "{}", text(&gone.stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_polls_prints_json_and_reports_errors() {
    let emulator = Emulator::builder().start().await.unwrap();
    let env = env_for(&emulator, true);

    // Streamed and whole answers to the same request tell the same story: the stream's text is the JSON's output_text.
    let streamed = aoai(&["respond", "--stream", "Tell", "me", "about", "lighthouses"], &env).await;
    assert!(streamed.status.success(), "{}", text(&streamed.stderr));
    let id = response_id(&streamed);
    let stored = aoai(&["responses", "get", &id, "--json"], &env).await;
    let stored: Value = serde_json::from_slice(&stored.stdout).unwrap();
    let stored_text = stored["output"][0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(text(&streamed.stdout), format!("{stored_text}\n"));

    // Background: created queued, polled to the end.
    let background = aoai(&["respond", "--background", "--json", "Summarise", "the", "plan"], &env).await;
    assert!(background.status.success(), "{}", text(&background.stderr));
    let body: Value = serde_json::from_slice(&background.stdout).unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(body["background"], true);

    // Too few output tokens: the partial answer, a note, exit 0.
    let short = aoai(&["respond", "--max-output-tokens", "16", "Write", "a", "long", "essay"], &env).await;
    assert!(short.status.success(), "{}", text(&short.stderr));
    assert!(text(&short.stderr).contains("incomplete (max_output_tokens)"), "{}", text(&short.stderr));

    // Not stored: it cannot be read back.
    let unstored = aoai(&["respond", "--no-store", "Hello"], &env).await;
    assert!(unstored.status.success());
    let id = response_id(&unstored);
    assert_eq!(aoai(&["responses", "get", &id], &env).await.status.code(), Some(1));

    // An unknown previous id: the service's code, the request id, exit 1.
    let unknown = aoai(&["respond", "--previous", "resp_nope", "Hi"], &env).await;
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = text(&unknown.stderr);
    assert!(stderr.contains("previous_response_not_found") && stderr.contains("request id"), "{stderr}");

    // Usage errors exit 2.
    assert_eq!(aoai(&["respond", "--no-store", "--background", "x"], &env).await.status.code(), Some(2));
    assert_eq!(aoai(&["respond"], &env).await.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_offline_against_the_embedded_emulator() {
    let output = aoai(&["respond", "Say", "hello"], &[]).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("using the embedded emulator"), "{stderr}");
    assert!(response_id(&output).starts_with("resp_"));
    assert!(!text(&output.stdout).trim().is_empty());
}
