//! `aoai ask` through the binary against one emulator (env vars point at
//! it): a thread continued with `--thread` across processes, `--files`
//! answers citing the right file and reusing their store, `--local-index`
//! answers citing the indexed file, `--stream`, `--json`, the question on
//! stdin, usage errors, and the expiry of `--files` stores (set, changed by
//! `--store-expiry-days`, an expired store replaced).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::process::Output;
use std::time::Duration;

use aoai_core::clock::{ManualClock, Time};
use aoai_core::vector_stores::ExpiresAfter;
use aoai_emulator::Emulator;
use common::{aoai_in, env_for, text};
use serde_json::Value;

const LEAVE: &str = "# Holiday policy\n\nEvery employee receives twenty-five days of paid annual leave. \
                     Unused leave days carry over to the next year, up to five days.\n";
const BIKES: &str = "# Commuting\n\nBicycles are parked in the basement garage; showers are on the second floor.\n";
const QUESTION: &str = "What do the policies say about days of paid annual leave?";

/// The `thread: …` id printed on stderr.
fn thread_id(output: &Output) -> String {
    let stderr = text(&output.stderr);
    stderr.lines().find_map(|line| line.strip_prefix("thread: ")).unwrap_or_else(|| panic!("{stderr}")).to_owned()
}

/// The lines of the sources list.
fn sources(stdout: &str) -> Vec<&str> {
    stdout.split("\nSources:\n").nth(1).map(|list| list.lines().collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_answers_from_threads_files_and_local_indexes() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(20)).start().await.unwrap();
    let env = env_for(&emulator, true);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/leave.md"), LEAVE).unwrap();
    std::fs::write(root.join("docs/bikes.md"), BIKES).unwrap();

    // Two turns of one thread, in two processes.
    let first = aoai_in(root, &["ask", "My favourite river is the Danube."], &env, None).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(!text(&first.stdout).trim().is_empty());
    let thread = thread_id(&first);
    assert!(thread.starts_with("conv_"), "{thread}");
    let second = aoai_in(root, &["ask", "--thread", &thread, "What did I say before?"], &env, None).await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(text(&second.stdout).contains("favourite river is the Danube"), "{}", text(&second.stdout));
    assert_eq!(thread_id(&second), thread);

    // --files: a store for the files, cited as numbered sources with their passage.
    let asked =
        aoai_in(root, &["ask", "--files", "docs/leave.md", "--files", "docs/bikes.md", QUESTION], &env, None).await;
    assert!(asked.status.success(), "{}", text(&asked.stderr));
    let stderr = text(&asked.stderr);
    let stdout = text(&asked.stdout);
    let store_line = stderr.lines().find(|line| line.starts_with("vector store: vs_")).unwrap();
    assert!(!store_line.contains("reused"), "{stderr}");
    let listed = sources(&stdout);
    assert!(!listed.is_empty(), "{stdout}");
    assert!(listed[0].starts_with("  [1] leave.md (file-"), "{stdout}");
    assert!(listed[0].contains("twenty-five days of paid annual leave"), "{stdout}");
    assert!(listed.iter().all(|line| !line.contains("bikes.md")), "{stdout}");

    // The same files again (as a directory): the store is reused.
    let again = aoai_in(root, &["ask", "--files", "docs", "--stream", QUESTION], &env, None).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    let store = store_line.trim_start_matches("vector store: ");
    assert!(text(&again.stderr).contains(&format!("vector store: {store} (reused")), "{}", text(&again.stderr));
    assert!(sources(&text(&again.stdout))[0].starts_with("  [1] leave.md (file-"), "{}", text(&again.stdout));

    // --json: the run's result.
    let json = aoai_in(root, &["ask", "--json", "--vector-store", store, QUESTION], &env, None).await;
    assert!(json.status.success(), "{}", text(&json.stderr));
    let result: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(result["thread_id"].as_str(), Some(thread_id(&json).as_str()));
    assert_eq!(result["citations"][0]["filename"], "leave.md");
    assert!(result["citations"][0]["quote"].as_str().unwrap().contains("twenty-five"));
    assert_eq!(result["rounds"], 1);
    assert!(!result["text"].as_str().unwrap().is_empty());

    // --local-index: an `aoai rag` index answering as local knowledge.
    let indexed = aoai_in(root, &["rag", "index", "docs", "--index", "idx"], &env, None).await;
    assert!(indexed.status.success(), "{}", text(&indexed.stderr));
    let local = aoai_in(root, &["ask", "--local-index", "idx", QUESTION], &env, None).await;
    assert!(local.status.success(), "{}", text(&local.stderr));
    let stdout = text(&local.stdout);
    let listed = sources(&stdout);
    assert!(listed[0].starts_with("  [1] docs/leave.md: # Holiday policy Every employee"), "{stdout}");
    let local_json = aoai_in(root, &["ask", "--local-index", "idx", "--json", QUESTION], &env, None).await;
    let result: Value = serde_json::from_slice(&local_json.stdout).unwrap();
    assert_eq!(result["citations"][0]["file_id"], "docs/leave.md");
    assert_eq!(result["tool_calls"][0]["name"], "search_knowledge");

    // The question on stdin (not a terminal): one turn.
    let piped = aoai_in(root, &["ask", "--thread", &thread], &env, Some("What did I say before?\n")).await;
    assert!(piped.status.success(), "{}", text(&piped.stderr));
    assert!(text(&piped.stdout).contains("Earlier you said"), "{}", text(&piped.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_service_errors_exit_1_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let offline = aoai_in(root, &["ask", "Tell me about rivers."], &[], None).await;
    assert!(offline.status.success(), "{}", text(&offline.stderr));
    assert!(text(&offline.stderr).contains("using the embedded emulator"));
    assert!(thread_id(&offline).starts_with("conv_"));

    // A service error exits 1 with the service's words.
    let missing = aoai_in(root, &["ask", "--vector-store", "vs_nope", "hi"], &[], None).await;
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("HTTP 404"), "{}", text(&missing.stderr));

    for args in [
        &["ask", "--thread", "thread_123", "hi"][..],
        &["ask", "--local-index", "no-such-index", "hi"],
        &["ask", "--files", "no-such-file.md", "hi"],
        &["ask", "--no-such-flag", "hi"],
        &["ask"],
    ] {
        let output = aoai_in(root, args, &[], Some("")).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output.stderr));
    }
}

