//! The shared limiter against a real `redis-server` (started here on a free
//! port, one per test) and, for the test, three worker processes
//! against one real aoai-emulator deployment.
//!
//! The worker processes are this test binary itself, re-run with
//! `--exact worker_process`: `worker_process` does nothing unless the
//! `AOAI_SHARED_WORKER` variables are set, so it is an ordinary passing test
//! in every other run (cargo test and nextest alike).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aoai_batch::estimate::Estimator;
use aoai_batch::limiter::{QuotaSpec, RpmWindow};
use aoai_batch::shared::RedisGate;
use aoai_batch::{Error, Gate};
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::clock::{Clock, SystemClock};
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_emulator::Emulator;
use aoai_emulator::config::{DeploymentConfig, LatencyModel};
use aoai_emulator::quota;

// ---------------------------------------------------------------- redis-server

/// A `redis-server` on a free loopback port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Self {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let port_text = port.to_string();
            let mut args = vec!["--port", &port_text, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
            args.extend_from_slice(extra);
            let child = match Command::new("redis-server")
                .args(&args)
                .current_dir(std::env::temp_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => child,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    panic!("redis-server is not installed: run `cargo xtask setup` (it installs it)")
                }
                Err(error) => panic!("cannot start redis-server: {error}"),
            };
            let mut server = Self { child, port };
            if server.wait_until_up() {
                return server;
            }
            // Lost the port to someone else: try another.
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// PING until it answers (`+PONG`, or `-NOAUTH` when it wants a password).
    fn wait_until_up(&mut self) -> bool {
        let start = now();
        while now().duration_since(start) < Duration::from_secs(5) {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut reply = [0u8; 16];
                stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                if stream.write_all(b"PING\r\n").is_ok() && stream.read(&mut reply).is_ok_and(|read| read > 0) {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now() -> Instant {
    SystemClock.now()
}

async fn gate(server: &RedisServer, prefix: &str, deployments: &[(&str, QuotaSpec)]) -> RedisGate {
    let mut builder = RedisGate::builder(server.url()).key_prefix(prefix);
    for (name, spec) in deployments {
        builder = builder.deployment(*name, *spec);
    }
    builder.connect().await.unwrap()
}

/// Every key matching `pattern`, with its time to live (ms; -1: none).
async fn ttls(server: &RedisServer, pattern: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut connection).await.unwrap();
    let mut ttls = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut connection).await.unwrap();
        ttls.push((key, ttl));
    }
    ttls
}

// ---------------------------------------------------------------- admission

/// Two gates (two "processes") with three tasks each keep one deployment's
/// request window saturated. On the shared clock, no sliding window ever
/// holds more than the limit, and every wait ends as soon as the window
/// allows: the k-th admission comes at most a little after the
/// (k − W)-th left the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_never_overfill_a_window_and_waits_end_when_it_allows() {
    let server = RedisServer::start();
    // 1,200 RPM over 1 s: 20 requests in any 1,000 ms. Tokens never bind here.
    let spec = QuotaSpec::new(1_000_000, 1_200).rpm_window(RpmWindow::OneSecond);
    let (limit, window) = spec.request_window().unwrap();
    assert_eq!((limit, window), (20, Duration::from_secs(1)));
    let gates = [gate(&server, "props", &[("d", spec)]).await, gate(&server, "props", &[("d", spec)]).await];
    let total = 70;
    let started = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (which, gate) in gates.iter().enumerate() {
        for task in 0..3u64 {
            let gate = gate.clone();
            let started = started.clone();
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                let mut cost = 1 + task * 97 + which as u64 * 13;
                while started.fetch_add(1, Ordering::SeqCst) < total {
                    cost = (cost * 7_919) % 500 + 1;
                    let grant = gate.acquire(Some("d"), cost).await.unwrap();
                    assert_eq!(grant.permit().cost(), cost);
                    times.push(gate.shared_time(&grant));
                }
                times
            }));
        }
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.unwrap());
    }
    times.sort();
    assert_eq!(times.len(), total);
    let limit = usize::try_from(limit).unwrap();
    for (index, &at) in times.iter().enumerate() {
        // Every window (at − L, at] holds at most `limit` admissions.
        let in_window = times[..=index].iter().filter(|&&earlier| earlier + window > at).count();
        assert!(in_window <= limit, "{in_window} admissions in the window ending at admission {index}");
    }
    // Not needlessly late: the first `limit` come at once, and each later one
    // at most a little after the admission `limit` before it left the window.
    let slack = Duration::from_millis(250);
    assert!(times[limit - 1] - times[0] < slack, "the first window was not filled at once");
    for index in limit..times.len() {
        let allowed = times[index - limit] + window;
        assert!(times[index] >= allowed);
        assert!(times[index] - allowed < slack, "admission {index} came {:?} late", times[index] - allowed);
    }
}

