//! A vector store kept in step with a directory, through the real client
//! against the emulator: create, dedupe, skip binaries, answer with
//! citations, sync changes and deletions; the expiry policy (set on create,
//! updated by a sync, an expired store refused); search with filters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use aoai_assistants::error::KnowledgeErrorKind;
use aoai_assistants::knowledge::{self, AttributeFilter, Expiry, SearchOptions, SyncOptions};
use aoai_assistants::{Assistant, ThreadBackend};
use aoai_core::Client;
use aoai_core::clock::{ManualClock, Time};
use aoai_core::files::FileListQuery;
use aoai_core::retry::RetryPolicy;
use aoai_core::vector_stores::ExpiresAfter;
use aoai_emulator::{Emulator, EmulatorHandle};
use futures_util::TryStreamExt;

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

const DAY: Duration = Duration::from_secs(86_400);

/// An emulator and a client sharing a manual clock.
async fn setup(clock: &ManualClock) -> (EmulatorHandle, Client) {
    let emulator =
        Emulator::builder().time(Time::manual(clock)).batch_step(Duration::from_secs(1)).start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).time(Time::manual(clock)).build().unwrap();
    (emulator, client)
}

fn knowledge_kind(error: &aoai_assistants::Error) -> KnowledgeErrorKind {
    match error {
        aoai_assistants::Error::Knowledge(error) => error.kind(),
        other => panic!("not a knowledge error: {other}"),
    }
}

#[tokio::test]
async fn a_store_carries_the_expiry_policy_and_a_sync_brings_it_in_line() {
    let clock = ManualClock::new();
    let (_emulator, client) = setup(&clock).await;
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    std::fs::write(root.join("leave.md"), LEAVE).unwrap();

    let week = Expiry::days_after_last_active(7).unwrap();
    let options = SyncOptions::default().expiry(week);
    let report = knowledge::create_from_directory(&client, "handbook", root, &options, &mut |_| {}).await.unwrap();
    let store = client.retrieve_vector_store(&report.vector_store_id).await.unwrap().body;
    assert_eq!(store.expires_after, Some(ExpiresAfter::days_after_last_active(7)));
    assert!(!report.expiry_updated, "created with the policy: nothing to update");
    let last_active = store.last_active_at.unwrap();
    assert_eq!(report.expires_at, Some(last_active + 7 * 86_400));
    assert_eq!(store.expires_at, report.expires_at);

    // A different policy: the sync changes it and says so.
    let id = report.vector_store_id.clone();
    let month = SyncOptions::default().expiry(Expiry::days_after_last_active(30).unwrap());
    let synced = knowledge::sync(&client, &id, root, &month, &mut |_| {}).await.unwrap();
    assert!(synced.expiry_updated);
    assert_eq!(synced.unchanged, ["leave.md"]);
    let store = client.retrieve_vector_store(&id).await.unwrap().body;
    assert_eq!(store.expires_after, Some(ExpiresAfter::days_after_last_active(30)));
    assert_eq!(synced.expires_at, Some(store.last_active_at.unwrap() + 30 * 86_400));

    // The same policy, or none: nothing changes.
    let again = knowledge::sync(&client, &id, root, &month, &mut |_| {}).await.unwrap();
    assert!(!again.expiry_updated);
    let kept = knowledge::sync(&client, &id, root, &SyncOptions::default(), &mut |_| {}).await.unwrap();
    assert!(!kept.expiry_updated);
    assert!(kept.expires_at.is_some());

    // Never: the policy is removed.
    let never = SyncOptions::default().expiry(Expiry::never());
    let cleared = knowledge::sync(&client, &id, root, &never, &mut |_| {}).await.unwrap();
    assert!(cleared.expiry_updated);
    assert_eq!(cleared.expires_at, None);
    assert_eq!(client.retrieve_vector_store(&id).await.unwrap().body.expires_after, None);
}

#[tokio::test]
async fn an_expired_store_is_refused_before_any_upload() {
    let clock = ManualClock::new();
    let (_emulator, client) = setup(&clock).await;
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    std::fs::write(root.join("leave.md"), LEAVE).unwrap();
    let options = SyncOptions::default().expiry(Expiry::days_after_last_active(1).unwrap());
    let report = knowledge::create_from_directory(&client, "short-lived", root, &options, &mut |_| {}).await.unwrap();
    let uploads = |client: Client| async move {
        client.list_files(&FileListQuery::default()).try_collect::<Vec<_>>().await.unwrap().len()
    };
    let uploaded_before = uploads(client.clone()).await;

    clock.advance(2 * DAY);
    std::fs::write(root.join("bikes.md"), BIKES).unwrap();
    let error = knowledge::sync(&client, &report.vector_store_id, root, &options, &mut |_| {}).await.unwrap_err();
    assert_eq!(knowledge_kind(&error), KnowledgeErrorKind::StoreExpired, "{error}");
    let message = error.to_string();
    assert!(message.contains(&report.vector_store_id), "{message}");
    assert!(message.contains("expired") && message.contains("create_from_directory"), "{message}");
    assert!(error.request_error().is_none());
    assert_eq!(uploads(client.clone()).await, uploaded_before, "nothing uploaded");
    let files = client
        .list_vector_store_files(&report.vector_store_id, &Default::default())
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(files.len(), 1);

    // A store that does not exist is its own kind.
    let missing = knowledge::sync(&client, "vs_missing", root, &options, &mut |_| {}).await.unwrap_err();
    assert_eq!(knowledge_kind(&missing), KnowledgeErrorKind::StoreNotFound, "{missing}");
}

