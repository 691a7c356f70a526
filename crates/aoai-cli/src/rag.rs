//! `aoai rag index|search|ask`: build an embedded hybrid index from files,
//! search it, and answer questions from it with citations (aoai-rag).
//!
//! The index directory holds aoai-rag's `EmbeddedIndex` (whose manifest
//! records the embedder's identity and dimensions) and `embedder.json`, how
//! this command line rebuilds that embedder: `{"embedder": "azure",
//! "deployment": …, "dimensions": …, "send_dimensions": …}`. `search` and
//! `ask` reopen the index with the embedder it records; an `--embedder`,
//! `--embedding-deployment` or `--dimensions` flag that says otherwise is an
//! error, since vectors of two models do not compare. An index written by
//! the library without `embedder.json` is read from its manifest
//! (`azure:{deployment}:{dimensions}`; dimensions other than 1536 and 3072
//! are sent as `dimensions`).
//!
//! Running `index` again on an index keeps it in step with the paths given:
//! `sources.json` records each file's SHA-256 and chunk count and the chunk
//! settings; unchanged files are skipped, changed ones replaced, and the
//! chunks of files gone from under those paths deleted.
//!
//! `ask` answers follow-up questions: `--history FILE` gives the earlier
//! turns (a JSON array of `{"role": "user"|"assistant", "content": …}`),
//! `--chat` reads one question a line from stdin and keeps the
//! conversation. With history, the question is rewritten into a standalone
//! search query before retrieval (aoai-rag's `ModelRewriter`; `--no-rewrite`
//! searches with the question as asked); `--json` shows it as `rewrite`,
//! `--verbose` on stderr, and a rewrite that could not be used is a note.
//!
//! Progress and warnings go to stderr; results to stdout. With no endpoint
//! configured, the embedded emulator serves both the embedding deployment
//! (`text-embedding-3-small`) and the chat deployment (`gpt-4o`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aoai_core::Client;
use aoai_core::tokens::Encoding;
use aoai_rag::answer::{AnswerEvent, GroundedAnswerer, ModelRewriter, Turn};
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::index::Manifest;
use aoai_rag::{AzureEmbedder, EmbeddedIndex, Embedder, Filter, Retriever, SearchMode};
use clap::{Args, Subcommand, ValueEnum};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::paths::{collect_files, read_text, source_name};
use crate::progress::{Ticker, bar};
use crate::{Failure, print, session, verdict};

/// The embedding deployment when none is named.
const DEFAULT_EMBEDDING_DEPLOYMENT: &str = "text-embedding-3-small";
/// The vector size when none is given (text-embedding-3-small, ada-002).
const DEFAULT_DIMENSIONS: usize = 1536;
/// The chat deployment offline.
const DEFAULT_CHAT_DEPLOYMENT: &str = "gpt-4o";
/// The file that records how the CLI built the embedder.
const EMBEDDER_FILE: &str = "embedder.json";
/// The file that records each indexed file's content hash (for syncing).
const STATE_FILE: &str = "sources.json";
/// Characters of a hit's text shown by `search`.
const SNIPPET_CHARS: usize = 160;

/// `aoai rag`.
#[derive(Debug, Subcommand)]
pub(crate) enum RagCommand {
    /// Chunk, embed and index files and directories; on an existing index,
    /// re-embed changed files, skip unchanged ones and drop deleted ones.
    Index(IndexArgs),
    /// Search an index and print ranked hits.
    Search(SearchArgs),
    /// Answer a question from an index, with citations.
    Ask(AskArgs),
}

/// Which embedder makes the vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EmbedderKind {
    /// An Azure OpenAI embeddings deployment.
    Azure,
    /// all-MiniLM-L6-v2 on the CPU (cargo feature `local-embeddings`).
    Local,
}

/// How `search` and `ask` rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Keyword and vector lists fused by reciprocal rank.
    Hybrid,
    /// BM25 only.
    Keyword,
    /// Vector similarity only.
    Vector,
}

impl From<Mode> for SearchMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Hybrid => SearchMode::Hybrid,
            Mode::Keyword => SearchMode::Keyword,
            Mode::Vector => SearchMode::Vector,
        }
    }
}

/// The embedder flags (all commands).
#[derive(Debug, Args)]
struct EmbedderArgs {
    /// The embedder: `azure` (default for a new index) or `local`. Search and ask use the index's.
    #[arg(long, value_enum)]
    embedder: Option<EmbedderKind>,
    /// The Azure embeddings deployment (default text-embedding-3-small; search and ask use the index's).
    #[arg(long)]
    embedding_deployment: Option<String>,
    /// Vector size, sent as `dimensions` (text-embedding-3 models); default 1536, not sent.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    dimensions: Option<u32>,
}

/// Options for `aoai rag index`.
#[derive(Debug, Args)]
pub(crate) struct IndexArgs {
    /// Files and directories (walked recursively; hidden entries skipped).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The index directory (created if missing).
    #[arg(long)]
    index: PathBuf,
    #[command(flatten)]
    embedder: EmbedderArgs,
    /// The most tokens in a chunk (default: 512, or the embedder's maximum
    /// input when smaller: 256 for local). Chunks are also kept within what
    /// the embedder reads, counted with its own tokenizer.
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..))]
    chunk_tokens: Option<u32>,
    /// Tokens repeated between consecutive chunks (less than half of the chunk size; default 64).
    #[arg(long)]
    overlap_tokens: Option<u32>,
}

/// Options for `aoai rag search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The index directory.
    #[arg(long)]
    index: PathBuf,
    /// How many hits.
    #[arg(long, short = 'k', default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    k: u32,
    /// How to rank.
    #[arg(long, value_enum, default_value_t = Mode::Hybrid)]
    mode: Mode,
    /// Print the hits as JSON.
    #[arg(long)]
    json: bool,
    /// At most N hits of one source (its best chunks), still returning k hits
    /// when enough sources match; 0 keeps every chunk. Default 1, or 0 with --json.
    #[arg(long, value_name = "N")]
    per_source: Option<u32>,
    #[command(flatten)]
    embedder: EmbedderArgs,
    /// The query.
    #[arg(required = true)]
    query: Vec<String>,
}

