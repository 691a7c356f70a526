//! `aoai batch run INPUT.jsonl -o OUTPUT.jsonl`: send a JSONL file of
//! requests (Azure Batch format) at the deployment's quota, exactly once,
//! resumable after a crash (`--resume`). The work is `aoai_batch::run`; this
//! file turns flags into a gate and a configuration, and renders progress.
//!
//! Quota: `--tpm`/`--rpm` set the client-side limit (per deployment; `--tpm`
//! alone pairs it with Azure's 6 RPM per 1,000 TPM). With neither, there is
//! no client-side limit: the concurrency cap bounds the requests in flight,
//! 429s pause the deployment for the time the service asks, and response
//! headers are not used (there is no limit of ours to correct).
//!
//! The progress line and the summary go to stderr; the results go to the
//! files. Exit status: 0 when every item succeeded, 1 when any item failed or
//! a line was malformed (or the run stopped), 2 for usage errors.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aoai_batch::limiter::{QuotaSpec, RpmWindow};
use aoai_batch::run::{self, Progress, Report, RunConfig, RunError, Runner};
use aoai_batch::{Gate, Scheduler};
use aoai_core::metrics::thousands;
use aoai_core::retry::RetryPolicy;
use clap::Args;

use super::view::ProgressView;
use crate::progress::Ticker;
use crate::{Failure, session};

/// With no `--tpm`/`--rpm`: a token limit no deployment reaches, so only
/// 429 pauses and the concurrency cap shape the run.
const UNLIMITED_TPM: u64 = 1 << 50;

/// Options for `aoai batch run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Input JSONL: one `{"custom_id", "method", "url", "body"}` per line.
    input: PathBuf,
    /// Output JSONL: one line per succeeded item.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Errors JSONL: failed items and malformed lines (default: OUTPUT with .errors.jsonl).
    #[arg(long)]
    errors: Option<PathBuf>,
    /// Deployment for every line (default: AZURE_OPENAI_DEPLOYMENT, else each line's url or body.model).
    #[arg(long, short = 'd', env = "AZURE_OPENAI_DEPLOYMENT")]
    deployment: Option<String>,
    /// Tokens-per-minute quota of each deployment (with no --rpm, RPM = 6 per 1,000 TPM).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    tpm: Option<u64>,
    /// Requests-per-minute quota of each deployment.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    rpm: Option<u64>,
    /// The sub-window RPM is enforced over: 1s or 10s.
    #[arg(long, default_value = "10s")]
    rpm_window: RpmWindow,
    /// Lengthen the limiter's windows by this many milliseconds, to absorb the
    /// jitter between admitting a request and its arrival (costs margin ÷
    /// window of the throughput: 2.5 % of a 10 s request window at 250 ms,
    /// 0.4 % of the token window). 50 ms drew 0.4–1.25 % 429s in bursts of
    /// 1,000 requests over fresh connections (docs/benchmarks.md).
    #[arg(long, default_value_t = 250, value_name = "MS")]
    margin_ms: u64,
    /// Continue an interrupted run from OUTPUT, the errors file and the journal.
    #[arg(long)]
    resume: bool,
    /// Share the quota with other processes through Redis (redis://…): every
    /// process with the same URL, prefix, deployment and --tpm/--rpm draws
    /// from one quota.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The Redis key prefix processes share a quota under (with --redis).
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_REDIS_PREFIX)]
    redis_prefix: String,
    /// Write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Items in flight at most.
    #[arg(long, default_value_t = run::DEFAULT_CONCURRENCY, value_parser = parse_concurrency)]
    concurrency: usize,
    /// Retries per item for server errors and lost connections (429s are retried apart, through the limiter).
    #[arg(long, default_value_t = 5)]
    max_retries: u32,
    /// Keep the journal (OUTPUT.journal) after a complete run in which every item succeeded (it is removed by default).
    #[arg(long)]
    keep_journal: bool,
}

fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(format!("{text:?} is not a positive whole number")),
    }
}

