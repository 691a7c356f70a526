//! Runs every example program offline: no `AZURE_OPENAI_*`, `OPENAI_*` or
//! `SENTRY_*` variable, and a fresh empty working directory (so no `.env`).
//! Each must exit 0, announce the embedded emulator in exactly one stderr
//! line, and print what proves it did its job.
//!
//! The table below is checked against `src/bin/`, so a new program cannot be
//! left out. The last tests check the switch itself: a partial or wrong
//! configuration is an error naming the variable (never the emulator), `.env`
//! in the working directory is read, the emulator serves the deployment
//! `AZURE_OPENAI_DEPLOYMENT` names, and a configured endpoint is used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aoai_emulator::Emulator;

/// The one stderr line of the switch, after the program's name.
const EMULATOR_LINE: &str =
    ": no endpoint configured (set AZURE_OPENAI_ENDPOINT for Azure); using the embedded emulator at http://127.0.0.1:";

/// Variables removed from every child's environment.
const REMOVED_PREFIXES: [&str; 3] = ["AZURE_OPENAI_", "OPENAI_", "SENTRY_"];

/// How long a program may run before it is killed and the test fails.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// One test per program: `name => [substrings its stdout must contain]`.
macro_rules! examples {
    ($($name:ident => [$($expected:expr),* $(,)?]),* $(,)?) => {
        /// The programs the tests run, by binary name.
        const EXAMPLES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                let exe = env!(concat!("CARGO_BIN_EXE_", stringify!($name)));
                let output = run(exe, &[], None);
                assert_ran_offline(stringify!($name), &output, &[$($expected),*]);
            }
        )*
    };
}

