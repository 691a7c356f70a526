//! Guide section 14, RAG with citations: answer questions from your own
//! documents with `aoai_rag::answer::GroundedAnswerer` — retrieve, number
//! the sources `[doc1]`, `[doc2]`, ask the chat deployment to answer only
//! from them, and map each citation back to a file and a byte range.
//!
//! ```text
//! AZURE_OPENAI_DEPLOYMENT=gpt-4o AZURE_OPENAI_EMBEDDING_DEPLOYMENT=text-embedding-3-small \
//!     cargo run -p aoai-examples --bin s14_rag_with_assistants
//! ```
//!
//! Azure retired "On Your Data" (`data_sources`) and the Assistants API's
//! `file_search` is being retired too, so retrieval happens in the
//! application: this is the replacement. The sources go inside
//! `<documents>` … `</documents>` so Azure's indirect-attack filter (Prompt
//! Shields for documents) can inspect them. The answer lists the citations,
//! the numbers that name no given source, and whether it cites nothing at
//! all — check that before showing an answer as grounded.

use std::process::ExitCode;

use aoai_rag::answer::{AnswerEvent, GroundedAnswerer};
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::{Answer, AzureEmbedder, EmbeddedIndex};
use futures_util::StreamExt as _;

const HANDBOOK: &[(&str, &str)] = &[
    (
        "handbook/expenses.md",
        "# Expenses\n\nSubmit receipts within 30 days of the purchase.\n\n## Travel\n\nTrain travel is booked in second class; flights need a manager's approval.\n",
    ),
    (
        "handbook/leave.md",
        "# Leave\n\nEmployees have 25 days of paid leave per year.\n\n## Carry-over\n\nUp to 5 unused leave days carry over to the next year.\n",
    ),
    (
        "handbook/security.md",
        "# Security\n\nLaptops lock after 5 minutes without input. Report a lost badge to the front desk the same day.\n",
    ),
];

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let session = aoai_examples::session().await?;
    let embedder = AzureEmbedder::builder(session.client()?, aoai_examples::embedding_deployment(), 256)
        .request_dimensions()
        .build()?;
    let directory = std::env::temp_dir().join(format!("aoai-s14-{}", std::process::id()));
    let index = EmbeddedIndex::open(&directory, embedder)?;
    let chunker = TokenChunker::new(ChunkerConfig { max_tokens: 128, overlap_tokens: 16, ..ChunkerConfig::default() })?;
    for (source, text) in HANDBOOK {
        index.replace_document(source, chunker.chunk(&Document::new(*source, *text, Format::Markdown))).await?;
    }

    let answerer = GroundedAnswerer::builder(session.client()?, aoai_examples::chat_deployment(), index)
        .k(4)
        .source_budget(1500)
        .build()?;

    // One whole answer.
    let question = "How many unused leave days carry over to the next year?";
    let answer = answerer.ask(question).await?;
    println!("Q: {question}\nA: {}", answer.text);
    print_sources(&answer);

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

/// The numbered sources, each citation's file, headings, byte range and the text it points at.
fn print_sources(answer: &Answer) {
    println!("sources given: {}", answer.sources.len());
    for citation in &answer.citations {
        let text = HANDBOOK
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
