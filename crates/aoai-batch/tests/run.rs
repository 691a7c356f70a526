//! The JSONL runner against the real emulator on loopback: every valid
//! `custom_id` exactly once across output + errors, malformed lines by line
//! number, retries through the gate, and nothing the emulator served that
//! the output does not account for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aoai_batch::Scheduler;
use aoai_batch::limiter::{QuotaSpec, RpmWindow};
use aoai_batch::run::{Report, RunConfig, RunError, Runner};
use aoai_core::clock::Time;
use aoai_core::retry::RetryPolicy;
use aoai_emulator::faults::{Fault, FaultConfig};
use aoai_emulator::quota;
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "aoai-run-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn chat_line(id: &str, max_tokens: u32) -> String {
    json!({"custom_id": id, "method": "POST", "url": "/chat/completions",
        "body": {"model": "chat", "messages": [{"role": "user", "content": format!("Question {id}")}], "max_tokens": max_tokens}})
    .to_string()
}

fn embeddings_line(id: &str) -> String {
    json!({"custom_id": id, "method": "POST", "url": "/v1/embeddings",
        "body": {"model": "emb", "input": format!("passage {id}")}})
    .to_string()
}

fn write_input(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("input.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{line}: {error}")))
        .collect()
}

/// Every id of output + errors, checked to appear once; malformed line numbers.
fn outcome(config: &RunConfig) -> (Vec<Value>, Vec<Value>, BTreeMap<String, usize>, Vec<u64>) {
    let output = read_lines(config.output_path());
    let errors = read_lines(config.errors_path());
    let mut ids = BTreeMap::new();
    let mut malformed = Vec::new();
    for line in output.iter().chain(&errors) {
        if line["error"]["code"] == "malformed_line" {
            malformed.push(line["line"].as_u64().unwrap());
            continue;
        }
        *ids.entry(line["custom_id"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    assert!(ids.values().all(|count| *count == 1), "an id appears twice: {ids:?}");
    malformed.sort_unstable();
    (output, errors, ids, malformed)
}

fn served(emulator: &EmulatorHandle, names: &[&str]) -> (u64, HashSet<String>) {
    let stats = emulator.stats();
    let mut count = 0;
    let mut ids = HashSet::new();
    for name in names {
        let deployment = stats.deployment(name).unwrap();
        count += deployment.served;
        ids.extend(deployment.request_ids.iter().cloned());
    }
    (count, ids)
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().max_retries(4).backoff(Duration::from_millis(1), Duration::from_millis(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_file_runs_exactly_once_with_malformed_and_never_fitting_lines_reported() {
    let emulator = Emulator::builder()
        .deployment(DeploymentConfig::new("chat", "gpt-4o-mini").tpm(20_000).rpm(6_000))
        .deployment(DeploymentConfig::new("emb", "text-embedding-3-small").tpm(50_000).rpm(6_000))
        .start()
        .await
        .unwrap();
    let dir = scratch("mixed");
    let mut lines = Vec::new();
    for index in 0..60 {
        lines.push(if index % 3 == 0 {
            embeddings_line(&format!("e{index}"))
        } else {
            chat_line(&format!("c{index}"), 30)
        });
    }
    lines.insert(10, "{not json".to_owned());
    lines.insert(20, json!({"custom_id": "bad-url", "method": "POST", "url": "/images", "body": {}}).to_string());
    lines.insert(30, json!({"custom_id": "no-body", "method": "POST", "url": "/embeddings"}).to_string());
    lines.push(chat_line("huge", 30_000));
    lines.insert(5, String::new());
    let input = write_input(&dir, &lines);

    let gate = Scheduler::builder(Time::system())
        .deployment("chat", QuotaSpec::new(20_000, 6_000).rpm_window(RpmWindow::OneSecond))
        .deployment("emb", QuotaSpec::new(50_000, 6_000).rpm_window(RpmWindow::OneSecond))
        .build()
        .unwrap();
    let config = RunConfig::new(&input, dir.join("out.jsonl")).concurrency(16).quota(Some(20_000), Some(6_000));
    let progress = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&progress);
    let report = Runner::new(&emulator.client().unwrap(), Arc::new(gate), config.clone())
        .on_progress(move |snapshot| {
            seen.fetch_max(snapshot.done, Ordering::Relaxed);
        })
        .run()
        .await
        .unwrap();

    let (output, errors, ids, malformed) = outcome(&config);
    assert_eq!(ids.len(), 61, "every valid id once");
    // 1-based line numbers of the file, which has a blank line 6.
    assert_eq!(malformed, vec![12, 22, 32]);
    assert_eq!(report.items, 61);
    assert_eq!(report.succeeded, 60);
    assert_eq!(report.failed, BTreeMap::from([("never_fits".to_owned(), 1)]));
    assert_eq!(report.malformed, 3);
    assert_eq!(report.rate_limited, 0);
    assert_eq!(report.requests_sent, 60);
    assert_eq!(progress.load(Ordering::Relaxed), 64);
    let huge = errors.iter().find(|line| line["custom_id"] == "huge").unwrap();
    assert_eq!(huge["response"], Value::Null);
    assert!(huge["error"]["message"].as_str().unwrap().contains("never"), "{huge}");

    // The emulator served exactly the output's lines, request ids and all.
    let (count, served_ids) = served(&emulator, &["chat", "emb"]);
    assert_eq!(count, 60);
    let output_ids: HashSet<String> =
        output.iter().map(|line| line["response"]["request_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(output_ids, served_ids);
    for line in &output {
        assert_eq!(line["response"]["status_code"], 200);
        assert!(line["id"].as_str().unwrap().starts_with("batch_req_"));
        let body = &line["response"]["body"];
        let id = line["custom_id"].as_str().unwrap();
        if id.starts_with('e') {
            assert_eq!(body["object"], "list", "{id}");
        } else {
            assert_eq!(body["object"], "chat.completion", "{id}");
        }
    }
    assert!(report.prompt_tokens > 0 && report.completion_tokens > 0);
    assert!(report.charged_tokens >= report.prompt_tokens + report.completion_tokens);
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    for key in [
        "items",
        "succeeded",
        "failed",
        "malformed",
        "requests_sent",
        "rate_limited",
        "prompt_tokens",
        "completion_tokens",
        "charged_tokens",
        "elapsed_seconds",
        "tokens_per_minute",
        "quota_tpm",
        "quota_rpm",
    ] {
        assert!(json.get(key).is_some(), "report lacks {key}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn duplicate_ids_are_refused_before_anything_is_sent() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = scratch("dup");
    let input = write_input(&dir, &[chat_line("a", 5), chat_line("b", 5), "junk".to_owned(), chat_line("a", 9)]);
    let gate = Scheduler::builder(Time::system()).deployment("gpt-4o", QuotaSpec::from_tpm(10_000)).build().unwrap();
    let config = RunConfig::new(&input, dir.join("out.jsonl"));
    let error = Runner::new(&emulator.client().unwrap(), Arc::new(gate), config.clone()).run().await.unwrap_err();
    match &error {
        RunError::DuplicateCustomId { custom_id, first_line, second_line } => {
            assert_eq!((custom_id.as_str(), *first_line, *second_line), ("a", 1, 4));
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("\"a\" on lines 1 and 4"), "{error}");
    assert!(!config.output_path().exists());
    assert_eq!(emulator.stats().deployment("gpt-4o").map_or(0, |stats| stats.requests), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_429s_are_retried_through_the_gate_and_nothing_is_served_twice() {
    // The emulator admits 20 requests a second; the gate knows no limit, so
    // the run meets 429s and must pause and re-queue. Server errors and
    // broken connections are retried with back-off.
    let faults = FaultConfig::default()
        .sequence([
            Some(Fault::ServiceUnavailable),
            Some(Fault::ConnectionReset),
            None,
            Some(Fault::InternalServerError),
            Some(Fault::RequestTimeout),
        ])
        .probability(Fault::InternalServerError, 0.05)
        .seed(11);
    let emulator = Emulator::builder()
        .deployment(
            DeploymentConfig::new("chat", "gpt-4o-mini")
                .rpm(1_200)
                .rpm_window(quota::RpmWindow::OneSecond)
                .faults(faults),
        )
        .start()
        .await
        .unwrap();
    let dir = scratch("faults");
    let lines: Vec<String> = (0..45).map(|index| chat_line(&format!("item-{index}"), 10)).collect();
    let input = write_input(&dir, &lines);
    let gate = Scheduler::builder(Time::system()).deployment("chat", QuotaSpec::tokens_only(1 << 40)).build().unwrap();
    let config = RunConfig::new(&input, dir.join("out.jsonl"))
        .deployment("chat")
        .retry(fast_retry())
        .observe(false)
        .concurrency(64);
    let report: Report = Runner::new(&emulator.client().unwrap(), Arc::new(gate), config.clone()).run().await.unwrap();

    let (output, errors, ids, _) = outcome(&config);
    assert_eq!(ids.len(), 45);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report.succeeded, 45);
    assert!(report.rate_limited > 0, "the run should have met 429s");
    let stats = emulator.stats();
    let chat = stats.deployment("chat").unwrap();
    assert_eq!(chat.served, 45, "served exactly once each");
    assert_eq!(chat.rate_limited, report.rate_limited);
    assert_eq!(report.requests_sent, chat.requests, "every request the emulator saw was counted");
    // The reset connection's item may have been served before the reset: it says so.
    assert!(output.iter().any(|line| line["may_have_been_sent"] == true));
    emulator.shutdown().await;
}

#[tokio::test]
async fn non_retryable_errors_fail_the_item_with_the_service_answer() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = scratch("invalid");
    let gate = Scheduler::builder(Time::system())
        .deployment("gpt-4o", QuotaSpec::from_tpm(100_000))
        .deployment("nowhere", QuotaSpec::from_tpm(100_000))
        .build()
        .unwrap();
    let lines = [
        json!({"custom_id": "ok", "method": "POST", "url": "/openai/deployments/gpt-4o/chat/completions",
            "body": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}})
        .to_string(),
        json!({"custom_id": "missing", "method": "POST", "url": "/openai/deployments/nowhere/chat/completions",
            "body": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}})
        .to_string(),
    ];
    // Valid for our parser, refused by the service (a deployment that does not exist).
    let input = write_input(&dir, &lines);
    let config = RunConfig::new(&input, dir.join("out.jsonl")).retry(fast_retry());
    let report = Runner::new(&emulator.client().unwrap(), Arc::new(gate), config.clone()).run().await.unwrap();
    let (_, errors, ids, _) = outcome(&config);
    assert_eq!(ids.len(), 2);
    assert_eq!(report.succeeded, 1);
    let missing = &errors[0];
    assert_eq!(missing["custom_id"], "missing");
    assert_eq!(missing["response"]["status_code"], 404);
    assert!(missing["response"]["body"]["error"].is_object(), "{missing}");
    assert_eq!(report.requests_sent, 2, "a 404 is not retried");
}

#[tokio::test]
async fn resume_finishes_a_crashed_run_and_marks_what_may_have_been_sent() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = scratch("resume");
    let lines: Vec<String> =
        (0..30).map(|index| chat_line(&format!("r{index}"), 8)).chain(["oops".to_owned()]).collect();
    let input = write_input(&dir, &lines);
    let gate = || -> Arc<dyn aoai_batch::Gate> {
        Arc::new(
            Scheduler::builder(Time::system()).deployment("gpt-4o", QuotaSpec::from_tpm(1_000_000)).build().unwrap(),
        )
    };
    let config = RunConfig::new(&input, dir.join("out.jsonl")).deployment("gpt-4o");
    let client = emulator.client().unwrap();
    Runner::new(&client, gate(), config.clone()).run().await.unwrap();

    // Make it look like a crash: the last 5 output lines were never written
    // (their requests had been journaled), and the 6th from last is torn.
    let text = std::fs::read_to_string(config.output_path()).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    let (keep, lost) = kept.split_at(kept.len() - 6);
    let torn = &lost[0][..lost[0].len() / 2];
    std::fs::write(config.output_path(), keep.join("\n") + "\n" + torn).unwrap();
    let lost_ids: HashSet<String> = lost
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["custom_id"].as_str().unwrap().to_owned())
        .collect();

    // A fresh run refuses to overwrite; a resumed one finishes.
    let refused = Runner::new(&client, gate(), config.clone()).run().await.unwrap_err();
    assert!(matches!(refused, RunError::OutputExists { .. }), "{refused:?}");
    let report = Runner::new(&client, gate(), config.clone().resume(true)).run().await.unwrap();
    assert_eq!(report.requests_sent, 6);
    assert_eq!(report.resumed, 30 - 6 + 1);
    assert_eq!((report.items, report.succeeded, report.malformed), (30, 30, 1));
    assert_eq!(report.may_have_been_sent, 6);

    let (output, _, ids, malformed) = outcome(&config);
    assert_eq!(ids.len(), 30);
    assert_eq!(malformed, vec![31], "the malformed line is recorded once");
    for line in &output {
        let id = line["custom_id"].as_str().unwrap();
        assert_eq!(line["may_have_been_sent"] == true, lost_ids.contains(id), "{id}");
    }
    // Served: 30 the first time, and the 6 resent.
    assert_eq!(emulator.stats().deployment("gpt-4o").unwrap().served, 36);

    // The journal numbers the resent attempts after the first run's.
    let journal = std::fs::read_to_string(config.journal_path()).unwrap();
    assert!(journal.lines().any(|line| line.contains("\"attempt\":2")), "{journal}");

    // An edited input is not resumed.
    let mut changed = std::fs::read_to_string(&input).unwrap();
    changed.push_str(&chat_line("new", 5));
    changed.push('\n');
    std::fs::write(&input, changed).unwrap();
    let error = Runner::new(&client, gate(), config.clone().resume(true)).run().await.unwrap_err();
    assert!(matches!(error, RunError::InputChanged { .. }), "{error:?}");
}
