//! `EmbeddedIndex` with `AzureEmbedder` over aoai-emulator: keyword, vector
//! and hybrid search, fusion scores, filters, incremental writes, the
//! manifest, reopening and concurrent readers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use aoai_core::Client;
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::embed::AzureEmbedder;
use aoai_rag::index::{EmbeddedIndex, IndexConfig};
use aoai_rag::retrieve::{FusionWeights, RRF_K};
use aoai_rag::{Error, Filter, Hit, Retriever, SearchMode};

async fn emulator() -> EmulatorHandle {
    Emulator::builder().deployment(DeploymentConfig::new("embed", "text-embedding-3-small")).start().await.unwrap()
}

fn embedder(emulator: &EmulatorHandle, dimensions: usize) -> AzureEmbedder<Client> {
    AzureEmbedder::builder(emulator.client().unwrap(), "embed", dimensions).request_dimensions().build().unwrap()
}

const DOCS: &[(&str, &str, &str)] = &[
    (
        "docs/cache.md",
        "en",
        "# Caching\n\nThe cache stores chat completions keyed by the canonical request.\n\n## Redis\n\nRedis shares cached answers between processes.\n",
    ),
    (
        "docs/batch.md",
        "en",
        "# Batching\n\nThe scheduler drives a deployment at its token quota.\n\n## Resume\n\nA crashed batch resumes from its journal file.\n",
    ),
    (
        "notes/safety.md",
        "fr",
        "# Safety\n\nGuards block prompts that mention forbidden words.\n\n## Blocklists\n\nThe blocklist is matched after normalisation.\n",
    ),
];

fn documents() -> Vec<Document> {
    DOCS.iter()
        .map(|(source, lang, text)| Document::new(*source, *text, Format::Markdown).with_tag("lang", *lang))
        .collect()
}

async fn build(index: &EmbeddedIndex<AzureEmbedder<Client>>) {
    let chunker =
        TokenChunker::new(ChunkerConfig { max_tokens: 64, overlap_tokens: 8, ..ChunkerConfig::default() }).unwrap();
    for document in documents() {
        index.replace_document(&document.source, chunker.chunk(&document)).await.unwrap();
    }
}

fn ids(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|hit| hit.chunk.id.as_str()).collect()
}

