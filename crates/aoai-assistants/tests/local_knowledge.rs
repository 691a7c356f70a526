//! Local knowledge (feature `rag`) through the real client against the
//! emulator: an aoai-rag index answering as a search tool gives citations
//! of the same shape as server-side `file_search`, citing the right file,
//! with the same assistant code; streamed runs report the search and the
//! citations; a failing search is told to the model.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use aoai_assistants::local::{DEFAULT_TOOL_NAME, LocalKnowledge};
use aoai_assistants::{Assistant, AssistantBuilder, Citation, RunEvent, RunResult, ThreadBackend};
use aoai_core::Client;
use aoai_core::clock::{ManualClock, Time};
use aoai_core::retry::RetryPolicy;
use aoai_core::vector_stores::{CreateVectorStore, PollOptions as IngestPoll};
use aoai_emulator::Emulator;
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::{AzureEmbedder, EmbeddedIndex, Embedder, Filter, Hit, Retriever, SearchMode};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

const DEPLOYMENT: &str = "gpt-4o";
const LEAVE: &str = "# Holiday policy\n\nEvery employee receives twenty-five days of paid annual leave. \
                     Unused leave days carry over to the next year, up to five days.\n";
const BIKES: &str = "# Commuting\n\nBicycles are parked in the basement garage; showers are on the second floor.\n";
/// Shares words with the knowledge tool's description, so the emulator's model calls it.
const QUESTION: &str = "What do the policies say about days of paid annual leave?";

/// The same assistant code, whatever the knowledge source.
async fn ask(builder: AssistantBuilder<Client>) -> RunResult {
    let assistant = builder.instructions("Answer from the handbook and cite it.").build().unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    assistant.run(&thread, QUESTION).await.unwrap()
}

fn assert_cites_leave(citations: &[Citation], text: &str, label: &str) {
    assert!(!citations.is_empty(), "{label}: {text}");
    let length = text.chars().count();
    for citation in citations {
        assert_eq!(citation.filename, "leave.md", "{label}: {citation:?}");
        assert!(!citation.file_id.is_empty(), "{label}: {citation:?}");
        assert!(citation.quote.as_deref().unwrap().contains("twenty-five days"), "{label}: {citation:?}");
        assert!(citation.score.is_some(), "{label}: {citation:?}");
        assert!(citation.position <= length, "{label}: {citation:?} in {length} characters");
    }
}

async fn index(client: &Client, directory: &std::path::Path) -> EmbeddedIndex<AzureEmbedder<Client>> {
    let embedder = AzureEmbedder::builder(client.clone(), "text-embedding-3-small", 1536).build().unwrap();
    let index = EmbeddedIndex::open(directory, embedder).unwrap();
    let chunker = TokenChunker::new(ChunkerConfig::default()).unwrap();
    for (source, text) in [("leave.md", LEAVE), ("bikes.md", BIKES)] {
        let chunks = chunker.chunk(&Document::new(source, text, Format::Markdown));
        index.replace_document(source, chunks).await.unwrap();
    }
    index
}

#[tokio::test]
async fn local_knowledge_cites_like_file_search() {
    let clock = ManualClock::new();
    let emulator =
        Emulator::builder().time(Time::manual(&clock)).batch_step(Duration::from_secs(1)).start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).time(Time::manual(&clock)).build().unwrap();

    // Server-side: a vector store with both files.
    let store = client.create_vector_store(&CreateVectorStore::new().name("handbook")).await.unwrap().body;
    let files = vec![("leave.md".to_owned(), Bytes::from(LEAVE)), ("bikes.md".to_owned(), Bytes::from(BIKES))];
    let report = client.upload_files_to_vector_store(&store.id, files, &IngestPoll::default(), &mut |_| {}).await;
    assert!(report.unwrap().all_completed());
    let server = ask(Assistant::builder(client.clone(), DEPLOYMENT).file_search([store.id.clone()])).await;
    assert_cites_leave(&server.citations, &server.text, "file_search");

    // Local: the same files in an embedded index; the best keyword hit.
    let directory = tempfile::tempdir().unwrap();
    let index = index(&client, directory.path()).await;
    let knowledge = LocalKnowledge::new(index).mode(SearchMode::Keyword).k(1);
    let local = ask(Assistant::builder(client.clone(), DEPLOYMENT).local_knowledge(knowledge)).await;
    assert_cites_leave(&local.citations, &local.text, "local");
    assert_eq!(local.citations[0].file_id, "leave.md");
    assert_eq!(local.rounds, 2, "a search round, then the answer");
    assert_eq!(local.tool_calls.len(), 1);
    let call = &local.tool_calls[0];
    assert_eq!(call.name, DEFAULT_TOOL_NAME);
    assert!(call.error.is_none(), "{call:?}");
    assert!(call.output.starts_with("[doc1] source: leave.md | title: Holiday policy\n"), "{}", call.output);
    assert!(local.passages.iter().all(|passage| passage.filename == "leave.md"), "{:?}", local.passages);
    let attributes = local.passages[0].attributes.as_ref().unwrap();
    assert_eq!(attributes["chunk_id"], "leave.md#0");
    // Each citation stands where its marker does.
    for citation in &local.citations {
        let at: String = local.text.chars().skip(citation.position).take(5).collect();
        assert_eq!(at, "[doc1", "{}", local.text);
    }
    // The same shape: every field filled the same way on both sides.
    let shape = |citation: &Citation| (citation.quote.is_some(), citation.score.is_some(), citation.filename.clone());
    assert_eq!(shape(&local.citations[0]), shape(&server.citations[0]));
}

