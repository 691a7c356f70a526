//! `aoai rag index|search|ask`: the real binary, offline (the embedded
//! emulator serves embeddings and chat), on a small directory of files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use aoai_emulator::{DeploymentConfig, Emulator};

mod common;

/// Runs `aoai` with a clean environment (no endpoint: the embedded emulator) in `dir`.
fn aoai(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aoai"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const BATCH: &str = "# Batching\n\nThe scheduler drives a deployment at its token quota.\n\n## Resume\n\nA crashed batch resumes from its journal file.\n";
const CACHE: &str = "<html><head><title>Caching</title></head><body><h1>Caching</h1><p>The cache stores chat completions keyed by the canonical request.</p><h2>Redis</h2><p>Redis shares cached answers between processes.</p></body></html>";
const NOTES: &str =
    "Guards block prompts that mention forbidden words.\n\nThe blocklist is matched after normalisation.\n";

/// A corpus directory (Markdown, HTML, text, a binary file, a hidden
/// directory) and its index, built with `aoai rag index`.
fn corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("nested")).unwrap();
    std::fs::create_dir_all(docs.join(".hidden")).unwrap();
    std::fs::write(docs.join("batch.md"), BATCH).unwrap();
    std::fs::write(docs.join("nested/cache.html"), CACHE).unwrap();
    std::fs::write(docs.join("notes.txt"), NOTES).unwrap();
    std::fs::write(docs.join("image.png"), [0x89, b'P', b'N', b'G', 0, 0, 1, 2]).unwrap();
    std::fs::write(docs.join(".hidden/secret.md"), "# Hidden\n\nNever indexed.\n").unwrap();
    let output =
        aoai(dir.path(), &["rag", "index", "docs", "--index", "idx", "--chunk-tokens", "64", "--overlap-tokens", "8"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("warning: skipping docs/image.png: binary file"), "{stderr}");
    assert!(
        stderr.contains("indexed 3 of 4 files (1 skipped): 3 added, 0 updated, 0 removed, 0 unchanged"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "chunk size: 64 tokens, 8 overlapping (set by --chunk-tokens), each within the embedder's 8191 tokens of input"
        ),
        "{stderr}"
    );
    assert!(dir.path().join("idx/manifest.json").is_file());
    let embedder: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("idx/embedder.json")).unwrap()).unwrap();
    assert_eq!(embedder["embedder"], "azure");
    assert_eq!(embedder["deployment"], "text-embedding-3-small");
    dir
}

