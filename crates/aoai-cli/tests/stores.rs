//! `aoai files …`, `aoai vector-stores …` and `aoai respond --vector-store`
//! through the binary against one emulator: a store made from a directory
//! (walked, unsupported types skipped, a broken file listed with its error
//! and exit 1), listing, search, an answer citing the right file as a
//! numbered source, adding and deleting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use aoai_emulator::Emulator;
use common::{aoai, env_for, text};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_a_directory_answers_with_cited_sources() {
    let emulator = Emulator::builder().batch_step(Duration::from_millis(20)).start().await.unwrap();
    let env = env_for(&emulator, true);
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("nested")).unwrap();
    std::fs::write(docs.join("returns.md"), "# Returns\n\nReturns are accepted within 30 days of delivery.\n").unwrap();
    std::fs::write(docs.join("nested/shipping.txt"), "Shipping takes five business days by courier.\n").unwrap();
    std::fs::write(docs.join("logo.png"), [0u8, 1, 2, 3]).unwrap();
    let broken = dir.path().join("broken.txt");
    std::fs::write(&broken, [0u8, 159, 146, 150, 0]).unwrap();

    // Create from a directory plus a broken file: the table lists all three, the broken one with its error; exit 1.
    let docs_arg = docs.to_str().unwrap();
    let created = aoai(&["vector-stores", "create", "policies", docs_arg, broken.to_str().unwrap()], &env).await;
    assert_eq!(created.status.code(), Some(1), "{}", text(&created.stderr));
    let stdout = text(&created.stdout);
    let stderr = text(&created.stderr);
    assert!(stderr.contains("skipped 1 file(s)"), "{stderr}");
    assert!(stderr.contains("1 of 3 file(s) were not processed"), "{stderr}");
    let store = stdout.split('\t').next().unwrap().to_owned();
    assert!(store.starts_with("vs_"), "{stdout}");
    assert!(stdout.contains("\tpolicies\t3 file(s)"), "{stdout}");
    let lines: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines.iter().any(|line| line.starts_with("completed\tfile-") && line.ends_with("returns.md")));
    assert!(lines.iter().any(|line| line.starts_with("completed\tfile-") && line.ends_with("shipping.txt")));
    assert!(
        lines.iter().any(|line| line.starts_with("failed\tfile-") && line.contains("broken.txt\tunsupported_file"))
    );

    // Listed, described, searched.
    let listed = aoai(&["vector-stores", "list"], &env).await;
    assert!(
        text(&listed.stdout).contains(&format!("{store}\tpolicies\tcompleted\t2/3 file(s) completed")),
        "{}",
        text(&listed.stdout)
    );
    let got = aoai(&["vector-stores", "get", &store, "--json"], &env).await;
    let got: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(got["file_counts"]["failed"], 1);
    let search = aoai(&["vector-stores", "search", &store, "how many days for returns", "--k", "1"], &env).await;
    assert!(search.status.success(), "{}", text(&search.stderr));
    assert!(text(&search.stdout).starts_with("1. returns.md (file-"), "{}", text(&search.stdout));
    let search_json = aoai(&["vector-stores", "search", &store, "courier shipping", "--json"], &env).await;
    let results: Value = serde_json::from_slice(&search_json.stdout).unwrap();
    assert_eq!(results["data"][0]["filename"], "shipping.txt");

    // An answer from the store cites the right file as a numbered source.
    let answer = aoai(&["respond", "--vector-store", &store, "How many days are returns accepted?"], &env).await;
    assert!(answer.status.success(), "{}", text(&answer.stderr));
    let stdout = text(&answer.stdout);
    assert!(stdout.contains("30 days"), "{stdout}");
    assert!(stdout.contains("\nSources:\n  [1] returns.md (file-"), "{stdout}");

    // Add a file; files are listed with purpose assistants; delete the store and a file.
    let extra = dir.path().join("warranty.md");
    std::fs::write(&extra, "# Warranty\n\nThe warranty lasts two years.\n").unwrap();
    let added = aoai(&["vector-stores", "add", &store, extra.to_str().unwrap()], &env).await;
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert!(text(&added.stdout).starts_with("completed\tfile-"), "{}", text(&added.stdout));
    let files = aoai(&["files", "list", "--purpose", "assistants"], &env).await;
    assert_eq!(text(&files.stdout).lines().count(), 4, "{}", text(&files.stdout));
    let file_id = text(&added.stdout).split('\t').nth(1).unwrap().to_owned();
    let deleted = aoai(&["files", "delete", &file_id], &env).await;
    assert_eq!(text(&deleted.stdout), format!("deleted {file_id}\n"));
    let gone = aoai(&["vector-stores", "delete", &store], &env).await;
    assert!(gone.status.success());
    let missing = aoai(&["vector-stores", "get", &store], &env).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("HTTP 404"), "{}", text(&missing.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_upload_offline_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello").unwrap();
    let uploaded = aoai(&["files", "upload", path.to_str().unwrap(), "--json"], &[]).await;
    assert!(uploaded.status.success(), "{}", text(&uploaded.stderr));
    let file: Value = serde_json::from_slice(&uploaded.stdout).unwrap();
    assert_eq!((file["purpose"].as_str(), file["bytes"].as_u64()), (Some("assistants"), Some(5)));
    assert!(text(&uploaded.stderr).contains("using the embedded emulator"));

    let missing = aoai(&["files", "upload", "/nonexistent/file.txt"], &[]).await;
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    let bad_k = aoai(&["vector-stores", "search", "vs_1", "q", "--k", "99"], &[]).await;
    assert_eq!(bad_k.status.code(), Some(2));
}
