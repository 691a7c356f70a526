//! Run a JSONL file of requests (Azure Batch format) through any [`Gate`],
//! exactly once, with a journal to resume after a crash.
//!
//! ```text
//! input.jsonl ──first pass── duplicate ids? ─▶ refuse
//!      │
//!      └─second pass (streamed)─▶ parse ─▶ cost ─▶ [concurrency cap] ─▶ gate.acquire
//!                                   │                                     │
//!                          malformed│                  journal "sending"  ▼
//!                                   ▼                          Client (no retries of its own)
//!                                errors ◀── failed ──┬── 429: gate.rate_limited, re-acquire
//!                                output ◀── 2xx ─────┘   5xx, reset: back off, re-acquire
//! ```
//!
//! - **Input**: one request per line, `{"custom_id", "method": "POST", "url",
//!   "body"}`, url `/chat/completions` or `/embeddings` (also under `/v1`,
//!   `/openai`, `/openai/v1` or `/openai/deployments/{name}`). Blank lines are
//!   skipped. A first pass rejects duplicate `custom_id`s before anything is
//!   sent ([`RunError::DuplicateCustomId`]); a malformed line goes to the
//!   errors file with its line number and the run continues.
//! - **Deployment** of a line: [`RunConfig::deployment`], else the one in its
//!   url, else its body's `model`, else whichever the gate picks.
//! - **Output** (`OUTPUT`): one line per succeeded item,
//!   `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}`,
//!   the body byte for byte as the service sent it (minus whitespace).
//!   **Errors** (`OUTPUT` with `.errors.jsonl`): one line per failed item, with
//!   `response` when the service answered and `error: {"code", "message"}`
//!   (`code` is the failure's kind: `never_fits`, `no_quota`, `rate_limited`,
//!   `server_error`, `connection`, `bad_request`, …), and one per malformed
//!   input line (`"line": n`, code `malformed_line`). Lines appear in order of
//!   completion.
//! - **Exactly once**: every valid `custom_id` ends up on exactly one line of
//!   output + errors. Each line is written whole by one `write`; before each
//!   attempt, the journal (`OUTPUT.journal`) records `{"sending": id,
//!   "attempt": n}`. After a crash, [`RunConfig::resume`] cuts torn last lines,
//!   skips items that have a line, and sends the rest; an item the journal
//!   shows as started but that has no line may have reached the service: its
//!   line says `"may_have_been_sent": true` (as does one whose connection
//!   broke after sending). Resume refuses an input whose size or hash changed
//!   ([`RunError::InputChanged`]).
//! - **Retries** go back through the gate: the client's own retries are off;
//!   a 429 pauses the deployment ([`Gate::rate_limited`]) and the item queues
//!   again; other retryable errors back off per [`RetryPolicy::delay`]; an
//!   item that can never fit fails at once. Success headers correct the gate
//!   ([`Gate::observe`]).
//! - **Report**: [`Report`] (JSON keys `items`, `succeeded`, `failed`,
//!   `malformed`, `requests_sent`, `rate_limited`, tokens, `elapsed_seconds`,
//!   `tokens_per_minute`, `quota_tpm`, `quota_rpm`, …); progress through
//!   [`Runner::on_progress`]. The library prints nothing.
//!
//! ```
//! use std::sync::Arc;
//! use aoai_batch::Scheduler;
//! use aoai_batch::limiter::QuotaSpec;
//! use aoai_batch::run::{RunConfig, Runner};
//! use aoai_core::clock::Time;
//! use aoai_emulator::{DeploymentConfig, Emulator};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let emulator = Emulator::builder()
//!     .deployment(DeploymentConfig::new("chat", "gpt-4o-mini").tpm(100_000).rpm(600))
//!     .start()
//!     .await?;
//! let dir = std::env::temp_dir().join(format!("aoai-run-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let input = dir.join("input.jsonl");
//! std::fs::write(&input, concat!(
//!     r#"{"custom_id":"q1","method":"POST","url":"/chat/completions","body":{"messages":[{"role":"user","content":"Hi"}],"max_tokens":20}}"#, "\n",
//!     "not json\n",
//! ))?;
//! let gate = Scheduler::builder(Time::system()).deployment("chat", QuotaSpec::new(100_000, 600)).build()?;
//! let config = RunConfig::new(&input, dir.join("output.jsonl")).deployment("chat").quota(Some(100_000), Some(600));
//! let report = Runner::new(&emulator.client()?, Arc::new(gate), config).run().await?;
//! assert_eq!((report.items, report.succeeded, report.malformed), (1, 1, 1));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use aoai_core::Client;
use aoai_core::clock::Time;
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Route;
use bytes::Bytes;
use http::Method;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::estimate::Estimator;
use crate::gate::Gate;

