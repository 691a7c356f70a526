//! Guide section 14, RAG with assistants: the guide's flow — a vector store
//! from files, an assistant with `file_search`, a thread, a run, a cited
//! answer, a follow-up on the same thread — on `aoai-assistants`, which runs
//! it on the Responses API (the Assistants API the guide used was retired on
//! 2026-08-26; `docs/assistants-migration.md` maps each call).
//!
//! ```text
//! AZURE_OPENAI_DEPLOYMENT=gpt-4o AZURE_OPENAI_EMBEDDING_DEPLOYMENT=text-embedding-3-small \
//!     cargo run -p aoai-examples --bin s14_rag_with_assistants
//! ```
//!
//! Part 1 uploads `examples/fixtures/handbook/` into a vector store with
//! `knowledge::create_from_directory` (each file carries `path`, `sha256`
//! and `title` attributes; a later `knowledge::sync` uploads only what
//! changed; the store expires a day after its last use), searches it
//! directly with `knowledge::search`, asks on a thread and prints the
//! answer with numbered sources:
//! the file and the passage the service's search returned. The store and its
//! files are deleted at the end.
//!
//! Part 2 does retrieval in the application instead, for data that must
//! stay local or a server without vector stores:
//! `aoai_rag::answer::GroundedAnswerer` over an `EmbeddedIndex` of the same
//! files numbers the sources `[doc1]`, `[doc2]` inside `<documents>` (so
//! Azure's Prompt Shields for documents can inspect them), asks the chat
//! deployment to answer only from them, maps each citation back to a file
//! and a byte range, and flags an answer that cites nothing.

use std::path::Path;
use std::process::ExitCode;

use aoai_assistants::knowledge::{self, Expiry, SearchOptions, SyncOptions};
use aoai_assistants::{Assistant, RunResult};
use aoai_rag::answer::{AnswerEvent, GroundedAnswerer};
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::{Answer, AzureEmbedder, EmbeddedIndex};
use futures_util::StreamExt as _;

/// The handbook's files, fixed at build time so any working directory works.
const HANDBOOK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/handbook");

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let session = aoai_examples::session().await?;
    println!("== 1. an assistant with file_search over a vector store ==");
    with_assistants(&session).await?;
    println!("\n== 2. retrieval in the application (aoai-rag) ==");
    in_the_application(&session).await
}

async fn with_assistants(session: &aoai_examples::Session) -> Result<(), Box<dyn std::error::Error>> {
    let client = session.client()?;

    // The vector store (the guide's vector_stores.create + file_batches.upload_and_poll).
    // A demo store: it expires a day after its last use, should the deletion below not happen.
    let options = SyncOptions::default().expiry(Expiry::days_after_last_active(1)?);
    let mut polls = 0;
    let report =
        knowledge::create_from_directory(&client, "s14-handbook", Path::new(HANDBOOK_DIR), &options, &mut |_| {
            polls += 1;
        })
        .await?;
    let ingested = report.ingestion.as_ref().map_or(0, |ingestion| ingestion.progress.completed);
    println!(
        "vector store {}: {} file(s) uploaded ({}), {ingested} ingested after {polls} poll(s)",
        report.vector_store_id,
        report.added.len(),
        report.added.join(", ")
    );

    // The store searched directly (vector_stores.search): passages print as citations do.
    let query = "unused leave days";
    match knowledge::search(&client, &report.vector_store_id, query, &SearchOptions::default().max_results(2)).await {
        Ok(passages) => {
            println!("search {query:?}:");
            for passage in &passages {
                let source = passage.path.as_deref().unwrap_or(&passage.filename);
                let text = passage.text.split_whitespace().collect::<Vec<_>>().join(" ");
                println!("  {:.3} {source}: {}", passage.score, text.chars().take(100).collect::<String>());
            }
        }
        Err(error) => eprintln!("search failed: {error}"),
    }

    // The assistant (assistants.create) and a thread (threads.create).
    let assistant = Assistant::builder(client.clone(), aoai_examples::chat_deployment())
        .instructions("Answer from the employee handbook only, and cite it.")
        .file_search([report.vector_store_id.clone()])
        .conversations(client.clone())
        .build()?;
    let thread = assistant.create_thread().await?;
    println!("thread {} ({} backend)", thread.id(), thread.backend().name());

    // A run (messages.create + runs.create + polling + messages.list, in one call).
    let answer = assistant.run(&thread, "How many unused leave days carry over to the next year?").await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            delete_store(&client, &report).await;
            return Err(error.into());
        }
    };
    print_cited("How many unused leave days carry over to the next year?", &answer);

    // A follow-up on the same thread: the earlier turn is part of the context.
    let follow_up = "And what should I do about a lost badge?";
    let result = assistant.run(&thread, follow_up).await;
    delete_store(&client, &report).await;
    let answer = result?;
    print_cited(follow_up, &answer);
    println!("same thread: {} ({} request(s) this turn)", answer.thread_id == thread.id(), answer.request_ids.len());
    Ok(())
}

