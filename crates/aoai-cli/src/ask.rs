//! `aoai ask`: one turn of an assistant (aoai-assistants) — the answer
//! (streamed with `--stream`), then its sources numbered with file name and
//! passage; `--json` prints the run's result instead.
//!
//! Knowledge: `--vector-store ID` (file_search), `--files PATH` (a vector
//! store made for those files first, or reused: the store records the hash
//! of the file set in its metadata, `aoai_files_sha256`, once every file is
//! ingested) and `--local-index DIR` (an `aoai rag` index, reopened with the
//! embedder it records, answering as the assistant's local knowledge).
//!
//! A store made by `--files` is a cache, not the user's data: it expires
//! `--store-expiry-days N` days after its last use (default 7; 0 = never).
//! A reused store gets that policy too; a store for the same files that
//! has expired is deleted and replaced by a new one.
//!
//! The thread id goes to stderr (`thread: conv_…` or `thread: resp_…`) after
//! each turn; `--thread ID` continues it (a conversation or the last
//! response of a chain). With nothing configured the command starts its own
//! embedded emulator, so ids do not outlive it: run `aoai emulator` and point
//! `AZURE_OPENAI_ENDPOINT` at it to continue threads offline.
//!
//! Without a QUESTION: on a terminal, a conversation — one question a line,
//! streamed answers, sources after each turn, `/exit` (or end of input) to
//! leave; otherwise the question is read from stdin, one turn.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use aoai_assistants::knowledge::Expiry;
use aoai_assistants::local::LocalKnowledge;
use aoai_assistants::{Assistant, Citation, RunEvent, RunResult, Thread};
use aoai_core::Client;
use aoai_core::page::ListQuery;
use aoai_core::vector_stores::{CreateVectorStore, UpdateVectorStore, VectorStoreStatus};
use clap::Args;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::paths::source_name;
use crate::{Failure, session};

/// The metadata key of a store made by `--files`: the hash of its file set.
const FILES_HASH_KEY: &str = "aoai_files_sha256";
/// Days after its last use that a store made by `--files` expires.
const DEFAULT_STORE_EXPIRY_DAYS: u32 = 7;
/// The chat deployment offline.
const DEFAULT_DEPLOYMENT: &str = "gpt-4o";
/// Characters of a passage shown in the sources.
const PASSAGE_CHARS: usize = 200;

/// Options for `aoai ask`.
#[derive(Debug, Args)]
pub(crate) struct AskArgs {
    /// Deployment to use (default: AZURE_OPENAI_DEPLOYMENT; offline gpt-4o).
    #[arg(long, short = 'd', env = "AZURE_OPENAI_DEPLOYMENT")]
    deployment: Option<String>,
    /// The assistant's instructions.
    #[arg(long, short = 'i')]
    instructions: Option<String>,
    /// Answer from a vector store with file_search (repeat for several).
    #[arg(long = "vector-store", value_name = "ID")]
    vector_stores: Vec<String>,
    /// Answer from these files or directories: a vector store is made for them (or reused when one holds the same files).
    #[arg(long = "files", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Days after its last use that the --files store expires (1-365; 0 = never). The store is a cache: an expired one is replaced by a new one.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_STORE_EXPIRY_DAYS)]
    store_expiry_days: u32,
    /// Answer from an `aoai rag` index (local knowledge).
    #[arg(long, value_name = "DIR")]
    local_index: Option<PathBuf>,
    /// Continue a thread (its id, as printed on stderr: conv_… or resp_…).
    #[arg(long, value_name = "ID")]
    thread: Option<String>,
    /// Print the answer as it arrives.
    #[arg(long)]
    stream: bool,
    /// Print the run's result as JSON instead of the text (not streamed).
    #[arg(long)]
    json: bool,
    /// The question (default: a conversation on a terminal, else stdin).
    question: Vec<String>,
}

/// How each turn is printed.
#[derive(Debug, Clone, Copy)]
struct Output {
    stream: bool,
    json: bool,
}