/// The store id of the `vector store: vs_…` line on stderr.
fn store_id(output: &Output) -> String {
    let stderr = text(&output.stderr);
    let line =
        stderr.lines().find_map(|line| line.strip_prefix("vector store: ")).unwrap_or_else(|| panic!("{stderr}"));
    line.split_whitespace().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_stores_expire_a_week_after_use_and_an_expired_one_is_replaced() {
    // The emulator's clock is manual (ingestion is immediate): the test moves it past the expiry.
    let clock = ManualClock::new();
    let emulator = Emulator::builder().time(Time::manual(&clock)).batch_step(Duration::ZERO).start().await.unwrap();
    let env = env_for(&emulator, true);
    let client = emulator.client().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/leave.md"), LEAVE).unwrap();

    let help = aoai_in(root, &["ask", "--help"], &[], None).await;
    let help = text(&help.stdout);
    assert!(help.contains("--store-expiry-days <N>") && help.contains("[default: 7]"), "{help}");

    // A new store: 7 days after its last use.
    let first = aoai_in(root, &["ask", "--files", "docs", QUESTION], &env, None).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&first.stderr).contains("the store expires 7 days after its last use"), "{}", text(&first.stderr));
    let store = store_id(&first);
    let created = client.retrieve_vector_store(&store).await.unwrap().body;
    assert_eq!(created.expires_after, Some(ExpiresAfter::days_after_last_active(7)));

    // Reused with another policy: the store gets it.
    let longer = aoai_in(root, &["ask", "--files", "docs", "--store-expiry-days", "30", QUESTION], &env, None).await;
    assert!(longer.status.success(), "{}", text(&longer.stderr));
    assert_eq!(store_id(&longer), store);
    assert!(text(&longer.stderr).contains("it now expires 30 days after its last use"), "{}", text(&longer.stderr));
    let reused = client.retrieve_vector_store(&store).await.unwrap().body;
    assert_eq!(reused.expires_after, Some(ExpiresAfter::days_after_last_active(30)));

    // Unused for 31 days: it expired; the next ask replaces it instead of failing.
    clock.advance(Duration::from_secs(31 * 86_400));
    let expired = client.retrieve_vector_store(&store).await.unwrap().body;
    assert_eq!(expired.status, aoai_core::vector_stores::VectorStoreStatus::Expired);
    let replaced = aoai_in(root, &["ask", "--files", "docs", QUESTION], &env, None).await;
    assert!(replaced.status.success(), "{}", text(&replaced.stderr));
    let stderr = text(&replaced.stderr);
    assert!(stderr.contains(&format!("vector store: {store} expired: deleted, replaced by a new one")), "{stderr}");
    let new_store = stderr
        .lines()
        .filter_map(|line| line.strip_prefix("vector store: "))
        .find(|rest| !rest.contains(' '))
        .unwrap()
        .to_owned();
    assert_ne!(new_store, store);
    assert!(client.retrieve_vector_store(&store).await.unwrap_err().is_not_found());
    assert!(sources(&text(&replaced.stdout))[0].starts_with("  [1] leave.md (file-"), "{}", text(&replaced.stdout));

    // 0 is never; out of range is a usage error.
    let never = aoai_in(root, &["ask", "--files", "docs", "--store-expiry-days", "0", QUESTION], &env, None).await;
    assert!(never.status.success(), "{}", text(&never.stderr));
    assert_eq!(store_id(&never), new_store);
    assert_eq!(client.retrieve_vector_store(&new_store).await.unwrap().body.expires_after, None);
    let bad = aoai_in(root, &["ask", "--files", "docs", "--store-expiry-days", "366", QUESTION], &env, None).await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("--store-expiry-days"), "{}", text(&bad.stderr));
}