pub(crate) async fn run(args: RunArgs) -> Result<(), Failure> {
    if let Some(url) = &args.redis {
        if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
            return Err(Failure::Usage("--redis expects a redis://, rediss:// or unix:// URL".to_owned()));
        }
        if args.tpm.is_none() && args.rpm.is_none() {
            return Err(Failure::Usage(
                "--redis shares a quota: give it with --tpm and/or --rpm (the same in every process)".to_owned(),
            ));
        }
    }
    let named = args.deployment.as_deref().filter(|name| !name.trim().is_empty());
    // Without a deployment for the run, each line goes to its body's `model`:
    // one more pass over the input finds them (the runner makes its own).
    let models = match named {
        Some(_) => Default::default(),
        None => run::input::scan(&args.input).map_err(run_failure)?.models,
    };
    let session = session(named, "gpt-4o-mini").await?;
    let deployments: Vec<String> = match named {
        Some(name) => vec![name.to_owned()],
        None if !models.is_empty() => models.into_iter().collect(),
        None => vec![session.deployment(None, "gpt-4o-mini")?],
    };

    let limited = args.tpm.is_some() || args.rpm.is_some();
    let spec = match (args.tpm, args.rpm) {
        (Some(tpm), Some(rpm)) => QuotaSpec::new(tpm, rpm),
        (Some(tpm), None) => QuotaSpec::from_tpm(tpm),
        (None, Some(rpm)) => QuotaSpec::requests_only(rpm),
        (None, None) => QuotaSpec::tokens_only(UNLIMITED_TPM),
    }
    .rpm_window(args.rpm_window)
    .margin(Duration::from_millis(args.margin_ms));
    let time = session.client.time().clone();
    let gate: Arc<dyn Gate> = match &args.redis {
        Some(url) => shared_gate(url, &args.redis_prefix, &deployments, spec, time.clone()).await?,
        None => {
            let mut builder = Scheduler::builder(time.clone());
            for name in &deployments {
                builder = builder.deployment(name.clone(), spec);
            }
            Arc::new(builder.build().map_err(|error| Failure::Usage(error.to_string()))?)
        }
    };

    let mut config = RunConfig::new(&args.input, &args.output)
        .resume(args.resume)
        .concurrency(args.concurrency)
        .retry(RetryPolicy::default().max_retries(args.max_retries))
        .observe(limited)
        .quota(limited.then(|| spec.tokens_per_minute()).flatten(), spec.requests_per_minute());
    if let Some(errors) = &args.errors {
        config = config.errors(errors);
    }
    if let Some(name) = named {
        config = config.deployment(name);
    }
    let errors_path = config.errors_path().to_owned();
    let journal_path = config.journal_path().to_owned();

    let latest: Arc<Mutex<Option<Progress>>> = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&latest);
    let runner = Runner::new(&session.client, gate, config).on_progress(move |progress| {
        *sink.lock().unwrap_or_else(PoisonError::into_inner) = Some(*progress);
    });
    let view = Mutex::new(ProgressView::default());
    let clock = time.clock.clone();
    let started = clock.now();
    let ticker = Ticker::start(&time, move || {
        let progress = (*latest.lock().unwrap_or_else(PoisonError::into_inner))?;
        let now = clock.now().saturating_duration_since(started);
        let line = view.lock().unwrap_or_else(PoisonError::into_inner).line(&progress, now);
        Some((progress.done, line))
    });
    let outcome = runner.run().await;
    ticker.stop();
    let report = outcome.map_err(run_failure)?;
    // An errors file with nothing in it is not left behind.
    let errors_written = match std::fs::metadata(&errors_path) {
        Ok(meta) if meta.len() == 0 => std::fs::remove_file(&errors_path).is_err(),
        Ok(_) => true,
        Err(_) => false,
    };
    eprintln!("{}", summary(&report, &args.output, errors_written.then_some(errors_path.as_path())));
    // A complete, clean run has nothing to resume: its journal goes.
    if report.is_clean() && !args.keep_journal {
        let _ = std::fs::remove_file(&journal_path);
    }
    if let Some(path) = &args.report {
        std::fs::write(path, report.to_json() + "\n")
            .map_err(|error| Failure::Other(format!("cannot write {}: {error}", path.display())))?;
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(Failure::Other(format!(
            "{} of {} items failed and {} input lines were malformed: see {}",
            report.failed_items(),
            report.items,
            report.malformed,
            errors_path.display()
        )))
    }
}

/// The default `--redis-prefix`.
#[cfg(feature = "redis")]
const DEFAULT_REDIS_PREFIX: &str = aoai_batch::shared::DEFAULT_KEY_PREFIX;
#[cfg(not(feature = "redis"))]
const DEFAULT_REDIS_PREFIX: &str = "aoai:quota";

