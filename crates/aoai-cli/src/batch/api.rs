//! `aoai batch submit|status|download|cancel`: Azure's Batch API.
//!
//! `submit` checks the input file (each line `{custom_id, method, url, body}`,
//! unique `custom_id`s, one `url`, ≤ 100,000 lines, ≤ 200 MB), uploads it and
//! creates a job with the `24h` window, and prints the batch id. With `--wait`
//! it polls until the job is finished, and with `-o` it writes the results:
//! the successful lines to the output file in input order, the failed ones to
//! the errors file, each as the service wrote it.
//!
//! With no endpoint configured the commands run against the embedded
//! emulator, which lives only as long as the command: a batch submitted by
//! one `aoai` process is gone in the next. Offline, use
//! `aoai batch submit INPUT --wait -o OUTPUT`.
//!
//! Exit codes: 0 done (for `submit --wait`: the batch completed, even if some
//! requests failed), 1 a service error or a batch that failed, expired or was
//! cancelled, 2 bad usage or an invalid input file. `status` exits 0 for a
//! batch that completed or has not finished, and [`STATUS_FAILED`] (4),
//! [`STATUS_EXPIRED`] (5) or [`STATUS_CANCELLED`] (6) for one that ended
//! otherwise, so a script polling it can tell a batch's end from a failed
//! call (1). `cancel` of a finished batch fails at once (the service's 409
//! is its answer, not retried) with exit 1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aoai_batch::api::{ApiError, Batch, BatchClient, BatchInput, BatchResults, BatchStatus, CreateBatch, WaitOptions};
use clap::Args;

use crate::{Failure, Session, print, session};

/// Options for `aoai batch submit`.
#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// Input JSONL, one request per line: {"custom_id", "method": "POST", "url", "body"}.
    input: PathBuf,
    /// The endpoint every line calls (default: the lines' url, e.g. /chat/completions).
    #[arg(long)]
    endpoint: Option<String>,
    /// Wait until the batch is finished (polls its status; progress on stderr).
    #[arg(long)]
    wait: bool,
    /// With --wait: write the successful results here, in input order.
    #[arg(long, short = 'o', requires = "wait")]
    output: Option<PathBuf>,
    /// With -o: write the failed requests here (default: OUTPUT with .errors.jsonl).
    #[arg(long, requires = "output")]
    errors: Option<PathBuf>,
    /// Metadata kept with the job, KEY=VALUE (repeatable).
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    metadata: Vec<(String, String)>,
    /// With --wait: seconds between status checks (default: 30; 0.1 with the embedded emulator).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    poll_interval: Option<Duration>,
    /// With --wait: give up waiting after this many seconds (the batch keeps running).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Print the batch as JSON instead of its id.
    #[arg(long)]
    json: bool,
}

/// Options for `aoai batch status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Batch id (batch_…).
    id: String,
    /// Print the batch as JSON.
    #[arg(long)]
    json: bool,
}

/// Options for `aoai batch download`.
#[derive(Debug, Args)]
pub(crate) struct DownloadArgs {
    /// Batch id (batch_…) of a finished batch.
    id: String,
    /// Write the successful results here, in input order.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Write the failed requests here (default: OUTPUT with .errors.jsonl).
    #[arg(long)]
    errors: Option<PathBuf>,
}

/// Options for `aoai batch cancel`.
#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// Batch id (batch_…).
    id: String,
    /// Print the batch as JSON.
    #[arg(long)]
    json: bool,
}

/// The poll interval against the embedded emulator, which moves a batch on every 50 ms.
const EMBEDDED_POLL: Duration = Duration::from_millis(100);

