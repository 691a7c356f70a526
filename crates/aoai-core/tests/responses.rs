//! The Responses API through the real client against a raw loopback server:
//! routes in both URL forms (never deployment-scoped), bodies, typed events
//! from stream transcripts in any chunking, the accumulator against the
//! `response.completed` payload, broken streams, polling and errors.
//!
//! The transcripts in `tests/fixtures/responses/` follow the event order and
//! shapes of OpenAI's streaming reference and Azure's `content_filters`
//! (written for these tests, not recorded from a live service); one carries
//! an event type aoai does not know.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use aoai_core::clock::{ManualClock, SystemClock, Time};
use aoai_core::metrics::{MetricsRecorder, RequestRecord};
use aoai_core::response::ResponseMeta;
use aoai_core::responses::{
    Annotation, ContentPart, InputItem, MessageContent, OutputItem, PollOptions, ResponseAccumulator, ResponseEvent,
    ResponseObject, ResponseRequest, ResponseStatus, ResponseStream, ResponseStreamEvent, ResponseTool,
    ResponseToolChoice, TextFormat, include,
};
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_core::stream::ByteStream;
use aoai_core::{Client, Error, ResponsesApi};
use futures_util::StreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{RawServer, Reply};

const KEY: &str = "responses-test-key-77aa";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/responses/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn completed_payload(transcript: &[u8]) -> ResponseObject {
    let text = std::str::from_utf8(transcript).unwrap();
    let data = text.lines().filter_map(|line| line.strip_prefix("data: ")).next_back().unwrap();
    let event: Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["type"], "response.completed");
    serde_json::from_value(event["response"].clone()).unwrap()
}

/// `value` without object members whose value is `null` (at any depth).
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key, without_nulls(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn body_of(pieces: Vec<Vec<u8>>) -> ByteStream {
    let pieces: Vec<Result<bytes::Bytes, aoai_core::error::BoxError>> =
        pieces.into_iter().map(|piece| Ok(bytes::Bytes::from(piece))).collect();
    Box::pin(futures_util::stream::iter(pieces))
}

fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        pieces.push(bytes[start..cut].to_vec());
        start = cut;
    }
    pieces.push(bytes[start..].to_vec());
    pieces
}

async fn events_of(pieces: Vec<Vec<u8>>) -> (Vec<ResponseStreamEvent>, Option<Error>) {
    let meta = ResponseMeta { status: 200, request_id: Some("req-r1".into()), ..ResponseMeta::default() };
    let mut stream = ResponseStream::new(body_of(pieces), meta, None, Arc::new(SystemClock));
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => events.push(event),
            Err(error) => return (events, Some(error)),
        }
    }
    (events, None)
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

#[tokio::test]
async fn text_transcript_is_typed_in_order_and_rebuilds_the_completed_response() {
    let transcript = fixture("text.sse");
    let (events, error) = events_of(vec![transcript.clone()]).await;
    assert!(error.is_none(), "{error:?}");
    let kinds: Vec<&str> = events.iter().map(ResponseStreamEvent::kind).collect();
    assert_eq!(
        &kinds[..4],
        ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    );
    assert!(kinds[4..14].iter().all(|kind| *kind == "response.output_text.delta"));
    assert_eq!(
        &kinds[14..],
        ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    );
    let numbers: Vec<u64> = events.iter().map(|event| event.sequence_number.unwrap()).collect();
    assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<_>>());

    let mut accumulator = ResponseAccumulator::new();
    for event in &events {
        accumulator.push(event);
    }
    let completed = completed_payload(&transcript);
    assert_eq!(accumulator.output(), completed.output.as_slice());
    let response = accumulator.into_response();
    assert_eq!(response, completed);
    assert_eq!(response.output_text(), "The Eiffel Tower is in Paris, France — ça va ✓.");
    assert_eq!(response.status, ResponseStatus::Completed);
    let usage = response.usage.as_ref().unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens, usage.total_tokens), (37, 11, 48));
    // Azure's content filters are typed; unknown top-level fields are kept.
    let filter = &response.content_filters.as_ref().unwrap()[0];
    assert_eq!(filter.source_type, "prompt");
    assert!(!filter.blocked);
    assert!(filter.content_filter_results.hate.is_some());
    assert_eq!(response.extra["service_tier"], "default");
    // And the object serialises back to what was sent (explicit nulls of
    // optional fields are left out).
    let data = String::from_utf8(transcript).unwrap();
    let last = data.lines().filter_map(|line| line.strip_prefix("data: ")).next_back().unwrap();
    let sent: Value = serde_json::from_str(last).unwrap();
    assert_eq!(without_nulls(serde_json::to_value(&response).unwrap()), without_nulls(sent["response"].clone()));
}

