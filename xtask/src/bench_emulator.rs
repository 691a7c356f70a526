//! `cargo xtask bench emulator`: the emulator's throughput under a load
//! tool running beside it.
//!
//! Builds the release `aoai-emulator`, installs `wrk` when it is missing,
//! starts the emulator on a free port (latency model off: the default), and
//! runs `wrk` against non-streaming chat completions and, as the baseline,
//! against `GET /openai/models` on the same server, interleaved for a few
//! rounds. After every chat run it checks `GET /_emulator/stats`: every
//! response `wrk` counted was served (the emulator may have served up to one
//! request per connection more, cut off in flight when `wrk` stopped), none
//! was refused, and every served request has its own id (of the ids the
//! stats keep: the most recent 100,000). Then a soak: chat requests until a
//! million were served since the warm-up, with the emulator's resident
//! memory read before and after (it must grow by at most 4 MiB). Any non-2xx answer
//! fails the command; a figure below the target is reported, not failed,
//! since a shared machine's load moves it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::run;

/// Requests per second the emulator must sustain (issue #3).
const TARGET: f64 = 20_000.0;
/// `wrk` settings: one thread (the load tool takes one of the two cores),
/// 64 keep-alive connections.
const CONNECTIONS: u64 = 64;
const DURATION: &str = "10s";
const ROUNDS: usize = 3;
const DEPLOYMENT: &str = "gpt-4o-mini";
/// Requests served before resident memory is measured again.
const SOAK_REQUESTS: u64 = 1_000_000;
/// How much resident memory may grow over the soak: "a few MB".
const SOAK_LIMIT_KIB: u64 = 4 * 1024;
const API_VERSION: &str = "2024-10-01-preview";

/// Runs the benchmark and prints its figures.
pub(crate) fn bench() -> Result<(), String> {
    run("cargo", &["build", "--release", "--package", "aoai-emulator", "--bin", "aoai-emulator"])?;
    ensure_wrk()?;
    let binary = target_dir().join("release").join("aoai-emulator");
    let scripts = Scripts::write()?;
    let emulator =
        Emulator::start(&binary, &["--port", "0", "--deployment", "gpt-4o-mini,tpm=unlimited,rpm=unlimited"])?;
    let chat_url =
        format!("{}/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION}", emulator.url);
    let models_url = format!("{}/openai/models?api-version={API_VERSION}", emulator.url);

    eprintln!("bench emulator: warming up");
    wrk(&scripts.chat, &chat_url, "2s")?.check()?;
    wrk(&scripts.models, &models_url, "1s")?.check()?;

    // Resident memory is read after one full stats report, whose JSON (up
    // to 100,000 ids, ~5 MB) raises the allocator's high-water mark once.
    emulator.stats(true)?;
    let rss_start = emulator.resident_kib()?;
    let served_start = emulator.served()?;
    let mut chat_rates = Vec::new();
    let mut baseline_rates = Vec::new();
    let mut total_served = 0;
    for round in 1..=ROUNDS {
        let before = emulator.served()?;
        let chat = wrk(&scripts.chat, &chat_url, DURATION)?;
        chat.check()?;
        let served = emulator.served()? - before;
        if served < chat.requests || served - chat.requests > CONNECTIONS {
            return Err(format!(
                "the emulator served {served} chat requests but wrk completed {}: more than {CONNECTIONS} apart",
                chat.requests
            ));
        }
        total_served += served;
        let baseline = wrk(&scripts.models, &models_url, DURATION)?;
        baseline.check()?;
        println!(
            "round {round}: chat {:>9.0} req/s ({} completed, {served} served) | baseline GET /openai/models {:>9.0} req/s | chat/baseline {:.2}",
            chat.rate,
            chat.requests,
            baseline.rate,
            chat.rate / baseline.rate
        );
        chat_rates.push(chat.rate);
        baseline_rates.push(baseline.rate);
    }
    emulator.check_ids(total_served)?;
    // Soak: chat requests until a million were served since the warm-up,
    // then resident memory again (request ids and stats are bounded).
    while emulator.served()? - served_start < SOAK_REQUESTS {
        wrk(&scripts.chat, &chat_url, DURATION)?.check()?;
    }
    let soaked = emulator.served()? - served_start;
    let rss_end = emulator.resident_kib()?;
    emulator.check_ids(0)?;

    let (chat_best, chat_median) = best_and_median(&mut chat_rates);
    let (baseline_best, baseline_median) = best_and_median(&mut baseline_rates);
    println!();
    println!(
        "emulator throughput, non-streaming chat ({DEPLOYMENT}), wrk -t1 -c{CONNECTIONS} -d{DURATION}, {ROUNDS} rounds:"
    );
    println!(
        "  chat completions       best {chat_best:>9.0} req/s  median {chat_median:>9.0} req/s  ({:.2}x / {:.2}x the {TARGET:.0} req/s target)",
        chat_best / TARGET,
        chat_median / TARGET
    );
    println!("  baseline GET models    best {baseline_best:>9.0} req/s  median {baseline_median:>9.0} req/s");
    println!(
        "  chat / baseline        best {:.2}  median {:.2}",
        chat_best / baseline_best,
        chat_median / baseline_median
    );
    println!(
        "  stats: every completed request was served, none refused, {total_served} served with the ids kept distinct; target {}",
        if chat_best >= TARGET { "met" } else { "NOT met on this run (check the machine's load)" }
    );
    let grew = rss_end.saturating_sub(rss_start);
    println!(
        "  memory: resident {rss_start} KiB after the warm-up, {rss_end} KiB after {soaked} more requests \
         (+{grew} KiB; target: within {SOAK_LIMIT_KIB} KiB) — {}",
        if grew <= SOAK_LIMIT_KIB { "met" } else { "NOT met" }
    );
    if grew > SOAK_LIMIT_KIB {
        return Err(format!("the emulator's resident memory grew by {grew} KiB over {soaked} requests"));
    }
    Ok(())
}