/// Tokens: a request waits while the minute is full and fits exactly up to
/// the limit; a request larger than the limit fails at once, before Redis is
/// asked; a margin lengthens the wait by exactly the margin; work spreads
/// over deployments by what they have left.
#[tokio::test]
async fn tokens_fill_exactly_never_fits_fails_at_once_and_work_spreads() {
    let server = RedisServer::start();
    let a = gate(&server, "tokens", &[("d", QuotaSpec::tokens_only(1_000))]).await;
    let b = gate(&server, "tokens", &[("d", QuotaSpec::tokens_only(1_000))]).await;
    a.acquire(None, 600).await.unwrap();
    b.acquire(Some("d"), 300).await.unwrap();
    // 900 charged: 200 more waits for the minute, 100 more fits exactly.
    let waiting = tokio::time::timeout(Duration::from_millis(300), b.acquire(None, 200)).await;
    assert!(waiting.is_err(), "200 tokens were admitted over a full minute");
    let started = now();
    a.acquire(None, 100).await.unwrap();
    assert!(now().duration_since(started) < Duration::from_millis(200));

    let started = now();
    match b.acquire(None, 1_001).await {
        Err(Error::NeverFits { deployment, source }) => {
            assert_eq!(deployment, "d");
            assert_eq!((source.cost(), source.capacity()), (1_001, 1_000));
        }
        other => panic!("{other:?}"),
    }
    assert!(now().duration_since(started) < Duration::from_millis(50));
    assert!(matches!(b.acquire(Some("elsewhere"), 1).await, Err(Error::UnknownDeployment(_))));

    // Every key expires by itself: the logs two windows and a minute after
    // the last charge, so state abandoned by every process disappears.
    let keys = ttls(&server, "{tokens}*").await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    for (key, ttl) in keys {
        assert!(ttl > 0 && ttl <= 180_000, "{key} expires in {ttl} ms");
    }

    // One request per 1 s window plus a 200 ms margin: the second waits 1.2 s, no more.
    let spec = QuotaSpec::requests_only(60).rpm_window(RpmWindow::OneSecond).margin(Duration::from_millis(200));
    let paced = gate(&server, "margin", &[("d", spec)]).await;
    let first = paced.acquire(None, 1).await.unwrap();
    let second = paced.acquire(None, 1).await.unwrap();
    let gap = paced.shared_time(&second) - paced.shared_time(&first);
    assert!(gap >= Duration::from_millis(1_200) && gap < Duration::from_millis(1_350), "{gap:?}");

    let deployments = [("east", QuotaSpec::tokens_only(1_000)), ("west", QuotaSpec::tokens_only(1_000))];
    let spread = gate(&server, "spread", &deployments).await;
    let first = spread.acquire(None, 600).await.unwrap();
    let second = spread.acquire(None, 600).await.unwrap();
    assert_ne!(first.deployment(), second.deployment(), "spread by remaining capacity");
    assert_eq!(spread.deployments().collect::<Vec<_>>(), ["east", "west"]);
}

/// A correction from the service's headers charges, for every process,
/// what the service counted and the shared log did not.
#[tokio::test]
async fn headers_tighten_the_shared_log() {
    let server = RedisServer::start();
    let a = gate(&server, "observe", &[("d", QuotaSpec::tokens_only(1_000))]).await;
    let b = gate(&server, "observe", &[("d", QuotaSpec::tokens_only(1_000))]).await;
    let grant = a.acquire(None, 100).await.unwrap();
    // The service had 700 in its window, not our 100: someone else used 600.
    let headers = aoai_core::response::RateLimitInfo { remaining_tokens: Some(300), ..Default::default() };
    a.observe(&grant, &headers).await;
    a.observe(&grant, &headers).await; // Idempotent: already accounted for.
    let fits = tokio::time::timeout(Duration::from_millis(300), b.acquire(None, 300)).await;
    assert!(fits.is_ok(), "the correction was charged twice");
    let waiting = tokio::time::timeout(Duration::from_millis(300), b.acquire(None, 1)).await;
    assert!(waiting.is_err(), "the correction was not shared");
}

// ---------------------------------------------------------------- 429s