#[tokio::test]
async fn hybrid_search_ranks_the_right_file_first_and_streams_its_citations() {
    let emulator = Emulator::start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).build().unwrap();
    let directory = tempfile::tempdir().unwrap();
    let index = index(&client, directory.path()).await;
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT)
        .local_knowledge(LocalKnowledge::new(index).k(2))
        .conversations(client.clone())
        .build()
        .unwrap();
    let thread = assistant.create_thread().await.unwrap();
    assert_eq!(thread.backend(), ThreadBackend::Conversation);
    let mut events = assistant.run_stream(&thread, QUESTION);
    let (mut text, mut cited, mut found) = (String::new(), Vec::new(), Vec::new());
    let mut completed = None;
    while let Some(event) = events.next().await {
        match event {
            RunEvent::TextDelta { delta, .. } => text.push_str(&delta),
            RunEvent::CitationAdded(citation) => cited.push(citation),
            RunEvent::FileSearchResults { results, .. } => found.extend(results),
            RunEvent::Completed(result) => completed = Some(result),
            RunEvent::Failed(error) => panic!("{error}"),
            _ => {}
        }
    }
    let result = completed.unwrap();
    assert_eq!(result.text, text);
    assert_eq!(result.citations, cited);
    assert_eq!(result.passages, found);
    // Hybrid finds both files; the one that answers ranks first and is cited first.
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].filename, "leave.md");
    assert_eq!(result.citations[0].filename, "leave.md");
    assert!(result.citations[0].quote.as_deref().unwrap().contains("twenty-five days"));
    assert!(result.citations.iter().all(|citation| citation.position <= text.chars().count()));
}

/// A retriever whose embedding deployment does not exist.
struct Broken(AzureEmbedder<Client>);

#[async_trait]
impl Retriever for Broken {
    async fn search(&self, query: &str, _: usize, _: SearchMode, _: &Filter) -> aoai_rag::Result<Vec<Hit>> {
        self.0.embed(&[query.to_owned()]).await?;
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_failing_search_is_told_to_the_model_and_the_run_completes() {
    let emulator = Emulator::start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).build().unwrap();
    let broken = || Broken(AzureEmbedder::builder(client.clone(), "no-such-deployment", 1536).build().unwrap());
    let knowledge = LocalKnowledge::new(broken());
    let result = ask(Assistant::builder(client.clone(), DEPLOYMENT).local_knowledge(knowledge)).await;
    assert_eq!(result.tool_calls.len(), 1);
    assert!(result.tool_calls[0].error.is_some());
    assert!(result.tool_calls[0].output.contains("the knowledge search failed"), "{}", result.tool_calls[0].output);
    assert!(result.citations.is_empty());

    // A tool of the registry cannot take the knowledge tool's name.
    let clash = aoai_tools::typed_tool(
        DEFAULT_TOOL_NAME,
        "Another search",
        |_: serde_json::Value, _: aoai_tools::ToolContext| async move {
            Ok::<_, aoai_tools::ToolError>(serde_json::json!({}))
        },
    );
    let knowledge = LocalKnowledge::new(broken());
    let error = Assistant::builder(client.clone(), DEPLOYMENT).tool(clash).local_knowledge(knowledge).build();
    assert!(error.unwrap_err().to_string().contains("already named"));
}
