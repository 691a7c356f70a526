//! `cargo xtask bench batch`: `aoai batch run` against aoai-emulator with
//! Azure-like limits, measured against the optimum the quota allows.
//!
//! Builds the release `aoai` and `aoai-emulator`, then for each workload
//! writes an emulator configuration and an input file, starts the emulator,
//! runs `aoai batch run` as a child process (so its CPU time is the child's
//! own, read from `/proc/self/stat` after it exits), and compares three
//! accounts of the same run: the input, the output files and the emulator's
//! `/_emulator/stats` (every served request's id).
//!
//! The reference ("baseline") is the schedule the quota allows, computed two
//! ways:
//!
//! - the issue's bound `max(Σ cost ÷ TPM, N ÷ RPM) + latency`, where `Σ cost`
//!   and `N` are what the run had to send (the items' admission charges and
//!   requests, retries of injected faults included);
//! - the sliding-window bound: Azure (and the emulator) let a client charge a
//!   whole window at once and the next whole window as the first leaves, so
//!   `C` tokens need only `(⌈C ÷ TPM⌉ − 1) × 60 s` and `N` requests
//!   `(⌈N ÷ W⌉ − 1) × L` (the request sub-window `W` per `L`). A scheduler
//!   that uses the burst Azure grants beats the issue's bound; this one is
//!   the real floor.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bench_emulator::{Emulator, target_dir};
use crate::run;

/// The issue's targets.
const TARGET_EFFICIENCY: f64 = 0.97;
const TARGET_429_SHARE: f64 = 0.005;
/// Client CPU: at most 5 % of one core per 100k tokens/min.
const TARGET_CPU_SHARE_PER_100K_TPM: f64 = 0.05;

/// One workload: a deployment's limits, faults, and the items.
struct Workload {
    name: &'static str,
    tpm: u64,
    rpm: u64,
    /// Emulator latency model.
    ttft_ms: u64,
    per_token_ms: u64,
    /// `probability = {…}` of the emulator's fault table, TOML.
    faults: &'static str,
    chat_items: usize,
    embedding_items: usize,
    max_tokens: u64,
}

const WORKLOADS: [Workload; 3] = [
    // ~7,500 items × ~200 tokens ≈ 2.5 token windows; requests far below RPM.
    Workload {
        name: "chat, token-bound",
        tpm: 600_000,
        rpm: 3_600,
        ttft_ms: 60,
        per_token_ms: 1,
        faults: "",
        chat_items: 7_500,
        embedding_items: 0,
        max_tokens: 160,
    },
    // 6,000 small embeddings at 6,000 RPM (1,000 per 10 s): six request windows.
    Workload {
        name: "embeddings, request-bound",
        tpm: 1_000_000,
        rpm: 6_000,
        ttft_ms: 20,
        per_token_ms: 0,
        faults: "",
        chat_items: 0,
        embedding_items: 6_000,
        max_tokens: 0,
    },
    // Both kinds with 500/503/408 answers and reset connections.
    Workload {
        name: "mixed with faults",
        tpm: 300_000,
        rpm: 1_800,
        ttft_ms: 40,
        per_token_ms: 1,
        faults: r#"probability = { "500" = 0.01, "503" = 0.01, "408" = 0.005, reset = 0.005 }"#,
        chat_items: 1_000,
        embedding_items: 1_000,
        max_tokens: 400,
    },
];

const DEPLOYMENT: &str = "bench";
const MODEL: &str = "gpt-4o-mini";