fn best_and_median(rates: &mut [f64]) -> (f64, f64) {
    rates.sort_by(f64::total_cmp);
    let best = rates.last().copied().unwrap_or_default();
    let median = rates.get(rates.len() / 2).copied().unwrap_or_default();
    (best, median)
}

/// The workspace's target directory (`CARGO_TARGET_DIR`, else `target/`).
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).join("target"),
    }
}

/// Installs `wrk` with apt-get unless it is on the `PATH` (through `sudo`
/// when not root).
fn ensure_wrk() -> Result<(), String> {
    let found = |program: &str| {
        Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|out| out.status.success())
    };
    if found("wrk") {
        return Ok(());
    }
    let root =
        Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let (program, prefix): (&str, &[&str]) = if root { ("apt-get", &[]) } else { ("sudo", &["apt-get"]) };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = prefix.to_vec();
        all.extend_from_slice(args);
        run(program, &all)
    };
    if apt(&["install", "-y", "wrk"]).is_err() {
        apt(&["update"])?;
        apt(&["install", "-y", "wrk"])?;
    }
    if found("wrk") { Ok(()) } else { Err("wrk is still missing after apt-get install".to_owned()) }
}

/// The `wrk` Lua scripts, in a temporary directory removed on drop.
struct Scripts {
    dir: PathBuf,
    chat: PathBuf,
    models: PathBuf,
}