/// Options for `aoai rag ask`.
#[derive(Debug, Args)]
pub(crate) struct AskArgs {
    /// The index directory.
    #[arg(long)]
    index: PathBuf,
    /// Chat deployment (default: AZURE_OPENAI_DEPLOYMENT; offline gpt-4o).
    #[arg(long, short = 'd', env = "AZURE_OPENAI_DEPLOYMENT")]
    deployment: Option<String>,
    /// How many chunks to retrieve.
    #[arg(long, short = 'k', default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    k: u32,
    /// How to retrieve.
    #[arg(long, value_enum, default_value_t = Mode::Hybrid)]
    mode: Mode,
    /// The most tokens the sources take in the prompt.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(1..))]
    source_budget: u32,
    /// Print the whole answer as JSON (not streamed); with --chat, one line per answer.
    #[arg(long)]
    json: bool,
    /// The earlier turns of the conversation: a JSON array of {"role": "user"|"assistant", "content": "…"}, oldest first (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    history: Option<String>,
    /// A conversation: one question a line from stdin (after QUESTION, if given) until `/exit` or the end of input; each answer joins the history of the next.
    #[arg(long)]
    chat: bool,
    /// With history, search with the question as asked instead of rewriting it into a standalone query.
    #[arg(long)]
    no_rewrite: bool,
    /// The chat deployment that rewrites follow-up questions (default: the answering one).
    #[arg(long, value_name = "NAME", conflicts_with = "no_rewrite")]
    rewrite_deployment: Option<String>,
    /// Show on stderr the query searched for and the tokens used.
    #[arg(long, short = 'v')]
    verbose: bool,
    #[command(flatten)]
    embedder: EmbedderArgs,
    /// The question (with --chat, the first one; optional).
    #[arg(required_unless_present = "chat")]
    question: Vec<String>,
}

pub(crate) async fn dispatch(command: RagCommand) -> Result<(), Failure> {
    match command {
        RagCommand::Index(args) => index(args).await,
        RagCommand::Search(args) => search(args).await,
        RagCommand::Ask(args) => ask(args).await,
    }
}

/// How the index's embedder is built.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EmbedderSpec {
    Azure { deployment: String, dimensions: usize, send_dimensions: bool },
    Local,
}

impl EmbedderSpec {
    fn from_flags(flags: &EmbedderArgs) -> Result<Self, Failure> {
        match flags.embedder.unwrap_or(EmbedderKind::Azure) {
            EmbedderKind::Azure => Ok(EmbedderSpec::Azure {
                deployment: flags
                    .embedding_deployment
                    .clone()
                    .unwrap_or_else(|| DEFAULT_EMBEDDING_DEPLOYMENT.to_owned()),
                dimensions: flags.dimensions.map_or(DEFAULT_DIMENSIONS, |dimensions| dimensions as usize),
                send_dimensions: flags.dimensions.is_some(),
            }),
            EmbedderKind::Local => {
                if flags.embedding_deployment.is_some() || flags.dimensions.is_some() {
                    return Err(Failure::Usage(
                        "--embedding-deployment and --dimensions are for --embedder azure".to_owned(),
                    ));
                }
                Ok(EmbedderSpec::Local)
            }
        }
    }

    fn to_json(&self) -> Value {
        match self {
            EmbedderSpec::Azure { deployment, dimensions, send_dimensions } => json!({
                "embedder": "azure",
                "deployment": deployment,
                "dimensions": dimensions,
                "send_dimensions": send_dimensions,
            }),
            EmbedderSpec::Local => json!({"embedder": "local"}),
        }
    }

    fn from_json(value: &Value) -> Option<Self> {
        match value.get("embedder")?.as_str()? {
            "azure" => Some(EmbedderSpec::Azure {
                deployment: value.get("deployment")?.as_str()?.to_owned(),
                dimensions: usize::try_from(value.get("dimensions")?.as_u64()?).ok()?,
                send_dimensions: value.get("send_dimensions")?.as_bool()?,
            }),
            "local" => Some(EmbedderSpec::Local),
            _ => None,
        }
    }

    /// From a manifest's identity, for an index the library wrote.
    fn from_identity(identity: &str, dimensions: usize) -> Option<Self> {
        if identity.starts_with("local") {
            return Some(EmbedderSpec::Local);
        }
        let rest = identity.strip_prefix("azure:")?;
        let (deployment, _) = rest.rsplit_once(':')?;
        Some(EmbedderSpec::Azure {
            deployment: deployment.to_owned(),
            dimensions,
            send_dimensions: dimensions != 1536 && dimensions != 3072,
        })
    }

    fn describe(&self) -> String {
        match self {
            EmbedderSpec::Azure { deployment, dimensions, .. } => {
                format!("azure ({deployment}, {dimensions} dimensions)")
            }
            EmbedderSpec::Local => "local".to_owned(),
        }
    }