examples! {
    s01_authentication => [
        "auth mode: env (api-key header), endpoint host: 127.0.0.1",
        "auth mode: key (api-key header), endpoint host: 127.0.0.1",
        "auth mode: token (Authorization: Bearer, static), endpoint host: 127.0.0.1",
        "model gpt-4o, request id ",
    ],
    s02_function_calling => [
        "tools: convert_units, city_facts, get_weather",
        // `required` with parallel calls: the emulator calls every tool once, with schema-valid arguments.
        "round 1 (finish reason tool_calls): 3 tool call(s)",
        "   city_facts({\"city\":\"Paris\"}) -> {\"city\":\"Paris\",\"country\":\"France\",",
        "   get_weather({\"city\":\"Paris\"}) -> {\"celsius\":",
        "round 2 (finish reason stop): final answer",
        // The emulator's final answer quotes the tool results.
        "final answer: Here is what the tools returned. city_facts returned: ",
        "usage over 2 rounds: ",
        "   round 1: convert_units -> {",
        "streamed final answer (",
        "round limit: the model still called tools after 2 rounds (the limit); 1 tool call(s) ran, ",
    ],
    s09_dynamic_prompts => [
        "template support_ticket with variables: customer, policy, question, tier, tone",
        "render with one variable: template `support_ticket` is missing variables: customer, policy, tier, tone",
        // The tier picks settings and tools.
        "ticket from Fabrikam (enterprise): temperature Some(0.2), max_tokens Some(400), tools lookup_order, escalate",
        "ticket from Ana (basic): temperature Some(0.7), max_tokens Some(200), tools lookup_order",
        "   tool lookup_order({\"order_id\":",
        "   tool escalate({\"reason\":",
        "   answer after 2 round(s): Here is what the tools returned. lookup_order returned: ",
        // The forced extraction parses into the Rust type.
        "   resolution: Resolution { category: ",
    ],
    s03_structured_output => [
        "strict schema Review: required [\"cons\",\"product\",\"pros\",\"reviewer\",\"sentiment\"]",
        "   additionalProperties: false",
        "   reviewer: [\"string\",\"null\"]",
        "typed value after 1 request(s): Review { product: ",
        "streamed, then parsed: ",
        "truncated (finish_reason length): kept \"{",
        "refusal (message.refusal): I'm sorry, I can't help with that.",
    ],
    s07_prompt_templates => [
        "loaded 2 templates: classify_ticket, summarize",
        "summarize: variables audience, n_words, text",
        "missing variables: template `summarize` is missing variables: audience, n_words",
        "unknown variable: template `summarize` got unknown variables: tone",
        "syntax: template `broken`, message 0, byte 6: `{{` is not closed by `}}`",
        "roles: system, user",
        "settings: temperature Some(0.2), max_tokens Some(120), seed Some(42)",
        "overridden: temperature Some(0.7), max_tokens Some(120)",
        "summary (finish reason stop): ",
        "ticket: Ticket { category: ",
    ],
    s10_hybrid_rag => [
        "indexed 5 documents as ",
        "query: \"what does HTTP 429 mean?\"\n  keyword (BM25):\n    1. docs/rate-limits.md > Rate limits > 429 responses",
        "  vector (cosine):\n    1. ",
        "  hybrid (reciprocal-rank fusion):\n    1. docs/rate-limits.md > Rate limits > 429 responses",
        "  fused: 1/(60+1) + 1/(60+",
        "filtered to docs/batching: 2 hit(s), all from Some(\"docs/batching.md\")",
    ],
    s11_content_safety => [
        "1. blocklist: input blocked by blocklist (sent: false): blocklist (Project Falcon) by local guard blocklist",
        "2. redacted prompt: Email [EMAIL] or call [PHONE] about card [CARD].",
        "   notes: email, phone, card; answered (request id ",
        "3. azure filter: input blocked by azure_filter (sent: true): jailbreak (detected) by Azure OpenAI content filter",
        "   a normal prompt passes the filter thresholds: 0 note(s)",
        "4. analyze: Hate=0, SelfHarm=0, Sexual=0, Violence=4",
        "   shieldPrompt: user prompt attack true, documents attacked [false]",
        "   blocklist s11-brands matched: Contoso",
        "   guard: input blocked by content_safety (sent: false): blocklist (s11-brands: Contoso) by Azure AI Content Safety",
    ],
    s06_batch_with_rate_limits => [
        "21 items: 20 succeeded, failed {\"never_fits\": 1}, 1 malformed line(s); 20 requests, 0 answered 429",
        "error file: line 22: malformed_line",
        "error file: too-big: never_fits",
        "output file: 20 line(s), one per succeeded item",
        "resumed: 22 line(s) already recorded, 0 request(s) sent",
    ],
    s20_responses => [
        "1. answer (resp_",
        "   usage: ",
        "   prompt filter: blocked false",
        "2. follow-up of resp_",
        "Earlier you said: \"My name is Ada.",
        "3. streamed: ",
        "ended completed, last sequence number Some(",
        "4. structured: ",
        "5. the model calls get_weather({\"city\":",
        "5. with the tool's result: ",
        "get_weather returned",
    ],
    s19_response_validation => [
        "finish reason stop: complete\n   prompt filter: passed\n   answer filter: passed\nvalid: ",
        "4 violation(s):",
        "   at /: \"note\" is a required property",
        "   at /id: 17 is not of type \"string\"",
        "   at /items/1/quantity: -1 is less than the minimum of 0",
        "repaired after 2 requests: Order { id: \"A-17\", ",
        "finish reason length: cut by max_tokens",
        "not repairable (false): the answer was truncated by the token limit",
        "finish reason content_filter: cut by the content filter",
        "not repairable (false): the answer was cut by the content filter; kept \"{\\\"id\\\":\\\"A-\"",
    ],
    s04_tokens_and_cost => [
        "deployment gpt-4o: encoding o200k_base",
        "estimate: 28 prompt + 60 max output = 88",
        // The emulator counts with the same tokenizer, so the estimate is exact.
        "usage: 28 prompt (estimated 28), ",
        "cost on gpt-4o: $",
    ],
    s05_errors_and_monitoring => [
        "code DeploymentNotFound",
        "parameter: temperature",
        "attempt timed out after 1ms",
        "could not connect (3 attempts)",
        "filter jailbreak: detected (blocked)",
        "6. a call that works\n   ",
    ],
    s08_system_monitoring => [
        "embedded 2 texts",
        "expected failure: error: not_found (HTTP 404, code DeploymentNotFound",
        "\"requests\": 6,",
        "\"successes\": 5,",
        "\"not_found\": 1",
    ],
    s13_integration_pipeline => [
        "1. Upstream: ",
        "2. Hit: same answer: true; output notes: 0",
        "3. blocked at input by blocklist (sent: false): blocklist (Project Falcon)",
        "4. redacted (email), then Hit for a different address",
        "5. through ChatApi: rejected; recovered block: true",
        "upstream requests recorded by the client: 2",
        "cache: 2 hits, 2 misses (50.0% hit rate)",
    ],
    s12_caching => [
        "1. Upstream: ",
        "2. Hit: same answer: true; requests served upstream: 1 before, 1 after",
        "3. same key for reordered fields and 1 vs 1.0: true",
        "   second spelling: Hit",
        "4. streamed Hit: ",
        " chunks, same text: true; requests served upstream: 2",
        "5. cache: 3 hits, 2 misses (60.0% hit rate), 0 bypassed, 0 not stored, 0 pass-throughs; saved ",
    ],
    s14_rag_with_assistants => [
        // 1. aoai-assistants: a vector store from examples/fixtures/handbook, a thread, runs with file_search.
        "vector store vs_",
        ": 3 file(s) uploaded (expenses.md, leave.md, security.md), 3 ingested after ",
        "search \"unused leave days\":\n  0.",
        " leave.md: # Leave Employees have 25 days of paid leave per year.",
        " (conversation backend)",
        "A: Up to 5 unused leave days carry over to the next year.[1]",
        "sources:\n  [1] leave.md: \"# Leave\\n\\nEmployees have 25 days of paid leave per year.",
        "Q: And what should I do about a lost badge?\nA: Report a lost badge to the front desk the same day.[1]\nsources:\n  [1] security.md: ",
        "same thread: true (1 request(s) this turn)",
        // 2. aoai-rag: retrieval in the application.
        "Q: How many unused leave days carry over to the next year?\nA: Up to 5 unused leave days carry over to the next year. [doc1]",
        "  [doc1] handbook/leave.md > Leave > Carry-over (bytes ",
        ": \"## Carry-over\\n\\nUp to 5 unused leave days carry over to the next year.\"",
        "streamed: Up to 5 unused leave days carry over to the next year. [doc1]",
        "streamed answer equals the whole answer: true; same citations: true",
        "A: The provided sources do not answer this question.\ncites nothing given: true",
        "prompt for \"lost badge\": 4 source(s), 0 dropped by the budget; it starts:\n  <documents>\n  [doc1] title: Security | source: handbook/security.md | section: Security",
    ],
    s15_embeddings => [
        "5 vectors of 256 dimensions from text-embedding-3-small",
        "closest to \"Why did my request get HTTP 429?\":\n  ",
        "decoded back exactly: true",
        "semantic search over an EmbeddedIndex of 5 chunks (azure:text-embedding-3-small:256):\n  ",
    ],
    s16_error_reporting => [
        "SENTRY_DSN is not set: reporting to a local collector, http://aoai-examples@127.0.0.1:",
        "the local collector received 1 envelope(s)",
        "event (x-sentry-auth sent: true):",
        "\"azure.error_code\": \"DeploymentNotFound\"",
        // The breadcrumb of the call that worked, carried by the error's event.
        "\"message\": \"chat gpt-4o 200 in ",
    ],
    s17_streaming => [
        "streaming (request id ",
        "model gpt-4o, finish reason ",
        "prompt 0 filter: hate=safe",
        "choice 0 filter: hate=safe",
        "\ncollected: ",
        " completion = ",
    ],
    s18_configuration => [
        "fix AZURE_OPENAI_API_KEY: is set but empty",
        "no ./.env here",
        "nothing configured, so the embedded emulator: Azure 127.0.0.1 (api-version ",
        "   gpt-4o: ",
        // 4. an assistant from examples/fixtures/assistant.toml.
        "   fixtures/assistant.toml: deployment gpt-4o, tools [\"get_weather\"], max rounds Some(3), temperature Some(0.2), instructions from assistant-instructions.md",
        "   a typo: assistant configuration:3:1: unknown key `temprature` in `[sampling]`, expected `temperature` or `top_p`",
        "   an unknown tool: assistant configuration: unknown tool `get_wether` in `tools`; known tools: get_weather, get_time",
        "   assistant on gpt-4o, conversation thread",
        "   tool get_weather({\"city\":\"Paris\"}) -> {\"celsius\":21,\"city\":\"Paris\",\"sky\":\"clear\"}",
        "   answer after 2 round(s): Here is what the tool returned. get_weather returned: ",
    ],
}

