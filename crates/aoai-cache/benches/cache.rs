//! The cache's hit path, per request size (small ~200 B, medium ~4 KB,
//! large ~64 KB of request JSON):
//!
//! - `key+lookup`: canonical JSON (RFC 8785) of the request, SHA-256, and a
//!   `MemoryCache` lookup — what every cached request pays before the
//!   upstream or the answer;
//! - `baseline`: the naive, non-canonical approach beside it — `serde_json::to_vec`
//!   of the request and a `std::collections::HashMap` lookup by those bytes;
//! - `Cached::chat hit`: the whole hit through the layer (policy, key, lookup,
//!   decoding the stored answer, counters);
//! - with `--features redis` and `redis-server` installed: a `RedisCache` get
//!   and a whole `Cached::chat` hit on loopback (skipped with a message otherwise).
//!
//! Percentiles come from a plain timing loop (criterion reports means), one
//! line per case: `p50`, `p99` and the ratio to the baseline's. Criterion's
//! runs follow.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods, missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aoai_cache::key::KeyScope;
use aoai_cache::{Cache, Cached, MemoryCache};
use aoai_core::chat::{ChatMessage, ChatRequest, ChatResponse, Choice, FinishReason, ResponseMessage, Usage};
use aoai_core::response::ResponseMeta;
use aoai_core::stream::ChatStream;
use aoai_core::{ChatApi, Response};
use async_trait::async_trait;
use criterion::Criterion;

const SIZES: [(&str, usize); 3] = [("small", 200), ("medium", 4 * 1024), ("large", 64 * 1024)];

/// A request whose JSON is about `bytes` long: a system prompt, a few turns,
/// and a tool, like a real conversation.
fn request_of(bytes: usize) -> ChatRequest {
    let base = ChatRequest::new(vec![ChatMessage::system("Be terse."), ChatMessage::user("Hi")])
        .temperature(0.0)
        .max_tokens(200);
    let mut request = base;
    let word = "lorem ipsum dolor sit amet, consectetur adipiscing elit. ";
    let mut turn = 0;
    while serde_json::to_vec(&request).unwrap().len() < bytes {
        let text: String = word.repeat(((bytes / 4).max(60) / word.len()).max(1));
        let budget = bytes.saturating_sub(serde_json::to_vec(&request).unwrap().len());
        let text: String = text.chars().take(budget.saturating_sub(40).max(1)).collect();
        request = if turn % 2 == 0 {
            request.message(ChatMessage::assistant(text))
        } else {
            request.message(ChatMessage::user(text))
        };
        turn += 1;
    }
    request
}

fn answer() -> ChatResponse {
    ChatResponse {
        id: "chatcmpl-bench".to_owned(),
        object: "chat.completion".to_owned(),
        created: 1,
        model: "gpt-4o-2024-08-06".to_owned(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                content: Some("A short answer of a few words.".repeat(8)),
                ..ResponseMessage::default()
            },
            finish_reason: Some(FinishReason::Stop),
            ..Choice::default()
        }],
        usage: Some(Usage::new(500, 60)),
        ..ChatResponse::default()
    }
}

/// An upstream that answers at once (the benchmark measures hits only).
#[derive(Debug, Clone)]
struct Upstream;

#[async_trait]
impl ChatApi for Upstream {
    async fn chat(&self, _deployment: &str, _request: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
        Ok(Response { body: answer(), meta: ResponseMeta { status: 200, attempts: 1, ..ResponseMeta::default() } })
    }

    async fn chat_stream(&self, _deployment: &str, _request: &ChatRequest) -> aoai_core::Result<ChatStream> {
        unreachable!("not benchmarked")
    }
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
}

/// p50 and p99 of `iterations` timed calls of `run`.
async fn percentiles<F, Fut>(iterations: usize, mut run: F) -> Percentiles
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iterations / 10 {
        run().await;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        run().await;
        samples.push(started.elapsed());
    }
    samples.sort_unstable();
    Percentiles { p50: samples[samples.len() / 2], p99: samples[samples.len() * 99 / 100] }
}

fn iterations_for(bytes: usize) -> usize {
    if bytes >= 32 * 1024 { 3_000 } else { 30_000 }
}

fn line(label: &str, measured: &Percentiles, baseline: &Percentiles) {
    println!(
        "{label:<34} p50 {:>9.2?}  p99 {:>9.2?}  ({:.2}x / {:.2}x the baseline)",
        measured.p50,
        measured.p99,
        measured.p50.as_secs_f64() / baseline.p50.as_secs_f64(),
        measured.p99.as_secs_f64() / baseline.p99.as_secs_f64(),
    );
}