/// A 429 reported by one process pauses the deployment for all, once; a
/// shorter report does not shorten it; a very long one means no quota, for
/// every process, at once.
#[tokio::test]
async fn a_429_pauses_every_process_once_and_no_quota_is_shared() {
    let server = RedisServer::start();
    let spec = QuotaSpec::new(1_000_000, 6_000).rpm_window(RpmWindow::OneSecond);
    let a = gate(&server, "pause", &[("d", spec)]).await;
    let b = gate(&server, "pause", &[("d", spec)]).await;
    a.rate_limited("d", Some(Duration::from_millis(600))).await.unwrap();
    b.rate_limited("d", Some(Duration::from_millis(100))).await.unwrap();
    let started = now();
    let grant = b.acquire(None, 10).await.unwrap();
    let waited = now().duration_since(started);
    assert!(waited >= Duration::from_millis(550) && waited < Duration::from_millis(900), "{waited:?}");
    let started = now();
    a.acquire(None, 10).await.unwrap();
    assert!(now().duration_since(started) < Duration::from_millis(100), "the pause was taken twice");
    drop(grant);

    match a.rate_limited("d", Some(Duration::from_secs(86_400))).await {
        Err(Error::NoQuota { deployment, retry_after }) => {
            assert_eq!((deployment.as_str(), retry_after), ("d", Duration::from_secs(86_400)));
        }
        other => panic!("{other:?}"),
    }
    let started = now();
    assert!(matches!(b.acquire(None, 10).await, Err(Error::NoQuota { .. })));
    assert!(now().duration_since(started) < Duration::from_millis(100));
    assert!(matches!(b.rate_limited("nowhere", None).await, Err(Error::UnknownDeployment(_))));
}

// ---------------------------------------------------------------- failures

/// Wrong password, and Redis going away mid-run: clear errors, never a
/// silent bypass, never the password.
#[tokio::test]
async fn redis_failures_are_errors_without_the_password() {
    let server = RedisServer::start_with(&["--requirepass", "s3cr3t-pw"]);
    let spec = QuotaSpec::from_tpm(30_000);

    let wrong = format!("redis://:wr0ng-pw@127.0.0.1:{}/", server.port);
    let error = RedisGate::builder(wrong).deployment("d", spec).connect().await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(matches!(error, Error::Shared { operation: "connect", .. }), "{text}");
    assert!(!text.contains("wr0ng-pw"), "{text}");
    assert!(text.contains("redis://***@127.0.0.1"), "{text}");

    let url = format!("redis://:s3cr3t-pw@127.0.0.1:{}/", server.port);
    let gate = RedisGate::builder(&url).deployment("d", spec).connect().await.unwrap();
    assert!(!format!("{gate:?}").contains("s3cr3t-pw"));
    gate.acquire(None, 100).await.unwrap();

    drop(server);
    let started = now();
    let error = gate.acquire(None, 100).await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(matches!(error, Error::Shared { operation: "admit a request", .. }), "{text}");
    assert!(!text.contains("s3cr3t-pw"), "{text}");
    assert!(now().duration_since(started) < Duration::from_secs(15), "took {:?}", now().duration_since(started));
    assert!(gate.rate_limited("d", None).await.is_err());
}

// ---------------------------------------------------------------- three processes

const WORKERS: usize = 3;
const ITEMS_PER_WORKER: usize = 50;
const TASKS_PER_WORKER: usize = 2;

fn shared_spec() -> QuotaSpec {
    // 1,800 RPM over 1 s: 30 requests in any second; 300k TPM (Azure's 6 RPM
    // per 1,000 TPM). 150 items take about five request windows. The 100 ms
    // margin absorbs the jitter between admission (Redis's clock) and
    // arrival (the emulator's) on a loaded CI machine.
    QuotaSpec::new(300_000, 1_800).rpm_window(RpmWindow::OneSecond).margin(Duration::from_millis(100))
}

