//! Running the `aoai` binary from tests: a clean environment plus the given
//! variables, no standard input, output captured.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::process::{Command, Output, Stdio};

use aoai_emulator::EmulatorHandle;

/// Runs `aoai` with `args` in a clean environment (`PATH` kept) plus `env`.
pub async fn aoai(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aoai"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command.current_dir(std::env::temp_dir());
    for (name, value) in env {
        command.env(name, value);
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
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