    /// Whether the flags given (if any) agree with this recorded embedder.
    fn check_flags(&self, flags: &EmbedderArgs, directory: &Path) -> Result<(), Failure> {
        let mismatch = |what: String| {
            Failure::Usage(format!(
                "the index at {} was built with the {} embedder; {what}: vectors of two embedders do not compare (re-index, or drop the flag)",
                directory.display(),
                self.describe()
            ))
        };
        match self {
            EmbedderSpec::Azure { deployment, dimensions, .. } => {
                if flags.embedder == Some(EmbedderKind::Local) {
                    return Err(mismatch("--embedder local was given".to_owned()));
                }
                if let Some(given) = flags.embedding_deployment.as_deref().filter(|given| given != deployment) {
                    return Err(mismatch(format!("--embedding-deployment {given} was given")));
                }
                if let Some(given) = flags.dimensions.filter(|given| *given as usize != *dimensions) {
                    return Err(mismatch(format!("--dimensions {given} was given")));
                }
            }
            EmbedderSpec::Local => {
                if flags.embedder == Some(EmbedderKind::Azure)
                    || flags.embedding_deployment.is_some()
                    || flags.dimensions.is_some()
                {
                    return Err(mismatch("Azure embedder flags were given".to_owned()));
                }
            }
        }
        Ok(())
    }
}

/// The embedder recorded in `directory`, if it holds an index.
fn recorded(directory: &Path) -> Result<Option<EmbedderSpec>, Failure> {
    let manifest_path = directory.join("manifest.json");
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => serde_json::from_str::<Manifest>(&text)
            .map_err(|error| Failure::Other(format!("cannot read {}: {error}", manifest_path.display())))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(Failure::Other(format!("cannot read {}: {error}", manifest_path.display()))),
    };
    let spec = match std::fs::read_to_string(directory.join(EMBEDDER_FILE)) {
        Ok(text) => serde_json::from_str::<Value>(&text).ok().as_ref().and_then(EmbedderSpec::from_json),
        Err(_) => None,
    }
    .or_else(|| EmbedderSpec::from_identity(&manifest.embedder, manifest.dimensions));
    match spec {
        Some(spec) => Ok(Some(spec)),
        None => Err(Failure::Usage(format!(
            "the index at {} was built with the embedder {:?}, which this command line cannot rebuild",
            directory.display(),
            manifest.embedder
        ))),
    }
}

/// The recorded embedder of an existing index, or a clear error.
fn existing(directory: &Path, flags: &EmbedderArgs) -> Result<EmbedderSpec, Failure> {
    if !directory.is_dir() {
        return Err(Failure::Usage(format!(
            "no index at {}: the directory does not exist (build one with `aoai rag index PATH... --index {}`)",
            directory.display(),
            directory.display()
        )));
    }
    let Some(spec) = recorded(directory)? else {
        return Err(Failure::Usage(format!(
            "no index at {}: it has no manifest.json (build one with `aoai rag index PATH... --index {}`)",
            directory.display(),
            directory.display()
        )));
    };
    spec.check_flags(flags, directory)?;
    Ok(spec)
}

/// The index at `directory` reopened with the embedder it records, as a
/// retriever (`aoai ask --local-index`); Azure embeddings go through `client`.
pub(crate) fn open_retriever(directory: &Path, client: &Client) -> Result<Arc<dyn Retriever>, Failure> {
    let no_flags = EmbedderArgs { embedder: None, embedding_deployment: None, dimensions: None };
    match existing(directory, &no_flags)? {
        EmbedderSpec::Azure { deployment, dimensions, send_dimensions } => {
            let embedder = azure_embedder(client.clone(), &deployment, dimensions, send_dimensions)?;
            Ok(Arc::new(open(directory, embedder)?))
        }
        #[cfg(feature = "local-embeddings")]
        EmbedderSpec::Local => Ok(Arc::new(open(directory, local_embedder()?)?)),
        #[cfg(not(feature = "local-embeddings"))]
        EmbedderSpec::Local => Err(local_unavailable()),
    }
}

fn azure_embedder(
    client: Client,
    deployment: &str,
    dimensions: usize,
    send: bool,
) -> Result<AzureEmbedder<Client>, Failure> {
    let builder = AzureEmbedder::builder(client, deployment, dimensions);
    let builder = if send { builder.request_dimensions() } else { builder };
    builder.build().map_err(rag_failure)
}

fn open<E: Embedder>(directory: &Path, embedder: E) -> Result<EmbeddedIndex<E>, Failure> {
    EmbeddedIndex::open(directory, embedder).map_err(rag_failure)
}

/// all-MiniLM-L6-v2 from `AOAI_MINILM_DIR` or the workspace's
/// `target/aoai-models` (a missing model names `cargo xtask fetch-model`).
#[cfg(feature = "local-embeddings")]
fn local_embedder() -> Result<aoai_rag::local::LocalEmbedder, Failure> {
    aoai_rag::local::LocalEmbedder::from_default_location()
        .map_err(|error| Failure::Other(format!("cannot load the local embedder: {error}")))
}

#[cfg(not(feature = "local-embeddings"))]
fn local_unavailable() -> Failure {
    Failure::Usage(
        "built without local embeddings: rebuild aoai-cli with `--features local-embeddings`, or use --embedder azure"
            .to_owned(),
    )
}

fn rag_failure(error: aoai_rag::Error) -> Failure {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    match error {
        aoai_rag::Error::Config(_) | aoai_rag::Error::Mismatch(_) => Failure::Usage(message),
        _ => Failure::Other(message),
    }
}

// ---------------------------------------------------------------------------
// index
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Counts {
    done: AtomicU64,
    chunks: AtomicU64,
    tokens: AtomicU64,
}