/// The test: three worker processes, each with its own `RedisGate`
/// and two tasks, send chat requests to one emulator deployment. Combined,
/// at most 1 % of the requests draw a 429, and every item is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_one_deployment() {
    let server = RedisServer::start();
    let emulator = Emulator::builder()
        .deployment(
            DeploymentConfig::new("shared", "gpt-4o-mini")
                .tpm(300_000)
                .rpm(1_800)
                .rpm_window(quota::RpmWindow::OneSecond)
                .latency(LatencyModel::new(Duration::from_millis(15), Duration::ZERO)),
        )
        .start()
        .await
        .unwrap();

    let exe = std::env::current_exe().unwrap();
    let started = now();
    let mut children = Vec::new();
    for worker in 0..WORKERS {
        let child = Command::new(&exe)
            .args(["--exact", "worker_process", "--nocapture", "--test-threads", "1"])
            .env("AOAI_SHARED_WORKER", worker.to_string())
            .env("AOAI_SHARED_WORKER_REDIS", server.url())
            .env("AOAI_SHARED_WORKER_ENDPOINT", emulator.base_url())
            .env("AOAI_SHARED_WORKER_KEY", emulator.api_key().expose())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push(child);
    }
    let ids: Vec<u32> = children.iter().map(Child::id).collect();
    let waiting = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|child| child.wait_with_output().unwrap()).collect::<Vec<_>>()
    });
    let outputs = match tokio::time::timeout(Duration::from_secs(60), waiting).await {
        Ok(outputs) => outputs.unwrap(),
        Err(_) => {
            for id in ids {
                let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            }
            panic!("the workers did not finish in 60 s");
        }
    };
    let elapsed = now().duration_since(started);
    for (worker, output) in outputs.iter().enumerate() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "worker {worker} failed ({}):\n{stdout}\n{stderr}", output.status);
        assert!(stdout.contains("served"), "worker {worker} did not run its loop:\n{stdout}\n{stderr}");
    }

    let stats = emulator.stats();
    let deployment = stats.deployment("shared").unwrap();
    let items = (WORKERS * ITEMS_PER_WORKER) as u64;
    let rate = deployment.rate_limited as f64 / deployment.requests as f64;
    eprintln!(
        "three processes: {} requests, {} served, {} answered 429 ({:.2} %), {elapsed:?}",
        deployment.requests,
        deployment.served,
        deployment.rate_limited,
        rate * 100.0
    );
    assert_eq!(deployment.served, items, "every item is served once");
    assert!(rate <= 0.01, "{} of {} requests answered 429", deployment.rate_limited, deployment.requests);
    // The quota is the bottleneck: 150 requests at 30 per 1.1 s need at
    // least four windows after the first; far longer means needless waits.
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    emulator.shutdown().await;
}

/// One worker process of [`three_processes_share_one_deployment`]; a no-op
/// unless that test started this binary with the `AOAI_SHARED_WORKER` variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process() {
    let Ok(worker) = std::env::var("AOAI_SHARED_WORKER") else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let gate = RedisGate::builder(var("AOAI_SHARED_WORKER_REDIS"))
        .key_prefix("three-processes")
        .deployment("shared", shared_spec())
        .connect()
        .await
        .unwrap();
    let endpoint = Endpoint::azure(&var("AOAI_SHARED_WORKER_ENDPOINT")).unwrap();
    let client = aoai_core::Client::builder(endpoint)
        .api_key(var("AOAI_SHARED_WORKER_KEY"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let estimator = Estimator::for_model("gpt-4o-mini");
    let next = Arc::new(AtomicUsize::new(0));
    let rate_limited = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS_PER_WORKER {
        let (gate, client, estimator, worker) = (gate.clone(), client.clone(), estimator.clone(), worker.clone());
        let (next, rate_limited) = (next.clone(), rate_limited.clone());
        tasks.push(tokio::spawn(async move {
            let mut served = 0;
            loop {
                let item = next.fetch_add(1, Ordering::SeqCst);
                if item >= ITEMS_PER_WORKER {
                    return served;
                }
                let request =
                    ChatRequest::new(vec![ChatMessage::user(format!("Worker {worker}, item {item}: name a river."))])
                        .max_tokens(20 + (item as u32 * 37) % 200);
                let cost = estimator.chat(&request);
                loop {
                    let grant = gate.acquire(None, cost).await.unwrap();
                    match client.chat(grant.deployment(), &request).await {
                        Ok(response) => {
                            gate.observe(&grant, &response.meta.rate_limits).await;
                            served += 1;
                            break;
                        }
                        Err(error) if error.status() == Some(429) => {
                            rate_limited.fetch_add(1, Ordering::SeqCst);
                            gate.rate_limited(grant.deployment(), error.retry_after()).await.unwrap();
                        }
                        Err(error) => panic!("worker {worker}, item {item}: {error}"),
                    }
                }
            }
        }));
    }
    let mut served = 0;
    for task in tasks {
        served += task.await.unwrap();
    }
    assert_eq!(served, ITEMS_PER_WORKER);
    println!("worker {worker}: served {served}, 429s {}", rate_limited.load(Ordering::SeqCst));
}