fn percentile_report(runtime: &tokio::runtime::Runtime) {
    let scope = KeyScope::new("bench", "2024-10-01-preview");
    println!("cache hit path, percentiles of a timing loop (std::time::Instant):");
    for (name, bytes) in SIZES {
        let request = request_of(bytes);
        let body_len = serde_json::to_vec(&request).unwrap().len();
        let iterations = iterations_for(bytes);
        runtime.block_on(async {
            let memory = MemoryCache::new();
            let key = scope.chat_key("gpt-4o", &request);
            memory.put(&key, serde_json::to_vec(&answer()).unwrap().into(), Duration::from_secs(3600)).await.unwrap();
            let mut naive: HashMap<Vec<u8>, Arc<[u8]>> = HashMap::new();
            naive.insert(serde_json::to_vec(&request).unwrap(), serde_json::to_vec(&answer()).unwrap().into());
            let cached = Cached::builder(Upstream, memory.clone()).namespace("bench").build();
            cached.chat("gpt-4o", &request).await.unwrap();

            let baseline = percentiles(iterations, || async {
                let bytes = serde_json::to_vec(black_box(&request)).unwrap();
                black_box(naive.get(&bytes));
            })
            .await;
            let hit = percentiles(iterations, || async {
                let key = scope.chat_key("gpt-4o", black_box(&request));
                black_box(memory.get(&key).await.unwrap());
            })
            .await;
            let whole = percentiles(iterations, || async {
                black_box(cached.chat("gpt-4o", black_box(&request)).await.unwrap());
            })
            .await;
            println!("-- {name} request ({body_len} B of JSON), {iterations} iterations");
            line("baseline (to_vec + HashMap)", &baseline, &baseline);
            line("key+lookup (JCS + SHA-256 + moka)", &hit, &baseline);
            line("Cached::chat hit (memory)", &whole, &baseline);
            redis_report(&scope, &request, iterations.min(5_000), &baseline).await;
        });
    }
}

#[cfg(feature = "redis")]
async fn redis_report(scope: &KeyScope, request: &ChatRequest, iterations: usize, baseline: &Percentiles) {
    use aoai_cache::redis::RedisCache;
    let Some(server) = redis_server::RedisServer::start() else {
        println!("redis: skipped (redis-server is not installed; `cargo xtask setup` installs it)");
        return;
    };
    let cache = RedisCache::builder(server.url()).key_prefix("bench").connect().await.unwrap();
    let key = scope.chat_key("gpt-4o", request);
    cache.put(&key, serde_json::to_vec(&answer()).unwrap().into(), Duration::from_secs(3600)).await.unwrap();
    let cached = Cached::builder(Upstream, cache.clone()).namespace("bench").build();
    cached.chat("gpt-4o", request).await.unwrap();
    let get = percentiles(iterations, || async {
        let key = scope.chat_key("gpt-4o", black_box(request));
        black_box(cache.get(&key).await.unwrap());
    })
    .await;
    let whole = percentiles(iterations, || async {
        black_box(cached.chat("gpt-4o", black_box(request)).await.unwrap());
    })
    .await;
    line("key+lookup (redis, loopback)", &get, baseline);
    line("Cached::chat hit (redis, loopback)", &whole, baseline);
}

#[cfg(not(feature = "redis"))]
async fn redis_report(_scope: &KeyScope, _request: &ChatRequest, _iterations: usize, _baseline: &Percentiles) {
    println!("redis: skipped (build with --features redis)");
}

#[cfg(feature = "redis")]
mod redis_server {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub(crate) struct RedisServer {
        child: Child,
        port: u16,
    }

    impl RedisServer {
        pub(crate) fn start() -> Option<Self> {
            let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
            let port_text = port.to_string();
            let child = Command::new("redis-server")
                .args(["--port", &port_text, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .current_dir(std::env::temp_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let server = Self { child, port };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                    let mut reply = [0u8; 16];
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                    if stream.write_all(b"PING\r\n").is_ok() && stream.read(&mut reply).is_ok_and(|read| read > 0) {
                        return Some(server);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        }

        pub(crate) fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/", self.port)
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn criterion_benches(criterion: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let scope = KeyScope::new("bench", "2024-10-01-preview");
    let mut group = criterion.benchmark_group("cache_hit");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    for (name, bytes) in SIZES {
        let request = request_of(bytes);
        let memory = MemoryCache::new();
        let key = scope.chat_key("gpt-4o", &request);
        runtime
            .block_on(memory.put(&key, serde_json::to_vec(&answer()).unwrap().into(), Duration::from_secs(3600)))
            .unwrap();
        let mut naive: HashMap<Vec<u8>, Arc<[u8]>> = HashMap::new();
        naive.insert(serde_json::to_vec(&request).unwrap(), serde_json::to_vec(&answer()).unwrap().into());
        group.bench_function(format!("{name}/baseline"), |bench| {
            bench.iter(|| {
                black_box(naive.get(&serde_json::to_vec(black_box(&request)).unwrap()).map(|value| value.len()))
            });
        });
        group.bench_function(format!("{name}/key+lookup"), |bench| {
            // `block_on` per iteration (criterion's async support is not
            // enabled in the workspace): a few hundred nanoseconds more than
            // the percentile loop, which runs inside one task.
            bench.iter(|| {
                runtime.block_on(async {
                    let key = scope.chat_key("gpt-4o", black_box(&request));
                    black_box(memory.get(&key).await.unwrap().map(|value| value.len()))
                })
            });
        });
    }
    group.finish();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    percentile_report(&runtime);
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion, &runtime);
    criterion.final_summary();
}
