//! `aoai-emulator`: a local Azure OpenAI-compatible server.
//!
//! ```text
//! aoai-emulator [--port P] [--config FILE] [--deployment NAME=MODEL[,tpm=N][,rpm=N]]...
//! ```
//!
//! Binds 127.0.0.1 and prints `listening on http://127.0.0.1:PORT` as the
//! first line on stdout, then serves until interrupted. The options live in
//! [`aoai_emulator::cli`], shared with `aoai emulator`.

use std::process::ExitCode;

use aoai_emulator::cli::{EmulatorArgs, serve};
use clap::Parser;

/// A local Azure OpenAI-compatible server for tests, examples and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "aoai-emulator", version, about)]
struct Args {
    #[command(flatten)]
    args: EmulatorArgs,
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
    match runtime.block_on(serve(args.args)) {
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
