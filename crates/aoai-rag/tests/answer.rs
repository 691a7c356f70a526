//! `GroundedAnswerer` over aoai-emulator (chat and embeddings on loopback
//! through the real client) and an `EmbeddedIndex`: citations map to the
//! right source and byte range, streaming gives the same answer, an
//! uncited answer is flagged, numbers of sources not given are listed
//! (a scripted answer from an emulator fixture), and the budget drops whole
//! sources. Follow-up questions: a question asked after earlier turns is
//! rewritten into a standalone query (the model's reply scripted by an
//! emulator fixture that only matches a rewrite request carrying the
//! history), retrieval with the follow-up alone finds the wrong passage and
//! with the rewrite the right one; no rewrite call without history; an
//! empty, refused or failed rewrite falls back to the question.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aoai_core::Client;
use aoai_core::retry::RetryPolicy;
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use aoai_rag::answer::{AnswerEvent, GroundedAnswerer, ModelRewriter, RewriteFallback, Turn};
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

// ---------------------------------------------------------------------------
// Follow-up questions
// ---------------------------------------------------------------------------

/// Two passages: the follow-up alone ("how long does it take?") shares its
/// words with the installation one; the question it follows is about the
/// batch one.
const FOLLOW_UP_DOCS: &[(&str, &str)] = &[
    (
        "docs/batch.md",
        "# Batching\n\n## Resume\n\nA crashed batch resumes from its journal file. Resuming a crashed batch takes about ten seconds.\n",
    ),
    ("docs/install.md", "# Installing\n\nHow long does it take to install? It takes two minutes on a laptop.\n"),
];

const FIRST_QUESTION: &str = "How does a crashed batch resume?";
const FOLLOW_UP: &str = "and how long does it take?";
const REWRITTEN: &str = "How long does resuming a crashed batch take?";

fn history() -> Vec<Turn> {
    vec![Turn::user(FIRST_QUESTION), Turn::assistant("A crashed batch resumes from its journal file. [doc1]")]
}

/// An emulator whose chat deployment answers a rewrite request (the
/// rewriter's system message, the follow-up as the last question, and the
/// earlier turn in the transcript) with `reply`; every other request gets
/// the emulator's own answer.
async fn follow_up_emulator(directory: &std::path::Path, reply: &str) -> EmulatorHandle {
    let fixtures = directory.join("fixtures.toml");
    let toml = format!(
        "[[fixtures]]\nname = \"rewrite\"\nmatch = {{ deployment = \"chat\", system_contains = \"standalone search query\", \
         last_user_contains = \"Last question: {FOLLOW_UP}\", any_message_contains = \"User: {FIRST_QUESTION}\" }}\nreply = {reply}\n"
    );
    std::fs::write(&fixtures, toml).unwrap();
    Emulator::builder()
        .deployment(DeploymentConfig::new("embed", "text-embedding-3-small"))
        .deployment(DeploymentConfig::new("chat", "gpt-4o"))
        .fixtures(&fixtures)
        .start()
        .await
        .unwrap()
}

async fn follow_up_index(
    emulator: &EmulatorHandle,
    directory: &std::path::Path,
) -> EmbeddedIndex<AzureEmbedder<Client>> {
    let embedder =
        AzureEmbedder::builder(emulator.client().unwrap(), "embed", 128).request_dimensions().build().unwrap();
    let index = EmbeddedIndex::open(directory, embedder).unwrap();
    let chunker = TokenChunker::new(ChunkerConfig::default()).unwrap();
    for (source, text) in FOLLOW_UP_DOCS {
        let document = Document::new(*source, *text, Format::Markdown);
        index.replace_document(source, chunker.chunk(&document)).await.unwrap();
    }
    index
}

fn chat_requests(emulator: &EmulatorHandle) -> u64 {
    emulator.stats().deployment("chat").map_or(0, |stats| stats.requests)
}