pub(crate) async fn submit(args: SubmitArgs) -> Result<(), Failure> {
    let input = BatchInput::read(&args.input).map_err(failure)?;
    let endpoint = args.endpoint.clone().unwrap_or_else(|| input.url().to_owned());
    if !same_endpoint(&endpoint, input.url()) {
        return Err(Failure::Usage(format!(
            "--endpoint {endpoint} does not match the url {} of the input lines",
            input.url()
        )));
    }
    let model = if input.url().ends_with("/embeddings") { "text-embedding-3-small" } else { "gpt-4o-mini" };
    let session = session(input.first_model(), model).await?;
    let batches = BatchClient::new(session.client.clone());
    let filename = args.input.file_name().map_or_else(|| "input.jsonl".into(), |name| name.to_string_lossy());
    let file = batches.upload(&filename, &input).await.map_err(failure)?;
    let mut request = CreateBatch::new(&file.id, endpoint);
    for (key, value) in &args.metadata {
        request = request.metadata(key, value);
    }
    let batch = batches.create(&request).await.map_err(failure)?;
    if !args.wait {
        if session.is_embedded() {
            eprintln!(
                "aoai: note: the embedded emulator stops with this command, and {} with it; \
                 use --wait -o OUTPUT offline",
                batch.id
            );
        }
        return print_batch(&batch, args.json, true);
    }
    if !args.json {
        // The id first, so that it is known even if the wait is cut short.
        print(&format!("{}\n", batch.id))?;
    }
    eprintln!("aoai: submitted {} ({} requests); waiting", batch.id, input.len());
    let poll =
        args.poll_interval.unwrap_or(if session.is_embedded() { EMBEDDED_POLL } else { Duration::from_secs(30) });
    let options = WaitOptions::new(poll).timeout(args.timeout);
    let mut last = None;
    let batch = batches
        .wait_with_progress(&batch.id, &options, |batch| {
            let line = progress_line(batch);
            if last.as_ref() != Some(&line) {
                eprintln!("aoai: {line}");
                last = Some(line);
            }
        })
        .await
        .map_err(failure)?;
    if args.json {
        print_batch(&batch, true, true)?;
    } else if batch.status == BatchStatus::Failed {
        eprint!("{}", describe(&batch));
    }
    if let Some(output) = args.output.as_ref().filter(|_| batch.status != BatchStatus::Failed) {
        let results = batches.results_with_input(&batch, &input).await.map_err(failure)?;
        write_results(&results, input.custom_ids(), output, args.errors.as_deref())?;
    }
    outcome(&batch)
}

/// `aoai batch status`'s exit code for a batch that failed.
pub(crate) const STATUS_FAILED: u8 = 4;
/// … that expired (its 24-hour window ended first).
pub(crate) const STATUS_EXPIRED: u8 = 5;
/// … that was cancelled.
pub(crate) const STATUS_CANCELLED: u8 = 6;

pub(crate) async fn status(args: StatusArgs) -> Result<(), Failure> {
    let session = session(None, "gpt-4o").await?;
    let batches = BatchClient::new(session.client.clone());
    let batch = batches.retrieve(&args.id).await.map_err(|error| offline_hint(&session, error))?;
    if args.json {
        print_batch(&batch, true, false)?;
    } else {
        print(&describe(&batch))?;
    }
    let code = match batch.status {
        BatchStatus::Failed => STATUS_FAILED,
        BatchStatus::Expired => STATUS_EXPIRED,
        BatchStatus::Cancelled => STATUS_CANCELLED,
        _ => return Ok(()),
    };
    Err(Failure::Exit(code, format!("batch {} {}", batch.id, batch.status)))
}

pub(crate) async fn download(args: DownloadArgs) -> Result<(), Failure> {
    let session = session(None, "gpt-4o").await?;
    let batches = BatchClient::new(session.client.clone());
    let batch = batches.retrieve(&args.id).await.map_err(|error| offline_hint(&session, error))?;
    if !batch.is_terminal() {
        return Err(Failure::Other(format!(
            "batch {} is {}: its results are not ready (see `aoai batch status {}`)",
            batch.id, batch.status, batch.id
        )));
    }
    if batch.status == BatchStatus::Failed {
        eprint!("{}", describe(&batch));
        return Err(Failure::Other(format!("batch {} failed: it has no results", batch.id)));
    }
    let custom_ids = batches.input_custom_ids(&batch).await.map_err(failure)?;
    let results = batches.results_for(&batch, &custom_ids).await.map_err(failure)?;
    write_results(&results, &custom_ids, &args.output, args.errors.as_deref())?;
    outcome(&batch)
}