#[tokio::test]
async fn function_call_and_file_search_transcripts() {
    let transcript = fixture("function_call.sse");
    let (events, error) = events_of(vec![transcript.clone()]).await;
    assert!(error.is_none());
    let mut accumulator = ResponseAccumulator::new();
    events.iter().for_each(|event| accumulator.push(event));
    assert_eq!(accumulator.output(), completed_payload(&transcript).output.as_slice());
    let response = accumulator.into_response();
    let calls = response.function_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].name.as_str(), calls[0].call_id.as_str()), ("get_weather", "call_Zx81"));
    let arguments: Value = serde_json::from_str(&calls[0].arguments).unwrap();
    assert_eq!(arguments, json!({"city": "Paris", "unit": "celsius"}));
    assert!(matches!(response.tools[0], ResponseTool::Function(_)));

    let transcript = fixture("file_search.sse");
    let (events, error) = events_of(vec![transcript.clone()]).await;
    assert!(error.is_none());
    // The unknown event type is kept whole, not an error.
    let other = events.iter().find(|event| matches!(event.event, ResponseEvent::Other { .. })).unwrap();
    assert_eq!(other.kind(), "response.some_future_event.delta");
    assert!(events.iter().any(|event| matches!(event.event, ResponseEvent::FileSearchCallSearching { .. })));
    let mut accumulator = ResponseAccumulator::new();
    events.iter().for_each(|event| accumulator.push(event));
    let completed = completed_payload(&transcript);
    assert_eq!(accumulator.output(), completed.output.as_slice());
    let annotations = completed.annotations();
    assert_eq!(annotations.len(), 2);
    let Annotation::FileCitation(first) = annotations[0] else { panic!("{:?}", annotations[0]) };
    assert_eq!((first.file_id.as_str(), first.filename.as_str()), ("file-PolicyA1", "returns.md"));
    let text = completed.output_text();
    assert_eq!(&text[..first.index as usize], "Returns are accepted within 30 days.");
    let OutputItem::FileSearchCall(call) = &completed.output[0] else { panic!() };
    assert_eq!(call.queries, ["return policy days"]);
    assert!(call.results.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any chunking of a transcript yields the same events, and the
    /// accumulated output equals the `response.completed` payload's.
    #[test]
    fn any_chunking_yields_the_same_events(name in prop::sample::select(vec!["text.sse", "function_call.sse", "file_search.sse"]),
                                         cuts in prop::collection::vec(any::<usize>(), 0..40)) {
        let transcript = fixture(name);
        let (whole, error) = run(events_of(vec![transcript.clone()]));
        prop_assert!(error.is_none());
        let (chunked, error) = run(events_of(split(&transcript, &cuts)));
        prop_assert!(error.is_none());
        prop_assert_eq!(&chunked, &whole);
        let mut accumulator = ResponseAccumulator::new();
        chunked.iter().for_each(|event| accumulator.push(event));
        let completed = completed_payload(&transcript);
        prop_assert_eq!(accumulator.output(), completed.output.as_slice());
        prop_assert_eq!(accumulator.into_response(), completed);
    }

    /// Cutting a transcript anywhere before its terminal event is an error
    /// that says where the stream stopped, never a silent success.
    #[test]
    fn a_cut_before_the_terminal_event_is_an_error(cut in 0usize..100_000) {
        let transcript = fixture("text.sse");
        let last_event = transcript.windows(25).rposition(|window| window == b"event: response.completed").unwrap();
        let cut = cut % last_event;
        let (events, error) = run(events_of(vec![transcript[..cut].to_vec()]));
        let error = error.expect("a cut stream must fail");
        prop_assert!(matches!(&error, Error::Stream(inner) if inner.kind == aoai_core::error::StreamErrorKind::EndedWithoutDone), "{error:?}");
        prop_assert!(events.iter().all(|event| !event.is_terminal()));
    }

    /// Events serialise back to what they were read from.
    #[test]
    fn events_round_trip(name in prop::sample::select(vec!["text.sse", "function_call.sse"])) {
        let transcript = String::from_utf8(fixture(name)).unwrap();
        for data in transcript.lines().filter_map(|line| line.strip_prefix("data: ")) {
            let sent: Value = serde_json::from_str(data).unwrap();
            let event = ResponseStreamEvent::from_json(data).unwrap();
            let mut back = serde_json::to_value(&event).unwrap();
            // The serializer does not repeat fields it does not model (`obfuscation`).
            let mut sent = sent;
            sent.as_object_mut().unwrap().remove("obfuscation");
            if let Some(map) = back.as_object_mut() && sent.get("logprobs").is_none() { map.remove("logprobs"); }
            prop_assert_eq!(without_nulls(back), without_nulls(sent));
        }
    }
}

