//! `AzureSearchIndex` against aoai-emulator's Azure AI Search endpoints:
//! index creation, batched uploads, keyword/vector/hybrid queries, filters,
//! merges, deletes, and typed errors for a wrong key, a partly refused batch
//! and the missing semantic ranker.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aoai_core::Client;
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use aoai_rag::azure_search::AzureSearchIndex;
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::embed::AzureEmbedder;
use aoai_rag::index::{EmbeddedIndex, IndexConfig};
use aoai_rag::retrieve::{Fusion, FusionWeights, RRF_K};
use aoai_rag::{Chunk, Error, Filter, Hit, Retriever, SearchMode};

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .key("search-admin-key")
        .deployment(DeploymentConfig::new("embed", "text-embedding-3-small"))
        .start()
        .await
        .unwrap()
}

fn embedder(emulator: &EmulatorHandle) -> AzureEmbedder<Client> {
    AzureEmbedder::builder(emulator.client().unwrap(), "embed", 64).request_dimensions().build().unwrap()
}

fn search_client(emulator: &EmulatorHandle, key: &str) -> Client {
    Client::builder(Endpoint::search(emulator.base_url()).unwrap())
        .api_key(key)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn index(emulator: &EmulatorHandle, name: &str) -> AzureSearchIndex<AzureEmbedder<Client>> {
    AzureSearchIndex::builder(search_client(emulator, "search-admin-key"), name, embedder(emulator))
        .batch_size(2)
        .build()
        .unwrap()
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
        "notes/it's-safety.md",
        "fr",
        "# Safety\n\nGuards block prompts that mention forbidden words.\n\n## Blocklists\n\nThe blocklist is matched after normalisation.\n",
    ),
];

fn chunks() -> Vec<Chunk> {
    let chunker =
        TokenChunker::new(ChunkerConfig { max_tokens: 64, overlap_tokens: 8, ..ChunkerConfig::default() }).unwrap();
    DOCS.iter()
        .flat_map(|(source, lang, text)| {
            chunker.chunk(&Document::new(*source, *text, Format::Markdown).with_tag("lang", *lang))
        })
        .collect()
}

fn ids(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|hit| hit.chunk.id.as_str()).collect()
}