#[tokio::test]
async fn search_ranks_filters_and_caps_passages() {
    let clock = ManualClock::new();
    let (_emulator, client) = setup(&clock).await;
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    std::fs::create_dir_all(root.join("policies")).unwrap();
    std::fs::create_dir_all(root.join("archive")).unwrap();
    std::fs::write(root.join("policies/leave.md"), LEAVE).unwrap();
    std::fs::write(root.join("policies/bikes.md"), BIKES).unwrap();
    std::fs::write(
        root.join("archive/leave-2019.md"),
        "# Old leave rules\n\nIn 2019 employees received twenty days of annual leave.\n",
    )
    .unwrap();
    std::fs::write(
        root.join("archive/parking.md"),
        "# Parking\n\nCar parking needs a permit; leave the car in bay four.\n",
    )
    .unwrap();
    let report =
        knowledge::create_from_directory(&client, "search", root, &SyncOptions::default(), &mut |_| {}).await.unwrap();
    let store = report.vector_store_id.as_str();
    let leave_id = report
        .ingestion
        .as_ref()
        .unwrap()
        .files
        .iter()
        .find(|file| file.attributes.as_ref().unwrap()["path"] == "policies/leave.md")
        .unwrap()
        .id
        .clone();

    // The right file first, with the managed attributes.
    let all = knowledge::search(&client, store, QUESTION, &SearchOptions::default()).await.unwrap();
    assert!(all.len() >= 2, "{all:?}");
    let best = &all[0];
    assert_eq!(best.file_id, leave_id);
    assert_eq!(best.filename, "leave.md");
    assert_eq!(best.path.as_deref(), Some("policies/leave.md"));
    assert_eq!(best.title.as_deref(), Some("Holiday policy"));
    assert!(best.text.contains("twenty-five days of paid annual leave"), "{}", best.text);
    assert!(best.score > 0.0 && best.score <= 1.0);
    assert!(all.windows(2).all(|pair| pair[0].score >= pair[1].score));
    assert!(all.iter().any(|passage| passage.path.as_deref() == Some("archive/leave-2019.md")));

    // max results honoured.
    let one = knowledge::search(&client, store, QUESTION, &SearchOptions::default().max_results(1)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].file_id, leave_id);

    // A path prefix restricts the hits to that directory.
    let archive = SearchOptions::default().filter(AttributeFilter::path_prefix("archive/"));
    let archived = knowledge::search(&client, store, QUESTION, &archive).await.unwrap();
    assert!(!archived.is_empty());
    assert!(archived.iter().all(|passage| passage.path.as_deref().unwrap().starts_with("archive/")), "{archived:?}");
    assert_eq!(archived[0].path.as_deref(), Some("archive/leave-2019.md"));
    // An exact path, combined with another filter; a prefix no file has.
    let exact = SearchOptions::default().filter(AttributeFilter::all([
        AttributeFilter::path("archive/parking.md"),
        AttributeFilter::ne("title", "Old leave rules"),
    ]));
    let parking = knowledge::search(&client, store, QUESTION, &exact).await.unwrap();
    assert!(!parking.is_empty());
    assert!(parking.iter().all(|passage| passage.title.as_deref() == Some("Parking")), "{parking:?}");
    let nowhere = SearchOptions::default().filter(AttributeFilter::path_prefix("drafts/"));
    assert!(knowledge::search(&client, store, QUESTION, &nowhere).await.unwrap().is_empty());

    // Typed errors: a missing store, a bad cap (not sent).
    let missing = knowledge::search(&client, "vs_missing", QUESTION, &SearchOptions::default()).await.unwrap_err();
    assert_eq!(knowledge_kind(&missing), KnowledgeErrorKind::StoreNotFound, "{missing}");
    let filtered_missing = knowledge::search(&client, "vs_missing", QUESTION, &archive).await.unwrap_err();
    assert_eq!(knowledge_kind(&filtered_missing), KnowledgeErrorKind::StoreNotFound);
    let zero = knowledge::search(&client, store, QUESTION, &SearchOptions::default().max_results(0)).await.unwrap_err();
    assert_eq!(knowledge_kind(&zero), KnowledgeErrorKind::Request);
    let aoai_assistants::Error::Knowledge(zero) = zero else { unreachable!() };
    assert!(!zero.may_have_been_sent());
}