#[tokio::test]
async fn keyword_vector_and_hybrid_search_fuse_by_reciprocal_rank_and_survive_reopening() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let config = IndexConfig {
        fusion: aoai_rag::retrieve::Fusion::ReciprocalRank,
        weights: FusionWeights::default(),
        ..IndexConfig::default()
    };
    let index = EmbeddedIndex::open_with(directory.path(), embedder(&emulator, 256), config).unwrap();
    build(&index).await;
    assert_eq!(index.len(), 6);

    // Keyword: the chunk with the rare word first, with a BM25 score and no vector score.
    let keyword = index.search("journal", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(ids(&keyword), vec!["docs/batch.md#1"]);
    assert!(keyword[0].keyword.is_some_and(|list| list.rank == 1 && list.score > 0.0));
    assert!(keyword[0].vector.is_none());
    assert!((keyword[0].score - 1.0 / (RRF_K + 1.0)).abs() < 1e-12);
    assert_eq!(keyword[0].chunk.headings, ["Batching", "Resume"]);
    // A title or heading word finds the section.
    let titled = index.search("redis", 1, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(ids(&titled), vec!["docs/cache.md#1"]);

    // Vector: the emulator's vectors are close for texts sharing words.
    let vector =
        index.search("a crashed batch resumes from the journal", 3, SearchMode::Vector, &Filter::none()).await.unwrap();
    assert_eq!(vector.len(), 3);
    assert_eq!(vector[0].chunk.id, "docs/batch.md#1");
    assert!(vector.iter().all(|hit| hit.keyword.is_none() && hit.vector.is_some()));
    assert!(vector[0].vector.unwrap().score > vector[1].vector.unwrap().score);

    // Hybrid: every hit's score is the sum of 1/(60 + rank) over its lists.
    let hybrid = index.search("blocklist normalisation", 6, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    assert_eq!(hybrid[0].chunk.id, "notes/safety.md#1");
    assert!(hybrid[0].keyword.is_some() && hybrid[0].vector.is_some());
    for hit in &hybrid {
        let expected = hit.keyword.map_or(0.0, |list| 1.0 / (RRF_K + list.rank as f64))
            + hit.vector.map_or(0.0, |list| 1.0 / (RRF_K + list.rank as f64));
        assert!((hit.score - expected).abs() < 1e-12, "{hit:?}");
    }
    assert!(hybrid.windows(2).all(|pair| pair[0].score >= pair[1].score));

    // Reopening the directory gives the same answers.
    let generation = index.generation();
    drop(index);
    let reopened = EmbeddedIndex::open_with(directory.path(), embedder(&emulator, 256), config).unwrap();
    assert_eq!(reopened.generation(), generation);
    assert_eq!(reopened.search("journal", 3, SearchMode::Keyword, &Filter::none()).await.unwrap(), keyword);
    assert_eq!(
        reopened
            .search("a crashed batch resumes from the journal", 3, SearchMode::Vector, &Filter::none())
            .await
            .unwrap(),
        vector
    );
    assert_eq!(
        reopened.search("blocklist normalisation", 6, SearchMode::Hybrid, &Filter::none()).await.unwrap(),
        hybrid
    );
}

#[tokio::test]
async fn filters_apply_in_both_lists() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(directory.path(), embedder(&emulator, 256)).unwrap();
    build(&index).await;
    for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
        let docs = index
            .search("the cache and the scheduler", 10, mode, &Filter::none().source_prefix("docs/"))
            .await
            .unwrap();
        assert!(!docs.is_empty());
        assert!(docs.iter().all(|hit| hit.chunk.source.starts_with("docs/")), "{mode:?}");
        let french =
            index.search("guards block the prompts", 10, mode, &Filter::none().tag("lang", "fr")).await.unwrap();
        assert!(!french.is_empty());
        assert!(french.iter().all(|hit| hit.chunk.source == "notes/safety.md"), "{mode:?}");
        let none =
            index.search("cache", 10, mode, &Filter::none().source_prefix("docs/").tag("lang", "fr")).await.unwrap();
        assert!(none.is_empty(), "{mode:?}");
    }
}

