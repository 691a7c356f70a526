//! The proof of issue #3: the official OpenAI Python SDK (`openai` from PyPI,
//! its `AzureOpenAI` client) works against the emulator. This starts an
//! emulator in-process with the deployments, key, blocklist and fixture that
//! `tests/python/azure_sdk_proof.py` expects, runs the script, and requires
//! every check to report `ok`.
//!
//! `cargo xtask ci` installs the SDK. Without it this test fails (it never
//! silently passes); set `AOAI_SKIP_PYTHON_SDK=1` to skip it on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aoai_emulator::config::DeploymentConfig;
use aoai_emulator::quota::RpmWindow;
use aoai_emulator::{Emulator, EmulatorHandle};

/// The checks the script runs, in order; each prints `ok <name>`.
const CHECKS: [&str; 19] = [
    "chat",
    "azure_extras",
    "max_tokens_and_n",
    "stream_usage",
    "async_stream",
    "tools_named",
    "tools_required",
    "tool_result_answer",
    "structured_output",
    "structured_output_stream",
    "stream_tools",
    "embeddings_float",
    "embeddings_base64",
    "content_filter_prompt",
    "content_filter_completion",
    "retry_429",
    "auth_and_not_found",
    "v1_openai_client",
    "responses_api",
];

const KEY: &str = "python-sdk-proof-key";

const FIXTURES: &str = r#"
[[fixtures]]
name = "secret animal"
match = { last_user_contains = "secret animal" }
reply = { content = "The secret animal is a zebra from the savanna." }
"#;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/azure_sdk_proof.py")
}

/// Whether `python3` can import the SDK; `Err` says why not.
fn sdk_available() -> Result<(), String> {
    match Command::new("python3").args(["-c", "import openai"]).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default().trim().to_owned()),
        Err(error) => Err(format!("cannot run python3: {error}")),
    }
}

fn fixtures_file() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aoai-emulator-python-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fixtures.toml");
    std::fs::write(&path, FIXTURES).unwrap();
    path
}

async fn emulator(fixtures: &Path) -> EmulatorHandle {
    Emulator::builder()
        .key(KEY)
        .deployment(DeploymentConfig::new("gpt-4o-mini", "gpt-4o-mini"))
        .deployment(DeploymentConfig::new("text-embedding-3-small", "text-embedding-3-small"))
        // One request a second, so the SDK meets a 429 and retries after retry-after-ms.
        .deployment(DeploymentConfig::new("limited", "gpt-4o-mini").rpm(60).rpm_window(RpmWindow::OneSecond))
        .blocklist(["zebra"])
        .fixtures(fixtures)
        .start()
        .await
        .unwrap()
}

async fn run_script(emulator: &EmulatorHandle) -> Output {
    let mut command = Command::new("python3");
    command
        .arg("-u")
        .arg(script())
        .env("AOAI_EMULATOR_BASE_URL", emulator.base_url())
        .env("AOAI_EMULATOR_KEY", KEY)
        // Hermetic: no proxy, no inherited Azure/OpenAI settings.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("AZURE_OPENAI_API_KEY")
        .env_remove("AZURE_OPENAI_ENDPOINT")
        .env_remove("AZURE_OPENAI_AD_TOKEN")
        .env_remove("OPENAI_API_VERSION");
    // The server runs on this runtime while the script blocks a pool thread.
    tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("cannot run python3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_sdk_works_against_the_emulator() {
    if std::env::var("AOAI_SKIP_PYTHON_SDK").is_ok_and(|value| value == "1") {
        eprintln!("skipped: AOAI_SKIP_PYTHON_SDK=1 (the OpenAI Python SDK proof did not run)");
        return;
    }
    if let Err(why) = sdk_available() {
        panic!(
            "the OpenAI Python SDK is not installed for python3 ({why}); run `cargo xtask ci` (which installs it), \
             or set AOAI_SKIP_PYTHON_SDK=1 to skip this test"
        );
    }
    let fixtures = fixtures_file();
    let emulator = emulator(&fixtures).await;
    let output = run_script(&emulator).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(output.status.success(), "the SDK proof failed ({}):\n{report}", output.status);
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let missing: Vec<&str> =
        CHECKS.iter().copied().filter(|check| !lines.contains(&format!("ok {check}").as_str())).collect();
    assert!(missing.is_empty(), "checks that did not report ok: {missing:?}\n{report}");
    let reported = lines.iter().filter(|line| line.starts_with("ok ")).count();
    assert_eq!(reported, CHECKS.len(), "the script runs checks this test does not know:\n{report}");

    // The emulator's own count agrees with what the script saw: the SDK met
    // two 429s on the limited deployment (one with retries off, one it retried).
    let stats = emulator.stats();
    let limited = stats.deployment("limited").unwrap();
    assert_eq!((limited.requests, limited.served, limited.rate_limited), (4, 2, 2), "{limited:?}");
    let chat = stats.deployment("gpt-4o-mini").unwrap();
    assert!(chat.served > 20 && chat.errors >= 2, "{chat:?}");
    emulator.shutdown().await;
    std::fs::remove_dir_all(fixtures.parent().unwrap()).unwrap();
}