async fn index(args: IndexArgs) -> Result<(), Failure> {
    let spec = match recorded(&args.index)? {
        Some(recorded) => {
            recorded.check_flags(&args.embedder, &args.index)?;
            recorded
        }
        None => EmbedderSpec::from_flags(&args.embedder)?,
    };
    let files = collect_files(&args.paths, Some(&args.index))?;
    match &spec {
        EmbedderSpec::Azure { deployment, dimensions, send_dimensions } => {
            let session = session(Some(deployment), DEFAULT_EMBEDDING_DEPLOYMENT).await?;
            let time = session.client.time().clone();
            let embedder = azure_embedder(session.client.clone(), deployment, *dimensions, *send_dimensions)?;
            std::fs::create_dir_all(&args.index)
                .map_err(|error| Failure::Other(format!("cannot create {}: {error}", args.index.display())))?;
            let index = Arc::new(open(&args.index, embedder)?);
            write_spec(&args.index, &spec)?;
            let chunker = chunker_for(index.embedder(), &args)?;
            index_files(&index, &chunker, &args.paths, &files, &time, GROUP_CHUNKS).await
        }
        #[cfg(feature = "local-embeddings")]
        EmbedderSpec::Local => {
            let embedder = local_embedder()?;
            std::fs::create_dir_all(&args.index)
                .map_err(|error| Failure::Other(format!("cannot create {}: {error}", args.index.display())))?;
            let index = Arc::new(open(&args.index, embedder)?);
            write_spec(&args.index, &spec)?;
            let chunker = chunker_for(index.embedder(), &args)?;
            let time = aoai_core::clock::Time::system();
            index_files(&index, &chunker, &args.paths, &files, &time, GROUP_CHUNKS).await
        }
        #[cfg(not(feature = "local-embeddings"))]
        EmbedderSpec::Local => Err(local_unavailable()),
    }
}

/// The chunker for `embedder`: the flags' size, or the embedder's default
/// ([`ChunkerConfig::for_embedder`]), always within what the embedder reads.
/// Says on stderr which size it uses and why.
fn chunker_for<E: Embedder + Clone + 'static>(embedder: &E, args: &IndexArgs) -> Result<TokenChunker, Failure> {
    let defaults = ChunkerConfig::for_embedder(embedder);
    let config = ChunkerConfig {
        max_tokens: args.chunk_tokens.map_or(defaults.max_tokens, |tokens| tokens as usize),
        overlap_tokens: args.overlap_tokens.map_or_else(
            || {
                let max = args.chunk_tokens.map_or(defaults.max_tokens, |tokens| tokens as usize);
                defaults.overlap_tokens.min(max.saturating_sub(1) / 2)
            },
            |tokens| tokens as usize,
        ),
        ..defaults
    };
    let chunker = TokenChunker::new(config).map_err(rag_failure)?.fit_to(embedder.clone());
    let why = match (args.chunk_tokens, embedder.max_input_tokens()) {
        (Some(_), _) => "set by --chunk-tokens".to_owned(),
        (None, Some(limit)) if limit < aoai_rag::chunk::DEFAULT_MAX_TOKENS => {
            format!("the embedder reads at most {limit} of its tokens")
        }
        (None, _) => "the default".to_owned(),
    };
    let fit = match chunker.limit() {
        Some(limit) => format!(", each within the embedder's {} tokens of input", limit.max()),
        None => String::new(),
    };
    eprintln!("chunk size: {} tokens, {} overlapping ({why}){fit}", config.max_tokens, config.overlap_tokens);
    Ok(chunker)
}

fn write_spec(directory: &Path, spec: &EmbedderSpec) -> Result<(), Failure> {
    let path = directory.join(EMBEDDER_FILE);
    std::fs::write(&path, format!("{:#}\n", spec.to_json()))
        .map_err(|error| Failure::Other(format!("cannot write {}: {error}", path.display())))
}

/// What `index` remembers of each file it indexed (`sources.json`): its
/// content hash and chunk count, and the chunk settings they were made with.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SyncState {
    max_tokens: usize,
    overlap_tokens: usize,
    sources: BTreeMap<String, SourceState>,
}

/// One file in [`SyncState`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SourceState {
    sha256: String,
    chunks: usize,
}