pub(crate) async fn run(args: AskArgs) -> Result<(), Failure> {
    let question = args.question.join(" ");
    let question = question.trim();
    let interactive = question.is_empty() && std::io::stdin().is_terminal();
    if interactive && args.json {
        return Err(Failure::Usage("--json needs a QUESTION (or the question on stdin)".to_owned()));
    }
    let question = if question.is_empty() && !interactive {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| Failure::Other(format!("cannot read standard input: {error}")))?;
        let text = text.trim().to_owned();
        if text.is_empty() {
            return Err(Failure::Usage("no question: pass QUESTION or write it on stdin".to_owned()));
        }
        Some(text)
    } else {
        (!question.is_empty()).then(|| question.to_owned())
    };
    let thread = args.thread.as_deref().map(resume).transpose()?;
    let expiry = store_expiry(args.store_expiry_days)?;

    let session = session(args.deployment.as_deref(), DEFAULT_DEPLOYMENT).await?;
    let deployment = session.deployment(args.deployment.clone(), DEFAULT_DEPLOYMENT)?;
    let client = &session.client;
    let mut stores = args.vector_stores.clone();
    if !args.files.is_empty() {
        stores.push(files_store(client, &args.files, expiry).await?);
    }
    let mut builder = Assistant::builder(client.clone(), deployment).conversations(client.clone());
    if let Some(instructions) = &args.instructions {
        builder = builder.instructions(instructions.clone());
    }
    if !stores.is_empty() {
        builder = builder.file_search(stores);
    }
    if let Some(directory) = &args.local_index {
        let retriever = crate::rag::open_retriever(directory, client)?;
        builder = builder.local_knowledge(LocalKnowledge::shared(retriever));
    }
    let assistant = builder.build().map_err(assistant_failure)?;
    let thread = match thread {
        Some(thread) => thread,
        None => assistant.create_thread().await.map_err(assistant_failure)?,
    };
    let output = Output { stream: args.stream, json: args.json };
    let mut stdout = std::io::stdout();
    match question {
        Some(question) => turn(&assistant, &thread, &question, output, &mut stdout).await,
        None => converse(&assistant, &thread, std::io::stdin().lock(), &mut stdout).await,
    }
}

/// A thread from its id: a conversation (`conv_…`) or the last response of a chain (`resp_…`).
fn resume(id: &str) -> Result<Thread, Failure> {
    let id = id.trim();
    if id.starts_with("conv_") {
        Ok(Thread::from_conversation(id))
    } else if id.starts_with("resp_") {
        Ok(Thread::from_response(id))
    } else {
        Err(Failure::Usage(format!(
            "--thread {id:?}: a thread id is a conversation id (conv_…) or a response id (resp_…), as `aoai ask` prints on stderr"
        )))
    }
}

/// The conversation: one question a line until `/exit` or the end of input;
/// each answer streamed, then its sources.
async fn converse(
    assistant: &Assistant<Client>,
    thread: &Thread,
    mut input: impl BufRead,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let output = Output { stream: true, json: false };
    eprintln!("aoai ask: one question a line; /exit to leave");
    loop {
        write_out(out, "> ")?;
        let mut line = String::new();
        let read = input.read_line(&mut line).map_err(|error| Failure::Other(format!("cannot read input: {error}")))?;
        if read == 0 {
            write_out(out, "\n")?;
            return Ok(());
        }
        let question = line.trim();
        match question {
            "" => {}
            "/exit" | "/quit" => return Ok(()),
            question => {
                // A failed turn is reported and the conversation goes on.
                match turn(assistant, thread, question, output, out).await {
                    Ok(()) => {}
                    Err(Failure::Usage(message) | Failure::Other(message)) => eprintln!("error: {message}"),
                    Err(Failure::Api(error)) => eprintln!("{}", error.summary_line()),
                    Err(Failure::Filtered(line) | Failure::Exit(_, line)) => eprintln!("{line}"),
                }
            }
        }
    }
}

/// One turn: the answer, its sources, the thread id on stderr.
async fn turn(
    assistant: &Assistant<Client>,
    thread: &Thread,
    question: &str,
    output: Output,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let result = if output.stream && !output.json {
        let mut events = assistant.run_stream(thread, question);
        let mut finished = None;
        while let Some(event) = events.next().await {
            match event {
                RunEvent::TextDelta { delta, .. } => write_out(out, &delta)?,
                RunEvent::Completed(result) => finished = Some(Ok(*result)),
                RunEvent::Failed(error) => finished = Some(Err(error)),
                _ => {}
            }
        }
        let result = finished
            .ok_or_else(|| Failure::Other("the run ended without a result".to_owned()))?
            .map_err(assistant_failure)?;
        write_out(out, &format!("\n{}", sources(&result.citations)))?;
        result
    } else {
        let result = assistant.run(thread, question).await.map_err(assistant_failure)?;
        if output.json {
            let text = serde_json::to_string_pretty(&result_json(&result))
                .map_err(|error| Failure::Other(format!("cannot print the result: {error}")))?;
            write_out(out, &format!("{text}\n"))?;
        } else {
            write_out(out, &format!("{}\n{}", result.text, sources(&result.citations)))?;
        }
        result
    };
    announce(thread, &result);
    Ok(())
}