pub(crate) async fn cancel(args: CancelArgs) -> Result<(), Failure> {
    let session = session(None, "gpt-4o").await?;
    let batches = BatchClient::new(session.client.clone());
    let batch = batches.cancel(&args.id).await.map_err(|error| {
        let conflict = error.service_error().and_then(|error| error.as_api()).filter(|api| api.status() == 409);
        match conflict {
            Some(api) => Failure::Other(format!(
                "batch {} cannot be cancelled: it has already finished (HTTP 409: {}); see `aoai batch status {}`",
                args.id,
                api.message().unwrap_or("the service gave no reason"),
                args.id
            )),
            None => offline_hint(&session, error),
        }
    })?;
    if args.json {
        return print_batch(&batch, true, false);
    }
    print(&format!("{}: {}\n", batch.id, batch.status))
}

/// Exit 0 for a completed batch, 1 for one that failed, expired or was cancelled.
fn outcome(batch: &Batch) -> Result<(), Failure> {
    match batch.status {
        BatchStatus::Completed => Ok(()),
        _ => Err(Failure::Other(format!("batch {} ended {}", batch.id, batch.status))),
    }
}

/// The batch id (or the batch as JSON) on stdout; with `errors`, a failed
/// batch's validation errors on stderr.
fn print_batch(batch: &Batch, json: bool, errors: bool) -> Result<(), Failure> {
    if errors && batch.status == BatchStatus::Failed {
        eprint!("{}", describe(batch));
    }
    if json {
        let text = serde_json::to_string_pretty(batch)
            .map_err(|error| Failure::Other(format!("cannot print the batch: {error}")))?;
        print(&format!("{text}\n"))
    } else {
        print(&format!("{}\n", batch.id))
    }
}

/// `batch_…: in_progress (3/10 done, 1 failed)`.
fn progress_line(batch: &Batch) -> String {
    let counts = batch.counts();
    if counts.total == 0 {
        format!("{}: {}", batch.id, batch.status)
    } else {
        format!(
            "{}: {} ({}/{} done, {} failed)",
            batch.id,
            batch.status,
            counts.completed + counts.failed,
            counts.total,
            counts.failed
        )
    }
}

/// The human form of `aoai batch status`.
fn describe(batch: &Batch) -> String {
    let counts = batch.counts();
    let none = "-";
    let mut text = format!("{}: {}\n", batch.id, batch.status);
    text.push_str(&format!("  endpoint:    {}\n", batch.endpoint));
    text.push_str(&format!(
        "  requests:    {} total, {} completed, {} failed\n",
        counts.total, counts.completed, counts.failed
    ));
    text.push_str(&format!("  input file:  {}\n", batch.input_file_id));
    text.push_str(&format!("  output file: {}\n", batch.output_file_id.as_deref().unwrap_or(none)));
    text.push_str(&format!("  error file:  {}\n", batch.error_file_id.as_deref().unwrap_or(none)));
    if let Some(metadata) = batch.metadata.as_ref().filter(|metadata| !metadata.is_empty()) {
        let pairs: Vec<String> = metadata
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}={text}"),
                other => format!("{key}={other}"),
            })
            .collect();
        text.push_str(&format!("  metadata:    {}\n", pairs.join(", ")));
    }
    for error in batch.errors.iter().flat_map(|errors| &errors.data) {
        let line = error.line.map(|line| format!("line {line}: ")).unwrap_or_default();
        text.push_str(&format!(
            "  error:       {line}{}: {}\n",
            error.code.as_deref().unwrap_or("error"),
            error.message.as_deref().unwrap_or("")
        ));
    }
    text
}

