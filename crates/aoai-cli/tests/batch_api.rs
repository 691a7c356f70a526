//! `aoai batch submit|status|download|cancel`: the real binary against an
//! emulator started by the test (configured through the environment), and
//! offline against its own embedded emulator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aoai_emulator::Emulator;
use serde_json::{Value, json};

const KEY: &str = "batch-cli-test-key";

/// A fresh empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aoai-cli-batch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `aoai` in `dir` with a clean environment plus `env`.
async fn aoai(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aoai"));
    command.args(args).current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in env {
        command.env(name, value);
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn input_lines() -> String {
    let line = |custom_id: &str, model: &str| {
        json!({
            "custom_id": custom_id,
            "method": "POST",
            "url": "/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 10}
        })
        .to_string()
    };
    format!("{}\n{}\n{}\n", line("first", "gpt-4o-mini"), line("second", "missing-deployment"), line("third", "gpt-4o"))
}

fn custom_ids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["custom_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn submit_wait_download_status_and_cancel_against_a_configured_endpoint() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(5)).start().await.unwrap();
    let env = [("AZURE_OPENAI_ENDPOINT", emulator.base_url()), ("AZURE_OPENAI_API_KEY", KEY)];
    let dir = temp_dir("configured");
    std::fs::write(dir.join("in.jsonl"), input_lines()).unwrap();

    let submitted = aoai(
        &dir,
        &[
            "batch",
            "submit",
            "in.jsonl",
            "--wait",
            "-o",
            "out.jsonl",
            "--poll-interval",
            "0.02",
            "--metadata",
            "job=cli",
        ],
        &env,
    )
    .await;
    let stderr = text(&submitted.stderr);
    assert_eq!(submitted.status.code(), Some(0), "{stderr}");
    let id = text(&submitted.stdout).trim().to_owned();
    assert!(id.starts_with("batch_"), "{id}");
    assert!(stderr.contains("2 succeeded") && stderr.contains("1 failed"), "{stderr}");
    assert!(!stderr.contains(KEY));
    assert_eq!(custom_ids(&dir.join("out.jsonl")), ["first", "third"]);
    assert_eq!(custom_ids(&dir.join("out.errors.jsonl")), ["second"]);

    // The batch outlives the process: another one reads its status and results.
    let status = aoai(&dir, &["batch", "status", &id], &env).await;
    let shown = text(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    assert!(shown.starts_with(&format!("{id}: completed\n")), "{shown}");
    assert!(shown.contains("3 total, 2 completed, 1 failed") && shown.contains("job=cli"), "{shown}");
    let status = aoai(&dir, &["batch", "status", &id, "--json"], &env).await;
    let batch: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(batch["status"], "completed");
    assert_eq!(batch["request_counts"]["total"], 3);

    let downloaded =
        aoai(&dir, &["batch", "download", &id, "-o", "again.jsonl", "--errors", "failures.jsonl"], &env).await;
    assert_eq!(downloaded.status.code(), Some(0), "{}", text(&downloaded.stderr));
    assert_eq!(std::fs::read(dir.join("again.jsonl")).unwrap(), std::fs::read(dir.join("out.jsonl")).unwrap());
    assert_eq!(custom_ids(&dir.join("failures.jsonl")), ["second"]);

    // A finished batch cannot be cancelled: the service's 409, exit 1.
    let cancelled = aoai(&dir, &["batch", "cancel", &id], &env).await;
    assert_eq!(cancelled.status.code(), Some(1), "{}", text(&cancelled.stderr));
    assert!(text(&cancelled.stderr).contains("HTTP 409"), "{}", text(&cancelled.stderr));
    let unknown = aoai(&dir, &["batch", "status", "batch_nope"], &env).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("HTTP 404"), "{}", text(&unknown.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn cancel_and_submit_without_waiting() {
    let emulator = Emulator::builder().batch_step(Duration::from_secs(600)).start().await.unwrap();
    let env = [("AZURE_OPENAI_ENDPOINT", emulator.base_url()), ("AZURE_OPENAI_API_KEY", KEY)];
    let dir = temp_dir("cancel");
    std::fs::write(dir.join("in.jsonl"), input_lines()).unwrap();
    let submitted = aoai(&dir, &["batch", "submit", "in.jsonl"], &env).await;
    assert_eq!(submitted.status.code(), Some(0), "{}", text(&submitted.stderr));
    let id = text(&submitted.stdout).trim().to_owned();
    let not_ready = aoai(&dir, &["batch", "download", &id, "-o", "out.jsonl"], &env).await;
    assert_eq!(not_ready.status.code(), Some(1));
    assert!(text(&not_ready.stderr).contains("validating"), "{}", text(&not_ready.stderr));
    let cancelled = aoai(&dir, &["batch", "cancel", &id], &env).await;
    assert_eq!(cancelled.status.code(), Some(0), "{}", text(&cancelled.stderr));
    assert_eq!(text(&cancelled.stdout), format!("{id}: cancelling\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn offline_submit_wait_writes_results_and_bad_input_is_usage() {
    let dir = temp_dir("offline");
    std::fs::write(dir.join("in.jsonl"), input_lines()).unwrap();
    let submitted = aoai(&dir, &["batch", "submit", "in.jsonl", "--wait", "-o", "out.jsonl"], &[]).await;
    let stderr = text(&submitted.stderr);
    assert_eq!(submitted.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("embedded emulator"), "{stderr}");
    assert_eq!(custom_ids(&dir.join("out.jsonl")), ["first", "third"]);

    // Offline, a later process cannot know the batch: exit 1 with a note saying why.
    let id = text(&submitted.stdout).trim().to_owned();
    let status = aoai(&dir, &["batch", "status", &id], &[]).await;
    assert_eq!(status.status.code(), Some(1));
    assert!(text(&status.stderr).contains("--wait -o OUTPUT"), "{}", text(&status.stderr));

    let duplicate = format!("{}{}", input_lines(), input_lines().lines().next().unwrap());
    std::fs::write(dir.join("dup.jsonl"), duplicate).unwrap();
    let refused = aoai(&dir, &["batch", "submit", "dup.jsonl", "--wait", "-o", "out2.jsonl"], &[]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("line 4: custom_id \"first\" is already used on line 1"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!dir.join("out2.jsonl").exists());
    let usage = aoai(&dir, &["batch", "submit", "in.jsonl", "-o", "x.jsonl"], &[]).await;
    assert_eq!(usage.status.code(), Some(2), "-o needs --wait");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `aoai batch status` exits 4 for a failed batch and 6 for a cancelled
/// one (0 while running or completed, 1 when the call fails), so a script
/// polling it can tell a batch's end from a failed call.
#[tokio::test]
async fn status_exits_with_a_code_per_ending() {
    use aoai_batch::api::{BatchClient, BatchInput, BatchStatus, CreateBatch, WaitOptions};
    let emulator = Emulator::builder().batch_step(Duration::from_millis(50)).start().await.unwrap();
    let env = [("AZURE_OPENAI_ENDPOINT", emulator.base_url()), ("AZURE_OPENAI_API_KEY", KEY)];
    let dir = temp_dir("status-codes");
    let batches = BatchClient::new(emulator.client().unwrap());
    let wait = WaitOptions::new(Duration::from_millis(10));

    // Failed: a line whose body is not an object fails validation.
    let bad = "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/chat/completions\",\"body\":7}\n";
    let file: aoai_batch::api::FileObject = emulator
        .client()
        .unwrap()
        .upload_file(
            aoai_core::routing::Route::Resource { path: "files" },
            "batch",
            "bad.jsonl",
            bytes::Bytes::from_static(bad.as_bytes()),
        )
        .await
        .unwrap()
        .body;
    let failed = batches.create(&CreateBatch::new(file.id, "/chat/completions")).await.unwrap();
    assert_eq!(batches.wait(&failed.id, &wait).await.unwrap().status, BatchStatus::Failed);
    let status = aoai(&dir, &["batch", "status", &failed.id], &env).await;
    assert_eq!(status.status.code(), Some(4), "{}", text(&status.stderr));
    assert!(text(&status.stdout).starts_with(&format!("{}: failed", failed.id)));
    let status = aoai(&dir, &["batch", "status", &failed.id, "--json"], &env).await;
    assert_eq!(status.status.code(), Some(4), "{}", text(&status.stderr));

    // Cancelled: cancelled while it validates (one-second steps leave the
    // status call ample time to see it running).
    let emulator = Emulator::builder().batch_step(Duration::from_secs(1)).start().await.unwrap();
    let env = [("AZURE_OPENAI_ENDPOINT", emulator.base_url()), ("AZURE_OPENAI_API_KEY", KEY)];
    let batches = BatchClient::new(emulator.client().unwrap());
    let input = BatchInput::parse(input_lines().into_bytes()).unwrap();
    let file = batches.upload("in.jsonl", &input).await.unwrap();
    let running = batches.create(&CreateBatch::new(file.id, "/chat/completions")).await.unwrap();
    let status = aoai(&dir, &["batch", "status", &running.id], &env).await;
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    batches.cancel(&running.id).await.unwrap();
    assert_eq!(batches.wait(&running.id, &wait).await.unwrap().status, BatchStatus::Cancelled);
    let status = aoai(&dir, &["batch", "status", &running.id], &env).await;
    assert_eq!(status.status.code(), Some(6), "{}", text(&status.stderr));
    assert!(text(&status.stderr).contains("cancelled"), "{}", text(&status.stderr));

    // Cancelling it again: the 409 at once, said plainly.
    let again = aoai(&dir, &["batch", "cancel", &running.id], &env).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("cannot be cancelled: it has already finished (HTTP 409"),
        "{}",
        text(&again.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