/// The thread id on stderr, and a note when it cannot be continued.
fn announce(thread: &Thread, result: &RunResult) {
    eprintln!("thread: {}", result.thread_id);
    if !result.thread_id.starts_with("conv_") && !result.thread_id.starts_with("resp_") {
        eprintln!("aoai: the server keeps no history ({} thread): it cannot be continued", thread.backend().name());
    }
}

/// The numbered sources: each cited passage once, in order of first citation.
fn sources(citations: &[Citation]) -> String {
    let mut seen: Vec<(&str, Option<&str>)> = Vec::new();
    let mut out = String::new();
    for citation in citations {
        let key = (citation.file_id.as_str(), citation.quote.as_deref());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if out.is_empty() {
            out.push_str("\nSources:\n");
        }
        let _ = write!(out, "  [{}] {}", seen.len(), citation.filename);
        if citation.file_id != citation.filename {
            let _ = write!(out, " ({})", citation.file_id);
        }
        match citation.quote.as_deref().map(one_line) {
            Some(passage) if !passage.is_empty() => {
                let _ = writeln!(out, ": {passage}");
            }
            _ => out.push('\n'),
        }
    }
    out
}

/// The passage on one line, cut to [`PASSAGE_CHARS`] characters.
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(PASSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or_default()),
        None => line,
    }
}

/// The run's result as JSON.
fn result_json(result: &RunResult) -> Value {
    let tool_calls: Vec<Value> = result
        .tool_calls
        .iter()
        .map(|call| {
            json!({
                "round": call.round,
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
                "output": call.output,
                "error": call.error.as_ref().map(ToString::to_string),
                "duration_ms": u64::try_from(call.duration.as_millis()).unwrap_or(u64::MAX),
            })
        })
        .collect();
    json!({
        "thread_id": result.thread_id,
        "text": result.text,
        "output": result.output,
        "citations": result.citations,
        "passages": result.passages,
        "tool_calls": tool_calls,
        "usage": result.usage,
        "rounds": result.rounds,
        "request_ids": result.request_ids,
        "response_ids": result.response_ids,
        "response": result.response,
    })
}

/// The policy of `--store-expiry-days`: 0 is never.
fn store_expiry(days: u32) -> Result<Expiry, Failure> {
    if days == 0 {
        return Ok(Expiry::never());
    }
    Expiry::days_after_last_active(days).map_err(|error| Failure::Usage(format!("--store-expiry-days: {error} (or 0)")))
}

/// The update that gives a store `expiry`.
fn expiry_update(expiry: Expiry) -> UpdateVectorStore {
    match expiry.to_expires_after() {
        Some(expires_after) => UpdateVectorStore::new().expires_after(expires_after),
        None => UpdateVectorStore::new().never_expires(),
    }
}

/// A vector store holding `paths`: one made earlier for the same files (by
/// the hash in its metadata; given `expiry` if its policy differs), else a
/// new one with `expiry`, filled and then marked. Expired stores for the
/// same files are deleted.
async fn files_store(client: &Client, paths: &[PathBuf], expiry: Expiry) -> Result<String, Failure> {
    let files = crate::stores::gather(paths)?;
    if files.is_empty() {
        return Err(Failure::Usage("--files: no file file_search can read".to_owned()));
    }
    let hash = files_hash(&files)?;
    let mut expired = Vec::new();
    let mut stores = client.list_vector_stores(&ListQuery::default());
    while let Some(store) = stores.next().await {
        let store = store?;
        let recorded = store.metadata.as_ref().and_then(|metadata| metadata.get(FILES_HASH_KEY));
        if recorded.and_then(Value::as_str) != Some(hash.as_str()) {
            continue;
        }
        if store.status == VectorStoreStatus::Expired {
            expired.push(store.id);
            continue;
        }
        if Expiry::of_store(store.expires_after.as_ref()) != Some(expiry) {
            client.update_vector_store(&store.id, &expiry_update(expiry)).await?;
            eprintln!("vector store: {} (reused: it holds the same files; it now {expiry})", store.id);
        } else {
            eprintln!("vector store: {} (reused: it holds the same files)", store.id);
        }
        return Ok(store.id);
    }
    drop(stores);
    for old in expired {
        // The cache expired: replaced below; deleting it is only tidying.
        match client.delete_vector_store(&old).await {
            Ok(_) => eprintln!("vector store: {old} expired: deleted, replaced by a new one"),
            Err(error) => eprintln!(
                "vector store: {old} expired (not deleted: {})",
                error.summary_line().trim_start_matches("error: ")
            ),
        }
    }
    let mut request = CreateVectorStore::new().name("aoai ask --files");
    if let Some(expires_after) = expiry.to_expires_after() {
        request = request.expires_after(expires_after);
    }
    let store = client.create_vector_store(&request).await?.body;
    eprintln!("vector store: {}", store.id);
    eprintln!("aoai ask: the store {expiry} (--store-expiry-days)");
    let (report, _) = crate::stores::ingest(client, &store.id, files).await?;
    crate::stores::failed(&report)?;
    // Marked only once every file is in, so a half-filled store is never reused.
    client.update_vector_store(&store.id, &UpdateVectorStore::default().metadata(FILES_HASH_KEY, hash)).await?;
    Ok(store.id)
}

