//! Project automation: `cargo xtask ci`, `cargo xtask bench [NAME]`.
//!
//! `ci` is exactly what CI runs (`.ci/run` calls it): set-up of anything the
//! tests need, formatting, lints, all tests and doc tests. Green here means
//! green in CI.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::process::{Command, ExitCode};

mod bench_batch;
mod bench_emulator;
mod layering;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(),
        Some("setup") => setup(),
        Some("lint") => lint(),
        Some("bench") => bench(&args[1..]),
        Some("layering") => layering::check_workspace().map_err(|problems| problems.join("\n")),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 ci         set up, then fmt check, clippy, all tests, doc tests (what CI runs)\n  \
                 test       set up, then all tests and doc tests\n  \
                 setup      install what the tests need (OpenAI Python SDK, redis-server) when missing\n  \
                 lint       fmt check and clippy\n  \
                 bench [N]  benchmarks beside their baselines (N: streaming, tokens, emulator, batch [WORKLOAD], cache, safety; default all)\n  \
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
    install_redis_server()
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
    let known = ["streaming", "tokens", "emulator", "batch", "cache", "safety"];
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
