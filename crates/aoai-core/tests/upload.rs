//! `Client::upload_file` against a raw loopback server: a multipart body with
//! `purpose` and `file`, the same authorisation and retries as JSON calls,
//! and the same bytes resent on a retry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use aoai_core::clock::{ManualClock, Time};
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::{Endpoint, Route};
use aoai_core::{Client, Error};
use bytes::Bytes;
use serde_json::Value;
use support::{RawServer, Reply};

const KEY: &str = "upload-test-key-5c1d";

const FILE: &str = r#"{"object":"file","id":"file-abc","purpose":"batch","filename":"in.jsonl","bytes":12,"created_at":1718886199,"status":"processed","status_details":null}"#;

fn client(server: &RawServer, clock: &ManualClock) -> Client {
    Client::builder(Endpoint::azure(&server.base).unwrap())
        .api_key(KEY)
        .time(Time::manual(clock))
        .retry(RetryPolicy::default().jitter(false))
        .build()
        .unwrap()
}

#[tokio::test]
async fn uploads_multipart_and_resends_the_same_bytes() {
    let server = RawServer::start(vec![Reply::json(503, &[], "{}"), Reply::json(200, &[], FILE)]).await;
    let clock = ManualClock::new();
    let content = Bytes::from_static(b"{\"a\":\"b\"}\r\n\n");
    let response = client(&server, &clock)
        .upload_file::<Value>(Route::Resource { path: "files" }, "batch", "in \"1\".jsonl", content)
        .await
        .unwrap();
    assert_eq!(response.body["id"], "file-abc");
    assert_eq!(response.meta.attempts, 2);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.target, "/openai/files?api-version=2024-10-01-preview");
    assert_eq!(first.header("api-key"), Some(KEY));
    let content_type = first.header("content-type").unwrap();
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
    let expected = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in %221%22.jsonl\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{{\"a\":\"b\"}}\r\n\n\r\n--{boundary}--\r\n"
    );
    assert_eq!(String::from_utf8(first.body.clone()).unwrap(), expected);
    assert_eq!(requests[1].body, first.body, "a retry resends the same body");
    assert_eq!(requests[1].header("content-type"), Some(content_type));
}

#[tokio::test]
async fn a_refused_upload_is_an_api_error() {
    let body = r#"{"error":{"code":"invalidPayload","message":"The file is not valid JSONL."}}"#;
    let server = RawServer::start(vec![Reply::json(400, &[], body)]).await;
    let clock = ManualClock::new();
    let error = client(&server, &clock)
        .upload_file::<Value>(Route::Resource { path: "files" }, "batch", "in.jsonl", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    match &error {
        Error::Api(api) => {
            assert_eq!(api.status(), 400);
            assert_eq!(api.code(), Some("invalidPayload"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
    assert!(clock.sleeps().is_empty());
}
