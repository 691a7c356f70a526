//! The official OpenAI Python SDK drives the emulator's files, vector stores
//! (`upload_and_poll`, `create_and_poll`, auto-paging, `search`, file
//! content) and conversations, in both URL forms (`OpenAI(base_url=…/openai/v1/)`
//! and `AzureOpenAI(api_version="2025-04-01-preview")`): runs
//! `tests/python/stores_sdk_proof.py` and requires every check to report `ok`.
//!
//! Like `python_sdk.rs`: fails without the SDK (`cargo xtask ci` installs it);
//! `AOAI_SKIP_PYTHON_SDK=1` skips it on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aoai_emulator::Emulator;

const CHECKS: [&str; 3] = ["vector_stores_upload_and_search", "failed_file_has_last_error", "conversations"];

const KEY: &str = "python-sdk-stores-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_sdk_drives_vector_stores_and_conversations() {
    if std::env::var("AOAI_SKIP_PYTHON_SDK").is_ok_and(|value| value == "1") {
        eprintln!("skipped: AOAI_SKIP_PYTHON_SDK=1 (the OpenAI Python SDK stores proof did not run)");
        return;
    }
    let available =
        Command::new("python3").args(["-c", "import openai"]).output().is_ok_and(|out| out.status.success());
    assert!(
        available,
        "the OpenAI Python SDK is not installed for python3; run `cargo xtask ci` (which installs it), \
         or set AOAI_SKIP_PYTHON_SDK=1 to skip this test"
    );
    let emulator = Emulator::builder().key(KEY).batch_step(Duration::from_millis(20)).start().await.unwrap();
    let mut command = Command::new("python3");
    command
        .arg("-u")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/stores_sdk_proof.py"))
        .env("AOAI_EMULATOR_BASE_URL", emulator.base_url())
        .env("AOAI_EMULATOR_KEY", KEY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("AZURE_OPENAI_API_KEY")
        .env_remove("AZURE_OPENAI_ENDPOINT")
        .env_remove("AZURE_OPENAI_AD_TOKEN")
        .env_remove("OPENAI_API_VERSION");
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("cannot run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = format!("--- stdout\n{stdout}\n--- stderr\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the SDK stores proof failed ({}):\n{report}", output.status);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    for check in CHECKS {
        assert!(lines.contains(&format!("ok {check}").as_str()), "{check} did not report ok:\n{report}");
    }
    assert_eq!(lines.iter().filter(|line| line.starts_with("ok ")).count(), CHECKS.len(), "{report}");
    emulator.shutdown().await;
}