#[test]
fn every_program_in_src_bin_is_run() {
    let bin_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    let found: BTreeSet<String> = std::fs::read_dir(&bin_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            // `src/bin/name.rs`, or `src/bin/name/main.rs`.
            if path.extension().is_some_and(|extension| extension == "rs") {
                Some(path.file_stem()?.to_string_lossy().into_owned())
            } else if path.join("main.rs").is_file() {
                Some(path.file_name()?.to_string_lossy().into_owned())
            } else {
                None
            }
        })
        .collect();
    let tested: BTreeSet<String> = EXAMPLES.iter().map(|name| (*name).to_owned()).collect();
    assert!(!found.is_empty(), "no programs in {}", bin_dir.display());
    assert_eq!(found, tested, "src/bin and the table of tests/run_all.rs differ: add each program to `examples!`");
}

#[test]
fn an_endpoint_without_a_key_is_an_error_naming_the_key() {
    let output = run(
        env!("CARGO_BIN_EXE_s17_streaming"),
        &[("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com")],
        None,
    );
    assert_config_error(&output, "AZURE_OPENAI_API_KEY");
}

#[test]
fn an_endpoint_that_is_not_a_url_is_an_error_naming_it() {
    let output = run(
        env!("CARGO_BIN_EXE_s15_embeddings"),
        &[("AZURE_OPENAI_ENDPOINT", "my-resource"), ("AZURE_OPENAI_API_KEY", "key")],
        None,
    );
    assert_config_error(&output, "AZURE_OPENAI_ENDPOINT");
}