/// A gate on the Redis-shared quota.
#[cfg(feature = "redis")]
async fn shared_gate(
    url: &str,
    prefix: &str,
    deployments: &[String],
    spec: QuotaSpec,
    time: aoai_core::clock::Time,
) -> Result<Arc<dyn Gate>, Failure> {
    let mut builder = aoai_batch::shared::RedisGate::builder(url).key_prefix(prefix).time(time);
    for name in deployments {
        builder = builder.deployment(name.clone(), spec);
    }
    let gate = builder.connect().await.map_err(|error| Failure::Other(format!("--redis: {error}")))?;
    Ok(Arc::new(gate))
}

#[cfg(not(feature = "redis"))]
async fn shared_gate(
    _url: &str,
    _prefix: &str,
    _deployments: &[String],
    _spec: QuotaSpec,
    _time: aoai_core::clock::Time,
) -> Result<Arc<dyn Gate>, Failure> {
    Err(Failure::Usage(
        "--redis needs the `redis` feature of aoai-cli (on by default), which this build left out".to_owned(),
    ))
}

fn run_failure(error: RunError) -> Failure {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if matches!(error, RunError::NoJournal { .. }) {
        message.push_str(
            " (a run in which every item succeeded removes its journal: it has nothing to resume; \
             --keep-journal keeps it)",
        );
    }
    if error.is_usage() { Failure::Usage(message) } else { Failure::Other(message) }
}

/// Runs shorter than this get totals only in the summary, no per-minute rates.
const MIN_RATE_RUN: f64 = 30.0;

fn summary(report: &Report, output: &std::path::Path, errors: Option<&std::path::Path>) -> String {
    let mut text =
        format!("aoai batch run: {} of {} items succeeded", thousands(report.succeeded), thousands(report.items));
    if report.failed_items() > 0 {
        let kinds: Vec<String> = report.failed.iter().map(|(kind, count)| format!("{kind} {count}")).collect();
        text.push_str(&format!(", {} failed ({})", thousands(report.failed_items()), kinds.join(", ")));
    }
    if report.malformed > 0 {
        text.push_str(&format!(", {} malformed {}", thousands(report.malformed), plural(report.malformed, "line")));
    }
    if report.resumed > 0 {
        text.push_str(&format!(" ({} finished by the earlier run)", thousands(report.resumed)));
    }
    if report.may_have_been_sent > 0 {
        text.push_str(&format!("; {} may have been sent twice", thousands(report.may_have_been_sent)));
    }
    text.push_str(&format!(
        "\n  requests {} ({} answered 429) · tokens: prompt {}, completion {}, charged {}",
        thousands(report.requests_sent),
        thousands(report.rate_limited),
        thousands(report.prompt_tokens),
        thousands(report.completion_tokens),
        thousands(report.charged_tokens)
    ));
    text.push_str(&format!("\n  {:.1} s", report.elapsed_seconds));
    if report.elapsed_seconds >= MIN_RATE_RUN {
        text.push_str(&format!(" · {} tokens/min", thousands(report.tokens_per_minute.round() as u64)));
        if let Some(quota) = report.quota_tpm.filter(|quota| *quota > 0) {
            let share = report.tokens_per_minute * 100.0 / quota as f64;
            text.push_str(&format!(" ({share:.0}% of {} TPM", thousands(quota)));
            if share > 100.0 {
                // Not an overrun: Azure's window slides, so a run may start with a whole minute's quota.
                text.push_str(" on average: the first minute may use a whole quota at once");
            }
            text.push(')');
        }
        text.push_str(&format!(" · {} requests/min", thousands(report.requests_per_minute.round() as u64)));
        if let Some(quota) = report.quota_rpm {
            text.push_str(&format!(" (quota {})", thousands(quota)));
        }
    } else {
        text.push_str(&format!(" (too short for per-minute rates: under {MIN_RATE_RUN:.0} s)"));
    }
    match errors {
        Some(errors) => text.push_str(&format!("\n  output: {} · errors: {}", output.display(), errors.display())),
        None => text.push_str(&format!("\n  output: {} · errors: none (no errors file)", output.display())),
    }
    text
}

fn plural(count: u64, word: &str) -> String {
    if count == 1 { word.to_owned() } else { format!("{word}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
