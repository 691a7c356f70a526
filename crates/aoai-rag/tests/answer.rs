//! `GroundedAnswerer` over aoai-emulator (chat and embeddings on loopback
//! through the real client) and an `EmbeddedIndex`: citations map to the
//! right source and byte range, streaming gives the same answer, an
//! uncited answer is flagged, numbers of sources not given are listed
//! (a scripted answer from an emulator fixture), and the budget drops whole
//! sources.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aoai_core::Client;
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use aoai_rag::answer::{AnswerEvent, GroundedAnswerer};
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::embed::AzureEmbedder;
use aoai_rag::{EmbeddedIndex, Error, Filter, Retriever as _, SearchMode};
use futures_util::StreamExt as _;

const DOCS: &[(&str, &str)] = &[
    (
        "docs/cache.md",
        "# Caching\n\nThe cache stores chat completions keyed by the canonical request.\n\n## Redis\n\nRedis shares cached answers between processes.\n",
    ),
    (
        "docs/batch.md",
        "# Batching\n\nThe scheduler drives a deployment at its token quota.\n\n## Resume\n\nA crashed batch resumes from its journal file.\n",
    ),
    (
        "notes/safety.md",
        "# Safety\n\nGuards block prompts that mention forbidden words.\n\n## Blocklists\n\nThe blocklist is matched after normalisation.\n",
    ),
];

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .deployment(DeploymentConfig::new("embed", "text-embedding-3-small"))
        .deployment(DeploymentConfig::new("chat", "gpt-4o"))
        .start()
        .await
        .unwrap()
}

async fn index(emulator: &EmulatorHandle, directory: &std::path::Path) -> EmbeddedIndex<AzureEmbedder<Client>> {
    let embedder =
        AzureEmbedder::builder(emulator.client().unwrap(), "embed", 128).request_dimensions().build().unwrap();
    let index = EmbeddedIndex::open(directory, embedder).unwrap();
    let chunker =
        TokenChunker::new(ChunkerConfig { max_tokens: 64, overlap_tokens: 8, ..ChunkerConfig::default() }).unwrap();
    for (source, text) in DOCS {
        let document = Document::new(*source, *text, Format::Markdown);
        index.replace_document(source, chunker.chunk(&document)).await.unwrap();
    }
    index
}

fn text_of(source: &str) -> &'static str {
    DOCS.iter().find(|(name, _)| *name == source).map(|(_, text)| *text).unwrap()
}

#[tokio::test]
async fn cites_the_right_source_and_byte_range() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = index(&emulator, directory.path()).await;
    let answerer = GroundedAnswerer::builder(emulator.client().unwrap(), "chat", index).k(3).build().unwrap();

    let prompt = answerer.prepare("How does a crashed batch resume?").await.unwrap();
    let user = prompt.request.messages[1].text().unwrap();
    assert!(user.starts_with("<documents>\n[doc1]"), "{user}");
    assert!(user.contains("</documents>\n\nQuestion: How does a crashed batch resume?"));
    assert_eq!(prompt.sources.len(), 3);
    assert!(prompt.request.messages[0].text().unwrap().contains("[doc1]"));

    let answer = answerer.ask("How does a crashed batch resume?").await.unwrap();
    assert!(!answer.cites_nothing_given, "{}", answer.text);
    assert!(answer.unknown_citations.is_empty());
    assert!(answer.text.contains("A crashed batch resumes from its journal file."), "{}", answer.text);
    let citation = answer
        .citations
        .iter()
        .find(|citation| citation.headings == ["Batching", "Resume"])
        .unwrap_or_else(|| panic!("{:?}", answer.citations));
    assert_eq!(citation.source, "docs/batch.md");
    let source = text_of(&citation.source);
    assert!(source[citation.start..citation.end].contains("A crashed batch resumes from its journal file."));
    // The marker follows the quoted sentence.
    let marker = answer.markers.iter().find(|marker| marker.n == citation.n).unwrap();
    assert_eq!(&answer.text[marker.range.clone()], format!("[doc{}]", citation.n));
    // Every cited sentence is in the text of the chunk it cites.
    for citation in &answer.citations {
        let source = text_of(&citation.source);
        let marker = answer.markers.iter().find(|marker| marker.n == citation.n).unwrap();
        let before = answer.text[..marker.range.start].trim_end();
        let sentence = before.rsplit("] ").next().unwrap();
        assert!(source[citation.start..citation.end].contains(sentence), "{sentence:?} not in {citation:?}");
    }
    let usage = answer.usage.as_ref().unwrap();
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert!(answer.prompt_filter_results.is_some());
    assert!(answer.content_filter_results.is_some());
    assert!(answer.request_id.is_some());
}

