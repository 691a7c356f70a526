//! `aoai-emulator`: a local Azure OpenAI-compatible server.
//!
//! ```text
//! aoai-emulator [--port P] [--config FILE] [--deployment NAME=MODEL[,tpm=N][,rpm=N]]...
//! ```
//!
//! Binds 127.0.0.1 and prints `listening on http://127.0.0.1:PORT` as the
//! first line on stdout, then serves until interrupted.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use aoai_emulator::{DeploymentConfig, EmulatorConfig};
use clap::Parser;

/// A local Azure OpenAI-compatible server for tests, examples and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "aoai-emulator", version, about)]
struct Args {
    /// The port on 127.0.0.1 (0 picks a free one). Overrides the file's `port`.
    #[arg(long)]
    port: Option<u16>,
    /// A TOML (or .json) configuration file: deployments, quotas, latency, faults, keys.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A deployment: NAME=MODEL[,tpm=N][,rpm=N][,rpm_window=1s|10s][,profile=azure|gateway]
    /// [,token_cost=estimate|max_tokens][,ttft_ms=N][,per_token_ms=N]. Repeatable; adds to
    /// (or replaces by name) the file's deployments.
    #[arg(long = "deployment", value_name = "NAME=MODEL[,tpm=N][,rpm=N]")]
    deployments: Vec<DeploymentConfig>,
    /// An accepted key (repeatable). Without any, every non-empty key is accepted.
    #[arg(long = "key", value_name = "KEY")]
    keys: Vec<String>,
    /// The x-ms-region header value.
    #[arg(long)]
    region: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("aoai-emulator: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut message = format!("aoai-emulator: {error}");
            let mut source = std::error::Error::source(&*error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match &args.config {
        Some(path) => EmulatorConfig::from_file(path)?,
        None => EmulatorConfig::default(),
    };
    if let Some(port) = args.port {
        config = config.port(port);
    }
    if let Some(region) = args.region {
        config = config.region(region);
    }
    for key in args.keys {
        config = config.key(key);
    }
    for deployment in args.deployments {
        config = config.deployment(deployment);
    }
    let emulator = config.start().await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", emulator.base_url())?;
    stdout.flush()?;
    drop(stdout);
    // Anything else goes to stderr: stdout's first line is the contract, and a
    // reader may stop reading after it.
    let _ = writeln!(std::io::stderr(), "aoai-emulator: serving {}", emulator.deployments().join(", "));
    std::future::pending::<()>().await;
    Ok(())
}