/// The answer with a `[n]` marker where each citation stands, then the
/// numbered sources: one number per file, with the passage found.
fn print_cited(question: &str, answer: &RunResult) {
    let mut sources: Vec<(&str, Option<&str>)> = Vec::new();
    let mut markers: Vec<(usize, usize)> = Vec::new();
    for citation in &answer.citations {
        let n = match sources.iter().position(|(file, _)| *file == citation.filename) {
            Some(index) => index + 1,
            None => {
                sources.push((&citation.filename, citation.quote.as_deref()));
                sources.len()
            }
        };
        if !markers.contains(&(citation.position, n)) {
            markers.push((citation.position, n));
        }
    }
    let mut text = String::new();
    for (index, character) in answer.text.chars().enumerate() {
        for (_, n) in markers.iter().filter(|(position, _)| *position == index) {
            text.push_str(&format!("[{n}]"));
        }
        text.push(character);
    }
    let length = answer.text.chars().count();
    for (_, n) in markers.iter().filter(|(position, _)| *position >= length) {
        text.push_str(&format!("[{n}]"));
    }
    println!("\nQ: {question}\nA: {text}");
    println!("sources:");
    for (n, (file, quote)) in sources.iter().enumerate() {
        println!("  [{}] {file}: {:?}", n + 1, quote.unwrap_or("(passage not returned)").trim());
    }
    if sources.is_empty() {
        println!("  (none: the answer cites nothing)");
    }
}

/// Deletes the store and the files uploaded into it (errors are only reported).
async fn delete_store(client: &aoai_core::Client, report: &knowledge::SyncReport) {
    if let Err(error) = client.delete_vector_store(&report.vector_store_id).await {
        eprintln!("could not delete {}: {}", report.vector_store_id, error.summary_line());
    }
    for file in report.ingestion.iter().flat_map(|ingestion| &ingestion.files) {
        if let Err(error) = client.delete_file(&file.id).await {
            eprintln!("could not delete {}: {}", file.id, error.summary_line());
        }
    }
}

async fn in_the_application(session: &aoai_examples::Session) -> Result<(), Box<dyn std::error::Error>> {
    let handbook = read_handbook()?;
    let embedder = AzureEmbedder::builder(session.client()?, aoai_examples::embedding_deployment(), 256)
        .request_dimensions()
        .build()?;
    let directory = std::env::temp_dir().join(format!("aoai-s14-{}", std::process::id()));
    let index = EmbeddedIndex::open(&directory, embedder)?;
    let chunker = TokenChunker::new(ChunkerConfig { max_tokens: 128, overlap_tokens: 16, ..ChunkerConfig::default() })?;
    for (source, text) in &handbook {
        index
            .replace_document(source, chunker.chunk(&Document::new(source.as_str(), text.as_str(), Format::Markdown)))
            .await?;
    }

    let answerer = GroundedAnswerer::builder(session.client()?, aoai_examples::chat_deployment(), index)
        .k(4)
        .source_budget(1500)
        .build()?;

    // One whole answer.
    let question = "How many unused leave days carry over to the next year?";
    let answer = answerer.ask(question).await?;
    println!("Q: {question}\nA: {}", answer.text);
    print_sources(&handbook, &answer);

    // The same question streamed: deltas as they come, then the answer with its citations.
    print!("\nstreamed: ");
    let mut stream = answerer.ask_stream(question).await?;
    let mut streamed = None;
    while let Some(event) = stream.next().await {
        match event? {
            AnswerEvent::Delta(text) => print!("{text}"),
            AnswerEvent::Done(answer) => streamed = Some(answer),
            _ => {}
        }
    }
    println!();
    if let Some(streamed) = streamed {
        println!(
            "streamed answer equals the whole answer: {}; same citations: {}",
            streamed.text == answer.text,
            streamed.citations == answer.citations
        );
    }

    // A question the handbook does not cover: nothing cited, so flag it.
    let question = "What is the capital of Australia?";
    let answer = answerer.ask(question).await?;
    println!("\nQ: {question}\nA: {}", answer.text);
    println!("cites nothing given: {}", answer.cites_nothing_given);

    // What would be sent, without sending it: the request, the numbered sources, what the budget left out.
    let prompt = answerer.prepare("lost badge").await?;
    let user = prompt.request.messages.get(1).and_then(|message| message.text()).unwrap_or_default();
    println!(
        "\nprompt for \"lost badge\": {} source(s), {} dropped by the budget; it starts:",
        prompt.sources.len(),
        prompt.dropped.len()
    );
    for line in user.lines().take(2) {
        println!("  {line}");
    }

    drop(answerer);
    let _ = std::fs::remove_dir_all(&directory);
    Ok(())
}

/// The handbook's Markdown files as (`handbook/<name>`, text), by name.
fn read_handbook() -> std::io::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(HANDBOOK_DIR)? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "md")
            && let Some(name) = path.file_name().and_then(|name| name.to_str())
        {
            files.push((format!("handbook/{name}"), std::fs::read_to_string(&path)?));
        }
    }
    files.sort();
    Ok(files)
}

/// The numbered sources, each citation's file, headings, byte range and the text it points at.
fn print_sources(handbook: &[(String, String)], answer: &Answer) {
    println!("sources given: {}", answer.sources.len());
    for citation in &answer.citations {
        let text = handbook
            .iter()
            .find(|(source, _)| *source == citation.source)
            .and_then(|(_, text)| text.get(citation.start..citation.end))
            .unwrap_or_default();
        println!(
            "  [doc{}] {} > {} (bytes {}..{}): {:?}",
            citation.n,
            citation.source,
            citation.headings.join(" > "),
            citation.start,
            citation.end,
            text
        );
    }
    if !answer.unknown_citations.is_empty() {
        println!("  cited but not given: {:?}", answer.unknown_citations);
    }
    if let Some(usage) = &answer.usage {
        println!("usage: {} prompt + {} completion tokens", usage.prompt_tokens, usage.completion_tokens);
    }
}