#[tokio::test]
async fn streaming_gives_the_same_answer() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = index(&emulator, directory.path()).await;
    // Borrowed: the index still serves other searches beside the answerer.
    let answerer = GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index).k(3).build().unwrap();
    let question = "Where does Redis share cached answers?";
    let whole = answerer.ask(question).await.unwrap();
    let direct = index.search(question, 3, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    let given: Vec<&str> = whole.sources.iter().map(|source| source.chunk.id.as_str()).collect();
    let found: Vec<&str> = direct.iter().map(|hit| hit.chunk.id.as_str()).collect();
    assert_eq!(whole.sources.len() + whole.dropped.len(), found.len());
    assert!(given.iter().all(|id| found.contains(id)), "{given:?} ⊄ {found:?}");

    let mut stream = answerer.ask_stream(question).await.unwrap();
    let mut deltas = String::new();
    let mut done = None;
    let mut pieces = 0;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            AnswerEvent::Delta(text) => {
                assert!(done.is_none(), "a delta after the answer");
                deltas.push_str(&text);
                pieces += 1;
            }
            AnswerEvent::Done(answer) => done = Some(answer),
            other => panic!("unexpected {other:?}"),
        }
    }
    let streamed = done.unwrap();
    assert!(pieces > 1, "the answer came in {pieces} piece(s)");
    assert_eq!(deltas, streamed.text);
    assert_eq!(streamed.text, whole.text);
    assert_eq!(streamed.citations, whole.citations);
    assert_eq!(streamed.sources, whole.sources);
    assert!(!streamed.cites_nothing_given);
    assert_eq!(streamed.citations[0].source, "docs/cache.md");
    assert!(streamed.usage.is_some(), "include_usage was asked for");
}

#[tokio::test]
async fn an_uncited_answer_is_flagged() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = index(&emulator, directory.path()).await;
    let answerer =
        GroundedAnswerer::builder(emulator.client().unwrap(), "chat", index).mode(SearchMode::Vector).build().unwrap();
    // Vector search always finds something; none of it shares a word with the question.
    let answer = answerer.ask("What is the price of zinc in Peru?").await.unwrap();
    assert!(!answer.sources.is_empty());
    assert!(answer.cites_nothing_given, "{}", answer.text);
    assert!(answer.citations.is_empty() && answer.markers.is_empty());
    let streamed =
        answerer.ask_stream("What is the price of zinc in Peru?").await.unwrap().into_answer().await.unwrap();
    assert!(streamed.cites_nothing_given);
    assert_eq!(streamed.text, answer.text);
}

#[tokio::test]
async fn unknown_citation_numbers_are_listed() {
    // A scripted model that cites a source it was not given, in the list form.
    let directory = tempfile::tempdir().unwrap();
    let fixtures = directory.path().join("fixtures.toml");
    std::fs::write(
        &fixtures,
        "[[fixtures]]\nmatch = { last_user_contains = \"journal\" }\nreply = { content = \"It resumes [doc1, doc9]. Also [doc9][doc0].\" }\n",
    )
    .unwrap();
    let emulator = Emulator::builder()
        .deployment(DeploymentConfig::new("embed", "text-embedding-3-small"))
        .deployment(DeploymentConfig::new("chat", "gpt-4o"))
        .fixtures(&fixtures)
        .start()
        .await
        .unwrap();
    let index_directory = tempfile::tempdir().unwrap();
    let index = index(&emulator, index_directory.path()).await;
    let answerer = GroundedAnswerer::builder(emulator.client().unwrap(), "chat", index).k(3).build().unwrap();
    let answer = answerer.ask("What is in the journal?").await.unwrap();
    assert_eq!(answer.sources.len(), 3);
    assert_eq!(answer.unknown_citations, [9, 0]);
    assert_eq!(answer.citations.iter().map(|citation| citation.n).collect::<Vec<_>>(), [1]);
    assert_eq!(answer.citations[0].chunk_id, answer.sources[0].chunk.id);
    assert!(!answer.cites_nothing_given);
    assert_eq!(answer.markers.len(), 4);
}

#[tokio::test]
async fn the_budget_drops_whole_sources() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = index(&emulator, directory.path()).await;
    let answerer =
        GroundedAnswerer::builder(emulator.client().unwrap(), "chat", index).k(6).source_budget(60).build().unwrap();
    let prompt = answerer.prepare("How does a crashed batch resume?").await.unwrap();
    assert!(!prompt.sources.is_empty());
    assert!(!prompt.dropped.is_empty());
    assert!(prompt.sources.iter().map(|source| source.tokens).sum::<usize>() <= 60);
    let user = prompt.request.messages[1].text().unwrap();
    for source in &prompt.sources {
        assert!(user.contains(&source.chunk.text), "a source was cut");
    }
    for dropped in &prompt.dropped {
        assert!(!user.contains(&dropped.text));
    }
}

#[tokio::test]
async fn a_failed_chat_call_is_a_typed_error() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = index(&emulator, directory.path()).await;
    let answerer = GroundedAnswerer::builder(emulator.client().unwrap(), "missing", index).build().unwrap();
    match answerer.ask("How does a crashed batch resume?").await {
        Err(Error::Chat(error)) => {
            assert_eq!(error.deployment(), "missing");
            assert_eq!(error.client_error().and_then(|error| error.status()), Some(404));
        }
        other => panic!("expected a chat error, got {other:?}"),
    }
    let other = tempfile::tempdir().unwrap();
    let index = self::index(&emulator, other.path()).await;
    assert!(matches!(
        GroundedAnswerer::builder(emulator.client().unwrap(), "chat", index).k(0).build(),
        Err(Error::Config(_))
    ));
}
