//! `aoai batch run --redis URL`: two real `aoai` processes split one input
//! between them and share one emulator deployment's quota through a real
//! `redis-server` (installed by `cargo xtask setup`): all items answered,
//! combined 429s at most 1 %.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aoai_emulator::config::LatencyModel;
use aoai_emulator::quota::RpmWindow;
use aoai_emulator::{DeploymentConfig, Emulator};
use serde_json::{Value, json};

const PER_PROCESS: usize = 60;

/// A `redis-server` on a free loopback port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> Self {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let port_text = port.to_string();
            let child = match Command::new("redis-server")
                .args(["--port", &port_text, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
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
            for _ in 0..250 {
                if server.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                    let mut reply = [0u8; 16];
                    stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                    if stream.write_all(b"PING\r\n").is_ok() && stream.read(&mut reply).is_ok_and(|read| read > 0) {
                        return server;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = server.child.kill();
        }
        panic!("redis-server did not start on any of 5 free ports");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{line}: {error}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_quota_through_redis() {
    let redis = RedisServer::start();
    // 1,200 RPM over 1 s windows: 20 requests a second between both
    // processes, so 120 items take about 6 s. Unshared, each process would
    // send at 20/s and together they would overshoot the service by 2×.
    let emulator = Emulator::builder()
        .deployment(
            DeploymentConfig::new("chat", "gpt-4o-mini")
                .tpm(1_000_000)
                .rpm(1_200)
                .rpm_window(RpmWindow::OneSecond)
                .latency(LatencyModel::new(Duration::from_millis(20), Duration::ZERO)),
        )
        .start()
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("aoai-batch-redis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for worker in 0..2 {
        let input: String = (0..PER_PROCESS)
            .map(|index| {
                json!({"custom_id": format!("w{worker}-{index}"), "method": "POST", "url": "/chat/completions",
                    "body": {"messages": [{"role": "user", "content": format!("Question {index}")}], "max_tokens": 10}})
                .to_string()
                    + "\n"
            })
            .collect();
        std::fs::write(dir.join(format!("in{worker}.jsonl")), input).unwrap();
    }
    let base_url = emulator.base_url().to_owned();
    let key = emulator.api_key().expose().to_owned();
    let url = format!("redis://127.0.0.1:{}/", redis.port);

    let outputs = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let children: Vec<Child> = (0..2)
                .map(|worker| {
                    Command::new(env!("CARGO_BIN_EXE_aoai"))
                        .args(["batch", "run", &format!("in{worker}.jsonl"), "-o", &format!("out{worker}.jsonl")])
                        .args(["--deployment", "chat", "--rpm", "1200", "--tpm", "1000000", "--rpm-window", "1s"])
                        .args(["--redis", &url, "--redis-prefix", "cli-test", "--margin-ms", "100"])
                        .current_dir(&dir)
                        .env_clear()
                        .env("PATH", std::env::var("PATH").unwrap_or_default())
                        .env("AZURE_OPENAI_ENDPOINT", &base_url)
                        .env("AZURE_OPENAI_API_KEY", &key)
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            children.into_iter().map(|child| child.wait_with_output().unwrap()).collect::<Vec<_>>()
        }
    })
    .await
    .unwrap();
    for output in &outputs {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    for worker in 0..2 {
        let answered = lines(&dir.join(format!("out{worker}.jsonl")));
        assert_eq!(answered.len(), PER_PROCESS);
    }
    let stats = emulator.stats();
    let deployment = stats.deployment("chat").unwrap();
    assert_eq!(deployment.served, 2 * PER_PROCESS as u64);
    assert!(
        deployment.rate_limited * 100 <= deployment.requests,
        "{} of {} requests answered 429",
        deployment.rate_limited,
        deployment.requests
    );
    let _ = std::fs::remove_dir_all(&dir);
    emulator.shutdown().await;
}