mod body;
pub mod error;
pub mod input;
pub mod journal;
pub mod output;
pub mod report;

pub use error::RunError;
pub use report::{Progress, Report};

use input::{InputItem, Operation, TypedRequest};
use journal::{JournalHeader, Recorded, Sending};
use output::FailedResponse;

/// The default cap on items in flight (admitted or waiting for the gate).
pub const DEFAULT_CONCURRENCY: usize = 256;

/// The default budget of 429 retries per item (each goes through the gate).
pub const DEFAULT_MAX_RATE_LIMIT_RETRIES: u32 = 20;

/// The tokenizer model used when neither the line nor the run names one.
pub const DEFAULT_ESTIMATOR_MODEL: &str = "gpt-4o";

/// The errors file beside `output`: `out.jsonl` → `out.errors.jsonl`.
#[must_use]
pub fn default_errors_path(output: &Path) -> PathBuf {
    let text = output.as_os_str().to_string_lossy();
    let stem = text.strip_suffix(".jsonl").unwrap_or(&text);
    PathBuf::from(format!("{stem}.errors.jsonl"))
}

/// The journal beside `output`: `out.jsonl` → `out.jsonl.journal`.
#[must_use]
pub fn default_journal_path(output: &Path) -> PathBuf {
    let mut text = output.as_os_str().to_owned();
    text.push(".journal");
    PathBuf::from(text)
}

/// What to run and how.
#[derive(Debug, Clone)]
#[must_use]
pub struct RunConfig {
    input: PathBuf,
    output: PathBuf,
    errors: PathBuf,
    journal: PathBuf,
    deployment: Option<String>,
    resume: bool,
    concurrency: usize,
    retry: RetryPolicy,
    max_rate_limit_retries: u32,
    observe: bool,
    quota_tpm: Option<u64>,
    quota_rpm: Option<u64>,
    estimator_model: String,
    default_max_output_tokens: u32,
}