/// Writes successes to `output` and failures to `errors` (both always
/// created), in input order, and says on stderr how it went.
fn write_results(
    results: &BatchResults,
    custom_ids: &[String],
    output: &Path,
    errors: Option<&Path>,
) -> Result<(), Failure> {
    let errors = errors.map_or_else(|| default_errors_path(output), Path::to_path_buf);
    let mut succeeded = String::new();
    let mut failed = String::new();
    for result in results.in_order(custom_ids) {
        let target = if result.line.is_success() { &mut succeeded } else { &mut failed };
        target.push_str(&result.raw);
        target.push('\n');
    }
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|error| Failure::Other(format!("cannot write {}: {error}", path.display())))
    };
    write(output, &succeeded)?;
    write(&errors, &failed)?;
    eprintln!(
        "aoai: {} succeeded -> {}, {} failed -> {}",
        results.n_succeeded(),
        output.display(),
        results.n_failed(),
        errors.display()
    );
    if !results.missing.is_empty() {
        let shown: Vec<&str> = results.missing.iter().take(10).map(String::as_str).collect();
        let more = if results.missing.len() > 10 { ", …" } else { "" };
        eprintln!("aoai: {} requests have no result (custom_id {}{more})", results.missing.len(), shown.join(", "));
    }
    Ok(())
}

/// `out.jsonl` → `out.errors.jsonl` (as `aoai batch run`).
fn default_errors_path(output: &Path) -> PathBuf {
    let text = output.as_os_str().to_string_lossy();
    let stem = text.strip_suffix(".jsonl").unwrap_or(&text);
    PathBuf::from(format!("{stem}.errors.jsonl"))
}

/// `/chat/completions` and `/v1/chat/completions` name the same endpoint.
fn same_endpoint(a: &str, b: &str) -> bool {
    let strip = |path: &str| path.strip_prefix("/v1").unwrap_or(path).trim_end_matches('/').to_owned();
    strip(a) == strip(b)
}

/// An invalid input file is a usage error (exit 2); a service error says
/// what was attempted, then the client's summary line (exit 1).
fn failure(error: ApiError) -> Failure {
    if error.is_invalid_input() {
        return Failure::Usage(error.to_string());
    }
    match error {
        ApiError::Service { operation, source } => {
            eprintln!("aoai: cannot {operation}");
            Failure::from(source)
        }
        other => Failure::Other(other.to_string()),
    }
}

/// Offline, a batch id from another process can never be found: say why.
fn offline_hint(session: &Session, error: ApiError) -> Failure {
    if session.is_embedded() {
        eprintln!(
            "aoai: note: no endpoint is configured, so this ran against a fresh embedded emulator, which \
             knows no batch from an earlier command; set AZURE_OPENAI_ENDPOINT, or use \
             `aoai batch submit INPUT --wait -o OUTPUT` offline"
        );
    }
    failure(error)
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("expected a number of seconds, got {text:?}"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("expected a non-negative number of seconds, got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        assert_eq!(parse_key_value("job=nightly=1").unwrap(), ("job".to_owned(), "nightly=1".to_owned()));
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("x").is_err());
        assert_eq!(parse_seconds("0.5").unwrap(), Duration::from_millis(500));
        assert!(parse_seconds("-1").is_err());
        assert!(same_endpoint("/v1/chat/completions", "/chat/completions"));
        assert!(!same_endpoint("/embeddings", "/chat/completions"));
        assert_eq!(default_errors_path(Path::new("out.jsonl")), PathBuf::from("out.errors.jsonl"));
    }

    #[test]
    fn describes_a_failed_batch() {
        let batch: Batch = serde_json::from_value(serde_json::json!({
            "id": "batch_1", "object": "batch", "endpoint": "/chat/completions", "status": "failed",
            "input_file_id": "file-1", "completion_window": "24h",
            "errors": {"object": "list", "data": [{"code": "duplicate_custom_id", "message": "dup", "param": "custom_id", "line": 3}]},
            "metadata": {"job": "x"}
        }))
        .unwrap();
        let text = describe(&batch);
        assert!(text.starts_with("batch_1: failed\n"), "{text}");
        assert!(text.contains("line 3: duplicate_custom_id: dup"), "{text}");
        assert!(text.contains("metadata:    job=x"), "{text}");
    }
}