#[tokio::test]
async fn uploads_in_batches_and_answers_every_mode() {
    let emulator = emulator().await;
    let index = index(&emulator, "chunks");
    index.create_or_update_index().await.unwrap();
    let chunks = chunks();
    assert_eq!(chunks.len(), 6);
    index.upload(chunks.clone()).await.unwrap();
    assert_eq!(index.count().await.unwrap(), 6);

    // Keyword: BM25 place, fused-style score 1 / (60 + rank); the chunk comes back whole.
    let keyword = index.search("journal", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(ids(&keyword), ["docs/batch.md#1"]);
    let hit = &keyword[0];
    assert!(hit.keyword.is_some_and(|list| list.rank == 1 && list.score > 0.0));
    assert!(hit.vector.is_none());
    assert!((hit.score - 1.0 / (RRF_K + 1.0)).abs() < 1e-12);
    let original = chunks.iter().find(|chunk| chunk.id == "docs/batch.md#1").unwrap();
    assert_eq!(&hit.chunk, original);

    // Vector: the same ranking and cosine similarities as the embedded index
    // with the same embedder, fusing as Azure does.
    let directory = tempfile::tempdir().unwrap();
    let azure_like =
        IndexConfig { fusion: Fusion::ReciprocalRank, weights: FusionWeights::default(), ..IndexConfig::default() };
    let embedded = EmbeddedIndex::open_with(directory.path(), embedder(&emulator), azure_like).unwrap();
    embedded.add(chunks.clone()).await.unwrap();
    let query = "a crashed batch resumes from the journal";
    let remote = index.search(query, 4, SearchMode::Vector, &Filter::none()).await.unwrap();
    let local = embedded.search(query, 4, SearchMode::Vector, &Filter::none()).await.unwrap();
    assert_eq!(ids(&remote), ids(&local));
    for (remote, local) in remote.iter().zip(&local) {
        let (remote_place, local_place) = (remote.vector.unwrap(), local.vector.unwrap());
        assert_eq!(remote_place.rank, local_place.rank);
        assert!((remote_place.score - local_place.score).abs() < 1e-4, "{remote_place:?} {local_place:?}");
        assert!((remote.score - local.score).abs() < 1e-12);
    }

    // Hybrid: Azure's reciprocal-rank fusion of both lists.
    let hybrid = index.search("blocklist normalisation", 6, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    assert_eq!(hybrid[0].chunk.id, "notes/it's-safety.md#1");
    assert!(hybrid.windows(2).all(|pair| pair[0].score >= pair[1].score));
    // The top hit is first in both lists: 1/61 + 1/61.
    assert!((hybrid[0].score - 2.0 / (RRF_K + 1.0)).abs() < 1e-9, "{}", hybrid[0].score);

    // Weights: with the keyword list weighted 0, hybrid ranks as vector search.
    let vector_only =
        AzureSearchIndex::builder(search_client(&emulator, "search-admin-key"), "chunks", embedder(&emulator))
            .weights(FusionWeights { keyword: 0.0, vector: 1.0 })
            .build()
            .unwrap();
    let query = "redis shares answers";
    assert_eq!(
        ids(&vector_only.search(query, 4, SearchMode::Hybrid, &Filter::none()).await.unwrap()),
        ids(&index.search(query, 4, SearchMode::Vector, &Filter::none()).await.unwrap())
    );
    assert!(index.search("", 3, SearchMode::Keyword, &Filter::none()).await.unwrap().is_empty());
    assert!(index.search("journal", 0, SearchMode::Hybrid, &Filter::none()).await.unwrap().is_empty());

    index.delete_index().await.unwrap();
    let gone = index.count().await.unwrap_err();
    let Error::Search(error) = &gone else { panic!("{gone}") };
    assert_eq!(error.status(), Some(404));
}

#[tokio::test]
async fn filters_are_translated_to_odata_in_every_mode() {
    let emulator = emulator().await;
    let index = index(&emulator, "filtered");
    index.create_or_update_index().await.unwrap();
    index.upload(chunks()).await.unwrap();
    for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
        let docs = index
            .search("the cache and the scheduler", 10, mode, &Filter::none().source_prefix("docs/"))
            .await
            .unwrap();
        assert!(!docs.is_empty(), "{mode:?}");
        assert!(docs.iter().all(|hit| hit.chunk.source.starts_with("docs/")), "{mode:?}");
        // A quote in the prefix is escaped; a prefix that is not at a '/' works too.
        let quoted = index
            .search("guards block the prompts", 10, mode, &Filter::none().source_prefix("notes/it's"))
            .await
            .unwrap();
        assert!(!quoted.is_empty(), "{mode:?}");
        assert!(quoted.iter().all(|hit| hit.chunk.source == "notes/it's-safety.md"), "{mode:?}");
        let french =
            index.search("guards block the prompts", 10, mode, &Filter::none().tag("lang", "fr")).await.unwrap();
        assert!(!french.is_empty() && french.iter().all(|hit| hit.chunk.tags["lang"] == "fr"), "{mode:?}");
        let none =
            index.search("cache", 10, mode, &Filter::none().source_prefix("docs/").tag("lang", "fr")).await.unwrap();
        assert!(none.is_empty(), "{mode:?}");
    }
}

#[tokio::test]
async fn merges_and_deletes_with_partial_failures_reported() {
    let emulator = emulator().await;
    let index = index(&emulator, "merged");
    index.create_or_update_index().await.unwrap();
    let chunks = chunks();
    index.upload(chunks.clone()).await.unwrap();

    // Merge new tags into an existing chunk; a missing chunk is refused, and named.
    // One document per batch: the refusal in the first batch does not stop the second.
    let one_by_one =
        AzureSearchIndex::builder(search_client(&emulator, "search-admin-key"), "merged", embedder(&emulator))
            .batch_size(1)
            .build()
            .unwrap();
    let mut retagged = chunks[0].clone();
    retagged.tags.insert("reviewed".to_owned(), "yes".to_owned());
    let mut missing = chunks[1].clone();
    missing.id = "docs/missing.md#0".to_owned();
    let error = one_by_one.merge(&[missing, retagged.clone()]).await.unwrap_err();
    let Error::Search(search) = &error else { panic!("{error}") };
    assert_eq!(search.failed().len(), 1);
    assert_eq!(search.failed()[0].chunk_id, "docs/missing.md#0");
    assert_eq!(search.failed()[0].status, 404);
    assert!(error.to_string().contains("docs/missing.md#0"));
    // The other document of the batch was merged (its vector kept: it is still found by vector).
    let reviewed = index.search("cache", 10, SearchMode::Hybrid, &Filter::none().tag("reviewed", "yes")).await.unwrap();
    assert_eq!(ids(&reviewed), [retagged.id.as_str()]);
    assert_eq!(reviewed[0].chunk, retagged);

    index.delete(&[&chunks[0].id, &chunks[1].id, "never-there#9"]).await.unwrap();
    assert_eq!(index.count().await.unwrap(), 4);
    assert!(index.search("canonical request", 10, SearchMode::Keyword, &Filter::none()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_key_and_the_semantic_ranker_are_typed_errors() {
    let emulator = emulator().await;
    let wrong = AzureSearchIndex::builder(search_client(&emulator, "not-the-key"), "secret", embedder(&emulator))
        .build()
        .unwrap();
    let error = wrong.create_or_update_index().await.unwrap_err();
    let Error::Search(search) = &error else { panic!("{error}") };
    assert_eq!(search.status(), Some(403));
    assert!(search.client_error().is_some());
    assert!(!format!("{wrong:?}").contains("not-the-key"));
    assert!(!format!("{error:?}").contains("not-the-key"));

    let semantic =
        AzureSearchIndex::builder(search_client(&emulator, "search-admin-key"), "semantic", embedder(&emulator))
            .semantic_configuration("default")
            .build()
            .unwrap();
    assert_eq!(semantic.definition()["semantic"]["configurations"][0]["name"], "default");
    semantic.create_or_update_index().await.unwrap();
    semantic.upload(chunks()).await.unwrap();
    let error = semantic.search("journal", 3, SearchMode::Hybrid, &Filter::none()).await.unwrap_err();
    let Error::Search(search) = &error else { panic!("{error}") };
    assert_eq!(search.status(), Some(400));
    assert!(format!("{:?}", search.client_error()).contains("semantic ranker"), "{error:?}");

    // Settings that cannot work.
    for (name, batch) in [("Bad_Name", 10), ("ok-name", 0), ("ok-name", 1001)] {
        let built = AzureSearchIndex::builder(search_client(&emulator, "k"), name, embedder(&emulator))
            .batch_size(batch)
            .build();
        assert!(matches!(built, Err(Error::Config(_))), "{name} {batch}");
    }
    // A tag key with '=' cannot be stored.
    let mut chunk = chunks()[0].clone();
    chunk.tags.insert("a=b".to_owned(), "c".to_owned());
    assert!(matches!(semantic.upload(vec![chunk]).await, Err(Error::Config(_))));
}

#[tokio::test]
async fn questions_full_of_query_syntax_are_searched_as_plain_words() {
    let emulator = emulator().await;
    let index = index(&emulator, "syntax");
    index.create_or_update_index().await.unwrap();
    index.upload(chunks()).await.unwrap();
    // Unescaped, this would be a phrase, an exclusion, a group, a prefix and a field query.
    let question = r#"how does a "crashed" batch -resume (from its) journal* file? C++ / [x] {y} ^2 ~ ! & | lang:en \"#;
    for mode in [SearchMode::Keyword, SearchMode::Hybrid] {
        let hits = index.search(question, 3, mode, &Filter::none()).await.unwrap();
        assert_eq!(hits[0].chunk.id, "docs/batch.md#1", "{mode:?}");
    }
}

fn boost_chunks() -> Vec<Chunk> {
    let chunker = TokenChunker::new(ChunkerConfig::default()).unwrap();
    // Plain text: "quota" is only the first document's title, and three times the second's body.
    [
        ("docs/quota.txt", "Quota", "Limits apply per region and deployment."),
        ("docs/scheduler.txt", "Scheduler", "Quota, quota, quota: the scheduler spends it."),
        ("docs/cache.txt", "Cache", "The cache stores answers."),
    ]
    .iter()
    .flat_map(|(source, title, text)| chunker.chunk(&Document::new(*source, *text, Format::Text).with_title(*title)))
    .collect()
}

#[tokio::test]
async fn titles_weigh_twice_through_the_scoring_profile() {
    let emulator = emulator().await;
    let index = index(&emulator, "boosted");
    let definition = index.definition();
    assert_eq!(
        definition["scoringProfiles"],
        serde_json::json!([{"name": "aoai_title_boost", "text": {"weights": {"title": 2.0, "headings": 2.0}}}])
    );
    index.create_or_update_index().await.unwrap();
    index.upload(boost_chunks()).await.unwrap();
    let boosted = index.search("quota", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(ids(&boosted), ["docs/quota.txt#0", "docs/scheduler.txt#0"]);

    // The same index queried without the profile: the body's three mentions outrank the title.
    let unboosted =
        AzureSearchIndex::builder(search_client(&emulator, "search-admin-key"), "boosted", embedder(&emulator))
            .title_boost(false)
            .build()
            .unwrap();
    let plain = unboosted.search("quota", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(ids(&plain), ["docs/scheduler.txt#0", "docs/quota.txt#0"]);
    let score = |hits: &[Hit], id: &str| hits.iter().find(|hit| hit.chunk.id == id).unwrap().keyword.unwrap().score;
    // Only the title holds "quota": the boosted score is twice the plain one.
    let ratio = score(&boosted, "docs/quota.txt#0") / score(&plain, "docs/quota.txt#0");
    assert!((ratio - 2.0).abs() < 1e-3, "{ratio}");

    // The embedded index scores with BM25F, where a title word counts as two
    // occurrences in one bag of words (not as a second, separately
    // saturated match): the body's three mentions outrank the title's one,
    // and the title still ranks its document.
    let directory = tempfile::tempdir().unwrap();
    let embedded = EmbeddedIndex::open(directory.path(), embedder(&emulator)).unwrap();
    embedded.add(boost_chunks()).await.unwrap();
    let local = embedded.search("quota", 3, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert_eq!(ids(&local), ["docs/scheduler.txt#0", "docs/quota.txt#0"]);
}

/// Entra ID: a refreshing bearer credential instead of the admin key (the
/// emulator takes the admin key as the bearer token); the token is fetched
/// once and reused across index creation, uploads and queries.
#[tokio::test]
async fn a_bearer_credential_works_in_place_of_the_admin_key() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, SystemTime};

    use aoai_core::auth::{AccessToken, RefreshingCredential, TokenProvider};
    use aoai_core::error::CredentialError;

    #[derive(Debug)]
    struct Tokens(Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl TokenProvider for Tokens {
        async fn fetch_token(&self) -> Result<AccessToken, CredentialError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken {
                token: "search-admin-key".into(),
                expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000),
            })
        }
    }

    let emulator = emulator().await;
    let fetched = Arc::new(AtomicUsize::new(0));
    let client = Client::builder(Endpoint::search(emulator.base_url()).unwrap())
        .credential(RefreshingCredential::new(Tokens(Arc::clone(&fetched))))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let index = AzureSearchIndex::builder(client, "entra", embedder(&emulator)).build().unwrap();
    index.create_or_update_index().await.unwrap();
    index.upload(chunks()).await.unwrap();
    let hits = index.search("crashed batch journal", 2, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    assert_eq!(hits[0].chunk.source, "docs/batch.md");
    assert_eq!(fetched.load(Ordering::SeqCst), 1, "one token for every call");
}