#[tokio::test]
async fn an_error_event_ends_the_stream_with_a_typed_error() {
    let body = concat!(
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_e\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"sequence_number\":1,\"code\":\"server_error\",\"message\":\"The model failed.\",\"param\":null}\n\n",
    );
    let (events, error) = events_of(vec![body.as_bytes().to_vec()]).await;
    assert_eq!(events.len(), 1);
    let Some(Error::Stream(error)) = error else { panic!("{error:?}") };
    assert_eq!(error.kind, aoai_core::error::StreamErrorKind::ServiceError);
    assert!(error.message.contains("The model failed.") && error.message.contains("server_error"), "{}", error.message);
    assert_eq!(error.request_id.as_deref(), Some("req-r1"));
}

#[tokio::test]
async fn a_known_event_with_a_malformed_body_is_an_error() {
    let body = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":0,\"delta\":\"x\"}\n\n";
    let (_, error) = events_of(vec![body.as_bytes().to_vec()]).await;
    let Some(Error::Stream(error)) = error else { panic!("{error:?}") };
    assert_eq!(error.kind, aoai_core::error::StreamErrorKind::MalformedEvent);
    assert!(error.message.contains("output_index"), "{}", error.message);
}

#[test]
fn unknown_items_parts_annotations_and_tools_are_kept_whole() {
    let body = json!({
        "id": "resp_u", "object": "response", "created_at": 1, "status": "brand_new_status", "model": "m",
        "output": [
            {"type": "mcp_call", "id": "mcp_1", "server_label": "x", "name": "y", "arguments": "{}"},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [
                {"type": "output_text", "text": "Hi", "annotations": [{"type": "page_citation", "page": 3}]},
                {"type": "output_audio", "data": "AAA"}
            ]}
        ],
        "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}],
        "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []},
        "brand_new_field": {"a": 1}
    });
    let response: ResponseObject = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(response.status.as_str(), "brand_new_status");
    assert!(!response.status.is_terminal());
    assert_eq!(response.output[0].kind(), "mcp_call");
    assert_eq!(response.output[0].id(), Some("mcp_1"));
    assert_eq!(response.output_text(), "Hi");
    assert_eq!(response.annotations()[0].kind(), "page_citation");
    assert_eq!(response.tools[0].kind(), "code_interpreter");
    assert_eq!(without_nulls(serde_json::to_value(&response).unwrap()), body);
    let OutputItem::Message(message) = &response.output[1] else { panic!() };
    let MessageContent::Parts(parts) = &message.content else { panic!() };
    assert!(matches!(parts[1], ContentPart::Other(_)));
}

