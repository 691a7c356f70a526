//! `aoai batch run` killed with SIGKILL mid-run, then `--resume`d: every
//! `custom_id` ends up exactly once in the output, and the emulator served no
//! more requests than the items plus those marked `may_have_been_sent`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use aoai_emulator::config::LatencyModel;
use aoai_emulator::{DeploymentConfig, Emulator};
use serde_json::{Value, json};

const ITEMS: usize = 60;

fn aoai(dir: &Path, base_url: &str, key: &str, deployment: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aoai"));
    command
        .args(["batch", "run", "input.jsonl", "-o", "out.jsonl", "--deployment", deployment, "--concurrency", "4"])
        .args(extra)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AZURE_OPENAI_ENDPOINT", base_url)
        .env("AZURE_OPENAI_API_KEY", key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `count` Batch-format chat lines, `item-0`…, each asking `content(index)`
/// with `max_tokens`.
fn chat_lines(count: usize, max_tokens: u32, content: impl Fn(usize) -> String) -> String {
    (0..count)
        .map(|index| {
            json!({"custom_id": format!("item-{index}"), "method": "POST", "url": "/chat/completions",
                "body": {"messages": [{"role": "user", "content": content(index)}], "max_tokens": max_tokens}})
            .to_string()
                + "\n"
        })
        .collect()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{line}: {error}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_way_resumes_to_exactly_once() {
    // Each answer takes ~0.15 s; 60 items, 4 at a time: a run of ~2.3 s.
    let emulator = Emulator::builder()
        .deployment(
            DeploymentConfig::new("chat", "gpt-4o-mini")
                .latency(LatencyModel::new(Duration::from_millis(50), Duration::from_millis(5))),
        )
        .start()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("aoai-batch-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("input.jsonl"), chat_lines(ITEMS, 20, |index| format!("Question {index}"))).unwrap();
    let base_url = emulator.base_url().to_owned();
    let key = emulator.api_key().expose().to_owned();

    let (killed_with, resumed) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let mut first = aoai(&dir, &base_url, &key, "chat", &[]).spawn().unwrap();
            let output = dir.join("out.jsonl");
            let mut waited = Duration::ZERO;
            while lines(&output).len() < 12 {
                assert!(first.try_wait().unwrap().is_none(), "the run ended before it could be killed");
                assert!(waited < Duration::from_secs(20), "no output after 20 s");
                std::thread::sleep(Duration::from_millis(10));
                waited += Duration::from_millis(10);
            }
            first.kill().unwrap();
            first.wait().unwrap();
            let killed_with = lines(&output).len();
            let resumed =
                aoai(&dir, &base_url, &key, "chat", &["--resume", "--report", "report.json"]).output().unwrap();
            (killed_with, resumed)
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "resume failed: {stderr}");
    assert!(killed_with < ITEMS, "the first run was killed after {killed_with} items: too late to test anything");

    let output = lines(&dir.join("out.jsonl"));
    assert!(lines(&dir.join("out.errors.jsonl")).is_empty());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for line in &output {
        assert_eq!(line["response"]["status_code"], 200);
        *seen.entry(line["custom_id"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), ITEMS, "every id is in the output");
    assert!(seen.values().all(|count| *count == 1), "an id appears twice: {seen:?}");

    let marked = output.iter().filter(|line| line["may_have_been_sent"] == true).count() as u64;
    let served = emulator.stats().deployment("chat").unwrap().served;
    assert!(served >= ITEMS as u64);
    assert!(
        served <= ITEMS as u64 + marked,
        "served {served} requests for {ITEMS} items, only {marked} marked as possibly sent twice"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["items"], ITEMS);
    assert_eq!(report["succeeded"], ITEMS);
    assert_eq!(report["resumed"].as_u64().unwrap(), killed_with as u64);
    assert_eq!(report["may_have_been_sent"].as_u64().unwrap(), marked);
    let _ = std::fs::remove_dir_all(&dir);
    emulator.shutdown().await;
}

#[tokio::test]
async fn usage_errors_exit_2_and_failed_items_exit_1() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("aoai-batch-exit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let line = |id: &str, max_tokens: u32| {
        json!({"custom_id": id, "method": "POST", "url": "/chat/completions",
            "body": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}})
        .to_string()
    };
    let base_url = emulator.base_url().to_owned();
    let key = emulator.api_key().expose().to_owned();
    let outcome = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let run = |input: String, extra: &[&str]| {
                std::fs::write(dir.join("input.jsonl"), input).unwrap();
                let _ = std::fs::remove_file(dir.join("out.jsonl"));
                let _ = std::fs::remove_file(dir.join("out.errors.jsonl"));
                let _ = std::fs::remove_file(dir.join("out.jsonl.journal"));
                aoai(&dir, &base_url, &key, "gpt-4o", extra).output().unwrap()
            };
            let duplicate = run(format!("{}\n{}\n", line("a", 5), line("a", 5)), &[]);
            let redis = run(format!("{}\n", line("a", 5)), &["--redis", "redis://127.0.0.1:6379"]);
            let failed = run(format!("{}\nnot json\n{}\n", line("a", 5), line("huge", 50_000)), &["--tpm", "10000"]);
            (duplicate, failed, redis)
        }
    })
    .await
    .unwrap();
    let (duplicate, failed, redis) = outcome;
    assert_eq!(duplicate.status.code(), Some(2), "{}", String::from_utf8_lossy(&duplicate.stderr));
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("duplicate custom_id \"a\" on lines 1 and 2"));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("never_fits 1") && stderr.contains("1 malformed"), "{stderr}");
    let errors = lines(&dir.join("out.errors.jsonl"));
    assert_eq!(errors.len(), 2);
    assert_eq!(lines(&dir.join("out.jsonl")).len(), 1);
    assert_eq!(redis.status.code(), Some(2), "{}", String::from_utf8_lossy(&redis.stderr));
    assert!(String::from_utf8_lossy(&redis.stderr).contains("--tpm"), "--redis without a quota is a usage error");
    let _ = std::fs::remove_dir_all(&dir);
    emulator.shutdown().await;
}