impl Scripts {
    fn write() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("aoai-bench-emulator-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        // A realistic small chat request: a system prompt, a question, a limit.
        let body = json!({
            "messages": [
                {"role": "system", "content": "You are a helpful assistant that answers briefly."},
                {"role": "user", "content": "What are the main tourist attractions in Paris, France?"}
            ],
            "max_tokens": 100,
            "temperature": 0.7
        });
        let chat = format!(
            "wrk.method = \"POST\"\nwrk.headers[\"api-key\"] = \"bench-key\"\nwrk.headers[\"Content-Type\"] = \
             \"application/json\"\nwrk.body = [==[{body}]==]\n"
        );
        let models = "wrk.method = \"GET\"\nwrk.headers[\"api-key\"] = \"bench-key\"\n";
        let scripts = Self { chat: dir.join("chat.lua"), models: dir.join("models.lua"), dir };
        for (path, text) in [(&scripts.chat, chat.as_str()), (&scripts.models, models)] {
            std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        }
        Ok(scripts)
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The emulator process, killed on drop.
pub(crate) struct Emulator {
    child: Child,
    /// Kept open so that the emulator can still write to its stdout.
    _stdout: Option<BufReader<ChildStdout>>,
    pub(crate) url: String,
    port: u16,
}

impl Emulator {
    /// Starts `binary` with `args` (which must make it listen on a free
    /// port) and reads the address from its first line.
    pub(crate) fn start(binary: &Path, args: &[&str]) -> Result<Self, String> {
        let mut child = Command::new(binary)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let mut line = String::new();
        let mut stdout = child.stdout.take().map(BufReader::new);
        let read = stdout.as_mut().map(|stdout| stdout.read_line(&mut line));
        let url = line.trim().strip_prefix("listening on ").map(str::to_owned);
        let port = url.as_deref().and_then(|url| url.rsplit(':').next()).and_then(|port| port.parse().ok());
        match (read, url, port) {
            (Some(Ok(_)), Some(url), Some(port)) => Ok(Self { child, _stdout: stdout, url, port }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("the emulator did not print `listening on http://127.0.0.1:PORT` (got {line:?})"))
            }
        }
    }

    /// `GET path` with HTTP/1.0: the status and the body.
    pub(crate) fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        let failed = |error: std::io::Error| format!("GET {path}: {error}");
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(failed)?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(failed)?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(failed)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).map_err(failed)?;
        let split =
            response.windows(4).position(|window| window == b"\r\n\r\n").ok_or(format!("GET {path}: no body"))?;
        let head = String::from_utf8_lossy(response.get(..split).unwrap_or_default()).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        Ok((status, response.get(split + 4..).unwrap_or_default().to_vec()))
    }

    /// The chat deployment's counters, checked: nothing refused or failed.
    fn stats(&self, ids: bool) -> Result<Value, String> {
        let (status, body) = self.get(&format!("/_emulator/stats?ids={ids}"))?;
        if status != 200 {
            return Err(format!("GET /_emulator/stats answered {status}"));
        }
        let stats: Value = serde_json::from_slice(&body).map_err(|error| format!("stats are not JSON: {error}"))?;
        let deployment = stats
            .pointer(&format!("/deployments/{DEPLOYMENT}"))
            .cloned()
            .ok_or(format!("the stats have no deployment {DEPLOYMENT}"))?;
        for counter in ["rate_limited", "faults", "errors"] {
            let count = deployment.get(counter).and_then(Value::as_u64).unwrap_or(0);
            if count != 0 {
                return Err(format!("the emulator counted {count} {counter} on {DEPLOYMENT}"));
            }
        }
        Ok(deployment)
    }

    /// Chat requests served so far, once the counters have settled (a
    /// request cut off when `wrk` stopped may still be finishing).
    fn served(&self) -> Result<u64, String> {
        let mut last = None;
        for _ in 0..20 {
            let stats = self.stats(false)?;
            let requests = stats.get("requests").and_then(Value::as_u64).unwrap_or(0);
            let served = stats.get("served").and_then(Value::as_u64).unwrap_or(0);
            if requests == served && last == Some(served) {
                return Ok(served);
            }
            last = Some(served);
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("the chat counters of {DEPLOYMENT} did not settle with every request served"))
    }

    /// The emulator's resident memory (`VmRSS` of `/proc/PID/status`), KiB.
    fn resident_kib(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).map_err(|error| format!("cannot read {path}: {error}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| format!("{path} has no VmRSS line"))
    }

    /// Every served request whose id the stats keep has its own id, and the
    /// ids kept plus those dropped (beyond the emulator's bound) are the
    /// requests served.
    fn check_ids(&self, measured: u64) -> Result<(), String> {
        let stats = self.stats(true)?;
        let served = stats.get("served").and_then(Value::as_u64).unwrap_or(0);
        let dropped = stats.get("request_ids_dropped").and_then(Value::as_u64).unwrap_or(0);
        let ids: Vec<&str> = stats
            .get("request_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let distinct: HashSet<&str> = ids.iter().copied().collect();
        if ids.len() as u64 + dropped != served || distinct.len() != ids.len() || served < measured {
            return Err(format!(
                "stats list {} request ids ({} distinct, {dropped} dropped) for {served} served requests",
                ids.len(),
                distinct.len()
            ));
        }
        Ok(())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one `wrk` run reports.
#[derive(Debug)]
struct WrkRun {
    requests: u64,
    rate: f64,
    non_2xx: u64,
    socket_errors: String,
}

impl WrkRun {
    fn check(&self) -> Result<(), String> {
        if self.non_2xx > 0 {
            return Err(format!("wrk saw {} non-2xx answers", self.non_2xx));
        }
        if self.requests == 0 {
            return Err("wrk completed no request".to_owned());
        }
        if !self.socket_errors.is_empty() {
            eprintln!("bench emulator: wrk socket errors: {}", self.socket_errors);
        }
        Ok(())
    }
}

fn wrk(script: &Path, url: &str, duration: &str) -> Result<WrkRun, String> {
    let script = script.to_string_lossy();
    let connections = CONNECTIONS.to_string();
    let args = ["-t1", "-c", &connections, "-d", duration, "-s", &script, url];
    let output = Command::new("wrk").args(args).output().map_err(|error| format!("cannot run wrk: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("wrk failed ({}): {text}{}", output.status, String::from_utf8_lossy(&output.stderr)));
    }
    parse_wrk(&text).ok_or(format!("cannot read wrk's report:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<WrkRun> {
    let mut requests = None;
    let mut rate = None;
    let mut non_2xx = 0;
    let mut socket_errors = String::new();
    for line in text.lines().map(str::trim) {
        if line.contains(" requests in ") {
            requests = line.split_whitespace().next().and_then(|count| count.parse().ok());
        } else if let Some(value) = line.strip_prefix("Requests/sec:") {
            rate = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = value.trim().parse().unwrap_or(u64::MAX);
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            socket_errors = value.trim().to_owned();
        }
    }
    Some(WrkRun { requests: requests?, rate: rate?, non_2xx, socket_errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_reports() {
        let report = "Running 10s test @ http://127.0.0.1:1/x\n  1 threads and 64 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     3.10ms    1.02ms  20.00ms   90.00%\n  215432 requests in 10.00s, 300.00MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:  21543.20\nTransfer/sec:     30.00MB\n";
        let run = parse_wrk(report).unwrap();
        assert_eq!((run.requests, run.non_2xx), (215_432, 3));
        assert!((run.rate - 21_543.2).abs() < 1e-6);
        assert!(run.check().is_err());
        assert!(parse_wrk("nothing").is_none());
        let (best, median) = best_and_median(&mut [3.0, 1.0, 2.0]);
        assert_eq!((best, median), (3.0, 2.0));
    }
}
