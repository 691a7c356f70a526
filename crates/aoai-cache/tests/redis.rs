//! `RedisCache` against a real `redis-server` started here on a free port
//! (one per test), under `Cached` over aoai-core's `Client` and a real
//! aoai-emulator: two `Cached` instances on one Redis are two processes'
//! view of one shared cache.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aoai_cache::redis::RedisCache;
use aoai_cache::{Cache, CacheStatus, Cached};
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::clock::{Clock, Sleep, SystemClock};
use aoai_core::responses::{ResponseAccumulator, ResponseRequest};
use aoai_core::{ChatApi, Client, ResponsesApi};
use aoai_emulator::config::LatencyModel;
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use futures_util::StreamExt;

// ---------------------------------------------------------------- redis-server

/// A `redis-server` on a loopback port, killed on drop.
struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if let Some(server) = Self::start_on(port) {
                return server;
            }
            // Lost the port to someone else: try another.
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn start_on(port: u16) -> Option<Self> {
        let port_text = port.to_string();
        let args = ["--port", &port_text, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
        let child = match Command::new("redis-server")
            .args(args)
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
        let mut server = Self { child: Some(child), port };
        server.wait_until_up().then_some(server)
    }

    /// PING until it answers.
    fn wait_until_up(&mut self) -> bool {
        let start = now();
        while now().duration_since(start) < Duration::from_secs(5) {
            if let Some(child) = &mut self.child
                && child.try_wait().ok().flatten().is_some()
            {
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

    /// Kills the server (as a crash would).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn now() -> Instant {
    SystemClock.now()
}

async fn sleep(duration: Duration) {
    SystemClock.sleep(duration).await;
}

async fn keys(server: &RedisServer, pattern: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut connection).await.unwrap();
    let mut out = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut connection).await.unwrap();
        out.push((key, ttl));
    }
    out
}

// ---------------------------------------------------------------- helpers

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .deployment(DeploymentConfig::new("chat", "gpt-4o"))
        .deployment(
            DeploymentConfig::new("slow", "gpt-4o")
                .latency(LatencyModel::new(Duration::from_millis(200), Duration::from_millis(1))),
        )
        .start()
        .await
        .unwrap()
}

fn served(emulator: &EmulatorHandle, deployment: &str) -> u64 {
    emulator.stats().deployment(deployment).map_or(0, |stats| stats.served)
}

async fn redis_cache(server: &RedisServer, prefix: &str) -> RedisCache {
    RedisCache::builder(server.url()).key_prefix(prefix).connect().await.unwrap()
}

fn cached(emulator: &EmulatorHandle, cache: RedisCache) -> Cached<Client> {
    Cached::builder(emulator.client().unwrap(), cache).namespace("emulator").ttl(Duration::from_secs(60)).build()
}