/// A complete, clean run leaves the output only: no empty errors file, no
/// journal (`--keep-journal` keeps it), and a short run's summary gives
/// totals, not per-minute rates. A run with failures keeps both files.
#[tokio::test]
async fn a_clean_run_leaves_no_empty_errors_file_and_no_journal() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("aoai-batch-clean-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("input.jsonl"), chat_lines(5, 5, |_| "hi".to_owned())).unwrap();
    let base_url = emulator.base_url().to_owned();
    let key = emulator.api_key().expose().to_owned();
    let (clean, kept, failed) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let clean = aoai(&dir, &base_url, &key, "gpt-4o", &["--tpm", "100000"]).output().unwrap();
            let listing: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            std::fs::remove_file(dir.join("out.jsonl")).unwrap();
            let kept = aoai(&dir, &base_url, &key, "gpt-4o", &["--keep-journal"]).output().unwrap();
            let kept_journal = dir.join("out.jsonl.journal").exists();
            std::fs::remove_file(dir.join("out.jsonl")).unwrap();
            let _ = std::fs::remove_file(dir.join("out.jsonl.journal"));
            std::fs::write(dir.join("input.jsonl"), "not json\n").unwrap();
            let failed = aoai(&dir, &base_url, &key, "gpt-4o", &[]).output().unwrap();
            let failed_files = (dir.join("out.errors.jsonl").exists(), dir.join("out.jsonl.journal").exists());
            ((clean, listing), (kept, kept_journal), (failed, failed_files))
        }
    })
    .await
    .unwrap();
    let ((clean, mut listing), (kept, kept_journal), (failed, failed_files)) = (clean, kept, failed);
    let stderr = String::from_utf8_lossy(&clean.stderr);
    assert!(clean.status.success(), "{stderr}");
    listing.sort();
    assert_eq!(listing, ["input.jsonl", "out.jsonl"], "{stderr}");
    assert!(stderr.contains("5 of 5 items succeeded"), "{stderr}");
    assert!(stderr.contains("too short for per-minute rates"), "{stderr}");
    assert!(stderr.contains("errors: none (no errors file)"), "{stderr}");
    assert!(!stderr.contains("tokens/min"), "{stderr}");
    assert!(kept.status.success(), "{}", String::from_utf8_lossy(&kept.stderr));
    assert!(kept_journal, "--keep-journal keeps it");
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(failed_files, (true, true), "a run with failures keeps its errors file and journal");
    let _ = std::fs::remove_dir_all(&dir);
    emulator.shutdown().await;
}