impl RunConfig {
    /// Runs `input` into `output`, errors beside it ([`default_errors_path`]),
    /// the journal beside it ([`default_journal_path`]); a fresh run.
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        let output = output.into();
        Self {
            input: input.into(),
            errors: default_errors_path(&output),
            journal: default_journal_path(&output),
            output,
            deployment: None,
            resume: false,
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default().max_retries(5),
            max_rate_limit_retries: DEFAULT_MAX_RATE_LIMIT_RETRIES,
            observe: true,
            quota_tpm: None,
            quota_rpm: None,
            estimator_model: DEFAULT_ESTIMATOR_MODEL.to_owned(),
            default_max_output_tokens: aoai_core::tokens::DEFAULT_MAX_OUTPUT_TOKENS,
        }
    }

    /// The errors file.
    pub fn errors(mut self, path: impl Into<PathBuf>) -> Self {
        self.errors = path.into();
        self
    }

    /// The journal file.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = path.into();
        self
    }

    /// Sends every line to this deployment (else: the url's, the body's `model`, the gate's choice).
    pub fn deployment(mut self, deployment: impl Into<String>) -> Self {
        self.deployment = Some(deployment.into());
        self
    }

    /// Continues an interrupted run from its files instead of refusing to
    /// overwrite them. With no files yet, starts fresh.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Items in flight at most (default [`DEFAULT_CONCURRENCY`]; at least 1).
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Back-off and budget for retryable errors other than 429 (default: 5
    /// retries, 0.5 s doubling to 8 s, jittered).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// 429 retries per item (default [`DEFAULT_MAX_RATE_LIMIT_RETRIES`]).
    pub fn max_rate_limit_retries(mut self, retries: u32) -> Self {
        self.max_rate_limit_retries = retries;
        self
    }

    /// Whether to report success headers to the gate (default on). Turn it
    /// off when the gate does not mirror the service's real quota (a gate
    /// with no limit): a correction against a limit that isn't the
    /// service's would be wrong.
    pub fn observe(mut self, observe: bool) -> Self {
        self.observe = observe;
        self
    }

    /// The quota the gate enforces, for the report (the gate does the limiting).
    pub fn quota(mut self, tpm: Option<u64>, rpm: Option<u64>) -> Self {
        self.quota_tpm = tpm;
        self.quota_rpm = rpm;
        self
    }

    /// The model whose tokenizer estimates lines that name no model
    /// (default [`DEFAULT_ESTIMATOR_MODEL`]).
    pub fn estimator_model(mut self, model: impl Into<String>) -> Self {
        self.estimator_model = model.into();
        self
    }

    /// The output budget charged for a chat line that sets no maximum
    /// (default 4,096, as the emulator assumes).
    pub fn default_max_output_tokens(mut self, tokens: u32) -> Self {
        self.default_max_output_tokens = tokens;
        self
    }

    /// The output file.
    #[must_use]
    pub fn output_path(&self) -> &Path {
        &self.output
    }

    /// The errors file.
    #[must_use]
    pub fn errors_path(&self) -> &Path {
        &self.errors
    }

    /// The journal file.
    #[must_use]
    pub fn journal_path(&self) -> &Path {
        &self.journal
    }
}