#[tokio::test]
async fn a_follow_up_is_rewritten_before_retrieval() {
    let directory = tempfile::tempdir().unwrap();
    let emulator = follow_up_emulator(directory.path(), &format!("{{ content = \"{REWRITTEN}\" }}")).await;
    let index = follow_up_index(&emulator, &directory.path().join("index")).await;
    let history = history();

    // Without the rewrite, the follow-up alone retrieves the wrong passage.
    let plain =
        GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index).k(1).no_query_rewrite().build().unwrap();
    let before = chat_requests(&emulator);
    let unrewritten = plain.ask_with_history(&history, FOLLOW_UP).await.unwrap();
    assert_eq!(chat_requests(&emulator) - before, 1, "no rewrite call when rewriting is off");
    assert!(unrewritten.rewrite.is_none());
    assert_eq!(unrewritten.sources[0].chunk.source, "docs/install.md");
    for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
        let hits = index.search(FOLLOW_UP, 1, mode, &Filter::none()).await.unwrap();
        assert_eq!(hits[0].chunk.source, "docs/install.md", "{mode:?}");
    }

    // With it (the default), the rewritten query retrieves the right one.
    let answerer = GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index).k(1).build().unwrap();
    let before = chat_requests(&emulator);
    let answer = answerer.ask_with_history(&history, FOLLOW_UP).await.unwrap();
    assert_eq!(chat_requests(&emulator) - before, 2, "one rewrite call, then the answer");
    let rewrite = answer.rewrite.as_ref().unwrap();
    assert!(rewrite.is_rewritten(), "{rewrite:?}");
    assert_eq!(rewrite.query, REWRITTEN);
    assert_eq!(rewrite.question, FOLLOW_UP);
    assert_eq!(rewrite.deployment.as_deref(), Some("chat"));
    assert!(rewrite.request_id.is_some());
    assert_eq!(answer.sources[0].chunk.source, "docs/batch.md");
    assert_eq!(answer.history_turns, 2);
    // The rewrite's tokens are in the answer's usage.
    let rewrite_usage = rewrite.usage.as_ref().unwrap();
    let usage = answer.usage.as_ref().unwrap();
    assert!(rewrite_usage.prompt_tokens > 0 && rewrite_usage.completion_tokens > 0);
    assert!(usage.prompt_tokens > rewrite_usage.prompt_tokens);
    assert!(usage.completion_tokens > rewrite_usage.completion_tokens);
    assert_eq!(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);

    // The answer is asked with the history (markers removed), then the
    // sources and the question as asked.
    let prompt = answerer.prepare_with_history(&history, FOLLOW_UP).await.unwrap();
    let texts: Vec<String> = prompt.request.messages.iter().map(|message| message.text().unwrap()).collect();
    assert_eq!(texts.len(), 4);
    assert_eq!(texts[1], FIRST_QUESTION);
    assert_eq!(texts[2], "A crashed batch resumes from its journal file.");
    assert!(texts[3].starts_with("<documents>\n[doc1]") && texts[3].contains("docs/batch.md"), "{}", texts[3]);
    assert!(texts[3].ends_with(&format!("</documents>\n\nQuestion: {FOLLOW_UP}")), "{}", texts[3]);

    // Streaming rewrites the same way.
    let streamed = answerer.ask_stream_with_history(&history, FOLLOW_UP).await.unwrap().into_answer().await.unwrap();
    assert_eq!(streamed.rewrite.as_ref().map(|rewrite| rewrite.query.as_str()), Some(REWRITTEN));
    assert_eq!(streamed.sources, answer.sources);
    assert_eq!(streamed.text, answer.text);
}

#[tokio::test]
async fn no_history_means_no_rewrite_call() {
    let directory = tempfile::tempdir().unwrap();
    let emulator = follow_up_emulator(directory.path(), &format!("{{ content = \"{REWRITTEN}\" }}")).await;
    let index = follow_up_index(&emulator, &directory.path().join("index")).await;
    let answerer = GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index).k(1).build().unwrap();
    let before = chat_requests(&emulator);
    let answer = answerer.ask_with_history(&[], FIRST_QUESTION).await.unwrap();
    let streamed = answerer.ask_stream(FIRST_QUESTION).await.unwrap().into_answer().await.unwrap();
    assert_eq!(chat_requests(&emulator) - before, 2, "one call per answer, none to rewrite");
    for answer in [&answer, &streamed] {
        assert!(answer.rewrite.is_none());
        assert_eq!(answer.history_turns, 0);
        assert_eq!(answer.sources[0].chunk.source, "docs/batch.md");
    }
    let prompt = answerer.prepare(FIRST_QUESTION).await.unwrap();
    assert_eq!(prompt.request.messages.len(), 2);
}

