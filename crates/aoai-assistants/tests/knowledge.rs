//! A vector store kept in step with a directory, through the real client
//! against the emulator: create, dedupe, skip binaries, answer with
//! citations, sync changes and deletions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use aoai_assistants::knowledge::{self, SyncOptions};
use aoai_assistants::{Assistant, ThreadBackend};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::retry::RetryPolicy;
use aoai_emulator::Emulator;

const LEAVE: &str = "# Holiday policy\n\nEvery employee receives twenty-five days of paid annual leave. \
                     Unused leave days carry over to the next year, up to five days.\n";
const BIKES: &str = "# Commuting\n\nBicycles are parked in the basement garage; showers are on the second floor.\n";
const QUESTION: &str = "How many days of paid annual leave does an employee receive?";

#[tokio::test]
async fn a_directory_syncs_into_a_store_that_answers_with_citations() {
    let clock = ManualClock::new();
    let emulator =
        Emulator::builder().time(Time::manual(&clock)).batch_step(Duration::from_secs(1)).start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).time(Time::manual(&clock)).build().unwrap();
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    std::fs::create_dir(root.join("policies")).unwrap();
    std::fs::write(root.join("policies/leave.md"), LEAVE).unwrap();
    std::fs::write(root.join("policies/leave-copy.md"), LEAVE).unwrap();
    std::fs::write(root.join("bikes.md"), BIKES).unwrap();
    std::fs::write(root.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 0xff]).unwrap();
    std::fs::write(root.join(".hidden.md"), "secret").unwrap();

    let mut polls = 0;
    let report =
        knowledge::create_from_directory(&client, "handbook", root, &SyncOptions::default(), &mut |_| polls += 1)
            .await
            .unwrap();
    assert_eq!(report.added, ["bikes.md", "policies/leave-copy.md"]);
    assert_eq!(report.duplicates, [("policies/leave.md".to_owned(), "policies/leave-copy.md".to_owned())]);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, "logo.png");
    let ingestion = report.ingestion.as_ref().unwrap();
    assert!(ingestion.all_completed());
    assert_eq!(ingestion.files.len(), 2);
    assert!(polls > 0);
    let leave_file = ingestion
        .files
        .iter()
        .find(|file| file.attributes.as_ref().unwrap()["path"] == "policies/leave-copy.md")
        .unwrap();
    assert_eq!(leave_file.attributes.as_ref().unwrap()["title"], "Holiday policy");
    let leave_id = leave_file.id.clone();

    let assistant = Assistant::builder(client.clone(), "gpt-4o").file_search([report.vector_store_id.clone()]).build();
    let assistant = assistant.unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ClientSide).await.unwrap();
    let answer = assistant.run(&thread, QUESTION).await.unwrap();
    assert!(!answer.citations.is_empty(), "{}", answer.text);
    assert!(answer.citations.iter().all(|citation| citation.file_id == leave_id), "{:?}", answer.citations);

    // Nothing changed: nothing uploaded.
    let store = report.vector_store_id.clone();
    let options = SyncOptions::default();
    let again = knowledge::sync(&client, &store, root, &options, &mut |_| {}).await.unwrap();
    assert!(again.added.is_empty() && again.updated.is_empty() && again.removed.is_empty());
    assert_eq!(again.unchanged, ["bikes.md", "policies/leave-copy.md"]);
    assert!(again.ingestion.is_none());

    // A changed file is replaced; deleted files leave the store and the answers.
    std::fs::write(root.join("bikes.md"), format!("{BIKES}Scooters are not allowed inside.\n")).unwrap();
    std::fs::remove_file(root.join("policies/leave.md")).unwrap();
    std::fs::remove_file(root.join("policies/leave-copy.md")).unwrap();
    let synced = knowledge::sync(&client, &store, root, &options, &mut |_| {}).await.unwrap();
    assert_eq!(synced.updated, ["bikes.md"]);
    assert_eq!(synced.removed, ["policies/leave-copy.md"]);
    assert!(client.retrieve_file(&leave_id).await.unwrap_err().is_not_found(), "the upload is deleted too");
    let answer = assistant.run(&thread, QUESTION).await.unwrap();
    assert!(answer.citations.iter().all(|citation| citation.file_id != leave_id), "{:?}", answer.citations);
    assert!(answer.passages.iter().all(|passage| !passage.text.contains("twenty-five")));

    // A missing directory is a knowledge error naming it.
    let missing = root.join("nope");
    let error = knowledge::sync(&client, &store, &missing, &options, &mut |_| {}).await.unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");
}