/// Runs every workload (or those whose name starts with `only`, e.g.
/// `cargo xtask bench batch embeddings`) and prints the table.
pub(crate) fn bench(only: Option<&str>) -> Result<(), String> {
    let workloads: Vec<&Workload> =
        WORKLOADS.iter().filter(|workload| only.is_none_or(|prefix| workload.name.starts_with(prefix))).collect();
    if workloads.is_empty() {
        let names: Vec<&str> = WORKLOADS.iter().map(|workload| workload.name).collect();
        return Err(format!("no workload starts with {only:?}; workloads: {}", names.join("; ")));
    }
    run("cargo", &["build", "--release", "--package", "aoai-cli", "--package", "aoai-emulator"])?;
    let release = target_dir().join("release");
    let dir = std::env::temp_dir().join(format!("aoai-bench-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let mut results = Vec::new();
    for (index, workload) in workloads.into_iter().enumerate() {
        let work = dir.join(format!("w{index}"));
        std::fs::create_dir_all(&work).map_err(|error| format!("cannot create {}: {error}", work.display()))?;
        let result = run_workload(workload, &release, &work)?;
        println!("{}", result.line());
        results.push(result);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    println!("{}", table(&results));
    let failed: Vec<&str> = results.iter().filter(|result| !result.met()).map(|result| result.name).collect();
    if failed.is_empty() {
        println!("every target met");
    } else {
        println!("targets NOT met on: {} (check the machine's load)", failed.join(", "));
    }
    Ok(())
}

/// What one workload measured.
struct Outcome {
    name: &'static str,
    items: usize,
    elapsed: Duration,
    issue_bound: Duration,
    window_bound: Duration,
    requests: u64,
    rate_limited: u64,
    faults: u64,
    lost: usize,
    duplicated: usize,
    sent_twice: u64,
    cpu_seconds: f64,
    charged_tokens: u64,
    tpm: u64,
    exit_ok: bool,
}

impl Outcome {
    fn efficiency(&self) -> f64 {
        self.issue_bound.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn window_efficiency(&self) -> f64 {
        self.window_bound.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn share_429(&self) -> f64 {
        self.rate_limited as f64 / (self.requests.max(1) as f64)
    }

    /// Client CPU as a share of one core, per 100k tokens/min achieved.
    fn cpu_per_100k(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        let core_share = self.cpu_seconds / seconds;
        let achieved_tpm = self.charged_tokens as f64 * 60.0 / seconds;
        core_share / (achieved_tpm / 100_000.0).max(1e-9)
    }

    fn met(&self) -> bool {
        self.efficiency() >= TARGET_EFFICIENCY
            && self.share_429() <= TARGET_429_SHARE
            && self.lost == 0
            && self.duplicated == 0
            && self.cpu_per_100k() <= TARGET_CPU_SHARE_PER_100K_TPM
    }

    fn line(&self) -> String {
        format!(
            "{}: {} items in {:.1} s; issue bound {:.1} s ({:.3}), window bound {:.1} s ({:.3}); {} requests, {} 429 ({:.2} %), {} faults; lost {}, duplicated {}, sent twice {}; client CPU {:.2} s ({:.2} % of a core per 100k TPM); exit {}",
            self.name,
            self.items,
            self.elapsed.as_secs_f64(),
            self.issue_bound.as_secs_f64(),
            self.efficiency(),
            self.window_bound.as_secs_f64(),
            self.window_efficiency(),
            self.requests,
            self.rate_limited,
            self.share_429() * 100.0,
            self.faults,
            self.lost,
            self.duplicated,
            self.sent_twice,
            self.cpu_seconds,
            self.cpu_per_100k() * 100.0,
            if self.exit_ok { "0" } else { "non-zero" },
        )
    }
}

fn table(results: &[Outcome]) -> String {
    let mut text = String::from(
        "| workload | items | TPM | makespan | issue bound | ÷ issue bound | window bound | ÷ window bound | 429s | lost | dup | client CPU / 100k TPM |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {:.1} s | {:.1} s | {:.3} | {:.1} s | {:.3} | {} of {} ({:.2} %) | {} | {} | {:.2} % |",
            r.name,
            r.items,
            r.tpm,
            r.elapsed.as_secs_f64(),
            r.issue_bound.as_secs_f64(),
            r.efficiency(),
            r.window_bound.as_secs_f64(),
            r.window_efficiency(),
            r.rate_limited,
            r.requests,
            r.share_429() * 100.0,
            r.lost,
            r.duplicated,
            r.cpu_per_100k() * 100.0
        );
    }
    text
}

fn run_workload(workload: &Workload, release: &Path, dir: &Path) -> Result<Outcome, String> {
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
    };
    let config = dir.join("emulator.toml");
    let faults = if workload.faults.is_empty() {
        String::new()
    } else {
        format!("\n[deployments.faults]\n{}\nseed = 7\n", workload.faults)
    };
    write(
        &config,
        &format!(
            "port = 0\n\n[[deployments]]\nname = \"{DEPLOYMENT}\"\nmodel = \"{MODEL}\"\ntpm = {}\nrpm = {}\nrpm_window = \"10s\"\nlatency = {{ time_to_first_token_ms = {}, per_token_ms = {} }}\n{faults}",
            workload.tpm, workload.rpm, workload.ttft_ms, workload.per_token_ms
        ),
    )?;
    let input = dir.join("input.jsonl");
    let ids = write_input(workload, &input)?;
    let output = dir.join("output.jsonl");
    let errors = dir.join("errors.jsonl");
    let report = dir.join("report.json");

    let config_arg = config.to_string_lossy().into_owned();
    let emulator = Emulator::start(&release.join("aoai-emulator"), &["--config", &config_arg])?;
    eprintln!("bench batch: {} — {} items against {}", workload.name, ids.len(), emulator.url);

    let cpu_before = children_cpu_seconds()?;
    #[allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
    let started = Instant::now();
    let status = Command::new(release.join("aoai"))
        .arg("batch")
        .arg("run")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("--errors")
        .arg(&errors)
        .arg("--report")
        .arg(&report)
        .args(["--deployment", DEPLOYMENT, "--tpm", &workload.tpm.to_string(), "--rpm", &workload.rpm.to_string()])
        .env("AZURE_OPENAI_ENDPOINT", &emulator.url)
        .env("AZURE_OPENAI_API_KEY", "bench-key")
        .env_remove("AZURE_OPENAI_AD_TOKEN")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .status()
        .map_err(|error| format!("cannot run aoai batch run: {error}"))?;
    let elapsed = started.elapsed();
    let cpu_seconds = children_cpu_seconds()? - cpu_before;

    let report: Value = read_json(&report)?;
    let stats = emulator_stats(&emulator)?;
    let counter = |name: &str| stats.get(name).and_then(Value::as_u64).unwrap_or(0);
    let requests = counter("requests");
    let served = counter("served");

    // Every input custom_id exactly once across output and errors.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut succeeded = 0_u64;
    let mut answered_ids = HashSet::new();
    for path in [&output, &errors] {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let value: Value = serde_json::from_str(line)
                .map_err(|error| format!("{}: a line is not JSON: {error}", path.display()))?;
            if let Some(id) = value.get("custom_id").and_then(Value::as_str) {
                *seen.entry(id.to_owned()).or_default() += 1;
            }
            let status = value.pointer("/response/status_code").and_then(Value::as_u64);
            if status == Some(200) && value.get("error").is_none_or(Value::is_null) {
                succeeded += 1;
                if let Some(request_id) = value.pointer("/response/request_id").and_then(Value::as_str) {
                    answered_ids.insert(request_id.to_owned());
                }
            }
        }
    }
    let lost = ids.iter().filter(|id| !seen.contains_key(*id)).count();
    let duplicated = seen.values().filter(|count| **count > 1).count();
    // Served by the emulator but not the answer recorded for any item: the
    // work was done twice (or its answer was thrown away).
    let sent_twice = served.saturating_sub(succeeded);

    // The schedule the quota allows for what had to be sent.
    let charged = report.get("charged_tokens").and_then(Value::as_u64).unwrap_or(0);
    let sent = report.get("requests_sent").and_then(Value::as_u64).unwrap_or(requests);
    let latency = Duration::from_millis(workload.ttft_ms + workload.per_token_ms * workload.max_tokens);
    let minutes = (charged as f64 / workload.tpm as f64).max(sent as f64 / workload.rpm as f64);
    let issue_bound = Duration::from_secs_f64(minutes * 60.0) + latency;
    let (per_window, window) = aoai_request_window(workload.rpm);
    let token_floor = (charged.div_ceil(workload.tpm)).saturating_sub(1) as f64 * 60.0;
    let request_floor = (sent.div_ceil(per_window)).saturating_sub(1) as f64 * window.as_secs_f64();
    let window_bound = Duration::from_secs_f64(token_floor.max(request_floor)) + latency;

    Ok(Outcome {
        name: workload.name,
        items: ids.len(),
        elapsed,
        issue_bound,
        window_bound,
        requests,
        rate_limited: counter("rate_limited"),
        faults: counter("faults"),
        lost,
        duplicated,
        sent_twice,
        cpu_seconds,
        charged_tokens: charged,
        tpm: workload.tpm,
        exit_ok: status.success(),
    })
}

/// Azure's request sub-window for a 10 s window (as `aoai_core::quota`).
fn aoai_request_window(rpm: u64) -> (u64, Duration) {
    let amount = (rpm * 10 / 60).max(1);
    (amount, Duration::from_millis((amount * 60_000).div_ceil(rpm.max(1))))
}

/// Writes the input file; returns its custom ids.
fn write_input(workload: &Workload, path: &Path) -> Result<Vec<String>, String> {
    let topics = ["rivers", "mountains", "harbours", "bridges", "forests", "deserts", "islands", "castles"];
    let mut text = String::new();
    let mut ids = Vec::new();
    let total = workload.chat_items + workload.embedding_items;
    let mut chat = 0;
    let mut embedding = 0;
    for index in 0..total {
        // Interleave the kinds evenly.
        let pick_chat = embedding >= workload.embedding_items
            || (chat < workload.chat_items && chat * workload.embedding_items <= embedding * workload.chat_items);
        let topic = topics[index % topics.len()];
        let id = format!("item-{index}");
        let line = if pick_chat {
            chat += 1;
            json!({
                "custom_id": id,
                "method": "POST",
                "url": "/chat/completions",
                "body": {
                    "model": DEPLOYMENT,
                    "messages": [
                        {"role": "system", "content": "You are a concise travel writer."},
                        {"role": "user", "content": format!("Describe three famous {topic} in one paragraph (request {index}).")}
                    ],
                    "max_tokens": workload.max_tokens,
                    "temperature": 0
                }
            })
        } else {
            embedding += 1;
            json!({
                "custom_id": id,
                "method": "POST",
                "url": "/embeddings",
                "body": {"model": DEPLOYMENT, "input": format!("famous {topic} number {index}")}
            })
        };
        ids.push(id);
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(ids)
}

fn read_json(path: &PathBuf) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| format!("{} is not JSON: {error}", path.display()))
}

fn emulator_stats(emulator: &Emulator) -> Result<Value, String> {
    let (status, body) = emulator.get("/_emulator/stats?ids=false")?;
    if status != 200 {
        return Err(format!("GET /_emulator/stats answered {status}"));
    }
    let stats: Value = serde_json::from_slice(&body).map_err(|error| format!("stats are not JSON: {error}"))?;
    stats
        .pointer(&format!("/deployments/{DEPLOYMENT}"))
        .cloned()
        .ok_or(format!("no deployment {DEPLOYMENT} in the stats"))
}

/// User + system CPU seconds of this process's waited-for children
/// (`cutime` and `cstime`, fields 16 and 17 of `/proc/self/stat`).
fn children_cpu_seconds() -> Result<f64, String> {
    let stat =
        std::fs::read_to_string("/proc/self/stat").map_err(|error| format!("cannot read /proc/self/stat: {error}"))?;
    // The command name (field 2) may hold spaces; fields after its `)`.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("cannot parse /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is at index N - 3.
    let field = |n: usize| fields.get(n - 3).and_then(|value| value.parse::<f64>().ok()).unwrap_or(0.0);
    let ticks = clock_ticks_per_second();
    Ok((field(16) + field(17)) / ticks)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_ratios() {
        assert_eq!(aoai_request_window(6_000), (1_000, Duration::from_secs(10)));
        let outcome = Outcome {
            name: "t",
            items: 10,
            elapsed: Duration::from_secs(100),
            issue_bound: Duration::from_secs(99),
            window_bound: Duration::from_secs(80),
            requests: 1_000,
            rate_limited: 4,
            faults: 0,
            lost: 0,
            duplicated: 0,
            sent_twice: 0,
            cpu_seconds: 1.0,
            charged_tokens: 1_000_000,
            tpm: 600_000,
            exit_ok: true,
        };
        assert!((outcome.efficiency() - 0.99).abs() < 1e-9);
        assert!((outcome.share_429() - 0.004).abs() < 1e-9);
        // 1 % of a core at 600k TPM achieved → 0.01 / 6 per 100k.
        assert!((outcome.cpu_per_100k() - 0.01 / 6.0).abs() < 1e-9);
        assert!(outcome.met());
        assert!(children_cpu_seconds().is_ok());
        let path = std::env::temp_dir().join(format!("aoai-bench-batch-test-{}.jsonl", std::process::id()));
        let mut ids = write_input(&WORKLOADS[2], &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(text.matches("/embeddings").count(), 1_000);
        assert_eq!(ids.len(), 2_000);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 2_000);
    }
}
