//! Running the `aoai` binary from tests: a clean environment plus the given
//! variables, no standard input (or the given text), output captured.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use aoai_emulator::EmulatorHandle;

/// Runs `aoai` with `args` in a clean environment (`PATH` kept) plus `env`.
pub async fn aoai(args: &[&str], env: &[(&str, String)]) -> Output {
    aoai_in(&std::env::temp_dir(), args, env, None).await
}

/// As [`aoai`], in the directory `dir`, with `stdin` (when given) as its input.
pub async fn aoai_in(dir: &Path, args: &[&str], env: &[(&str, String)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aoai"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command.current_dir(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The variables that point `aoai` at `emulator` (dated or v1 URL form).
pub fn env_for(emulator: &EmulatorHandle, v1: bool) -> Vec<(&'static str, String)> {
    let endpoint = if v1 { format!("{}/openai/v1", emulator.base_url()) } else { emulator.base_url().to_owned() };
    vec![
        ("AZURE_OPENAI_ENDPOINT", endpoint),
        ("AZURE_OPENAI_API_KEY", emulator.api_key().expose().to_owned()),
        ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o".to_owned()),
    ]
}