#[test]
fn dotenv_in_the_working_directory_is_read() {
    let output = run(
        env!("CARGO_BIN_EXE_s05_errors_and_monitoring"),
        &[],
        Some("AZURE_OPENAI_ENDPOINT=https://my-resource.openai.azure.com\nAZURE_OPENAI_API_KEY=\n"),
    );
    assert_config_error(&output, "AZURE_OPENAI_API_KEY");
}

#[test]
fn offline_the_emulator_serves_the_named_deployment() {
    let output = run(env!("CARGO_BIN_EXE_s18_configuration"), &[("AZURE_OPENAI_DEPLOYMENT", "my-chat")], None);
    // The environment's deployment also overrides the one in the assistant's configuration file.
    assert_ran_offline("s18_configuration", &output, &["   my-chat: ", "   assistant on my-chat, "]);
}

#[test]
fn offline_a_deployment_name_the_emulator_cannot_serve_is_an_error_naming_it() {
    let output = run(env!("CARGO_BIN_EXE_s17_streaming"), &[("AZURE_OPENAI_DEPLOYMENT", "bad/name")], None);
    assert_config_error(&output, "AZURE_OPENAI_DEPLOYMENT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_endpoint_is_used_instead_of_the_emulator() {
    // An emulator of the test's own stands in for an Azure resource.
    let resource = Emulator::start().await.unwrap();
    let envs = [
        ("AZURE_OPENAI_ENDPOINT".to_owned(), resource.base_url().to_owned()),
        ("AZURE_OPENAI_API_KEY".to_owned(), resource.api_key().expose().to_owned()),
    ];
    let output = tokio::task::spawn_blocking(move || {
        let envs: Vec<(&str, &str)> = envs.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        run(env!("CARGO_BIN_EXE_s17_streaming"), &envs, None)
    })
    .await
    .unwrap();
    assert!(output.status.success(), "s17_streaming failed against a configured endpoint\n{output}");
    assert!(!output.stderr.contains("embedded emulator"), "the emulator was started although configured\n{output}");
    assert!(output.stdout.contains("\ncollected: "), "{output}");
    let served = resource.stats().deployment("gpt-4o").map(|deployment| deployment.served);
    assert_eq!(served, Some(2), "the configured endpoint did not serve both streams\n{output}");
}

/// What a program did.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit: {}\n--- stdout\n{}\n--- stderr\n{}", self.status, self.stdout, self.stderr)
    }
}

fn assert_ran_offline(name: &str, output: &Ran, expected: &[&str]) {
    assert!(output.status.success(), "{name} failed offline\n{output}");
    let announcements: Vec<&str> = output.stderr.lines().filter(|line| line.contains("embedded emulator")).collect();
    assert_eq!(announcements.len(), 1, "{name}: expected one line about the embedded emulator\n{output}");
    assert!(
        announcements[0].starts_with(&format!("{name}{EMULATOR_LINE}")),
        "{name}: unexpected emulator line {:?}",
        announcements[0]
    );
    for text in expected {
        assert!(output.stdout.contains(text), "{name}: stdout lacks {text:?}\n{output}");
    }
}

fn assert_config_error(output: &Ran, variable: &str) {
    assert!(!output.status.success(), "a broken configuration succeeded\n{output}");
    assert!(
        output.stderr.contains(&format!("error: config: invalid configuration: {variable}: ")),
        "the error does not name {variable}\n{output}"
    );
    assert!(!output.stderr.contains("embedded emulator"), "fell back to the emulator\n{output}");
}

/// Runs `exe` in a fresh empty directory (holding `dotenv` as `.env` when
/// given) without any of the [`REMOVED_PREFIXES`] variables, plus `envs`.
fn run(exe: &str, envs: &[(&str, &str)], dotenv: Option<&str>) -> Ran {
    let dir = fresh_dir();
    if let Some(contents) = dotenv {
        std::fs::write(dir.join(".env"), contents).unwrap();
    }
    let mut command = Command::new(exe);
    command.current_dir(&dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if REMOVED_PREFIXES.iter().any(|prefix| name.to_string_lossy().starts_with(prefix)) {
            command.env_remove(name);
        }
    }
    command.envs(envs.iter().copied());
    let mut child = command.spawn().unwrap();
    let stdout = read_in_background(child.stdout.take().unwrap());
    let stderr = read_in_background(child.stderr.take().unwrap());
    let mut status = None;
    for _ in 0..TIME_LIMIT.as_millis() / 10 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = status.unwrap_or_else(|| {
        child.kill().unwrap();
        child.wait().unwrap();
        panic!("{exe} ran longer than {TIME_LIMIT:?}")
    });
    let ran = Ran { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() };
    std::fs::remove_dir_all(&dir).unwrap();
    ran
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).unwrap();
        text
    })
}

/// A new empty directory under the system's temporary directory.
fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!("aoai-examples-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir(&dir).unwrap();
    dir
}
