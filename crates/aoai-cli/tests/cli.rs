//! The `aoai` binary against a raw loopback server speaking Azure's wire format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../aoai-core/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{RawServer, Reply};

const KEY: &str = "cli-test-key-9b2f";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../aoai-core/tests/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Runs `aoai` with a clean environment (plus `env`) in an empty directory.
async fn aoai(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let dir = std::env::temp_dir().join(format!("aoai-cli-test-{}-{}", std::process::id(), fastrand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_aoai"));
    command.args(args).current_dir(&dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in env {
        command.env(name, value);
    }
    command
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = stdin.map(str::to_owned);
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        if let Some(input) = input {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    output
}

fn fastrand_suffix() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn azure_env(server: &RawServer) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_OPENAI_ENDPOINT", server.base.clone()),
        ("AZURE_OPENAI_API_KEY", KEY.to_owned()),
        ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o".to_owned()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_prints_the_answer() {
    let server = RawServer::start(vec![Reply::json(200, &[], &fixture("chat_response_azure.json"))]).await;
    let env = azure_env(&server);
    let output =
        aoai(&["chat", "--system", "Be brief.", "--max-tokens", "20", "Say", "hello"], &borrowed(&env), None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Hello! How can I help you today?\n");
    let request = &server.requests()[0];
    assert_eq!(request.target, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-01-preview");
    assert_eq!(request.header("api-key"), Some(KEY));
    let body = request.json();
    assert_eq!(body["messages"][0], serde_json::json!({"role": "system", "content": "Be brief."}));
    assert_eq!(body["messages"][1], serde_json::json!({"role": "user", "content": "Say hello"}));
    assert_eq!(body["max_tokens"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_json_prints_the_full_response() {
    let server = RawServer::start(vec![Reply::json(200, &[], &fixture("chat_response_azure.json"))]).await;
    let env = azure_env(&server);
    let output = aoai(&["chat", "--json", "--deployment", "other", "hi"], &borrowed(&env), None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], "Hello! How can I help you today?");
    assert!(json["prompt_filter_results"][0]["content_filter_results"]["jailbreak"].is_object());
    assert_eq!(json["usage"]["total_tokens"], 27);
    assert!(server.requests()[0].target.starts_with("/openai/deployments/other/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_prints_tokens_as_they_come() {
    let transcript = fixture("chat_stream_azure.sse");
    let server =
        RawServer::start(vec![Reply::sse_chunked(&[], transcript.as_bytes(), &[700, 1400], Duration::from_millis(20))])
            .await;
    let env = azure_env(&server);
    let output = aoai(&["chat", "--stream", "hi"], &borrowed(&env), None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Grüße aus 東京 🌸!\n");
    assert_eq!(server.requests()[0].json()["stream"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_json_prints_one_chunk_per_line() {
    let transcript = fixture("chat_stream_azure.sse");
    let server = RawServer::start(vec![Reply::sse_chunked(&[], transcript.as_bytes(), &[], Duration::ZERO)]).await;
    let env = azure_env(&server);
    let output = aoai(&["chat", "--stream", "--json", "hi"], &borrowed(&env), None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> =
        stdout(&output).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 7);
    assert!(lines[0]["prompt_filter_results"].is_array());
    assert_eq!(lines[6]["usage"]["total_tokens"], 19);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_print_one_line_and_exit_non_zero() {
    let server = RawServer::start(vec![Reply::json(400, &[], &fixture("filter_error_400.json"))]).await;
    let env = azure_env(&server);
    let output = aoai(&["chat", "tell me something bad"], &borrowed(&env), None).await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    for needle in [
        "content_filter",
        "HTTP 400",
        "code content_filter",
        "request id req-0001",
        "violence=medium (filtered)",
        "jailbreak=detected (filtered)",
        "hate=safe",
    ] {
        assert!(err.contains(needle), "{needle:?} missing in {err}");
    }
    assert!(!err.contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_models_get_max_completion_tokens() {
    let unsupported = r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
    let server = RawServer::start(vec![
        Reply::json(400, &[], unsupported),
        Reply::json(200, &[], &fixture("chat_response_azure.json")),
    ])
    .await;
    let env = azure_env(&server);
    let output = aoai(&["chat", "--max-tokens", "30", "hi"], &borrowed(&env), None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let second = server.requests()[1].json();
    assert_eq!(second["max_completion_tokens"], 30);
    assert!(second.get("max_tokens").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_prints_json_vectors_in_order() {
    let body = r#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5,0.25]},{"object":"embedding","index":0,"embedding":[1.0,-1.0]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
    let server = RawServer::start(vec![Reply::json(200, &[], body)]).await;
    let env = azure_env(&server);
    let output =
        aoai(&["embed", "--deployment", "emb", "--dimensions", "2", "first", "second"], &borrowed(&env), None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let vectors: Vec<Vec<f32>> = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(vectors, vec![vec![1.0, -1.0], vec![0.5, 0.25]]);
    let sent = server.requests()[0].json();
    assert_eq!(sent["input"], serde_json::json!(["first", "second"]));
    assert_eq!(sent["dimensions"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_count_and_truncate() {
    let text = "Hello world! Tokens are counted exactly like tiktoken. 東京 🌸";
    let output = aoai(&["tokens", "count"], &[], Some(text)).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let o200k: usize = stdout(&output).trim().parse().unwrap();
    let output = aoai(&["tokens", "count", "--model", "gpt-35-turbo", "-"], &[], Some(text)).await;
    let cl100k: usize = stdout(&output).trim().parse().unwrap();
    assert!(o200k > 5 && cl100k > 5);
    let output = aoai(&["tokens", "truncate", "--max", "3"], &[], Some(text)).await;
    assert!(output.status.success());
    let truncated = stdout(&output);
    assert!(text.starts_with(&truncated) && !truncated.is_empty() && truncated.len() < text.len(), "{truncated:?}");
    let output = aoai(&["tokens", "count", "/no/such/file"], &[], None).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/no/such/file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_configuration_runs_offline_against_the_embedded_emulator() {
    let output = aoai(&["chat", "Say", "hello"], &[], None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("embedded emulator") && err.contains("AZURE_OPENAI_ENDPOINT"), "{err}");
    assert!(!stdout(&output).trim().is_empty());
    let output = aoai(&["chat", "--stream", "hi"], &[], None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).trim().is_empty());
    let output = aoai(&["embed", "--dimensions", "8", "a", "b"], &[], None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let vectors: Vec<Vec<f32>> = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((vectors.len(), vectors[0].len()), (2, 8));
    // A named deployment is served offline too, from the flag or the environment.
    let output = aoai(&["chat", "--deployment", "my-chat", "--json", "hi"], &[], None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let response: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(response["model"].as_str().unwrap().starts_with("gpt-4o"), "{response}");
    let output = aoai(&["chat", "hi"], &[("AZURE_OPENAI_DEPLOYMENT", "team-chat")], None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let output = aoai(&["embed", "--deployment", "my-embedder", "a"], &[], None).await;
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_configuration_names_the_variable() {
    let output = aoai(&["chat", "hi"], &[("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com")], None).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("AZURE_OPENAI_API_KEY"));
    let output =
        aoai(&["chat", "hi"], &[("AZURE_OPENAI_ENDPOINT", "not a url"), ("AZURE_OPENAI_API_KEY", "k")], None).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("AZURE_OPENAI_ENDPOINT"));
    let output = aoai(&["doctor"], &[("AZURE_OPENAI_API_KEY", "k")], None).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("configuration: PROBLEM") && stdout(&output).contains("AZURE_OPENAI_ENDPOINT"));
}

/// Nothing configured is not a problem: the commands run offline against
/// the embedded emulator, and doctor says so, says how to reach Azure, and
/// shows the offline path working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_with_nothing_configured_explains_the_emulator_and_azure() {
    let output = aoai(&["doctor"], &[], None).await;
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", stderr(&output));
    assert!(!out.contains("PROBLEM"), "{out}");
    assert!(out.contains("commands run offline against the embedded emulator"), "{out}");
    assert!(out.contains("AZURE_OPENAI_ENDPOINT=https://YOUR-RESOURCE.openai.azure.com"), "{out}");
    assert!(out.contains("AZURE_OPENAI_DEPLOYMENT="), "{out}");
    assert!(out.contains("validation call (embedded emulator, deployment gpt-4o): ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_in_plain_words() {
    let server = RawServer::start(vec![
        Reply::json(
            200,
            &[("x-ratelimit-remaining-tokens", "999"), ("x-ratelimit-remaining-requests", "9")],
            &fixture("chat_response_azure.json"),
        ),
        Reply::json(404, &[], &fixture("deployment_not_found_404.json")),
    ])
    .await;
    let env = azure_env(&server);
    let output = aoai(&["doctor"], &borrowed(&env), None).await;
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("configuration: ok")
            && out.contains("validation call: ok")
            && out.contains("9 requests, 999 tokens"),
        "{out}"
    );
    assert!(!out.contains(KEY));
    assert_eq!(server.requests()[0].json()["max_tokens"], 1);
    let output = aoai(&["doctor", "--deployment", "missing"], &borrowed(&env), None).await;
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(out.contains("validation call: PROBLEM") && out.contains("deployment named \"missing\""), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_subcommand_prints_its_address_first() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aoai"))
        .args(["emulator", "--port", "0", "--deployment", "chat=gpt-4o,rpm=600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child_stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(child_stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = first.trim().strip_prefix("listening on ").expect("contract first line").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    let env = [
        ("AZURE_OPENAI_ENDPOINT", base.as_str()),
        ("AZURE_OPENAI_API_KEY", "any"),
        ("AZURE_OPENAI_DEPLOYMENT", "chat"),
    ];
    let output = aoai(&["chat", "hi"], &env, None).await;
    child.kill().unwrap();
    let _ = child.wait();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).trim().is_empty());
}

/// The Azure answer fixture with its first choice ended another way.
fn chat_response_ending(content: &str, finish_reason: &str, violence: &str) -> String {
    let mut body: serde_json::Value = serde_json::from_str(&fixture("chat_response_azure.json")).unwrap();
    body["choices"][0]["message"]["content"] = content.into();
    body["choices"][0]["finish_reason"] = finish_reason.into();
    body["choices"][0]["content_filter_results"]["violence"] = serde_json::from_str(violence).unwrap();
    body.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_cut_by_the_content_filter_prints_the_text_names_the_category_and_exits_3() {
    let body = chat_response_ending("The fight began when", "content_filter", r#"{"filtered":true,"severity":"high"}"#);
    let server = RawServer::start(vec![Reply::json(200, &[], &body), Reply::json(200, &[], &body)]).await;
    let env = azure_env(&server);
    let output = aoai(&["chat", "Tell", "a", "story"], &borrowed(&env), None).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "The fight began when\n");
    assert_eq!(
        stderr(&output).trim_end(),
        "content filter: Azure's content filter cut the answer (finish_reason: content_filter); filtered: violence (severity high)"
    );
    // --json prints the body, and still exits 3.
    let output = aoai(&["chat", "--json", "Tell", "a", "story"], &borrowed(&env), None).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["choices"][0]["finish_reason"], "content_filter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stopped_at_the_token_limit_notes_it_and_exits_0() {
    let body = chat_response_ending("Once upon a", "length", r#"{"filtered":false,"severity":"safe"}"#);
    let server = RawServer::start(vec![Reply::json(200, &[], &body)]).await;
    let env = azure_env(&server);
    let output = aoai(&["chat", "--max-tokens", "3", "Tell", "a", "story"], &borrowed(&env), None).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Once upon a\n");
    assert_eq!(stderr(&output).trim_end(), "note: the answer stopped at its token limit (finish_reason: length)");
}

/// Streamed: Azure ends the choice with `finish_reason: content_filter` and
/// sends the verdict in the annotation chunk after it (as in
/// `chat_stream_azure.sse`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_cut_by_the_content_filter_exits_3_after_the_text() {
    let transcript = fixture("chat_stream_azure.sse")
        .replace(r#""finish_reason":"stop""#, r#""finish_reason":"content_filter""#)
        .replace(
            r#""violence":{"filtered":false,"severity":"low"}"#,
            r#""violence":{"filtered":true,"severity":"medium"}"#,
        );
    assert!(transcript.contains(r#""filtered":true,"severity":"medium""#));
    let server = RawServer::start(vec![
        Reply::sse_chunked(&[], transcript.as_bytes(), &[700, 1400], Duration::from_millis(20)),
        Reply::sse_chunked(&[], transcript.as_bytes(), &[], Duration::ZERO),
    ])
    .await;
    let env = azure_env(&server);
    let output = aoai(&["chat", "--stream", "hi"], &borrowed(&env), None).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Grüße aus 東京 🌸!\n");
    assert!(stderr(&output).contains("filtered: violence (severity medium)"), "{}", stderr(&output));
    let output = aoai(&["chat", "--stream", "--json", "hi"], &borrowed(&env), None).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 7);
}