#[test]
fn index_search_in_every_mode_and_ask() {
    let dir = corpus();
    let root = dir.path();

    for mode in ["hybrid", "keyword", "vector"] {
        let output =
            aoai(root, &["rag", "search", "--index", "idx", "--mode", mode, "-k", "3", "crashed", "batch", "resume"]);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{mode}: {}", text(&output.stderr));
        let first = stdout.lines().next().unwrap();
        assert!(first.starts_with("1. "), "{mode}: {stdout}");
        assert!(first.contains("docs/batch.md  Batching > Resume"), "{mode}: {stdout}");
        let range = &first[first.find("  [").unwrap() + 3..];
        let (start, end) = range[..range.find(']').unwrap()].split_once("..").unwrap();
        let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
        assert!(BATCH[start..end].contains("A crashed batch resumes from its journal file."), "{mode}: {first}");
        assert_eq!(first.contains("keyword #"), mode != "vector", "{mode}: {first}");
        assert_eq!(first.contains("vector #"), mode != "keyword", "{mode}: {first}");
        assert!(stdout.lines().count() <= 6, "{mode}: at most 3 hits of two lines: {stdout}");
    }

    // Machine output.
    let output = aoai(root, &["rag", "search", "--index", "idx", "--json", "Redis", "cached", "answers"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(hits[0]["rank"], 1);
    assert_eq!(hits[0]["source"], "docs/nested/cache.html");
    assert_eq!(hits[0]["headings"], serde_json::json!(["Caching", "Redis"]));
    assert!(hits.as_array().unwrap().iter().all(|hit| !hit["source"].as_str().unwrap().contains(".hidden")));

    // A grounded, streamed answer and its numbered sources.
    let output = aoai(root, &["rag", "ask", "--index", "idx", "How", "does", "a", "crashed", "batch", "resume?"]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with("A crashed batch resumes from its journal file. [doc"), "{stdout}");
    assert!(stdout.contains("\nSources:\n[doc1] "), "{stdout}");
    let cited = stdout.lines().find(|line| line.ends_with("(cited)")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(cited.contains("docs/batch.md > Batching > Resume ["), "{cited}");
    assert!(!stderr.contains("warning"), "{stderr}");

    // The whole answer as JSON.
    let output = aoai(root, &["rag", "ask", "--index", "idx", "--json", "Where does Redis share cached answers?"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["cites_nothing_given"], false);
    assert_eq!(answer["citations"][0]["source"], "docs/nested/cache.html");
    assert!(answer["text"].as_str().unwrap().contains("Redis shares cached answers between processes."));
    let (start, end) =
        (answer["citations"][0]["start"].as_u64().unwrap(), answer["citations"][0]["end"].as_u64().unwrap());
    assert!(CACHE[start as usize..end as usize].contains("Redis shares cached answers between processes."));

    // An answer that cites nothing given is flagged.
    let output =
        aoai(root, &["rag", "ask", "--index", "idx", "--mode", "vector", "What is the price of zinc in Peru?"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!text(&output.stdout).contains("(cited)"));
    assert!(stderr.contains("warning: the answer cites none of the"), "{stderr}");

    // The index records its embedder: another one is refused.
    let output = aoai(root, &["rag", "search", "--index", "idx", "--dimensions", "256", "batch"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("was built with the azure (text-embedding-3-small, 1536 dimensions) embedder")
    );

    // Re-indexing a file replaces its chunks instead of adding more.
    let before: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("idx/manifest.json")).unwrap()).unwrap();
    let output = aoai(
        root,
        &["rag", "index", "./docs/batch.md", "--index", "idx", "--chunk-tokens", "64", "--overlap-tokens", "8"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("idx/manifest.json")).unwrap()).unwrap();
    assert_eq!(before["chunks"], after["chunks"]);
}

#[test]
fn bad_mode_and_missing_index_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let output = aoai(dir.path(), &["rag", "search", "--index", "idx", "--mode", "fuzzy", "batch"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("invalid value 'fuzzy' for '--mode <MODE>'"), "{}", text(&output.stderr));

    for command in ["search", "ask"] {
        let output = aoai(dir.path(), &["rag", command, "--index", "nowhere", "batch"]);
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("error: no index at nowhere: the directory does not exist"), "{stderr}");
    }
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let output = aoai(dir.path(), &["rag", "ask", "--index", "empty", "batch"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no index at empty: it has no manifest.json"));

    let output = aoai(dir.path(), &["rag", "index", "missing-dir", "--index", "idx"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("cannot read missing-dir"));

    // `--embedder local` without the feature: a clear error, nothing written
    // (with it: `the_local_embedder_indexes_searches_and_answers`).
    if !cfg!(feature = "local-embeddings") {
        std::fs::write(dir.path().join("a.md"), "# A\n\ntext\n").unwrap();
        let output = aoai(dir.path(), &["rag", "index", "a.md", "--index", "idx", "--embedder", "local"]);
        assert_eq!(output.status.code(), Some(2));
        assert!(text(&output.stderr).contains("built without local embeddings"), "{}", text(&output.stderr));
        assert!(!dir.path().join("idx").exists(), "nothing is written for an embedder that cannot run");
    }
}

/// all-MiniLM-L6-v2 end to end through the command line: the index records
/// the local embedder, search and ask reopen with it, and a paraphrase that
/// shares no word with the text is found by meaning.
#[cfg(feature = "local-embeddings")]
#[test]
fn the_local_embedder_indexes_searches_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    std::fs::write(
        dir.path().join("notes/pets.md"),
        "# Pets\n\nDogs and cats are animals that many families keep at home.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("notes/money.md"),
        "# Money\n\nInterest rates rise when the central bank fights inflation.\n",
    )
    .unwrap();
    let output = aoai(dir.path(), &["rag", "index", "notes", "--index", "idx", "--embedder", "local"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // The chunk size follows the model's 256 word-pieces.
    assert!(
        text(&output.stderr).contains(
            "chunk size: 256 tokens, 64 overlapping (the embedder reads at most 256 of its tokens), each within the embedder's 256 tokens of input"
        ),
        "{}",
        text(&output.stderr)
    );
    let recorded = std::fs::read_to_string(dir.path().join("idx/manifest.json")).unwrap();
    assert!(recorded.contains("local:all-MiniLM-L6-v2:384"), "{recorded}");

    let output =
        aoai(dir.path(), &["rag", "search", "--index", "idx", "--mode", "vector", "--json", "domestic companions"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(hits[0]["source"], "notes/pets.md", "{hits}");

    let output = aoai(dir.path(), &["rag", "ask", "--index", "idx", "Which animals do families keep at home?"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("notes/pets.md"), "{}", text(&output.stdout));

    let output = aoai(dir.path(), &["rag", "search", "--index", "idx", "--embedder", "azure", "pets"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("built with the local embedder"), "{}", text(&output.stderr));
}

/// Keyword search on an index built with the local embedder never loads the
/// model: with `AOAI_MINILM_DIR` pointing at an empty directory, hybrid
/// search fails for want of the model files, keyword search and a keyword
/// `ask` still answer.
#[cfg(feature = "local-embeddings")]
#[test]
fn keyword_mode_never_loads_the_local_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    std::fs::write(dir.path().join("notes/pets.md"), "# Pets\n\nDogs and cats are animals families keep at home.\n")
        .unwrap();
    let output = aoai(dir.path(), &["rag", "index", "notes", "--index", "idx", "--embedder", "local"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    std::fs::create_dir(dir.path().join("no-model")).unwrap();
    let without_model = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_aoai"))
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AOAI_MINILM_DIR", dir.path().join("no-model"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let output = without_model(&["rag", "search", "--index", "idx", "--mode", "hybrid", "dogs"]);
    assert_ne!(output.status.code(), Some(0));
    assert!(text(&output.stderr).contains("all-MiniLM-L6-v2 is missing"), "{}", text(&output.stderr));

    let output = without_model(&["rag", "search", "--index", "idx", "--mode", "keyword", "--json", "dogs"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(hits[0]["source"], "notes/pets.md", "{hits}");

    let output =
        without_model(&["rag", "ask", "--index", "idx", "--mode", "keyword", "Which animals do families keep?"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("notes/pets.md"), "{}", text(&output.stdout));
}

/// Sources of the human output's hits (`N. score  source  …` lines).
fn hit_sources(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|line| line.split_once(". ").is_some_and(|(rank, _)| rank.parse::<u32>().is_ok()))
        .map(|line| line.split("  ").nth(1).unwrap().to_owned())
        .collect()
}

/// `aoai rag search` shows one hit per source by default and still `k` of
/// them (one file's many chunks would otherwise fill the list); `--json`
/// keeps every chunk unless `--per-source` is given.
#[test]
fn search_collapses_hits_to_one_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let big: String = (0..16).map(|n| format!("## Part {n}\n\nQuota quota quota, part {n}.\n\n")).collect();
    std::fs::write(docs.join("big.md"), format!("# Quotas\n\n{big}")).unwrap();
    for (name, text) in [
        ("a.txt", "The scheduler reads many settings from a file, and among them the quota of the deployment."),
        ("b.txt", "Each worker waits for its turn, counting tokens against the shared quota before sending."),
        ("c.txt", "Retries back off exponentially; a limited request is resent once the quota window passed."),
    ] {
        std::fs::write(docs.join(name), text).unwrap();
    }
    let output = aoai(dir.path(), &["rag", "index", "docs", "--index", "idx"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let search = |extra: &[&str]| {
        let mut args = vec!["rag", "search", "--index", "idx", "--mode", "keyword", "-k", "3"];
        args.extend_from_slice(extra);
        args.push("quota");
        let output = aoai(dir.path(), &args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };

    let sources = hit_sources(&search(&[]));
    assert_eq!(sources.len(), 3, "{sources:?}");
    assert_eq!(sources[0], "docs/big.md");
    let distinct: std::collections::HashSet<&String> = sources.iter().collect();
    assert_eq!(distinct.len(), 3, "{sources:?}");

    assert_eq!(hit_sources(&search(&["--per-source", "0"])), ["docs/big.md"; 3]);
    let two = hit_sources(&search(&["--per-source", "2"]));
    assert_eq!(&two[..2], ["docs/big.md"; 2]);
    assert_ne!(two[2], "docs/big.md");

    let json_sources = |extra: &[&str]| -> Vec<String> {
        let hits: serde_json::Value = serde_json::from_str(&search(extra)).unwrap();
        hits.as_array().unwrap().iter().map(|hit| hit["source"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(json_sources(&["--json"]), ["docs/big.md"; 3]);
    let collapsed = json_sources(&["--json", "--per-source", "1"]);
    assert_eq!(collapsed.iter().collect::<std::collections::HashSet<_>>().len(), 3, "{collapsed:?}");
}

fn generation(dir: &Path) -> u64 {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("idx/manifest.json")).unwrap()).unwrap();
    manifest["generation"].as_u64().unwrap()
}

/// Sources of every hit of a keyword search for `word`, in every mode, as JSON.
fn sources_for(dir: &Path, word: &str) -> Vec<String> {
    let mut sources = Vec::new();
    for mode in ["keyword", "hybrid", "vector"] {
        let output = aoai(dir, &["rag", "search", "--index", "idx", "--mode", mode, "--json", "-k", "50", word]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let hits: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        sources.extend(hits.as_array().unwrap().iter().map(|hit| hit["source"].as_str().unwrap().to_owned()));
    }
    sources
}

/// Re-running `aoai rag index` on an existing index keeps it in step with
/// its folders: new files added, changed ones re-embedded, unchanged ones
/// skipped (nothing written at all when nothing changed), deleted files'
/// chunks removed for good; sources indexed from other paths stay.
#[test]
fn reindexing_syncs_added_changed_unchanged_and_deleted_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::write(root.join("docs/a.md"), "# Alpha\n\nThe aardvark digs at night.\n").unwrap();
    std::fs::write(root.join("docs/b.md"), "# Beta\n\nThe bandicoot hides in the grass.\n").unwrap();
    std::fs::write(root.join("docs/c.txt"), "The capybara swims in the river.\n").unwrap();
    std::fs::write(root.join("other/o.md"), "# Other\n\nThe okapi lives in the forest.\n").unwrap();
    let index = |paths: &[&str]| {
        let mut args = vec!["rag", "index"];
        args.extend_from_slice(paths);
        args.extend_from_slice(&["--index", "idx"]);
        let output = aoai(root, &args);
        let stderr = text(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        stderr
    };

    let stderr = index(&["other"]);
    assert!(stderr.contains("1 added, 0 updated, 0 removed, 0 unchanged"), "{stderr}");
    let stderr = index(&["docs"]);
    assert!(stderr.contains("3 added, 0 updated, 0 removed, 0 unchanged"), "{stderr}");
    assert_eq!(sources_for(root, "bandicoot")[0], "docs/b.md");

    // Nothing changed: nothing embedded, nothing written.
    let before = generation(root);
    let stderr = index(&["./docs"]);
    assert!(stderr.contains("0 added, 0 updated, 0 removed, 3 unchanged; 0 chunks, 0 tokens embedded"), "{stderr}");
    assert_eq!(generation(root), before);

    // A changed file, a deleted file, a new file.
    std::fs::write(root.join("docs/a.md"), "# Alpha\n\nThe armadillo rolls into a ball.\n").unwrap();
    std::fs::remove_file(root.join("docs/b.md")).unwrap();
    std::fs::write(root.join("docs/d.md"), "# Delta\n\nThe dugong grazes on seagrass.\n").unwrap();
    let stderr = index(&["docs"]);
    assert!(stderr.contains("1 added, 1 updated, 1 removed, 1 unchanged"), "{stderr}");

    let bandicoot = sources_for(root, "bandicoot");
    assert!(!bandicoot.iter().any(|source| source == "docs/b.md"), "deleted file still found: {bandicoot:?}");
    assert!(!sources_for(root, "aardvark").is_empty());
    let output = aoai(root, &["rag", "search", "--index", "idx", "--mode", "keyword", "--json", "aardvark"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap(), serde_json::json!([]));
    assert_eq!(sources_for(root, "armadillo")[0], "docs/a.md");
    assert_eq!(sources_for(root, "dugong")[0], "docs/d.md");
    // Indexed from another path: untouched.
    assert_eq!(sources_for(root, "okapi")[0], "other/o.md");
    let output = aoai(root, &["rag", "ask", "--index", "idx", "--json", "Where does the bandicoot hide?"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!text(&output.stdout).contains("docs/b.md"), "{}", text(&output.stdout));

    // Another chunk size re-chunks everything.
    let output = aoai(root, &["rag", "index", "docs", "--index", "idx", "--chunk-tokens", "32"]);
    assert!(text(&output.stderr).contains("0 added, 3 updated, 0 removed, 0 unchanged"), "{}", text(&output.stderr));
}

/// Starts `emulator` (on loopback, its address in the environment it
/// returns) with a chat and an embeddings deployment, and indexes
/// `root/docs` into `root/idx` through it.
async fn index_docs(
    root: &Path,
    emulator: aoai_emulator::EmulatorConfig,
) -> (aoai_emulator::EmulatorHandle, Vec<(&'static str, String)>) {
    let emulator = emulator
        .deployment(DeploymentConfig::new("gpt-4o", "gpt-4o"))
        .deployment(DeploymentConfig::new("text-embedding-3-small", "text-embedding-3-small"))
        .start()
        .await
        .unwrap();
    let env = common::env_for(&emulator, false);
    let output = common::aoai_in(root, &["rag", "index", "docs", "--index", "idx"], &env, None).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    (emulator, env)
}

const FIRST_QUESTION: &str = "How does a crashed batch resume?";
const FOLLOW_UP: &str = "and how long does it take?";
const REWRITTEN: &str = "How long does resuming a crashed batch take?";

/// `aoai rag ask --history`/`--chat` against an emulator (on loopback, its
/// address in the environment) whose chat deployment answers a rewrite
/// request for the follow-up, when it carries the first question, with a
/// scripted query: the follow-up alone retrieves the install notes, the
/// rewritten query the batch docs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_rewrites_follow_up_questions_from_history_and_chat() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(
        root.join("docs/batch.md"),
        "# Batching\n\n## Resume\n\nA crashed batch resumes from its journal file. Resuming a crashed batch takes about ten seconds.\n",
    )
    .unwrap();
    std::fs::write(
        root.join("docs/install.md"),
        "# Installing\n\nHow long does it take to install? It takes two minutes on a laptop.\n",
    )
    .unwrap();
    let fixtures = root.join("fixtures.toml");
    std::fs::write(
        &fixtures,
        format!(
            "[[fixtures]]\nmatch = {{ system_contains = \"standalone search query\", last_user_contains = \"Last question: {FOLLOW_UP}\", \
             any_message_contains = \"User: {FIRST_QUESTION}\" }}\nreply = {{ content = \"{REWRITTEN}\" }}\n"
        ),
    )
    .unwrap();
    let (_emulator, env) = index_docs(root, Emulator::builder().fixtures(&fixtures)).await;
    std::fs::write(
        root.join("history.json"),
        format!(
            r#"[{{"role": "user", "content": "{FIRST_QUESTION}"}}, {{"role": "assistant", "content": "It resumes from its journal file. [doc1]"}}]"#
        ),
    )
    .unwrap();
    let ask = ["rag", "ask", "--index", "idx", "-k", "1"];

    // --history with --json: the rewritten query and the right passage.
    let args: Vec<&str> = ask.iter().copied().chain(["--json", "--history", "history.json", FOLLOW_UP]).collect();
    let output = common::aoai_in(root, &args, &env, None).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["rewrite"]["query"], REWRITTEN, "{answer}");
    assert_eq!(answer["rewrite"]["question"], FOLLOW_UP);
    assert_eq!(answer["rewrite"]["fallback"], serde_json::Value::Null);
    assert_eq!(answer["history_turns"], 2);
    assert_eq!(answer["sources"][0]["chunk"]["source"], "docs/batch.md");
    let rewrite_tokens = answer["rewrite"]["usage"]["total_tokens"].as_u64().unwrap();
    assert!(rewrite_tokens > 0 && answer["usage"]["total_tokens"].as_u64().unwrap() > rewrite_tokens);

    // --no-rewrite: the follow-up alone finds the install notes.
    let args: Vec<&str> =
        ask.iter().copied().chain(["--json", "--no-rewrite", "--history", "history.json", FOLLOW_UP]).collect();
    let output = common::aoai_in(root, &args, &env, None).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["rewrite"], serde_json::Value::Null);
    assert_eq!(answer["sources"][0]["chunk"]["source"], "docs/install.md");

    // Verbose human output: the query and the tokens on stderr.
    let args: Vec<&str> = ask.iter().copied().chain(["--verbose", "--history", "history.json", FOLLOW_UP]).collect();
    let output = common::aoai_in(root, &args, &env, None).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("search query: {REWRITTEN:?} (rewritten from {FOLLOW_UP:?})")), "{stderr}");
    assert!(stderr.contains("usage: ") && stderr.contains("the query rewrite's"), "{stderr}");
    assert!(stdout.contains("Sources:\n[doc1] docs/batch.md"), "{stdout}");

    // --chat: the first answer joins the history of the follow-up.
    let args: Vec<&str> = ask.iter().copied().chain(["--chat", "--json"]).collect();
    let input = format!("{FIRST_QUESTION}\n\n{FOLLOW_UP}\n/exit\nnever asked\n");
    let output = common::aoai_in(root, &args, &env, Some(&input)).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let answers: Vec<serde_json::Value> =
        text(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["rewrite"], serde_json::Value::Null);
    assert_eq!(answers[0]["history_turns"], 0);
    assert_eq!(answers[1]["history_turns"], 2);
    assert_eq!(answers[1]["rewrite"]["query"], REWRITTEN);
    assert_eq!(answers[1]["sources"][0]["chunk"]["source"], "docs/batch.md");

    // A history that is not turns is a usage error.
    std::fs::write(root.join("bad.json"), r#"[{"role": "tool", "content": "x"}]"#).unwrap();
    let args: Vec<&str> = ask.iter().copied().chain(["--history", "bad.json", FOLLOW_UP]).collect();
    let output = common::aoai_in(root, &args, &env, None).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--history bad.json: expected a JSON array"), "{}", text(&output.stderr));
}

/// `aoai rag ask` whose answer the content filter cuts (the emulator's
/// blocklist matches the scripted answer): the text before the cut is
/// printed, stderr names the filtered category, and the exit code is 3 —
/// streamed (human output), with `--json`, and in a `--chat` conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_reports_an_answer_cut_by_the_content_filter_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/colour.md"), "# Colours\n\nThe hidden hue is kept in the vault.\n").unwrap();
    let fixtures = root.join("fixtures.toml");
    std::fs::write(
        &fixtures,
        "[[fixtures]]\nmatch = { last_user_contains = \"secret colour\" }\n\
         reply = { content = \"The secret colour is [doc1] quuxforbidden blue.\" }\n",
    )
    .unwrap();
    let (_emulator, env) = index_docs(root, Emulator::builder().blocklist(["quuxforbidden"]).fixtures(&fixtures)).await;
    let ask = ["rag", "ask", "--index", "idx", "--no-rewrite"];

    let args: Vec<&str> = ask.iter().copied().chain(["What is the secret colour?"]).collect();
    let output = common::aoai_in(root, &args, &env, None).await;
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("The secret colour is [doc1]"), "{stdout}");
    assert!(!stdout.contains("quuxforbidden"), "{stdout}");
    assert!(stderr.contains("content filter: Azure's content filter cut the answer"), "{stderr}");
    assert!(stderr.contains("filtered: custom_blocklists"), "{stderr}");

    let args: Vec<&str> = ask.iter().copied().chain(["--json", "What is the secret colour?"]).collect();
    let output = common::aoai_in(root, &args, &env, None).await;
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["finish_reason"], "content_filter");

    // A conversation goes on after a cut answer and ends with exit 3.
    let args: Vec<&str> = ask.iter().copied().chain(["--chat", "--json"]).collect();
    let input = "What is the secret colour?\nWhere is the hidden hue kept?\n";
    let output = common::aoai_in(root, &args, &env, Some(input)).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert_eq!(text(&output.stdout).lines().count(), 2);
    assert!(stderr.contains("cut 1 of 2 answers"), "{stderr}");
}