#[tokio::test]
async fn writes_are_incremental_and_the_keyword_index_is_rebuilt_when_lost() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(directory.path(), embedder(&emulator, 256)).unwrap();
    build(&index).await;
    let chunker = TokenChunker::new(ChunkerConfig::default()).unwrap();

    // Replacing a document drops its old chunks.
    let shorter = Document::new("docs/batch.md", "# Batching\n\nNow about quotas only.\n", Format::Markdown);
    index.replace_document("docs/batch.md", chunker.chunk(&shorter)).await.unwrap();
    assert_eq!(index.len(), 5);
    assert!(index.get("docs/batch.md#1").is_none());
    assert!(index.search("journal", 5, SearchMode::Keyword, &Filter::none()).await.unwrap().is_empty());
    assert_eq!(
        ids(&index.search("quotas", 5, SearchMode::Keyword, &Filter::none()).await.unwrap()),
        vec!["docs/batch.md#0"]
    );

    // Adding a chunk with an existing id replaces it.
    let mut chunk = index.get("notes/safety.md#0").unwrap();
    chunk.text = "Guards now also check tool arguments.".to_owned();
    index.add(vec![chunk]).await.unwrap();
    assert_eq!(index.len(), 5);
    assert_eq!(
        ids(&index.search("arguments", 5, SearchMode::Keyword, &Filter::none()).await.unwrap()),
        vec!["notes/safety.md#0"]
    );
    assert!(index.search("forbidden", 5, SearchMode::Keyword, &Filter::none()).await.unwrap().is_empty());

    // Deletes by chunk and by document.
    assert_eq!(index.delete_chunks(&["notes/safety.md#0", "missing#0"]).unwrap(), 1);
    assert_eq!(index.delete_document("docs/cache.md").unwrap(), 2);
    assert_eq!(index.len(), 2);
    assert_eq!(index.delete_document("docs/cache.md").unwrap(), 0);
    let remaining: Vec<String> = {
        let hits = index.search("batching quotas safety", 10, SearchMode::Vector, &Filter::none()).await.unwrap();
        let mut ids: Vec<String> = hits.into_iter().map(|hit| hit.chunk.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(remaining, vec!["docs/batch.md#0", "notes/safety.md#1"]);

    // The keyword index is derived: lose it, reopen, and it is rebuilt from the chunks.
    let before = index.search("quotas blocklist", 5, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    drop(index);
    std::fs::remove_dir_all(directory.path().join("keyword")).unwrap();
    let reopened = EmbeddedIndex::open(directory.path(), embedder(&emulator, 256)).unwrap();
    let after = reopened.search("quotas blocklist", 5, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    // Same order and list ranks; raw BM25 scores (and so the fused scores,
    // which normalise them) differ, since tantivy counts deleted documents
    // in its statistics until segments merge.
    let ranks = |hits: &[Hit]| -> Vec<(String, Option<usize>, Option<usize>)> {
        hits.iter()
            .map(|hit| (hit.chunk.id.clone(), hit.keyword.map(|list| list.rank), hit.vector.map(|list| list.rank)))
            .collect()
    };
    assert_eq!(ranks(&after), ranks(&before));
    assert_eq!(after.len(), 2);
}

#[tokio::test]
async fn refuses_another_embedder_and_honours_weights() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(directory.path(), embedder(&emulator, 256)).unwrap();
    build(&index).await;
    drop(index);
    let error = EmbeddedIndex::open(directory.path(), embedder(&emulator, 128)).unwrap_err();
    let Error::Mismatch(mismatch) = &error else { panic!("{error}") };
    assert_eq!((mismatch.stored(), mismatch.given()), ("azure:embed:256", "azure:embed:128"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(directory.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["embedder"], "azure:embed:256");
    assert_eq!(manifest["dimensions"], 256);
    assert_eq!(manifest["chunks"], 6);

    let zero = IndexConfig { candidates: 0, ..IndexConfig::default() };
    assert!(matches!(
        EmbeddedIndex::open_with(directory.path(), embedder(&emulator, 256), zero),
        Err(Error::Config(_))
    ));

    // With the keyword list weighted 0, hybrid ranks as the vector list does.
    let config = IndexConfig { weights: FusionWeights { keyword: 0.0, vector: 1.0 }, ..IndexConfig::default() };
    let index = EmbeddedIndex::open_with(directory.path(), embedder(&emulator, 256), config).unwrap();
    let query = "redis shares answers";
    let hybrid = index.search(query, 4, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    let vector = index.search(query, 4, SearchMode::Vector, &Filter::none()).await.unwrap();
    assert_eq!(ids(&hybrid), ids(&vector));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_run_while_writing() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = Arc::new(EmbeddedIndex::open(directory.path(), embedder(&emulator, 64)).unwrap());
    build(&index).await;
    let chunker = TokenChunker::new(ChunkerConfig::default()).unwrap();
    let writer = {
        let index = Arc::clone(&index);
        tokio::spawn(async move {
            for round in 0..10 {
                let document = Document::new(
                    format!("extra/{round}.md"),
                    format!("# Extra {round}\n\nextra words"),
                    Format::Markdown,
                );
                index.replace_document(&document.source, chunker.chunk(&document)).await.unwrap();
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..4 {
        let index = Arc::clone(&index);
        readers.push(tokio::spawn(async move {
            for _ in 0..10 {
                let hits = index.search("journal", 3, SearchMode::Hybrid, &Filter::none()).await.unwrap();
                assert_eq!(hits[0].chunk.id, "docs/batch.md#1");
            }
        }));
    }
    writer.await.unwrap();
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(index.len(), 16);
    assert_eq!(index.search("extra", 20, SearchMode::Keyword, &Filter::none()).await.unwrap().len(), 10);
}

#[tokio::test]
async fn html_hits_cite_the_source_bytes() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(directory.path(), embedder(&emulator, 64)).unwrap();
    let html = "<html><head><title>Runbook</title><style>p{}</style></head><body><h1>Runbook</h1>\
        <p>Restart the worker.</p><h2>Failover</h2><p>Promote the replica &amp; drain traffic.</p></body></html>";
    let document = Document::new("site/runbook.html", html, Format::Html);
    let chunks = TokenChunker::new(ChunkerConfig::default()).unwrap().chunk(&document);
    index.replace_document(&document.source, chunks).await.unwrap();
    let hits = index.search("replica", 1, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    let chunk = &hits[0].chunk;
    assert_eq!(chunk.text, "Failover\n\nPromote the replica & drain traffic.");
    assert_eq!(&html[chunk.start..chunk.end], "Failover</h2><p>Promote the replica &amp; drain traffic.");
    assert_eq!(
        (chunk.title.as_deref(), chunk.headings.clone()),
        (Some("Runbook"), vec!["Runbook".to_owned(), "Failover".to_owned()])
    );
}

#[tokio::test]
async fn an_hnsw_index_answers_as_the_exact_scan_and_keeps_its_graph_across_reopening() {
    let emulator = emulator().await;
    let exact_directory = tempfile::tempdir().unwrap();
    let graph_directory = tempfile::tempdir().unwrap();
    let exact = EmbeddedIndex::open(exact_directory.path(), embedder(&emulator, 64)).unwrap();
    // A graph from the first chunk on (the default waits for 10,000).
    let hnsw = aoai_index::VectorSearch::Hnsw { config: aoai_index::hnsw::HnswConfig::default(), threshold: 1 };
    let config = IndexConfig { vector_search: hnsw, ..IndexConfig::default() };
    let graph = EmbeddedIndex::open_with(graph_directory.path(), embedder(&emulator, 64), config).unwrap();
    build(&exact).await;
    build(&graph).await;
    assert!(
        std::fs::read_dir(graph_directory.path()).unwrap().any(|entry| entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".hnsw")),
        "the graph is saved beside the rows"
    );
    for query in ["redis shares answers", "crashed batch journal", "forbidden words"] {
        for mode in [SearchMode::Vector, SearchMode::Hybrid] {
            let want = exact.search(query, 4, mode, &Filter::none()).await.unwrap();
            let got = graph.search(query, 4, mode, &Filter::none()).await.unwrap();
            // Six chunks: the graph reaches every one, so it finds what the scan finds.
            assert_eq!(ids(&got), ids(&want), "{query} {mode:?}");
        }
        let filter = Filter::none().tag("lang", "en");
        let got = graph.search(query, 4, SearchMode::Vector, &filter).await.unwrap();
        assert!(got.iter().all(|hit| hit.chunk.tags.get("lang").map(String::as_str) == Some("en")));
    }
    drop(graph);
    let reopened = EmbeddedIndex::open_with(graph_directory.path(), embedder(&emulator, 64), config).unwrap();
    let want = exact.search("redis shares answers", 4, SearchMode::Vector, &Filter::none()).await.unwrap();
    let got = reopened.search("redis shares answers", 4, SearchMode::Vector, &Filter::none()).await.unwrap();
    assert_eq!(ids(&got), ids(&want));
}

fn chunk(source: &str, index: usize, text: &str) -> aoai_rag::Chunk {
    aoai_rag::Chunk {
        id: format!("{source}#{index}"),
        source: source.to_owned(),
        index,
        title: None,
        headings: vec![],
        text: text.to_owned(),
        start: 0,
        end: text.len(),
        tokens: 8,
        tags: Default::default(),
    }
}

fn sources(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|hit| hit.chunk.source.as_str()).collect()
}

#[tokio::test]
async fn search_per_source_keeps_the_best_chunks_of_each_source_and_still_returns_k() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(directory.path(), embedder(&emulator, 64)).unwrap();
    // Twenty short chunks of one source all about quotas outrank the three
    // other sources, which mention a quota once in longer text.
    let mut chunks: Vec<_> = (0..20).map(|n| chunk("big.md", n, &format!("Quota quota quota, part {n}."))).collect();
    for (source, text) in [
        (
            "a.md",
            "The scheduler reads many settings from a file, and among them the quota of the deployment it drives.",
        ),
        ("b.md", "Each worker waits for its turn, counting tokens against the shared quota before it sends a request."),
        ("c.md", "Retries back off exponentially; a rate-limited request is resent once the quota window has passed."),
    ] {
        chunks.push(chunk(source, 0, text));
    }
    index.add(chunks).await.unwrap();

    let plain = index.search("quota", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(sources(&plain), ["big.md"; 3]);
    // per_source 0 is the plain search.
    let unlimited = index.search_per_source("quota", 3, SearchMode::Keyword, &Filter::none(), 0).await.unwrap();
    assert_eq!(ids(&unlimited), ids(&plain));

    // One per source: the best chunk of big.md, then the others (found
    // deeper than 4 × k = 12, where big.md's twenty chunks are all).
    let one = index.search_per_source("quota", 3, SearchMode::Keyword, &Filter::none(), 1).await.unwrap();
    assert_eq!(one.len(), 3);
    assert_eq!(one[0].chunk.id, plain[0].chunk.id);
    let distinct: std::collections::HashSet<&str> = sources(&one).into_iter().collect();
    assert_eq!(distinct.len(), 3, "{:?}", sources(&one));
    for mode in [SearchMode::Hybrid, SearchMode::Vector] {
        let hits = index.search_per_source("quota", 4, mode, &Filter::none(), 1).await.unwrap();
        let distinct: std::collections::HashSet<&str> = sources(&hits).into_iter().collect();
        assert_eq!((hits.len(), distinct.len()), (4, 4), "{mode:?}: {:?}", sources(&hits));
    }

    // Two per source: big.md's best two first.
    let two = index.search_per_source("quota", 4, SearchMode::Keyword, &Filter::none(), 2).await.unwrap();
    assert_eq!(ids(&two)[..2], ids(&plain)[..2]);
    assert_eq!(sources(&two).iter().filter(|source| **source == "big.md").count(), 2);
    assert_eq!(two.len(), 4);

    // Fewer sources than k: every source once, no error.
    let all = index.search_per_source("quota", 10, SearchMode::Keyword, &Filter::none(), 1).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(aoai_rag::retrieve::collapse_per_source(plain, 1).len(), 1);
}

#[tokio::test]
async fn an_index_opened_for_keywords_only_searches_by_keyword_and_embeds_nothing() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(directory.path(), embedder(&emulator, 256)).unwrap();
    build(&index).await;
    let expected = index.search("journal", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    drop(index);
    let requests = || emulator.stats().deployment("embed").map_or(0, |stats| stats.requests);
    let embeddings_before = requests();

    let keyword = EmbeddedIndex::open_keyword_only(directory.path()).unwrap();
    assert_eq!(aoai_rag::Embedder::identity(keyword.embedder()), "azure:embed:256");
    let hits = keyword.search("journal", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(ids(&hits), ids(&expected));
    // Anything that needs a vector is a clear embedding error, not a wrong answer.
    let error = keyword.search("journal", 3, SearchMode::Hybrid, &Filter::none()).await.unwrap_err();
    assert!(matches!(error, Error::Embed(_)), "{error}");
    assert!(format!("{error:?}").contains("keyword search only"), "{error:?}");
    assert_eq!(requests(), embeddings_before, "no request reached the embeddings deployment");

    // No index there: an error, and nothing is created.
    let missing = directory.path().join("missing");
    assert!(matches!(EmbeddedIndex::open_keyword_only(&missing), Err(Error::Index(_))));
    assert!(!missing.exists());
}

/// Keyword search sees a chunk's heading context (title and headings its
/// text lacks) once: a chunk deep in a section matches the section's name,
/// and a heading already in the text is not indexed a second time.
#[tokio::test]
async fn headings_count_once_and_reach_chunks_deep_in_their_section() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(dir.path(), embedder(&emulator, 8)).unwrap();
    // The section's first chunk holds its heading line; the second does not.
    let mut first = chunk("docs/quota.md", 0, "# Quota windows\n\nTokens per minute are charged when sent.");
    first.title = Some("Quota windows".to_owned());
    first.headings = vec!["Quota windows".to_owned()];
    let mut second = chunk("docs/quota.md", 1, "The charge is corrected when the usage arrives.");
    second.title = Some("Quota windows".to_owned());
    second.headings = vec!["Quota windows".to_owned(), "Corrections".to_owned()];
    let other = chunk("docs/other.md", 0, "Windows of time and a charge for each request.");
    index.add(vec![first, second, other]).await.unwrap();

    let context = |id: &str| index.engine().get(id).unwrap().fields.get("context").cloned();
    assert_eq!(context("docs/quota.md#0"), None, "the heading is in the text already");
    assert_eq!(context("docs/quota.md#1"), Some(serde_json::json!(["Quota windows", "Corrections"])));
    assert_eq!(context("docs/other.md#0"), None);

    // "corrections" is only in the second chunk's heading path.
    let hits = index.search("corrections", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(ids(&hits), ["docs/quota.md#1"]);
    // "quota windows charge": the second chunk has "charge" in its text and
    // "quota windows" in its context, so it outranks the other document,
    // which has "windows" and "charge" in its text but no "quota".
    let hits = index.search("quota windows charge", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    let rank = |id: &str| ids(&hits).iter().position(|hit| *hit == id).unwrap();
    assert!(rank("docs/quota.md#1") < rank("docs/other.md#0"), "{:?}", ids(&hits));
    // The stored chunk reads back without the context field.
    assert_eq!(index.get("docs/quota.md#1").unwrap().text, "The charge is corrected when the usage arrives.");
}

/// An index written before BM25F (manifest format 2) is refused with a
/// message that says what to do.
#[tokio::test]
async fn an_index_of_an_older_format_is_refused_with_a_remedy() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("manifest.json"),
        r#"{"format": 2, "embedder": "azure:embed:8", "dimensions": 8, "metric": "cosine", "generation": 1, "chunks": 0}"#,
    )
    .unwrap();
    let error = EmbeddedIndex::open(dir.path(), embedder(&emulator, 8)).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Index(_)), "{error:?}");
    assert!(message.contains("format 2") && message.contains("index the documents again"), "{message}");
}

/// The default fusion: each list's scores divided by its best and summed at
/// the default weights (keyword 0.9 / vector 0.1).
#[tokio::test]
async fn the_default_fusion_sums_scores_over_each_lists_best_at_the_default_weights() {
    let emulator = emulator().await;
    let directory = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(directory.path(), embedder(&emulator, 256)).unwrap();
    build(&index).await;
    // One list: its best hit gets the whole weight.
    let keyword = index.search("journal resumes", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    let weights = aoai_rag::index::DEFAULT_WEIGHTS;
    assert!((weights.keyword - 0.9).abs() < 1e-12 && (weights.vector - 0.1).abs() < 1e-12, "{weights:?}");
    assert!((keyword[0].score - weights.keyword).abs() < 1e-9, "{keyword:?}");
    let vector = index.search("journal resumes", 6, SearchMode::Vector, &Filter::none()).await.unwrap();
    assert!((vector[0].score - weights.vector).abs() < 1e-9, "{vector:?}");
    for hit in &vector {
        let share = f64::from(hit.vector.unwrap().score.max(0.0) / vector[0].vector.unwrap().score);
        assert!((hit.score - weights.vector * share).abs() < 1e-6, "{hit:?}");
    }
    // Both lists: scores within 0..=1, best first, and a hit first in both lists scores 1.
    let hybrid = index.search("journal resumes", 6, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    assert!(hybrid.iter().all(|hit| (0.0..=1.0 + 1e-9).contains(&hit.score)), "{hybrid:?}");
    assert!(hybrid.windows(2).all(|pair| pair[0].score >= pair[1].score));
    if let Some(top) = hybrid
        .iter()
        .find(|hit| hit.keyword.is_some_and(|list| list.rank == 1) && hit.vector.is_some_and(|list| list.rank == 1))
    {
        assert!((top.score - 1.0).abs() < 1e-9, "{top:?}");
    }
    // A heavier keyword weight can only move keyword leaders up.
    let config = IndexConfig { weights: FusionWeights { keyword: 1.0, vector: 0.0 }, ..IndexConfig::default() };
    let other = tempfile::tempdir().unwrap();
    let keyword_only = EmbeddedIndex::open_with(other.path(), embedder(&emulator, 256), config).unwrap();
    build(&keyword_only).await;
    let hits = keyword_only.search("journal resumes", 3, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    assert_eq!(ids(&hits)[0], ids(&keyword)[0]);
}