fn question(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user(text)]).temperature(0.0).max_tokens(30)
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn two_processes_share_entries_under_the_prefix() {
    let server = RedisServer::start();
    let emulator = emulator().await;
    let first = cached(&emulator, redis_cache(&server, "test:shared").await);
    let second = cached(&emulator, redis_cache(&server, "test:shared").await);
    let request = question("Shared across processes?");
    let miss = first.chat("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&miss.meta), CacheStatus::Upstream);
    let hit = second.chat("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    assert_eq!(hit.body, miss.body);
    assert_eq!(served(&emulator, "chat"), 1);
    assert_eq!((first.stats().misses, second.stats().hits), (1, 1));

    let stored = keys(&server, "test:shared:*").await;
    assert_eq!(stored.len(), 1, "one value, no lock left: {stored:?}");
    let (key, ttl) = &stored[0];
    assert_eq!(key, &format!("test:shared:v:{}", first.chat_key("chat", &request)));
    assert!(*ttl > 55_000 && *ttl <= 60_000, "{ttl}");

    // Another prefix is another cache.
    let elsewhere = cached(&emulator, redis_cache(&server, "test:other").await);
    let other = elsewhere.chat("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&other.meta), CacheStatus::Upstream);
    assert_eq!(served(&emulator, "chat"), 2);
}

#[tokio::test]
async fn a_streamed_response_stored_by_one_process_is_a_hit_for_another() {
    let server = RedisServer::start();
    let emulator = emulator().await;
    let first = cached(&emulator, redis_cache(&server, "test:responses").await);
    let second = cached(&emulator, redis_cache(&server, "test:responses").await);
    let request = ResponseRequest::new("Shared Responses answer?").temperature(0.0).max_output_tokens(400);

    let (live, _) = first.create_response_stream("chat", &request).await.unwrap().collect_response().await.unwrap();
    assert_eq!(live.status, aoai_core::responses::ResponseStatus::Completed, "{live:?}");
    assert_eq!(served(&emulator, "chat"), 1);
    let hit = second.create_response("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    assert_eq!(hit.body, live);
    let stream = second.create_response_stream("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Hit);
    let mut accumulator = ResponseAccumulator::new();
    for event in stream.collect::<Vec<_>>().await {
        accumulator.push(&event.unwrap());
    }
    assert_eq!(accumulator.into_response(), live);
    assert_eq!(served(&emulator, "chat"), 1);
    assert_eq!((first.stats().misses, second.stats().hits), (1, 2));

    let stored = keys(&server, "test:responses:*").await;
    assert_eq!(stored.len(), 1, "one value: {stored:?}");
    assert_eq!(stored[0].0, format!("test:responses:v:{}", first.responses_key("chat", &request)));
}

#[tokio::test]
async fn entries_expire_on_redis() {
    let server = RedisServer::start();
    let emulator = emulator().await;
    let cached = Cached::builder(emulator.client().unwrap(), redis_cache(&server, "test:ttl").await)
        .ttl(Duration::from_millis(300))
        .build();
    let request = question("Expire in Redis.");
    cached.chat("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&cached.chat("chat", &request).await.unwrap().meta), CacheStatus::Hit);
    sleep(Duration::from_millis(450)).await;
    assert!(keys(&server, "test:ttl:*").await.is_empty());
    assert_eq!(CacheStatus::of(&cached.chat("chat", &request).await.unwrap().meta), CacheStatus::Upstream);
    assert_eq!(served(&emulator, "chat"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lock_merges_fills_across_processes() {
    let server = RedisServer::start();
    let emulator = emulator().await;
    // Two "processes", each with its own in-process caller tasks.
    let processes = [
        Arc::new(cached(&emulator, redis_cache(&server, "test:lock").await)),
        Arc::new(cached(&emulator, redis_cache(&server, "test:lock").await)),
    ];
    let request = question("Fill me once across processes.");
    let mut tasks = Vec::new();
    for process in &processes {
        for _ in 0..4 {
            let process = process.clone();
            let request = request.clone();
            tasks.push(tokio::spawn(async move { process.chat("slow", &request).await.unwrap() }));
        }
    }
    let mut bodies = Vec::new();
    for task in tasks {
        bodies.push(task.await.unwrap().body);
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(served(&emulator, "slow"), 1, "the fill lock did not merge the fills");
    let hits: u64 = processes.iter().map(|process| process.stats().hits).sum();
    assert_eq!(hits, 7);
    assert!(keys(&server, "test:lock:lock:*").await.is_empty(), "the lock was released");
}

#[tokio::test]
async fn a_waiter_fills_itself_when_the_holder_never_stores() {
    let server = RedisServer::start();
    let cache = RedisCache::builder(server.url())
        .key_prefix("test:stale")
        .wait_for_fill(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let key = aoai_cache::key::CacheKey::from_bytes(b"stale");
    // Someone holds the lock and never stores (a crashed process).
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(cache.lock_key(&key))
        .arg("other")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut connection)
        .await
        .unwrap();
    let started = now();
    let outcome =
        cache.get_or_fill(&key, Duration::from_secs(60), Box::pin(async { Some(b"mine".as_slice().into()) })).await;
    assert_eq!(outcome, aoai_cache::FillOutcome::Filled);
    let waited = now().duration_since(started);
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some(b"mine".as_slice()));
}

#[tokio::test]
async fn requests_pass_through_while_redis_is_down_and_caching_resumes_after_a_restart() {
    let mut server = RedisServer::start();
    let port = server.port;
    let emulator = emulator().await;
    let cache = RedisCache::builder(server.url())
        .key_prefix("test:down")
        .op_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let cached = cached(&emulator, cache);
    let request = question("Survive a Redis crash.");
    cached.chat("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&cached.chat("chat", &request).await.unwrap().meta), CacheStatus::Hit);
    assert_eq!(served(&emulator, "chat"), 1);

    server.kill();
    for round in 0..3 {
        let started = now();
        let response = cached.chat("chat", &request).await.unwrap();
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
        assert!(response.text().is_some());
        assert!(now().duration_since(started) < Duration::from_secs(2), "round {round} took too long");
        let stream = cached.chat_stream("chat", &request.clone().stream(true)).await.unwrap();
        stream.collect_response().await.unwrap();
    }
    assert_eq!(served(&emulator, "chat"), 7, "every request reached the server");
    let stats = cached.stats();
    assert!(stats.pass_throughs >= 6, "{stats}");

    // Redis comes back on the same port: the connection manager reconnects.
    let restarted = RedisServer::start_on(port).expect("restart redis-server on its port");
    let deadline = now() + Duration::from_secs(10);
    loop {
        let before = cached.stats().pass_throughs;
        cached.chat("chat", &request).await.unwrap();
        if cached.stats().pass_throughs == before {
            break;
        }
        assert!(now() < deadline, "the cache never reconnected");
        sleep(Duration::from_millis(100)).await;
    }
    let hit = cached.chat("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    assert_eq!(keys(&restarted, "test:down:v:*").await.len(), 1);
}

#[tokio::test]
async fn a_slow_redis_times_out_and_requests_pass_through() {
    let server = RedisServer::start();
    let emulator = emulator().await;
    let cache = RedisCache::builder(server.url())
        .key_prefix("test:slow")
        .op_timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let cached = cached(&emulator, cache);
    let request = question("Survive a slow Redis.");
    cached.chat("chat", &request).await.unwrap();

    // Redis holds every client's commands for 1.5 s.
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(1_500).arg("ALL").query_async(&mut connection).await.unwrap();
    let started = now();
    let response = cached.chat("chat", &request).await.unwrap();
    let took = now().duration_since(started);
    assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
    assert!(took < Duration::from_millis(1_000), "waited for the paused Redis: {took:?}");
    assert_eq!(cached.stats().pass_throughs, 1);
    assert_eq!(served(&emulator, "chat"), 2);
}

#[tokio::test]
async fn a_lazy_cache_starts_without_redis_and_caches_once_it_is_up() {
    // A free port with nothing on it yet.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let emulator = emulator().await;
    let url = format!("redis://127.0.0.1:{port}/");
    assert!(
        RedisCache::builder(url.clone()).op_timeout(Duration::from_millis(200)).connect().await.is_err(),
        "connect waits for Redis and fails"
    );
    let cache =
        RedisCache::builder(url).key_prefix("test:lazy").op_timeout(Duration::from_millis(200)).connect_lazy().unwrap();
    let cached = cached(&emulator, cache);
    let request = question("Start before Redis.");
    for _ in 0..2 {
        let response = cached.chat("chat", &request).await.unwrap();
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
    }
    assert_eq!(served(&emulator, "chat"), 2);
    assert!(cached.stats().pass_throughs >= 2, "{}", cached.stats());

    let Some(server) = RedisServer::start_on(port) else {
        // The port was taken meanwhile; the pass-through half still ran.
        return;
    };
    let deadline = now() + Duration::from_secs(10);
    loop {
        let response = cached.chat("chat", &request).await.unwrap();
        if CacheStatus::of(&response.meta) == CacheStatus::Hit {
            break;
        }
        assert!(now() < deadline, "the lazy cache never started caching");
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(keys(&server, "test:lazy:v:*").await.len(), 1);
}