/// SHA-256 over the files' names and contents, in order of name.
fn files_hash(files: &[PathBuf]) -> Result<String, Failure> {
    let mut entries: Vec<(String, [u8; 32])> = Vec::with_capacity(files.len());
    for file in files {
        let content =
            std::fs::read(file).map_err(|error| Failure::Usage(format!("cannot read {}: {error}", file.display())))?;
        let name = file.file_name().map_or_else(|| source_name(file), |name| name.to_string_lossy().into_owned());
        entries.push((name, Sha256::digest(&content).into()));
    }
    entries.sort();
    let mut hasher = Sha256::new();
    for (name, digest) in &entries {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(digest);
    }
    Ok(hasher.finalize().iter().fold(String::with_capacity(64), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    }))
}

/// How a failed run exits: bad settings 2, a service error 1.
fn assistant_failure(error: aoai_assistants::Error) -> Failure {
    let mut message = error.to_string();
    if let Some(client_error) = error.request_error() {
        if let aoai_core::Error::Config(config) = client_error {
            return Failure::Usage(config.to_string());
        }
        let _ = write!(message, ": {}", client_error.summary_line().trim_start_matches("error: "));
    }
    match error {
        aoai_assistants::Error::Config(_) => Failure::Usage(message),
        _ => Failure::Other(message),
    }
}

/// Writes and flushes; a closed pipe ends the output quietly.
fn write_out(out: &mut impl Write, text: &str) -> Result<(), Failure> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(Failure::Other(format!("cannot write output: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_name_their_backend() {
        assert_eq!(resume("conv_1").unwrap().save(), Thread::from_conversation("conv_1").save());
        assert_eq!(resume("resp_1").unwrap().id(), "resp_1");
        assert!(matches!(resume("thread_1"), Err(Failure::Usage(_))));
    }

    #[test]
    fn store_expiry_days_zero_is_never_and_366_is_refused() {
        assert_eq!(store_expiry(0).unwrap(), Expiry::never());
        assert_eq!(store_expiry(7).unwrap().days(), Some(7));
        assert!(matches!(store_expiry(366), Err(Failure::Usage(message)) if message.contains("366")));
    }

    #[test]
    fn sources_list_each_passage_once() {
        let citation = |file_id: &str, quote: &str, position| {
            serde_json::from_value::<Citation>(json!({
                "file_id": file_id, "filename": "leave.md", "quote": quote, "score": 0.5, "position": position
            }))
            .unwrap()
        };
        let listed =
            sources(&[citation("file-1", "Twenty-five\n days.", 3), citation("file-1", "Twenty-five\n days.", 9)]);
        assert_eq!(listed, "\nSources:\n  [1] leave.md (file-1): Twenty-five days.\n");
        assert_eq!(sources(&[]), "");
    }

    /// The conversation, driven by lines as a terminal would give them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conversation_remembers_and_ends_with_exit() {
        let emulator = aoai_emulator::Emulator::start().await.unwrap();
        let client = emulator.client().unwrap();
        let assistant = Assistant::builder(client.clone(), "gpt-4o").conversations(client).build().unwrap();
        let thread = assistant.create_thread().await.unwrap();
        let input = "My favourite river is the Danube.\n\nWhat did I say before?\n/exit\nnever asked\n";
        let mut out = Vec::new();
        converse(&assistant, &thread, input.as_bytes(), &mut out).await.unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.matches("> ").count(), 4, "{out}");
        assert!(out.contains("favourite river is the Danube"), "{out}");
        assert!(!out.contains("never asked"), "{out}");
    }
}