/// A progress callback: called after every finished line, from the task
/// that finished it. Keep it quick (store the snapshot, render elsewhere).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Runs one input file. See the [module docs](self).
#[must_use]
pub struct Runner {
    client: Client,
    gate: Arc<dyn Gate>,
    config: RunConfig,
    time: Time,
    progress: Option<ProgressFn>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner sending through `client` (its own retries are turned off:
    /// every resend goes through `gate`), on the client's time.
    pub fn new(client: &Client, gate: Arc<dyn Gate>, config: RunConfig) -> Self {
        Self {
            client: client.with_retry_policy(RetryPolicy::none()),
            gate,
            config,
            time: client.time().clone(),
            progress: None,
        }
    }

    /// Waits (back-off) and measures on `time` instead of the client's.
    pub fn time(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// Calls `callback` with a [`Progress`] snapshot after every finished line.
    pub fn on_progress(mut self, callback: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    /// Runs the file to the end.
    ///
    /// # Errors
    ///
    /// Only what stops the whole run: duplicate ids, existing files without
    /// resume, a changed input on resume, a corrupt journal, I/O. Failed
    /// items and malformed lines are in the report and the errors file.
    pub async fn run(self) -> Result<Report, RunError> {
        let Self { client, gate, config, time, progress } = self;
        let started = time.clock.now();
        let scan = input::scan(&config.input)?;
        let header = JournalHeader::for_input(&scan);
        let prepared = prepare(&config, &header)?;
        let recorded = prepared.recorded;
        let resumed = recorded.done.len() as u64 + recorded.malformed_lines.len() as u64;
        let tally = Tally {
            total: scan.records,
            done: resumed,
            resumed,
            succeeded: recorded.succeeded,
            failed: recorded.failed.clone(),
            malformed: recorded.malformed_lines.len() as u64,
            may_have_been_sent: recorded.may_have_been_sent,
            ..Tally::default()
        };
        let shared = Arc::new(Shared {
            deployment_in_body: client.endpoint().deployment_in_body(),
            client,
            gate,
            time,
            files: prepared.files,
            retry: config.retry.clone(),
            max_rate_limit_retries: config.max_rate_limit_retries,
            observe: config.observe,
            tally: Mutex::new(tally),
            progress,
            started,
            quota_tpm: config.quota_tpm,
            quota_rpm: config.quota_rpm,
        });

        let io = |source| RunError::Io { operation: "read", path: config.input.clone(), source };
        let mut reader = std::io::BufReader::with_capacity(1 << 16, File::open(&config.input).map_err(io)?);
        let semaphore = Arc::new(Semaphore::new(config.concurrency));
        let mut tasks: JoinSet<Result<(), RunError>> = JoinSet::new();
        let mut estimators: HashMap<String, Estimator> = HashMap::new();
        let mut buffer = Vec::new();
        let mut line_number = 0_u64;
        let mut items = 0_u64;
        loop {
            buffer.clear();
            if reader.read_until(b'\n', &mut buffer).map_err(io)? == 0 {
                break;
            }
            line_number += 1;
            if buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let item = match input::parse_line(line_number, &buffer) {
                Ok(item) => item,
                Err(malformed) => {
                    if !recorded.malformed_lines.contains(&malformed.line) {
                        shared.files.errors.append(&output::malformed_line(&malformed))?;
                        shared.finished(|tally| tally.malformed += 1);
                    }
                    continue;
                }
            };
            items += 1;
            if recorded.done.contains(&item.custom_id) {
                continue;
            }
            let attempts_before = prepared.started.get(&item.custom_id).copied().unwrap_or(0);
            let job = Job::new(item, &config, &mut estimators, attempts_before);
            let permit = Arc::clone(&semaphore)
                .acquire_owned()
                .await
                .map_err(|_| RunError::Worker { message: "the concurrency limit was closed".to_owned() })?;
            while let Some(done) = tasks.try_join_next() {
                settle(done, &mut tasks)?;
            }
            let shared = Arc::clone(&shared);
            tasks.spawn(async move {
                let _permit = permit;
                shared.process(job).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            settle(done, &mut tasks)?;
        }

        let elapsed = shared.time.clock.now().saturating_duration_since(started);
        let tally = shared.lock().clone();
        Ok(Report {
            items,
            succeeded: tally.succeeded,
            failed: tally.failed,
            malformed: tally.malformed,
            resumed: tally.resumed,
            may_have_been_sent: tally.may_have_been_sent,
            requests_sent: tally.requests_sent,
            rate_limited: tally.rate_limited,
            prompt_tokens: tally.prompt_tokens,
            completion_tokens: tally.completion_tokens,
            charged_tokens: tally.charged_tokens,
            elapsed_seconds: elapsed.as_secs_f64(),
            tokens_per_minute: report::per_minute(tally.charged_tokens, elapsed),
            requests_per_minute: report::per_minute(tally.requests_sent, elapsed),
            quota_tpm: config.quota_tpm,
            quota_rpm: config.quota_rpm,
        })
    }
}

/// Surfaces a finished task's fatal error (and stops the others).
fn settle(
    done: Result<Result<(), RunError>, tokio::task::JoinError>,
    tasks: &mut JoinSet<Result<(), RunError>>,
) -> Result<(), RunError> {
    let outcome = match done {
        Ok(outcome) => outcome,
        Err(error) => Err(RunError::Worker { message: error.to_string() }),
    };
    if outcome.is_err() {
        tasks.abort_all();
    }
    outcome
}

/// One item on its way.
struct Job {
    custom_id: String,
    operation: Operation,
    deployment: Option<String>,
    body: Value,
    cost: u64,
    attempts_before: u32,
}

impl Job {
    fn new(item: InputItem, config: &RunConfig, estimators: &mut HashMap<String, Estimator>, attempts: u32) -> Self {
        let InputItem { custom_id, operation, url_deployment, model, body, request, .. } = item;
        let deployment = config.deployment.clone().or(url_deployment).or_else(|| model.clone());
        let tokenizer_model = model.or_else(|| deployment.clone()).unwrap_or_else(|| config.estimator_model.clone());
        let estimator = estimators.entry(tokenizer_model).or_insert_with_key(|model| {
            Estimator::for_model(model).default_max_output_tokens(config.default_max_output_tokens)
        });
        let cost = match &request {
            TypedRequest::Chat(request) => estimator.chat(request),
            TypedRequest::Embeddings(request) => estimator.embeddings(request),
        };
        Self { custom_id, operation, deployment, body, cost, attempts_before: attempts }
    }
}

/// Counters behind one lock.
#[derive(Debug, Clone, Default)]
struct Tally {
    total: u64,
    done: u64,
    resumed: u64,
    succeeded: u64,
    failed: BTreeMap<String, u64>,
    malformed: u64,
    may_have_been_sent: u64,
    requests_sent: u64,
    rate_limited: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    charged_tokens: u64,
    in_flight: u64,
    waiting: u64,
}

/// What every task shares.
struct Shared {
    client: Client,
    gate: Arc<dyn Gate>,
    time: Time,
    files: Files,
    retry: RetryPolicy,
    max_rate_limit_retries: u32,
    observe: bool,
    deployment_in_body: bool,
    tally: Mutex<Tally>,
    progress: Option<ProgressFn>,
    started: Instant,
    quota_tpm: Option<u64>,
    quota_rpm: Option<u64>,
}

/// How an item ends, when it fails.
struct Failure {
    response: Option<FailedResponse>,
    code: String,
    message: String,
}

impl Shared {
    async fn process(&self, job: Job) -> Result<(), RunError> {
        let mut attempt = job.attempts_before;
        // A crashed run started this item and recorded no answer: it may have been served.
        let mut may_have_been_sent = job.attempts_before > 0;
        let mut retries = 0_u32;
        let mut rate_limits = 0_u32;
        let mut gate_failures = 0_u32;
        loop {
            self.report(|tally| tally.waiting += 1);
            let acquired = self.gate.acquire(job.deployment.as_deref(), job.cost).await;
            self.report(|tally| {
                tally.waiting -= 1;
                tally.in_flight += u64::from(acquired.is_ok());
            });
            let grant = match acquired {
                Ok(grant) => grant,
                Err(error) => {
                    let (code, retry) = gate_error_kind(&error);
                    gate_failures += 1;
                    if retry && gate_failures <= self.retry.max_retries {
                        self.time.sleep.sleep(self.retry.backoff_delay(gate_failures, fastrand::f64())).await;
                        continue;
                    }
                    let failure = Failure { response: None, code: code.to_owned(), message: gate_message(&error) };
                    return self.fail(&job, failure, may_have_been_sent);
                }
            };
            attempt += 1;
            self.files.journal.append(&Sending::line(&job.custom_id, attempt))?;
            self.update(|tally| {
                tally.requests_sent += 1;
                tally.charged_tokens += grant.permit().cost();
            });
            let route = Route::Deployment { deployment: grant.deployment(), path: job.operation.path() };
            let body = self.body_for(&job, grant.deployment());
            let answer = self.client.request_bytes(Method::POST, route, Some(body)).await;
            self.report(|tally| tally.in_flight -= 1);
            let error = match answer {
                Ok(response) => {
                    if self.observe {
                        self.gate.observe(&grant, &response.meta.rate_limits).await;
                    }
                    return self.succeed(&job, response, may_have_been_sent);
                }
                Err(error) => error,
            };
            if error.status() == Some(429) {
                self.update(|tally| tally.rate_limited += 1);
                rate_limits += 1;
                if let Err(gate_error) = self.gate.rate_limited(grant.deployment(), error.retry_after()).await {
                    let failure = Failure {
                        response: failed_response(&error),
                        code: gate_error_kind(&gate_error).0.to_owned(),
                        message: gate_message(&gate_error),
                    };
                    return self.fail(&job, failure, may_have_been_sent);
                }
                if error.is_retryable() && rate_limits <= self.max_rate_limit_retries {
                    continue;
                }
                return self.fail(&job, failure_of(&error), may_have_been_sent);
            }
            if error.status().is_none() && error.may_have_been_sent() {
                may_have_been_sent = true;
            }
            retries += 1;
            match self.retry.delay(retries, &error, fastrand::f64()) {
                Ok(delay) => self.time.sleep.sleep(delay).await,
                Err(_) => return self.fail(&job, failure_of(&error), may_have_been_sent),
            }
        }
    }

    fn body_for(&self, job: &Job, deployment: &str) -> Value {
        let mut body = job.body.clone();
        if self.deployment_in_body
            && let Value::Object(map) = &mut body
        {
            map.entry("model").or_insert_with(|| Value::String(deployment.to_owned()));
        }
        body
    }

    fn succeed(
        &self,
        job: &Job,
        response: aoai_core::Response<Bytes>,
        may_have_been_sent: bool,
    ) -> Result<(), RunError> {
        let meta = &response.meta;
        let (line, usage) = match output::success_line(
            &job.custom_id,
            meta.status,
            meta.request_id.as_deref(),
            &response.body,
            may_have_been_sent,
        ) {
            Ok(done) => done,
            Err(error) => {
                let excerpt: String = String::from_utf8_lossy(&response.body).chars().take(512).collect();
                let failure = Failure {
                    response: Some(FailedResponse {
                        status: meta.status,
                        request_id: meta.request_id.clone(),
                        body: Value::String(excerpt),
                    }),
                    code: "decode".to_owned(),
                    message: format!("the answer is not a JSON object: {error}"),
                };
                return self.fail(job, failure, may_have_been_sent);
            }
        };
        self.files.output.append(&line)?;
        self.finished(|tally| {
            tally.succeeded += 1;
            tally.may_have_been_sent += u64::from(may_have_been_sent);
            tally.prompt_tokens += usage.prompt_tokens.unwrap_or(0);
            tally.completion_tokens += usage.completion_tokens.unwrap_or(0);
        });
        Ok(())
    }

    fn fail(&self, job: &Job, failure: Failure, may_have_been_sent: bool) -> Result<(), RunError> {
        let line = output::failure_line(
            &job.custom_id,
            failure.response.as_ref(),
            &failure.code,
            &failure.message,
            may_have_been_sent,
        );
        self.files.errors.append(&line)?;
        self.finished(|tally| {
            *tally.failed.entry(failure.code).or_insert(0) += 1;
            tally.may_have_been_sent += u64::from(may_have_been_sent);
        });
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut Tally)) {
        change(&mut self.lock());
    }

    /// Counts a finished line and reports progress.
    fn finished(&self, change: impl FnOnce(&mut Tally)) {
        self.report(|tally| {
            change(tally);
            tally.done += 1;
        });
    }

    /// Changes the tally and reports progress (to a progress callback, if any).
    fn report(&self, change: impl FnOnce(&mut Tally)) {
        let Some(progress) = &self.progress else {
            change(&mut self.lock());
            return;
        };
        let snapshot = {
            let mut tally = self.lock();
            change(&mut tally);
            Progress {
                total: tally.total,
                done: tally.done,
                resumed: tally.resumed,
                succeeded: tally.succeeded,
                failed: tally.failed.values().sum::<u64>() + tally.malformed,
                rate_limited: tally.rate_limited,
                requests_sent: tally.requests_sent,
                charged_tokens: tally.charged_tokens,
                elapsed: self.time.clock.now().saturating_duration_since(self.started),
                quota_tpm: self.quota_tpm,
                quota_rpm: self.quota_rpm,
                in_flight: tally.in_flight,
                waiting: tally.waiting,
            }
        };
        progress(&snapshot);
    }

    fn lock(&self) -> MutexGuard<'_, Tally> {
        // Updates are a few additions: a panicking holder leaves the counters usable.
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The failure's kind and whether waiting may help.
fn gate_error_kind(error: &crate::Error) -> (&'static str, bool) {
    match error {
        crate::Error::NeverFits { .. } => ("never_fits", false),
        crate::Error::NoQuota { .. } => ("no_quota", false),
        crate::Error::UnknownDeployment(_) => ("unknown_deployment", false),
        crate::Error::NoDeployments => ("no_deployments", false),
        _ => ("gate", true),
    }
}

fn gate_message(error: &crate::Error) -> String {
    match error.never_fits() {
        Some(never) => {
            format!(
                "{error}: it is charged {} tokens, the limit is {} ({:?})",
                never.cost(),
                never.capacity(),
                never.limit()
            )
        }
        None => error.to_string(),
    }
}

fn failed_response(error: &aoai_core::Error) -> Option<FailedResponse> {
    let api = error.as_api()?;
    let body = serde_json::from_str::<Value>(api.raw_excerpt())
        .unwrap_or_else(|_| serde_json::json!({"error": {"code": api.code(), "message": api.message()}}));
    Some(FailedResponse { status: api.status(), request_id: api.request_id().map(str::to_owned), body })
}

fn failure_of(error: &aoai_core::Error) -> Failure {
    Failure { response: failed_response(error), code: error.kind_name().to_owned(), message: error.to_string() }
}

/// The three files, each appended one whole line per `write`.
struct Files {
    output: Sink,
    errors: Sink,
    journal: Sink,
}

struct Sink {
    path: PathBuf,
    file: Mutex<File>,
}

impl Sink {
    fn open(path: &Path) -> Result<Self, RunError> {
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|source| RunError::Io {
            operation: "open",
            path: path.to_owned(),
            source,
        })?;
        Ok(Self { path: path.to_owned(), file: Mutex::new(file) })
    }

    /// Appends a whole line; once this returns, a crash of the process
    /// cannot lose it (it is in the kernel's hands).
    fn append(&self, line: &[u8]) -> Result<(), RunError> {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(line).map_err(|source| RunError::Io { operation: "write", path: self.path.clone(), source })
    }
}

struct Prepared {
    files: Files,
    recorded: Recorded,
    started: HashMap<String, u32>,
}

/// Opens the files: fresh (refusing to overwrite results) or resumed
/// (checking the journal's input, cutting torn last lines).
fn prepare(config: &RunConfig, header: &JournalHeader) -> Result<Prepared, RunError> {
    let paths = [&config.output, &config.errors, &config.journal];
    let existing: Vec<&PathBuf> =
        paths.iter().copied().filter(|path| std::fs::metadata(path).is_ok_and(|meta| meta.len() > 0)).collect();
    let mut recorded = Recorded::default();
    let mut started = HashMap::new();
    if !config.resume || existing.is_empty() {
        if let Some(path) = existing.first() {
            return Err(RunError::OutputExists { path: (*path).clone() });
        }
        for path in paths {
            File::create(path).map_err(|source| RunError::Io { operation: "create", path: path.clone(), source })?;
        }
        let files = open_files(config)?;
        files.journal.append(&header.line())?;
        return Ok(Prepared { files, recorded, started });
    }
    let journal_bytes = read_if_exists(&config.journal)?;
    if journal_bytes.is_empty() {
        return Err(RunError::NoJournal { output: config.output.clone(), journal: config.journal.clone() });
    }
    let replay = journal::replay_journal(&journal_bytes).map_err(|bad| corrupt(&config.journal, bad))?;
    match &replay.header {
        Some(found) => {
            if let Some(what) = found.difference(header) {
                return Err(RunError::InputChanged { what });
            }
        }
        None => return Err(RunError::NoJournal { output: config.output.clone(), journal: config.journal.clone() }),
    }
    truncate(&config.journal, replay.valid_len)?;
    started = replay.started;
    for path in [&config.output, &config.errors] {
        let bytes = read_if_exists(path)?;
        let valid = recorded.replay(&bytes).map_err(|bad| corrupt(path, bad))?;
        truncate(path, valid)?;
    }
    Ok(Prepared { files: open_files(config)?, recorded, started })
}

fn open_files(config: &RunConfig) -> Result<Files, RunError> {
    Ok(Files {
        output: Sink::open(&config.output)?,
        errors: Sink::open(&config.errors)?,
        journal: Sink::open(&config.journal)?,
    })
}

fn read_if_exists(path: &Path) -> Result<Vec<u8>, RunError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(RunError::Io { operation: "read", path: path.to_owned(), source }),
    }
}

fn truncate(path: &Path, len: u64) -> Result<(), RunError> {
    let io = |source| RunError::Io { operation: "truncate", path: path.to_owned(), source };
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() != len {
        file.set_len(len).map_err(io)?;
    }
    Ok(())
}

fn corrupt(path: &Path, bad: journal::BadLine) -> RunError {
    RunError::Corrupt { path: path.to_owned(), line: bad.line, message: bad.message }
}
