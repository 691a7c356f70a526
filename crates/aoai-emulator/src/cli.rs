//! The emulator's command line, shared by the `aoai-emulator` binary and `aoai emulator`.
//!
//! ```text
//! aoai-emulator [--port P] [--config FILE] [--deployment NAME=MODEL[,tpm=N][,rpm=N]]...
//! ```
//!
//! Binds 127.0.0.1 and prints `listening on http://127.0.0.1:PORT` as the
//! first line on stdout, then serves until the process is stopped.

use std::io::Write as _;
use std::path::PathBuf;

use crate::{DeploymentConfig, EmulatorConfig};

/// The emulator's options.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// The port on 127.0.0.1 (0 picks a free one). Overrides the file's `port`.
    #[arg(long)]
    pub port: Option<u16>,
    /// A TOML (or .json) configuration file: deployments, quotas, latency, faults, keys.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A deployment: NAME=MODEL[,tpm=N][,rpm=N][,rpm_window=1s|10s][,profile=azure|gateway]
    /// [,token_cost=estimate|max_tokens][,ttft_ms=N][,per_token_ms=N]. Repeatable; adds to
    /// (or replaces by name) the file's deployments.
    #[arg(long = "deployment", value_name = "NAME=MODEL[,tpm=N][,rpm=N]")]
    pub deployments: Vec<DeploymentConfig>,
    /// An accepted key (repeatable). Without any, every non-empty key is accepted.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
    /// The x-ms-region header value.
    #[arg(long)]
    pub region: Option<String>,
}

/// Starts the emulator from `args`, prints the `listening on` line, and serves forever.
pub async fn serve(args: EmulatorArgs) -> Result<(), Box<dyn std::error::Error>> {
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