/// The sync state of `directory`; empty when there is none or it is unreadable
/// (every file is then re-embedded once).
fn read_state(directory: &Path) -> SyncState {
    std::fs::read_to_string(directory.join(STATE_FILE))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn write_state(directory: &Path, state: &SyncState) -> Result<(), Failure> {
    let path = directory.join(STATE_FILE);
    let text = serde_json::to_string_pretty(state)
        .map_err(|error| Failure::Other(format!("cannot write {}: {error}", path.display())))?;
    std::fs::write(&path, format!("{text}\n"))
        .map_err(|error| Failure::Other(format!("cannot write {}: {error}", path.display())))
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().fold(String::with_capacity(64), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// Whether `source` lies under one of the paths given to `index`.
fn in_scope(source: &str, paths: &[PathBuf]) -> bool {
    paths.iter().any(|path| {
        let name = source_name(path);
        if path.is_dir() {
            name.is_empty() || source.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('/'))
        } else {
            source == name
        }
    })
}

/// Chunks embedded in one call and written in one write by `aoai rag index`:
/// enough for a local model to keep every core busy and for a write to cost
/// little per chunk; small enough that progress moves and a failure loses
/// little work.
const GROUP_CHUNKS: usize = 256;

/// What `index` did to the files, for its summary line.
#[derive(Debug, Default)]
struct Tally {
    skipped: u64,
    added: u64,
    updated: u64,
    unchanged: u64,
}

/// Changed files chunked and waiting to be embedded and written together.
#[derive(Debug, Default)]
struct Group {
    documents: Vec<(String, Vec<aoai_rag::Chunk>)>,
    files: Vec<GroupFile>,
    chunks: usize,
}

/// One file of a [`Group`]: what `sources.json` and the summary record once written.
#[derive(Debug)]
struct GroupFile {
    source: String,
    sha256: String,
    is_new: bool,
    chunks: usize,
    tokens: usize,
}

impl Group {
    fn add(&mut self, source: String, sha256: String, is_new: bool, chunks: Vec<aoai_rag::Chunk>) {
        let tokens = chunks.iter().map(|chunk| chunk.tokens).sum();
        self.chunks += chunks.len();
        self.files.push(GroupFile { source: source.clone(), sha256, is_new, chunks: chunks.len(), tokens });
        self.documents.push((source, chunks));
    }

    /// Embeds the group's chunks (one embedder call); the group comes back
    /// without its chunks, which now live in the embedded documents.
    async fn embed<E: Embedder>(
        mut self,
        index: &EmbeddedIndex<E>,
    ) -> Result<(Self, aoai_rag::index::EmbeddedDocuments), aoai_rag::Error> {
        let documents = std::mem::take(&mut self.documents);
        let embedded = index.embed_documents(documents).await?;
        Ok((self, embedded))
    }

    /// Records a written group in the sync state, the tally and the progress counts.
    fn record(self, state: &mut SyncState, tally: &mut Tally, counts: &Counts) {
        for file in self.files {
            if file.is_new {
                tally.added += 1;
            } else {
                tally.updated += 1;
            }
            counts.chunks.fetch_add(file.chunks as u64, Ordering::Relaxed);
            counts.tokens.fetch_add(file.tokens as u64, Ordering::Relaxed);
            counts.done.fetch_add(1, Ordering::Relaxed);
            state.sources.insert(file.source, SourceState { sha256: file.sha256, chunks: file.chunks });
        }
    }
}

/// Waits for the group being written, if any; the group once it is written.
async fn finish(
    writing: Option<tokio::task::JoinHandle<Result<Group, aoai_rag::Error>>>,
) -> Result<Option<Group>, Failure> {
    let Some(writing) = writing else { return Ok(None) };
    match writing.await {
        Ok(Ok(group)) => Ok(Some(group)),
        Ok(Err(error)) => Err(rag_failure(error)),
        Err(error) => Err(Failure::Other(format!("the index write stopped: {error}"))),
    }
}

/// Brings the index in step with `files`: new files are added, changed
/// ones (by content hash, or all when the chunk settings changed) re-chunked
/// and re-embedded, unchanged ones skipped, and the chunks of files that
/// vanished from under `paths` removed.
async fn index_files<E: Embedder + 'static>(
    index: &Arc<EmbeddedIndex<E>>,
    chunker: &TokenChunker,
    paths: &[PathBuf],
    files: &[PathBuf],
    time: &aoai_core::clock::Time,
    group_chunks: usize,
) -> Result<(), Failure> {
    let started = time.clock.now();
    let total = files.len();
    let config = chunker.config();
    let previous = read_state(index.path());
    let same_settings = previous.max_tokens == config.max_tokens && previous.overlap_tokens == config.overlap_tokens;
    let mut state = SyncState {
        max_tokens: config.max_tokens,
        overlap_tokens: config.overlap_tokens,
        sources: if same_settings { previous.sources } else { BTreeMap::new() },
    };
    let indexed = index.sources();
    let counts = Arc::new(Counts::default());
    let ticker = Ticker::start(time, {
        let counts = Arc::clone(&counts);
        move || {
            let done = counts.done.load(Ordering::Relaxed);
            let line = format!(
                "{} {done}/{total} files · {} chunks · {} tokens",
                bar(done, total as u64, 24),
                counts.chunks.load(Ordering::Relaxed),
                counts.tokens.load(Ordering::Relaxed)
            );
            Some((done, line))
        }
    });
    let mut tally = Tally::default();
    let mut seen = std::collections::HashSet::new();
    // Files are chunked in order and embedded in groups of about GROUP_CHUNKS
    // chunks (one embedder call, one write each); while a group is written,
    // the next one is already being embedded.
    let mut group = Group::default();
    let mut writing: Option<tokio::task::JoinHandle<Result<Group, aoai_rag::Error>>> = None;
    let mut outcome = Ok(());
    let mut files = files.iter().peekable();
    while outcome.is_ok() {
        let Some(file) = files.next() else { break };
        let source = source_name(file);
        seen.insert(source.clone());
        match read_text(file) {
            Ok(text) => {
                let sha256 = sha256_hex(&text);
                let stored = indexed.get(&source).copied().unwrap_or(0);
                let known = state.sources.get(&source);
                if known.is_some_and(|known| known.sha256 == sha256 && known.chunks == stored) {
                    tally.unchanged += 1;
                    counts.done.fetch_add(1, Ordering::Relaxed);
                } else {
                    let is_new = stored == 0 && known.is_none();
                    let document = Document::new(source.as_str(), text, Format::from_path(&source));
                    let chunks = chunker.chunk(&document);
                    group.add(source, sha256, is_new, chunks);
                }
            }
            Err(reason) => {
                tally.skipped += 1;
                counts.done.fetch_add(1, Ordering::Relaxed);
                eprintln!("warning: skipping {source}: {reason}");
            }
        }
        if group.chunks >= group_chunks || (files.peek().is_none() && !group.files.is_empty()) {
            let next = std::mem::take(&mut group);
            let embedding = next.embed(index);
            let (embedded, written) = tokio::join!(embedding, finish(writing.take()));
            outcome = written.map(|done| done.map(|done| done.record(&mut state, &mut tally, &counts)).unwrap_or(()));
            match embedded {
                Ok(embedded) if outcome.is_ok() => {
                    let index = Arc::clone(index);
                    writing = Some(tokio::task::spawn_blocking(move || {
                        let (group, documents) = embedded;
                        index.write_documents(documents).map(|()| group)
                    }));
                }
                Ok(_) => {}
                Err(error) => outcome = outcome.and(Err(rag_failure(error))),
            }
        }
    }
    match finish(writing.take()).await {
        Ok(Some(done)) => done.record(&mut state, &mut tally, &counts),
        Ok(None) => {}
        Err(error) => outcome = outcome.and(Err(error)),
    }
    let Tally { skipped, added, updated, unchanged } = tally;
    ticker.stop();
    let mut removed = 0_u64;
    if outcome.is_ok() {
        for source in indexed.keys().filter(|source| !seen.contains(*source) && in_scope(source, paths)) {
            if let Err(error) = index.delete_document(source) {
                outcome = Err(rag_failure(error));
                break;
            }
            state.sources.remove(source);
            removed += 1;
        }
        // Files gone from under the paths that left no chunk.
        state.sources.retain(|source, _| seen.contains(source) || !in_scope(source, paths));
    }
    write_state(index.path(), &state)?;
    outcome?;
    // Writes append to the engine's log; fold it into the base files once it is large.
    index.compact_if_needed().map_err(rag_failure)?;
    let seconds = time.clock.now().duration_since(started).as_secs_f64();
    eprintln!(
        "indexed {} of {total} files ({skipped} skipped): {added} added, {updated} updated, {removed} removed, {unchanged} unchanged; {} chunks, {} tokens embedded in {seconds:.1}s; the index holds {} chunks in {}",
        total as u64 - skipped,
        counts.chunks.load(Ordering::Relaxed),
        counts.tokens.load(Ordering::Relaxed),
        index.len(),
        index.path().display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// search
// ---------------------------------------------------------------------------

async fn search(args: SearchArgs) -> Result<(), Failure> {
    let spec = existing(&args.index, &args.embedder)?;
    let query = args.query.join(" ");
    if args.mode == Mode::Keyword {
        // BM25 alone: no embedder is built, no model loaded, no endpoint needed.
        let index = EmbeddedIndex::open_keyword_only(&args.index).map_err(rag_failure)?;
        return print_hits(&index, &query, &args).await;
    }
    match &spec {
        EmbedderSpec::Azure { deployment, dimensions, send_dimensions } => {
            let session = session(Some(deployment), DEFAULT_EMBEDDING_DEPLOYMENT).await?;
            let embedder = azure_embedder(session.client.clone(), deployment, *dimensions, *send_dimensions)?;
            let index = open(&args.index, embedder)?;
            print_hits(&index, &query, &args).await
        }
        #[cfg(feature = "local-embeddings")]
        EmbedderSpec::Local => {
            let index = open(&args.index, local_embedder()?)?;
            print_hits(&index, &query, &args).await
        }
        #[cfg(not(feature = "local-embeddings"))]
        EmbedderSpec::Local => Err(local_unavailable()),
    }
}

async fn print_hits<R: Retriever>(retriever: &R, query: &str, args: &SearchArgs) -> Result<(), Failure> {
    // One hit per source for people; JSON keeps every chunk unless asked.
    let per_source = args.per_source.map_or(usize::from(!args.json), |n| n as usize);
    let hits = retriever
        .search_per_source(query, args.k as usize, args.mode.into(), &Filter::none(), per_source)
        .await
        .map_err(rag_failure)?;
    if args.json {
        let rows: Vec<Value> = hits
            .iter()
            .enumerate()
            .map(|(position, hit)| {
                json!({
                    "rank": position + 1,
                    "score": hit.score,
                    "id": hit.chunk.id,
                    "source": hit.chunk.source,
                    "title": hit.chunk.title,
                    "headings": hit.chunk.headings,
                    "start": hit.chunk.start,
                    "end": hit.chunk.end,
                    "keyword": hit.keyword,
                    "vector": hit.vector,
                    "text": hit.chunk.text,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|error| Failure::Other(format!("cannot print hits: {error}")))?;
        return print(&format!("{text}\n"));
    }
    if hits.is_empty() {
        eprintln!("no hits");
        return Ok(());
    }
    let mut out = String::new();
    for (position, hit) in hits.iter().enumerate() {
        let chunk = &hit.chunk;
        let _ = write!(out, "{}. {:.4}  {}", position + 1, hit.score, chunk.source);
        if !chunk.headings.is_empty() {
            let _ = write!(out, "  {}", chunk.headings.join(" > "));
        }
        let _ = write!(out, "  [{}..{}]", chunk.start, chunk.end);
        if let Some(keyword) = hit.keyword {
            let _ = write!(out, "  keyword #{} ({:.3})", keyword.rank, keyword.score);
        }
        if let Some(vector) = hit.vector {
            let _ = write!(out, "  vector #{} ({:.3})", vector.rank, vector.score);
        }
        let _ = writeln!(out, "\n   {}", snippet(&chunk.text));
    }
    print(&out)
}

/// The text on one line, cut to [`SNIPPET_CHARS`] characters.
fn snippet(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or_default()),
        None => line,
    }
}

// ---------------------------------------------------------------------------
// ask
// ---------------------------------------------------------------------------

async fn ask(args: AskArgs) -> Result<(), Failure> {
    let spec = existing(&args.index, &args.embedder)?;
    if args.mode == Mode::Keyword {
        // BM25 alone: no embedder is built and no model loaded.
        let index = EmbeddedIndex::open_keyword_only(&args.index).map_err(rag_failure)?;
        let session = session(args.deployment.as_deref(), DEFAULT_CHAT_DEPLOYMENT).await?;
        let chat = session.deployment(args.deployment.clone(), DEFAULT_CHAT_DEPLOYMENT)?;
        return answer(session.client.clone(), &chat, index, &args).await;
    }
    match &spec {
        EmbedderSpec::Azure { deployment, dimensions, send_dimensions } => {
            let session = session(args.deployment.as_deref(), DEFAULT_CHAT_DEPLOYMENT).await?;
            let chat = session.deployment(args.deployment.clone(), DEFAULT_CHAT_DEPLOYMENT)?;
            let embedder = azure_embedder(session.client.clone(), deployment, *dimensions, *send_dimensions)?;
            let index = open(&args.index, embedder)?;
            answer(session.client.clone(), &chat, index, &args).await
        }
        #[cfg(feature = "local-embeddings")]
        EmbedderSpec::Local => {
            let index = open(&args.index, local_embedder()?)?;
            let session = session(args.deployment.as_deref(), DEFAULT_CHAT_DEPLOYMENT).await?;
            let chat = session.deployment(args.deployment.clone(), DEFAULT_CHAT_DEPLOYMENT)?;
            answer(session.client.clone(), &chat, index, &args).await
        }
        #[cfg(not(feature = "local-embeddings"))]
        EmbedderSpec::Local => Err(local_unavailable()),
    }
}

async fn answer<R: Retriever>(client: Client, chat: &str, retriever: R, args: &AskArgs) -> Result<(), Failure> {
    let mut history = match &args.history {
        Some(path) => read_history(path, args.chat)?,
        None => Vec::new(),
    };
    let mut builder = GroundedAnswerer::builder(client, chat, retriever)
        .k(args.k as usize)
        .mode(args.mode.into())
        .source_budget(args.source_budget as usize)
        .encoding(Encoding::for_model(chat));
    if args.no_rewrite {
        builder = builder.no_query_rewrite();
    } else if let Some(deployment) = &args.rewrite_deployment {
        builder = builder.query_rewriter(ModelRewriter::new().deployment(deployment.as_str()));
    }
    let answerer = builder.build().map_err(rag_failure)?;
    let first = Some(args.question.join(" ")).filter(|question| !question.trim().is_empty());
    if !args.chat {
        let question = first.ok_or_else(|| Failure::Usage("no question: pass QUESTION".to_owned()))?;
        return match turn(&answerer, &history, &question, args).await? {
            (_, Some(line)) => Err(Failure::Filtered(line)),
            (_, None) => Ok(()),
        };
    }
    // A conversation: each question and its answer join the history.
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("aoai rag ask: one question a line; /exit to leave");
    }
    let mut pending = first;
    let mut input = std::io::stdin().lock();
    // Answers the content filter cut, of all answers: a conversation goes
    // on after one, and ends with exit 3.
    let (mut filtered, mut answered) = (0_usize, 0_usize);
    let ended = |filtered: usize, answered: usize| match filtered {
        0 => Ok(()),
        _ => Err(Failure::Filtered(format!(
            "content filter: Azure's content filter cut {filtered} of {answered} answers"
        ))),
    };
    loop {
        let question = match pending.take() {
            Some(question) => question,
            None => {
                if interactive {
                    eprint!("> ");
                }
                let mut line = String::new();
                let read = input
                    .read_line(&mut line)
                    .map_err(|error| Failure::Other(format!("cannot read input: {error}")))?;
                if read == 0 {
                    return ended(filtered, answered);
                }
                line.trim().to_owned()
            }
        };
        match question.as_str() {
            "" => continue,
            "/exit" | "/quit" => return ended(filtered, answered),
            _ => {}
        }
        // A failed turn is reported and the conversation goes on.
        match turn(&answerer, &history, &question, args).await {
            Ok((text, cut)) => {
                answered += 1;
                if let Some(line) = cut {
                    eprintln!("{line}");
                    filtered += 1;
                }
                history.push(Turn::user(question));
                history.push(Turn::assistant(text));
                if !args.json {
                    // A blank line between one turn's sources and the next answer.
                    print("\n")?;
                }
            }
            Err(Failure::Usage(message) | Failure::Other(message)) => eprintln!("error: {message}"),
            Err(Failure::Api(error)) => eprintln!("{}", error.summary_line()),
            Err(Failure::Filtered(line) | Failure::Exit(_, line)) => eprintln!("{line}"),
        }
    }
}

/// The turns of a `--history` file (`-`: stdin, not with `--chat`).
fn read_history(path: &str, chat: bool) -> Result<Vec<Turn>, Failure> {
    if path == "-" && chat {
        return Err(Failure::Usage(
            "--history - reads stdin, which --chat reads questions from: give a file".to_owned(),
        ));
    }
    let text = crate::read_input(Some(path))?;
    serde_json::from_str(&text).map_err(|error| {
        Failure::Usage(format!(
            "--history {path}: expected a JSON array of {{\"role\": \"user\" or \"assistant\", \"content\": \"…\"}}: {error}"
        ))
    })
}

/// Answers one question after `history` and prints it; returns the
/// answer's text and, when the content filter cut it, the line saying so.
async fn turn<R: Retriever>(
    answerer: &GroundedAnswerer<Client, R>,
    history: &[Turn],
    question: &str,
    args: &AskArgs,
) -> Result<(String, Option<String>), Failure> {
    let answer = if args.json {
        let answer = answerer.ask_with_history(history, question).await.map_err(rag_failure)?;
        let text = if args.chat { serde_json::to_string(&answer) } else { serde_json::to_string_pretty(&answer) }
            .map_err(|error| Failure::Other(format!("cannot print the answer: {error}")))?;
        print(&format!("{text}\n"))?;
        answer
    } else {
        let mut stream = answerer.ask_stream_with_history(history, question).await.map_err(rag_failure)?;
        let mut done = None;
        while let Some(event) = stream.next().await {
            match event.map_err(rag_failure)? {
                AnswerEvent::Delta(text) => print(&text)?,
                AnswerEvent::Done(answer) => done = Some(*answer),
                _ => {}
            }
        }
        let answer = done.ok_or_else(|| Failure::Other("the answer stream ended without an answer".to_owned()))?;
        print(&sources_list(&answer))?;
        answer
    };
    if let Some(rewrite) = &answer.rewrite {
        match &rewrite.fallback {
            Some(reason) => eprintln!("note: searched with the question as asked: {reason}"),
            None if args.verbose => {
                eprintln!("search query: {:?} (rewritten from {:?})", rewrite.query, rewrite.question)
            }
            None => {}
        }
    } else if args.verbose {
        eprintln!("search query: {question:?} (as asked)");
    }
    if args.verbose {
        if let Some(usage) = &answer.usage {
            let mut line =
                format!("usage: {} prompt + {} completion tokens", usage.prompt_tokens, usage.completion_tokens);
            if let Some(rewrite) = answer.rewrite.as_ref().and_then(|rewrite| rewrite.usage.as_ref()) {
                let _ = write!(
                    line,
                    " (the query rewrite's {} + {} included)",
                    rewrite.prompt_tokens, rewrite.completion_tokens
                );
            }
            eprintln!("{line}");
        }
        if answer.history_turns < history.len() {
            eprintln!(
                "note: {} of {} earlier turns fit in the history budget; older ones were left out",
                answer.history_turns,
                history.len()
            );
        }
    }
    if !answer.dropped.is_empty() {
        eprintln!(
            "note: {} retrieved chunk(s) did not fit in the source budget of {} tokens and were left out",
            answer.dropped.len(),
            args.source_budget
        );
    }
    if !answer.unknown_citations.is_empty() {
        let unknown: Vec<String> = answer.unknown_citations.iter().map(|n| format!("[doc{n}]")).collect();
        eprintln!(
            "warning: the answer cites {}, which no given source has ({} sources were given)",
            unknown.join(", "),
            answer.sources.len()
        );
    }
    if answer.cites_nothing_given {
        eprintln!("warning: the answer cites none of the {} given sources", answer.sources.len());
    }
    let filtered = verdict::finish(answer.finish_reason.as_ref(), answer.content_filter_results.as_ref());
    Ok((answer.text, filtered))
}

/// The numbered source list printed after the answer.
fn sources_list(answer: &aoai_rag::Answer) -> String {
    let mut out = String::from("\n\nSources:\n");
    if answer.sources.is_empty() {
        out.push_str("  (none were found)\n");
    }
    for source in &answer.sources {
        let chunk = &source.chunk;
        let cited = answer.citations.iter().any(|citation| citation.n == source.n);
        let _ = write!(out, "[doc{}] {}", source.n, chunk.source);
        if !chunk.headings.is_empty() {
            let _ = write!(out, " > {}", chunk.headings.join(" > "));
        }
        let _ = writeln!(out, " [{}..{}]{}", chunk.start, chunk.end, if cited { " (cited)" } else { "" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_and_read_identities() {
        let spec = EmbedderSpec::Azure { deployment: "embed".into(), dimensions: 256, send_dimensions: true };
        assert_eq!(EmbedderSpec::from_json(&spec.to_json()), Some(spec.clone()));
        assert_eq!(EmbedderSpec::from_identity("azure:embed:256", 256), Some(spec));
        assert_eq!(
            EmbedderSpec::from_identity("azure:my:dep:1536", 1536),
            Some(EmbedderSpec::Azure { deployment: "my:dep".into(), dimensions: 1536, send_dimensions: false })
        );
        assert_eq!(EmbedderSpec::from_identity("other", 3), None);
    }

    #[test]
    fn sources_are_named_without_dot_components() {
        assert_eq!(source_name(Path::new("./docs/./a.md")), source_name(Path::new("docs/a.md")));
    }

    /// Vectors from the text's length; a text holding "poison" gets a vector
    /// of the wrong length, which the index refuses (an embedding error).
    struct Fake;

    #[async_trait::async_trait]
    impl Embedder for Fake {
        async fn embed(&self, texts: &[String]) -> aoai_rag::Result<Vec<Vec<f32>>> {
            Ok(texts
                .iter()
                .map(|text| if text.contains("poison") { vec![1.0] } else { vec![1.0, text.len() as f32] })
                .collect())
        }

        fn dimensions(&self) -> usize {
            2
        }

        fn identity(&self) -> String {
            "fake:2".to_owned()
        }
    }

    #[tokio::test]
    async fn groups_are_written_in_order_and_a_failed_group_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        let files: Vec<PathBuf> = ["a.md", "b.md", "c.md", "d.md"].iter().map(|name| docs.join(name)).collect();
        for (file, text) in files.iter().zip(["# A\n\nalpha", "# B\n\nbeta", "# C\n\npoison", "# D\n\ndelta"]) {
            std::fs::write(file, text).unwrap();
        }
        let index = Arc::new(EmbeddedIndex::open(dir.path().join("index"), Fake).unwrap());
        let chunker = TokenChunker::new(ChunkerConfig::default()).unwrap();
        let paths = [docs.clone()];
        let time = aoai_core::clock::Time::system();
        // One chunk per group: a and b are embedded and written, c's group fails, d is never reached.
        let outcome = index_files(&index, &chunker, &paths, &files, &time, 1).await;
        assert!(outcome.is_err());
        let names = |index: &EmbeddedIndex<Fake>| -> Vec<String> {
            index.sources().keys().map(|source| source.rsplit('/').next().unwrap().to_owned()).collect()
        };
        assert_eq!(names(&index), ["a.md", "b.md"]);
        let state = read_state(index.path());
        let recorded: Vec<&str> = state.sources.keys().map(|source| source.rsplit('/').next().unwrap()).collect();
        assert_eq!(recorded, ["a.md", "b.md"], "only written files are recorded");

        // Mended, the next run adds c and d and leaves a and b alone.
        std::fs::write(&files[2], "# C\n\ngamma").unwrap();
        let generation = index.generation();
        index_files(&index, &chunker, &paths, &files, &time, 1).await.unwrap();
        assert_eq!(names(&index), ["a.md", "b.md", "c.md", "d.md"]);
        assert_eq!(read_state(index.path()).sources.len(), 4);
        assert_eq!(index.generation(), generation + 2, "one write per changed file's group");
        // Everything unchanged now: no write at all.
        index_files(&index, &chunker, &paths, &files, &time, GROUP_CHUNKS).await.unwrap();
        assert_eq!(index.generation(), generation + 2);
    }

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet("a\n\n b  c"), "a b c");
        let long = "é".repeat(400);
        assert_eq!(snippet(&long).chars().count(), SNIPPET_CHARS + 1);
    }
}
