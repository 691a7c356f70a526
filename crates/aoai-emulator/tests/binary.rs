//! The `aoai-emulator` binary: its first stdout line, its flags and its
//! configuration file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;

/// A running binary, killed on drop.
struct Running {
    child: Child,
    base_url: String,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aoai-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let base_url = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    Running { child, base_url, _stdout: stdout }
}

fn client(base_url: &str, key: &str) -> aoai_core::Client {
    aoai_core::Client::builder(Endpoint::azure(base_url).unwrap())
        .api_key(key)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn question() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("Hello there")]).max_tokens(10)
}

#[tokio::test]
async fn first_line_names_the_address_and_defaults_are_served() {
    let running = spawn(&["--port", "0"]);
    let port: u16 = running.base_url.strip_prefix("http://127.0.0.1:").unwrap().parse().unwrap();
    assert_ne!(port, 0);
    let client = client(&running.base_url, "any-key-works");
    for deployment in ["gpt-4o", "gpt-4o-mini"] {
        assert!(client.chat(deployment, &question()).await.unwrap().text().is_some());
    }
    let embeddings = client
        .embeddings("text-embedding-3-small", &aoai_core::embeddings::EmbeddingsRequest::new("hi"))
        .await
        .unwrap();
    assert_eq!(embeddings.body.data.len(), 1);
}

#[tokio::test]
async fn deployment_flags_set_quotas() {
    let running = spawn(&["--port", "0", "--deployment", "chat=gpt-4o-mini,tpm=100000,rpm=600", "--key", "secret-1"]);
    let client = client(&running.base_url, "secret-1");
    let response = client.chat("chat", &question()).await.unwrap();
    assert!(response.meta.rate_limits.remaining_tokens.is_some_and(|left| left < 100_000));
    assert!(response.meta.rate_limits.remaining_requests.is_some());
    assert_eq!(client.chat("gpt-4o", &question()).await.unwrap_err().code(), Some("DeploymentNotFound"));
    let wrong = self::client(&running.base_url, "secret-2");
    assert_eq!(wrong.chat("chat", &question()).await.unwrap_err().status(), Some(401));
}

#[tokio::test]
async fn config_file_and_flags_combine() {
    let dir = std::env::temp_dir().join(format!("aoai-emulator-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("emulator.toml");
    std::fs::write(
        &path,
        r#"
region = "westeurope"

[[deployments]]
name = "from-file"
model = "gpt-4o"
rpm = 60
"#,
    )
    .unwrap();
    let running = spawn(&["--config", path.to_str().unwrap(), "--port", "0", "--deployment", "extra=gpt-4o-mini"]);
    let client = client(&running.base_url, "k");
    let response = client.chat("from-file", &question()).await.unwrap();
    assert_eq!(response.meta.region.as_deref(), Some("westeurope"));
    assert!(response.meta.rate_limits.remaining_requests.is_some());
    assert!(client.chat("extra", &question()).await.is_ok());
    let stats =
        support::get(running.base_url.strip_prefix("http://").unwrap().parse().unwrap(), "/_emulator/stats", "k").await;
    let stats = stats.json();
    assert_eq!(stats["deployments"]["from-file"]["served"], 1);
    assert_eq!(stats["deployments"]["extra"]["served"], 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_fail_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_aoai-emulator"))
        .args(["--port", "0", "--deployment", "chat=gpt-4o,tpm=lots"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("tpm must be a whole number"), "{stderr}");
    let output = Command::new(env!("CARGO_BIN_EXE_aoai-emulator"))
        .args(["--config", "/definitely/not/here.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot read /definitely/not/here.toml"), "{stderr}");
}