#[test]
fn input_items_read_the_easy_message_form_and_build_requests() {
    let items: Vec<InputItem> = serde_json::from_value(json!([
        {"role": "user", "content": "Hello"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Look"}, {"type": "input_image", "image_url": "https://example.invalid/a.png"}]},
        {"type": "function_call_output", "call_id": "call_1", "output": "{\"ok\":true}"},
        {"type": "item_reference", "id": "msg_9"},
        {"type": "computer_call_output", "call_id": "c", "output": {}}
    ]))
    .unwrap();
    assert!(matches!(&items[0], InputItem::Message(message) if message.text() == "Hello"));
    assert!(matches!(&items[2], InputItem::FunctionCallOutput(output) if output.call_id == "call_1"));
    assert!(matches!(&items[4], InputItem::Other(_)));

    let request =
        ResponseRequest::new(vec![InputItem::user("Weather?"), InputItem::function_call_output("call_1", "{}")])
            .instructions("Be brief.")
            .previous_response_id("resp_0")
            .tools(vec![ResponseTool::function(
                "get_weather",
                "Weather",
                json!({"type": "object", "properties": {}, "additionalProperties": false, "required": []}),
            )])
            .tool_choice(ResponseToolChoice::function("get_weather"))
            .text_format(TextFormat::json_schema("answer", json!({"type": "object"})))
            .include(include::FILE_SEARCH_RESULTS)
            .max_output_tokens(64)
            .metadata("team", "search");
    let body = serde_json::to_value(&request).unwrap();
    assert_eq!(body["input"][0], json!({"type": "message", "role": "user", "content": "Weather?"}));
    assert_eq!(body["input"][1], json!({"type": "function_call_output", "call_id": "call_1", "output": "{}"}));
    assert_eq!(body["tools"][0]["strict"], true);
    assert_eq!(body["tool_choice"], json!({"type": "function", "name": "get_weather"}));
    assert_eq!(body["text"]["format"]["type"], "json_schema");
    assert_eq!(body["include"], json!(["file_search_call.results"]));
    let back: ResponseRequest = serde_json::from_value(body).unwrap();
    assert_eq!(back, request);
}

fn client_for(endpoint: Endpoint, clock: &ManualClock) -> Client {
    Client::builder(endpoint)
        .api_key(KEY)
        .time(Time::manual(clock))
        .retry(RetryPolicy::default().jitter(false))
        .build()
        .unwrap()
}

const DONE: &str = r#"{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-4o","output":[{"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Hi","annotations":[]}]}],"usage":{"input_tokens":5,"output_tokens":1,"total_tokens":6},"content_filters":[]}"#;

/// Every route, in both URL forms: resource-scoped, `model` in the body, the
/// Responses api-version on a classic endpoint configured with an older one.
#[tokio::test]
async fn routes_in_both_url_forms() {
    for v1 in [false, true] {
        let replies = vec![
            Reply::json(200, &[], DONE),
            Reply::json(200, &[], DONE),
            Reply::json(200, &[], r#"{"id":"resp_1","object":"response.deleted","deleted":true}"#),
            Reply::json(200, &[], &DONE.replace("completed", "cancelled")),
            Reply::sse_chunked(&[], &fixture("text.sse"), &[], Duration::ZERO),
            Reply::sse_chunked(&[], &fixture("text.sse"), &[100, 2000], Duration::ZERO),
        ];
        let server = RawServer::start(replies).await;
        let clock = ManualClock::new();
        let endpoint =
            if v1 { Endpoint::azure_v1(&server.base).unwrap() } else { Endpoint::azure(&server.base).unwrap() };
        let client = client_for(endpoint, &clock);
        let created = client.create_response("my-deployment", &ResponseRequest::new("Hi")).await.unwrap();
        assert_eq!(created.body.output_text(), "Hi");
        assert_eq!(created.meta.request_id.as_deref(), Some("req-0001"));
        client.get_response("resp_1", &[include::FILE_SEARCH_RESULTS]).await.unwrap();
        assert!(client.delete_response("resp_1").await.unwrap().body.deleted);
        assert_eq!(client.cancel_response("resp_1").await.unwrap().body.status, ResponseStatus::Cancelled);
        let stream = client.create_response_stream("my-deployment", &ResponseRequest::new("Hi")).await.unwrap();
        let (response, _) = stream.collect_response().await.unwrap();
        assert_eq!(response.id, "resp_text1");
        let resumed = client.resume_response_stream("resp_text1", Some(3)).await.unwrap();
        assert_eq!(resumed.collect_response().await.unwrap().0.status, ResponseStatus::Completed);

        let requests = server.requests();
        let targets: Vec<(&str, &str)> =
            requests.iter().map(|request| (request.method.as_str(), request.target.as_str())).collect();
        let expected: Vec<(&str, String)> = if v1 {
            vec![
                ("POST", "/openai/v1/responses".into()),
                ("GET", "/openai/v1/responses/resp_1?include%5B%5D=file_search_call.results".into()),
                ("DELETE", "/openai/v1/responses/resp_1".into()),
                ("POST", "/openai/v1/responses/resp_1/cancel".into()),
                ("POST", "/openai/v1/responses".into()),
                ("GET", "/openai/v1/responses/resp_text1?stream=true&starting_after=3".into()),
            ]
        } else {
            let version = "api-version=2025-04-01-preview";
            vec![
                ("POST", format!("/openai/responses?{version}")),
                ("GET", format!("/openai/responses/resp_1?{version}&include%5B%5D=file_search_call.results")),
                ("DELETE", format!("/openai/responses/resp_1?{version}")),
                ("POST", format!("/openai/responses/resp_1/cancel?{version}")),
                ("POST", format!("/openai/responses?{version}")),
                ("GET", format!("/openai/responses/resp_text1?{version}&stream=true&starting_after=3")),
            ]
        };
        let expected: Vec<(&str, &str)> = expected.iter().map(|(method, target)| (*method, target.as_str())).collect();
        assert_eq!(targets, expected);
        assert!(requests.iter().all(|request| !request.target.contains("deployments")));
        assert!(requests.iter().all(|request| request.header("api-key") == Some(KEY)));
        let body = requests[0].json();
        assert_eq!(body, json!({"model": "my-deployment", "input": "Hi"}));
        let stream_body = requests[4].json();
        assert_eq!(stream_body["stream"], true);
        assert_eq!(requests[4].header("accept"), Some("text/event-stream"));
    }
}

#[tokio::test]
async fn errors_are_typed_with_azure_context() {
    let body = r#"{"error":{"message":"Previous response with id 'resp_nope' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}"#;
    let server = RawServer::start(vec![Reply::json(400, &[], body)]).await;
    let clock = ManualClock::new();
    let client = client_for(Endpoint::azure_v1(&server.base).unwrap(), &clock);
    let error =
        client.create_response("d", &ResponseRequest::new("Hi").previous_response_id("resp_nope")).await.unwrap_err();
    let Error::Api(api) = &error else { panic!("{error:?}") };
    assert_eq!(api.status(), 400);
    assert_eq!(api.code(), Some("previous_response_not_found"));
    assert_eq!(error.request_id(), Some("req-0001"));
    assert_eq!(server.requests().len(), 1, "a 400 is not retried");

    // Refused before sending: background without store, nothing to answer, a bad id.
    let error =
        client.create_response("d", &ResponseRequest::new("x").background(true).store(false)).await.unwrap_err();
    assert!(matches!(error, Error::InvalidRequest(_)), "{error:?}");
    let error = client.create_response("d", &ResponseRequest::default()).await.unwrap_err();
    assert!(matches!(error, Error::InvalidRequest(_)), "{error:?}");
    assert!(matches!(client.get_response("../files", &[]).await.unwrap_err(), Error::InvalidRequest(_)));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn background_polling_backs_off_on_the_injected_clock() {
    let queued = DONE.replace("\"completed\"", "\"queued\"");
    let running = DONE.replace("\"completed\"", "\"in_progress\"");
    let server = RawServer::start(vec![
        Reply::json(200, &[], &queued),
        Reply::json(200, &[], &running),
        Reply::json(200, &[], DONE),
    ])
    .await;
    let clock = ManualClock::new();
    let client = client_for(Endpoint::azure_v1(&server.base).unwrap(), &clock);
    let options = PollOptions::default().intervals(Duration::from_secs(1), Duration::from_secs(10));
    let done = client.wait_for_response("resp_1", &options).await.unwrap();
    assert_eq!(done.body.status, ResponseStatus::Completed);
    assert_eq!(server.requests().len(), 3);
    // Waited 1 s, then 1.5 s, on the manual clock.
    assert_eq!(clock.sleeps(), [Duration::from_secs(1), Duration::from_millis(1500)]);

    // A deadline that runs out is a typed timeout; the response is not cancelled.
    let server = RawServer::start(vec![
        Reply::json(200, &[], &running),
        Reply::json(200, &[], &running),
        Reply::json(200, &[], &running),
    ])
    .await;
    let client = client_for(Endpoint::azure_v1(&server.base).unwrap(), &clock);
    let options = PollOptions::default()
        .intervals(Duration::from_secs(2), Duration::from_secs(2))
        .deadline(Some(Duration::from_secs(3)));
    let error = aoai_core::responses::wait_for_response(&client, "resp_1", &options, client.time()).await.unwrap_err();
    assert!(matches!(&error, Error::Timeout(timeout) if timeout.limit == Duration::from_secs(3)), "{error:?}");
    // Polled at 0 s, 2 s and (the last wait cut to the deadline) 3 s; never cancelled.
    assert_eq!(server.requests().len(), 3);
    assert!(server.requests().iter().all(|request| request.method == "GET"));
}

#[tokio::test]
async fn usage_reaches_the_metrics_recorder() {
    let server = RawServer::start(vec![
        Reply::json(200, &[], DONE),
        Reply::sse_chunked(&[], &fixture("text.sse"), &[700], Duration::ZERO),
    ])
    .await;
    let recorder = Arc::new(Collect::default());
    let client = Client::builder(Endpoint::azure_v1(&server.base).unwrap())
        .api_key(KEY)
        .metrics(recorder.clone() as Arc<dyn MetricsRecorder>)
        .build()
        .unwrap();
    client.create_response("dep", &ResponseRequest::new("Hi")).await.unwrap();
    let stream = client.create_response_stream("dep", &ResponseRequest::new("Hi")).await.unwrap();
    stream.collect_response().await.unwrap();
    let records = recorder.0.lock().unwrap().clone();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].operation.as_str(), "responses.create");
    assert_eq!((records[0].usage.prompt, records[0].usage.completion), (5, 1));
    assert_eq!(records[0].deployment.as_deref(), Some("dep"));
    assert_eq!(records[1].operation.as_str(), "responses.stream");
    assert_eq!((records[1].usage.prompt, records[1].usage.completion), (37, 11));
    assert!(records[1].time_to_first_token.is_some());
}

#[derive(Debug, Default)]
struct Collect(std::sync::Mutex<Vec<RequestRecord>>);

impl MetricsRecorder for Collect {
    fn record(&self, record: &RequestRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

/// Works through the trait too, so layers can wrap it.
#[tokio::test]
async fn the_trait_forwards_through_arc() {
    let server = RawServer::start(vec![Reply::json(200, &[], DONE)]).await;
    let client: Arc<dyn ResponsesApi> =
        Arc::new(Client::builder(Endpoint::openai(&format!("{}/v1", server.base)).unwrap()).build().unwrap());
    let response = client.create_response("m", &ResponseRequest::new("Hi")).await.unwrap();
    assert_eq!(response.body.output_text(), "Hi");
    assert_eq!(server.requests()[0].target, "/v1/responses");
}