#[tokio::test]
async fn an_unusable_rewrite_falls_back_to_the_question() {
    let cases = [
        ("{ content = \"\" }", RewriteFallback::Empty),
        (
            "{ refusal = \"I can't help with that.\" }",
            RewriteFallback::Refused { refusal: "I can't help with that.".to_owned() },
        ),
        (
            "{ error = { status = 500, body = { error = { code = \"InternalServerError\", message = \"Boom.\" } } } }",
            RewriteFallback::Failed { status: Some(500), message: String::new() },
        ),
    ];
    for (reply, expected) in cases {
        let directory = tempfile::tempdir().unwrap();
        let emulator = follow_up_emulator(directory.path(), reply).await;
        let index = follow_up_index(&emulator, &directory.path().join("index")).await;
        // No retries: the failing case answers 500 at once.
        let client = emulator.client_builder().retry(RetryPolicy::none()).build().unwrap();
        let answerer = GroundedAnswerer::builder(client, "chat", &index).k(1).build().unwrap();
        let answer = answerer.ask_with_history(&history(), FOLLOW_UP).await.unwrap();
        let rewrite = answer.rewrite.as_ref().unwrap();
        match (&rewrite.fallback, &expected) {
            (Some(RewriteFallback::Failed { status, message }), RewriteFallback::Failed { .. }) => {
                assert_eq!(*status, Some(500));
                assert!(message.contains("InternalServerError"), "{message}");
            }
            (fallback, expected) => assert_eq!(fallback.as_ref(), Some(expected)),
        }
        assert!(!rewrite.is_rewritten());
        assert_eq!(rewrite.query, FOLLOW_UP, "{reply}");
        // The answer is still given, from what the follow-up alone retrieves.
        assert_eq!(answer.sources[0].chunk.source, "docs/install.md");
        assert!(!answer.text.is_empty());
    }
}

#[tokio::test]
async fn a_rewriter_of_another_deployment_or_ones_own() {
    let directory = tempfile::tempdir().unwrap();
    let emulator = follow_up_emulator(directory.path(), &format!("{{ content = \"{REWRITTEN}\" }}")).await;
    let index = follow_up_index(&emulator, &directory.path().join("index")).await;
    // A rewriter on a deployment that does not exist: the call fails, the answer does not.
    let answerer = GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index)
        .k(1)
        .query_rewriter(ModelRewriter::new().deployment("missing"))
        .build()
        .unwrap();
    let answer = answerer.ask_with_history(&history(), FOLLOW_UP).await.unwrap();
    let rewrite = answer.rewrite.unwrap();
    assert_eq!(rewrite.deployment.as_deref(), Some("missing"));
    assert!(matches!(rewrite.fallback, Some(RewriteFallback::Failed { status: Some(404), .. })), "{rewrite:?}");

    // A rule of one's own: search with the last user question (the follow-up
    // itself only asks about duration, which the install notes match best).
    struct LastUserTurn;
    #[async_trait::async_trait]
    impl aoai_rag::answer::QueryRewriter for LastUserTurn {
        async fn rewrite(&self, input: aoai_rag::answer::RewriteInput<'_>) -> aoai_rag::answer::Rewrite {
            let last = input.history.iter().rev().find(|turn| turn.role == aoai_rag::answer::TurnRole::User);
            let query = last.map_or(input.question, |turn| turn.content.as_str()).to_owned();
            aoai_rag::answer::Rewrite::rewritten(input.question, query)
        }
    }
    let answerer = GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index)
        .k(1)
        .query_rewriter(LastUserTurn)
        .build()
        .unwrap();
    let before = chat_requests(&emulator);
    let answer = answerer.ask_with_history(&history(), FOLLOW_UP).await.unwrap();
    assert_eq!(chat_requests(&emulator) - before, 1, "only the answer is asked");
    assert_eq!(answer.rewrite.unwrap().query, FIRST_QUESTION);
    assert_eq!(answer.sources[0].chunk.source, "docs/batch.md");
}

#[tokio::test]
async fn the_history_budget_keeps_the_most_recent_turns_whole() {
    let directory = tempfile::tempdir().unwrap();
    let emulator = follow_up_emulator(directory.path(), &format!("{{ content = \"{REWRITTEN}\" }}")).await;
    let index = follow_up_index(&emulator, &directory.path().join("index")).await;
    let mut history = vec![Turn::user("An old question about caching. ".repeat(20))];
    history.extend(self::history());
    // The two recent turns take about 20 tokens; the old one about 140.
    let answerer =
        GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index).k(1).history_budget(60).build().unwrap();
    let prompt = answerer.prepare_with_history(&history, FOLLOW_UP).await.unwrap();
    assert_eq!(prompt.history_turns, 2);
    let texts: Vec<String> = prompt.request.messages.iter().map(|message| message.text().unwrap()).collect();
    assert_eq!(texts[1], FIRST_QUESTION);
    assert!(texts.iter().all(|text| !text.contains("An old question")));
    // The rewrite saw the same turns (the fixture needs the first question).
    assert_eq!(prompt.rewrite.unwrap().query, REWRITTEN);
    // A budget the last turn alone exceeds sends no history and no rewrite.
    let answerer =
        GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index).k(1).history_budget(3).build().unwrap();
    let prompt = answerer.prepare_with_history(&history, FOLLOW_UP).await.unwrap();
    assert_eq!((prompt.history_turns, prompt.rewrite.is_none(), prompt.request.messages.len()), (0, true, 2));
    assert!(matches!(
        GroundedAnswerer::builder(emulator.client().unwrap(), "chat", &index).history_budget(0).build(),
        Err(Error::Config(_))
    ));
}
