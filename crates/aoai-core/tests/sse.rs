//! Server-sent events and streams against raw transcripts in `tests/fixtures/sse/`.
//!
//! Every transcript must parse to the same events however its bytes are cut
//! into network reads: one piece, single bytes, or random split points that
//! fall inside `CRLF` pairs, multibyte characters and the leading BOM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use std::sync::Mutex;

use aoai_core::Error;
use aoai_core::chat::{ChatChunk, FinishReason};
use aoai_core::clock::{Clock, ManualClock, Sleep, SystemClock};
use aoai_core::error::{BoxError, StreamErrorKind, TimeoutKind};
use aoai_core::metrics::{MetricsRecorder, Operation, RequestRecord};
use aoai_core::response::ResponseMeta;
use aoai_core::sse::{PartialEvent, SseEvent, SseParser};
use aoai_core::stream::{ByteStream, CANCELLED, ChatStream, EventStream, StreamObserver, Terminator};
use bytes::Bytes;
use futures_util::stream::FusedStream;
use futures_util::{Stream, StreamExt};
use proptest::prelude::*;

const FIXTURES: [&str; 7] = [
    "azure_chat.sse",
    "tool_calls.sse",
    "crlf_keepalive.sse",
    "assistants.sse",
    "cut_before_done.sse",
    "in_stream_error.sse",
    "malformed_json.sse",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Cuts `bytes` at the given points (sorted, deduplicated, clamped).
fn split_at_points(bytes: &[u8], points: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = points.iter().map(|&point| point.min(bytes.len())).collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for point in points {
        chunks.push(bytes[start..point].to_vec());
        start = point;
    }
    chunks.push(bytes[start..].to_vec());
    chunks
}

fn parse_chunks<C: AsRef<[u8]>>(chunks: &[C]) -> (Vec<SseEvent>, Option<PartialEvent>) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for chunk in chunks {
        parser.feed(chunk.as_ref(), &mut events);
    }
    (events, parser.finish())
}

fn byte_stream<C: AsRef<[u8]>>(chunks: &[C]) -> ByteStream {
    let items: Vec<Result<Bytes, BoxError>> =
        chunks.iter().map(|chunk| Ok(Bytes::copy_from_slice(chunk.as_ref()))).collect();
    Box::pin(futures_util::stream::iter(items))
}

/// Drains a stream that never waits (every source here is ready or times out
/// at once on a [`ManualClock`]), without an async runtime.
fn drain<S: Stream + Unpin>(mut stream: S) -> Vec<S::Item> {
    let mut context = Context::from_waker(Waker::noop());
    let mut items = Vec::new();
    loop {
        match stream.poll_next_unpin(&mut context) {
            Poll::Ready(Some(item)) => items.push(item),
            Poll::Ready(None) => return items,
            Poll::Pending => panic!("stream waited; the test sources never should"),
        }
    }
}

/// An event stream's outcome in comparable form: the events, then the error kind if any.
fn event_outcome<C: AsRef<[u8]>>(chunks: &[C], terminator: Terminator) -> (Vec<SseEvent>, Option<String>) {
    let stream = EventStream::new(byte_stream(chunks), None, Arc::new(ManualClock::new())).with_terminator(terminator);
    let mut events = Vec::new();
    let mut error = None;
    for item in drain(stream) {
        match item {
            Ok(event) => events.push(event),
            Err(failure) => error = Some(describe(&failure)),
        }
    }
    (events, error)
}

fn describe(error: &Error) -> String {
    match error {
        Error::Stream(stream) => format!("stream {:?}", stream.kind),
        Error::Timeout(timeout) => format!("timeout {:?}", timeout.kind),
        other => format!("other {}", other.kind_name()),
    }
}

fn terminator_for(name: &str) -> Terminator {
    if name == "assistants.sse" { Terminator::DoneEvent } else { Terminator::DoneData }
}

// --- The parser over whole transcripts ---

#[test]
fn azure_chat_transcript_events() {
    let (events, rest) = parse_chunks(&[fixture("azure_chat.sse")]);
    assert_eq!(rest, None);
    assert_eq!(events.len(), 20);
    assert!(events.iter().all(|event| event.event.is_none() && event.id.is_none() && event.retry.is_none()));
    assert!(
        events[0]
            .data
            .starts_with(r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results""#)
    );
    assert!(events.iter().any(|event| event.data.contains("日本語")));
    assert!(events.iter().any(|event| event.data.contains("🌍")));
    assert_eq!(events.last().unwrap().data, "[DONE]");
}

#[test]
fn crlf_transcript_drops_bom_and_comments() {
    let (events, rest) = parse_chunks(&[fixture("crlf_keepalive.sse")]);
    assert_eq!(rest, None);
    assert_eq!(events.len(), 8);
    assert!(events[0].data.starts_with(r#"{"id":"chatcmpl-proxy-7""#));
    assert!(events.iter().all(|event| !event.data.contains('\r') && !event.data.contains("keep-alive")));
    assert!(events.iter().any(|event| event.data.contains("Köln 🎉")));
    assert_eq!(events.last().unwrap().data, "[DONE]");
}

#[test]
fn assistants_transcript_has_named_events() {
    let (events, _) = parse_chunks(&[fixture("assistants.sse")]);
    let names: Vec<_> = events.iter().map(|event| event.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "thread.run.created",
            "thread.run.queued",
            "thread.run.in_progress",
            "thread.run.step.created",
            "thread.message.created",
            "thread.message.delta",
            "thread.message.delta",
            "thread.message.completed",
            "thread.run.completed",
            "done"
        ]
    );
    assert_eq!(events.last().unwrap().data, "[DONE]");
}

#[test]
fn cut_transcript_leaves_a_partial_event() {
    let (events, rest) = parse_chunks(&[fixture("cut_before_done.sse")]);
    assert_eq!(events.len(), 6);
    let rest = rest.unwrap();
    assert_eq!(rest.data, None);
    assert!(rest.unterminated_line.unwrap().starts_with(r#"data: {"choices":[{"delta""#));
}

#[test]
fn every_two_way_split_matches_one_shot() {
    for name in FIXTURES {
        let bytes = fixture(name);
        let whole = parse_chunks(&[&bytes]);
        for point in 0..=bytes.len() {
            assert_eq!(parse_chunks(&split_at_points(&bytes, &[point])), whole, "{name} split at {point}");
        }
    }
}

#[test]
fn one_byte_reads_match_one_shot() {
    for name in FIXTURES {
        let bytes = fixture(name);
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_chunks(&singles), parse_chunks(&[&bytes]), "{name}");
        let terminator = terminator_for(name);
        assert_eq!(event_outcome(&singles, terminator), event_outcome(&[&bytes], terminator), "{name}");
    }
}

#[test]
fn splits_inside_every_multibyte_character_and_crlf() {
    for name in FIXTURES {
        let bytes = fixture(name);
        let whole = parse_chunks(&[&bytes]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        // Every interior byte of a multibyte character, and between CR and LF, cut at once.
        let mut points: Vec<usize> = text
            .char_indices()
            .flat_map(|(index, character)| (index + 1..index + character.len_utf8()).collect::<Vec<_>>())
            .collect();
        points.extend(bytes.windows(2).enumerate().filter(|(_, pair)| pair == b"\r\n").map(|(index, _)| index + 1));
        assert_eq!(parse_chunks(&split_at_points(&bytes, &points)), whole, "{name}");
    }
    assert!(fixture("crlf_keepalive.sse").windows(2).any(|pair| pair == b"\r\n"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_yields_the_same_events(
        fixture_index in 0..FIXTURES.len(),
        points in proptest::collection::vec(0usize..8192, 0..48),
    ) {
        let name = FIXTURES[fixture_index];
        let bytes = fixture(name);
        let chunks = split_at_points(&bytes, &points);
        prop_assert_eq!(parse_chunks(&chunks), parse_chunks(&[&bytes]));
        let terminator = terminator_for(name);
        prop_assert_eq!(event_outcome(&chunks, terminator), event_outcome(&[&bytes], terminator));
    }

    #[test]
    fn fixed_small_reads_yield_the_same_events(fixture_index in 0..FIXTURES.len(), size in 1usize..16) {
        let bytes = fixture(FIXTURES[fixture_index]);
        let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
        prop_assert_eq!(parse_chunks(&chunks), parse_chunks(&[&bytes]));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_split_consistently(
        bytes in proptest::collection::vec(prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(b'd'), Just(0xE2), Just(0x82), Just(0xAC), any::<u8>()
        ], 0..256),
        points in proptest::collection::vec(0usize..256, 0..16),
    ) {
        prop_assert_eq!(parse_chunks(&split_at_points(&bytes, &points)), parse_chunks(&[&bytes]));
    }
}

// --- EventStream ---

#[test]
fn event_stream_ends_at_done_and_fuses() {
    let bytes = fixture("azure_chat.sse");
    let mut stream = EventStream::new(byte_stream(&[&bytes]), None, Arc::new(ManualClock::new()));
    let mut context = Context::from_waker(Waker::noop());
    let mut count = 0;
    while let Poll::Ready(Some(item)) = stream.poll_next_unpin(&mut context) {
        assert_ne!(item.unwrap().data, "[DONE]");
        count += 1;
    }
    assert_eq!(count, 19);
    assert!(stream.is_done() && stream.is_terminated());
    assert!(matches!(stream.poll_next_unpin(&mut context), Poll::Ready(None)));
}

#[test]
fn event_stream_without_done_is_an_error() {
    let (events, error) = event_outcome(&[fixture("cut_before_done.sse")], Terminator::DoneData);
    assert_eq!(events.len(), 6);
    assert_eq!(error.as_deref(), Some("stream EndedWithoutDone"));

    // Cut cleanly between two events: still not a success.
    let (events, error) = event_outcome(&[b"data: {}\n\n"], Terminator::DoneData);
    assert_eq!(events.len(), 1);
    assert_eq!(error.as_deref(), Some("stream EndedWithoutDone"));

    // An empty body.
    let (events, error) = event_outcome(&[b""], Terminator::DoneData);
    assert!(events.is_empty());
    assert_eq!(error.as_deref(), Some("stream EndedWithoutDone"));
}

#[test]
fn cut_stream_error_carries_request_id_and_excerpt() {
    let stream = EventStream::new(byte_stream(&[fixture("cut_before_done.sse")]), None, Arc::new(SystemClock))
        .with_request_id(Some("req-cut".into()));
    let error = drain(stream).pop().unwrap().unwrap_err();
    assert_eq!(error.request_id(), Some("req-cut"));
    assert!(error.to_string().contains(r#"ended inside an event: {"choices""#), "{error}");
    assert!(error.may_have_been_sent() && !error.is_retryable());
}

#[test]
fn done_without_its_blank_line_still_completes() {
    for body in [&b"data: a\n\ndata: [DONE]"[..], b"data: a\n\ndata: [DONE]\n", b"data: a\r\n\r\ndata: [DONE]\r"] {
        let (events, error) = event_outcome(&[body], Terminator::DoneData);
        assert_eq!(events.len(), 1);
        assert_eq!(error, None, "{:?}", String::from_utf8_lossy(body));
    }
    let (_, error) = event_outcome(&[b"data: a\n\ndata: [DONE"], Terminator::DoneData);
    assert_eq!(error.as_deref(), Some("stream EndedWithoutDone"));
}

#[test]
fn terminators() {
    let assistants = fixture("assistants.sse");
    let (events, error) = event_outcome(&[&assistants], Terminator::DoneEvent);
    assert_eq!((events.len(), error), (9, None));
    let (events, error) = event_outcome(&[&assistants], Terminator::Either);
    assert_eq!((events.len(), error), (9, None));
    // `event: done` with other data ends an Assistants stream but not a chat one.
    let body = b"event: done\ndata: bye\n\n";
    assert_eq!(event_outcome(&[body], Terminator::DoneEvent), (vec![], None));
    let (events, error) = event_outcome(&[body], Terminator::DoneData);
    assert_eq!(events.len(), 1);
    assert_eq!(error.as_deref(), Some("stream EndedWithoutDone"));
    assert_eq!(EventStream::new(byte_stream(&[body]), None, Arc::new(SystemClock)).terminator(), Terminator::DoneData);
}

#[test]
fn read_errors_end_the_stream() {
    let items: Vec<Result<Bytes, BoxError>> = vec![
        Ok(Bytes::from_static(b"data: one\n\n")),
        Err("connection reset".into()),
        Ok(Bytes::from_static(b"data: two\n\n")),
    ];
    let stream = EventStream::new(Box::pin(futures_util::stream::iter(items)), None, Arc::new(SystemClock));
    let mut items = drain(stream);
    assert_eq!(items.len(), 2);
    let error = items.pop().unwrap().unwrap_err();
    let Error::Stream(stream_error) = &error else { panic!("{error:?}") };
    assert_eq!(stream_error.kind, StreamErrorKind::Read);
    assert_eq!(std::error::Error::source(&error).unwrap().to_string(), "connection reset");
    assert_eq!(items.pop().unwrap().unwrap().data, "one");
}

#[test]
fn idle_timeout_fires_when_no_bytes_come() {
    let clock = ManualClock::new();
    let limit = Duration::from_secs(30);
    let first: Vec<Result<Bytes, BoxError>> = vec![Ok(Bytes::from_static(b"data: one\n\ndata: tw"))];
    let body: ByteStream = Box::pin(futures_util::stream::iter(first).chain(futures_util::stream::pending()));
    let stream = EventStream::new(body, Some(limit), Arc::new(clock.clone()));
    let mut items = drain(stream);
    assert_eq!(items.len(), 2);
    let error = items.pop().unwrap().unwrap_err();
    let Error::Timeout(timeout) = &error else { panic!("{error:?}") };
    assert_eq!((timeout.kind, timeout.limit), (TimeoutKind::StreamIdle, limit));
    assert!(!error.is_retryable());
    assert_eq!(clock.sleeps(), vec![limit]);
}

#[test]
fn ready_streams_are_never_timed_out() {
    let clock = ManualClock::new();
    let bytes = fixture("azure_chat.sse");
    let chunks: Vec<&[u8]> = bytes.chunks(7).collect();
    let stream = EventStream::new(byte_stream(&chunks), Some(Duration::from_millis(1)), Arc::new(clock.clone()));
    let items = drain(stream);
    assert_eq!(items.len(), 19);
    assert!(items.iter().all(Result::is_ok));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test(start_paused = true)]
async fn idle_timer_restarts_with_every_chunk() {
    // Real (paused) tokio time: chunks 20 s apart never trip a 30 s idle limit,
    // though the whole stream takes longer than that.
    let body = futures_util::stream::unfold(0u32, |step| async move {
        if step == 4 {
            return None;
        }
        SystemClock.sleep(Duration::from_secs(20)).await;
        let chunk: &'static [u8] = if step == 3 { b"data: [DONE]\n\n" } else { b"data: tick\n\n" };
        Some((Ok::<_, BoxError>(Bytes::from_static(chunk)), step + 1))
    });
    let stream = EventStream::new(Box::pin(body), Some(Duration::from_secs(30)), Arc::new(SystemClock));
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(Result::is_ok));

    // A 40 s gap does.
    let body = futures_util::stream::unfold(0u32, |step| async move {
        SystemClock.sleep(Duration::from_secs(if step == 0 { 1 } else { 40 })).await;
        Some((Ok::<_, BoxError>(Bytes::from_static(b"data: tick\n\n")), step + 1))
    });
    let stream = EventStream::new(Box::pin(body), Some(Duration::from_secs(30)), Arc::new(SystemClock));
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 2);
    assert!(matches!(&items[1], Err(Error::Timeout(timeout)) if timeout.kind == TimeoutKind::StreamIdle));
}

// --- ChatStream ---

fn meta() -> ResponseMeta {
    ResponseMeta { status: 200, request_id: Some("req-42".into()), attempts: 2, ..ResponseMeta::default() }
}

fn chat_stream<C: AsRef<[u8]>>(chunks: &[C]) -> ChatStream {
    ChatStream::new(byte_stream(chunks), meta(), None, Arc::new(ManualClock::new()))
}

/// Chunks until the first error, and that error.
fn chat_outcome<C: AsRef<[u8]>>(chunks: &[C]) -> (Vec<ChatChunk>, Option<Error>) {
    let mut yielded = Vec::new();
    for item in drain(chat_stream(chunks)) {
        match item {
            Ok(chunk) => yielded.push(chunk),
            Err(error) => return (yielded, Some(error)),
        }
    }
    (yielded, None)
}

fn stream_kind(error: &Error) -> StreamErrorKind {
    match error {
        Error::Stream(stream) => stream.kind,
        other => panic!("not a stream error: {other:?}"),
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

#[test]
fn azure_chat_stream_chunks() {
    let (chunks, error) = chat_outcome(&[fixture("azure_chat.sse")]);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 19);

    let first = &chunks[0];
    assert!(first.choices.is_empty() && first.id.is_empty() && first.model.is_empty() && first.created == 0);
    assert_eq!(first.prompt_filter_results.as_ref().unwrap().len(), 1);

    assert_eq!(chunks[2].delta_text(), Some("Bonjour"));
    assert!(chunks[1..15].iter().all(|chunk| chunk.usage.is_none() && chunk.model == "gpt-4o-2024-08-06"));
    assert_eq!(chunks[15].choices[0].finish_reason, Some(FinishReason::Stop));

    // Asynchronous-filter annotations after the finish chunk: no delta.
    for annotation in &chunks[16..18] {
        assert!(annotation.choices[0].delta.is_none());
        assert!(annotation.choices[0].content_filter_results.is_some());
        assert!(annotation.choices[0].content_filter_offsets.is_some());
    }

    let usage_chunk = &chunks[18];
    assert!(usage_chunk.choices.is_empty());
    let usage = usage_chunk.usage.as_ref().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (25, 17, 42));
}

#[test]
fn azure_chat_stream_collects_into_a_response() {
    let stream = chat_stream(&[fixture("azure_chat.sse")]);
    let (response, meta) = block_on(stream.collect_response()).unwrap();
    assert_eq!(response.text(), Some("Bonjour ! Voici un café ☕ à Zürich — 日本語 テスト 🌍."));
    assert_eq!(response.finish_reason(), Some(&FinishReason::Stop));
    assert_eq!(response.id, "chatcmpl-AYz3kQ7wq1mRZb8xJv2TtN5cLhP0e");
    assert_eq!(response.model, "gpt-4o-2024-08-06");
    assert_eq!(response.usage.as_ref().unwrap().total_tokens, 42);
    assert!(response.choices[0].content_filter_results.is_some());
    assert!(response.prompt_filter_results.is_some());
    assert_eq!(meta.request_id.as_deref(), Some("req-42"));
}

#[test]
fn parallel_tool_calls_assemble_from_fragments() {
    let (response, _) = block_on(chat_stream(&[fixture("tool_calls.sse")]).collect_response()).unwrap();
    assert_eq!(response.finish_reason(), Some(&FinishReason::ToolCalls));
    let calls = response.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_8Qk2m1ZxWv0rT3pLs9Yb4NcE");
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(calls[0].function.arguments, r#"{"city": "Paris", "unit": "celsius"}"#);
    assert_eq!(calls[1].id, "call_Jd7fV2sQ9hB1nK4xR6tW0aLm");
    assert_eq!(calls[1].function.name, "get_time");
    assert_eq!(calls[1].function.arguments, r#"{"timezone": "Europe/Paris"}"#);
    assert!(response.usage.is_none());
}

#[test]
fn crlf_keepalive_stream_collects() {
    let (response, _) = block_on(chat_stream(&[fixture("crlf_keepalive.sse")]).collect_response()).unwrap();
    assert_eq!(response.text(), Some("Grüße\r\naus  Köln 🎉"));
    assert_eq!(response.model, "gpt-4o-mini");
}

#[test]
fn cut_chat_stream_is_an_error_after_its_chunks() {
    let mut stream = chat_stream(&[fixture("cut_before_done.sse")]);
    assert!(!stream.has_yielded_data());
    let mut context = Context::from_waker(Waker::noop());
    let mut count = 0;
    let error = loop {
        match stream.poll_next_unpin(&mut context) {
            Poll::Ready(Some(Ok(_))) => count += 1,
            Poll::Ready(Some(Err(error))) => break error,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(count, 6);
    assert_eq!(stream_kind(&error), StreamErrorKind::EndedWithoutDone);
    assert_eq!(error.request_id(), Some("req-42"));
    assert!(stream.has_yielded_data(), "the caller saw output: no silent retry");
    assert!(stream.is_terminated());
    assert!(matches!(stream.poll_next_unpin(&mut context), Poll::Ready(None)));
    assert!(block_on(chat_stream(&[fixture("cut_before_done.sse")]).collect_response()).is_err());
}

#[test]
fn in_stream_error_object_is_a_service_error() {
    let (chunks, error) = chat_outcome(&[fixture("in_stream_error.sse")]);
    assert_eq!(chunks.len(), 5);
    let error = error.unwrap();
    assert_eq!(stream_kind(&error), StreamErrorKind::ServiceError);
    let text = error.to_string();
    assert!(text.starts_with("error inside stream: The server had an error processing your request."), "{text}");
    assert!(text.ends_with("(type server_error)"), "{text}");
    assert_eq!(error.request_id(), Some("req-42"));

    // An error object that doesn't even look like a chunk, with a numeric code.
    let body = b"data: {\"error\":{\"code\":429,\"message\":\"Rate limit\"},\"choices\":5}\n\n";
    let (_, error) = chat_outcome(&[body]);
    let error = error.unwrap();
    assert_eq!(stream_kind(&error), StreamErrorKind::ServiceError);
    assert!(error.to_string().ends_with("Rate limit (code 429)"), "{error}");
}

#[test]
fn nested_or_null_error_keys_are_not_service_errors() {
    let body = concat!(
        r#"data: {"id":"c","choices":[{"index":0,"delta":{"content":"x"},"content_filter_results":{"error":{"code":"content_filter_error","message":"The contents are not filtered"}}}]}"#,
        "\n\n",
        r#"data: {"id":"c","choices":[],"error":null}"#,
        "\n\ndata: [DONE]\n\n"
    );
    let (chunks, error) = chat_outcome(&[body.as_bytes()]);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 2);
}

#[test]
fn malformed_json_is_a_malformed_event_and_ends_the_stream() {
    let (chunks, error) = chat_outcome(&[fixture("malformed_json.sse")]);
    assert_eq!(chunks.len(), 3);
    let error = error.unwrap();
    assert_eq!(stream_kind(&error), StreamErrorKind::MalformedEvent);
    assert!(error.to_string().contains(r#"{"choices":[{"delta":{"content":"oops"}"#), "{error}");
    assert!(std::error::Error::source(&error).is_some());
    // The `[DONE]` after the bad event is never reached.
    assert_eq!(drain(chat_stream(&[fixture("malformed_json.sse")])).len(), 4);

    // A long bad event is quoted only in part.
    let long = format!("data: {{\"a\":\"{}\n\n", "x".repeat(5000));
    let (_, error) = chat_outcome(&[long.as_bytes()]);
    let text = error.unwrap().to_string();
    assert!(text.len() < 400 && text.ends_with('…'), "{text}");
}

#[test]
fn chat_stream_idle_timeout_counts_attempts() {
    let clock = ManualClock::new();
    let first: Vec<Result<Bytes, BoxError>> = vec![Ok(Bytes::from_static(b"data: {\"choices\":[]}\n\n"))];
    let body: ByteStream = Box::pin(futures_util::stream::iter(first).chain(futures_util::stream::pending()));
    let stream = ChatStream::new(body, meta(), Some(Duration::from_secs(5)), Arc::new(clock.clone()));
    let mut items = drain(stream);
    assert_eq!(items.len(), 2);
    let error = items.pop().unwrap().unwrap_err();
    let Error::Timeout(timeout) = &error else { panic!("{error:?}") };
    assert_eq!((timeout.kind, timeout.attempts), (TimeoutKind::StreamIdle, 2));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
}

#[test]
fn streams_can_cross_threads() {
    fn assert_send_unpin<T: Send + Unpin + 'static>() {}
    assert_send_unpin::<EventStream>();
    assert_send_unpin::<ChatStream>();
}

#[test]
fn chat_stream_exposes_meta() {
    let stream = chat_stream(&[b"data: [DONE]\n\n"]);
    assert_eq!(stream.meta().status, 200);
    assert_eq!(stream.meta().request_id.as_deref(), Some("req-42"));
    assert_eq!(drain(stream).len(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn chat_chunks_do_not_depend_on_reads(
        fixture_index in 0..FIXTURES.len(),
        points in proptest::collection::vec(0usize..8192, 0..64),
    ) {
        let name = FIXTURES[fixture_index];
        prop_assume!(name != "assistants.sse");
        let bytes = fixture(name);
        let describe_outcome = |(chunks, error): (Vec<ChatChunk>, Option<Error>)| (chunks, error.map(|error| error.to_string()));
        prop_assert_eq!(
            describe_outcome(chat_outcome(&split_at_points(&bytes, &points))),
            describe_outcome(chat_outcome(&[&bytes]))
        );
    }
}

// --- StreamObserver ---

#[derive(Debug, Default)]
struct Records(Mutex<Vec<RequestRecord>>);

impl MetricsRecorder for Records {
    fn record(&self, record: &RequestRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

/// A body whose every read takes 10 ms on `clock`.
fn slow_body(clock: &ManualClock, bytes: &[u8]) -> ByteStream {
    let clock = clock.clone();
    let pieces: Vec<Vec<u8>> = split_at_points(bytes, &(1..bytes.len()).step_by(400).collect::<Vec<_>>());
    Box::pin(futures_util::stream::iter(pieces).map(move |piece| {
        clock.advance(Duration::from_millis(10));
        Ok::<_, BoxError>(Bytes::from(piece))
    }))
}

fn observed(clock: &ManualClock, body: ByteStream, records: &Arc<Records>) -> ChatStream {
    let observer = StreamObserver {
        recorder: records.clone(),
        clock: Arc::new(clock.clone()),
        started: clock.now(),
        deployment: Some("gpt-4o-prod".into()),
        span: tracing::Span::none(),
    };
    ChatStream::new(body, meta(), None, Arc::new(clock.clone())).with_observer(observer)
}

#[test]
fn observer_records_a_finished_stream() {
    let clock = ManualClock::new();
    let records = Arc::new(Records::default());
    let bytes = fixture("azure_chat.sse");
    let reads = split_at_points(&bytes, &(1..bytes.len()).step_by(400).collect::<Vec<_>>()).len();
    // The first content ("Bonjour") is in the third event, within the first read.
    let stream = observed(&clock, slow_body(&clock, &bytes), &records);
    assert_eq!(drain(stream).len(), 19);
    let records = records.0.lock().unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.operation, Operation::ChatStream);
    assert!(record.is_success());
    assert_eq!(record.deployment.as_deref(), Some("gpt-4o-prod"));
    assert_eq!(record.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!((record.usage.prompt, record.usage.completion), (25, 17));
    assert_eq!((record.status, record.attempts, record.request_id.as_deref()), (Some(200), 2, Some("req-42")));
    assert_eq!(record.latency, Duration::from_millis(10 * reads as u64));
    let ttft = record.time_to_first_token.unwrap();
    assert!(ttft >= Duration::from_millis(10) && ttft < record.latency, "{ttft:?}");
}

#[test]
fn observer_records_failures_and_cancellations() {
    let clock = ManualClock::new();
    let records = Arc::new(Records::default());
    let stream = observed(&clock, slow_body(&clock, &fixture("cut_before_done.sse")), &records);
    assert!(drain(stream).last().unwrap().is_err());

    let mut stream = observed(&clock, slow_body(&clock, &fixture("azure_chat.sse")), &records);
    let mut context = Context::from_waker(Waker::noop());
    assert!(matches!(stream.poll_next_unpin(&mut context), Poll::Ready(Some(Ok(_)))));
    drop(stream);

    let records = records.0.lock().unwrap();
    let kinds: Vec<_> = records.iter().map(|record| record.error_kind).collect();
    assert_eq!(kinds, vec![Some("stream"), Some(CANCELLED)]);
    assert_eq!(records[0].request_id.as_deref(), Some("req-42"));
    assert_eq!(records[1].time_to_first_token, None, "the first chunk has no content");
}

// --- ChatStream::from_chunks ---

#[test]
fn from_chunks_yields_chunks_then_ends_and_an_error_ends_it() {
    let chunks: Vec<ChatChunk> =
        drain(ChatStream::new(byte_stream(&[fixture("azure_chat.sse")]), meta(), None, Arc::new(SystemClock)))
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let clock = ManualClock::new();
    let records = Arc::new(Records::default());
    let observer = StreamObserver {
        recorder: records.clone(),
        clock: Arc::new(clock.clone()),
        started: clock.now(),
        deployment: Some("gpt-4o-prod".into()),
        span: tracing::Span::none(),
    };
    let replayed = ChatStream::from_chunks(futures_util::stream::iter(chunks.clone().into_iter().map(Ok)), meta())
        .with_observer(observer);
    assert!(!replayed.has_yielded_data());
    let items = drain(replayed);
    assert_eq!(items.len(), chunks.len());
    {
        let records = records.0.lock().unwrap();
        assert_eq!(records.len(), 1);
        assert!(records[0].is_success());
        assert_eq!((records[0].usage.prompt, records[0].usage.completion), (25, 17));
    }

    // An error item is yielded and nothing after it.
    let error = Error::Stream(aoai_core::error::StreamError {
        kind: StreamErrorKind::ServiceError,
        message: "stopped by a layer".into(),
        request_id: None,
        source: None,
    });
    let items = vec![Ok(chunks[0].clone()), Err(error), Ok(chunks[1].clone())];
    let mut stream = ChatStream::from_chunks(futures_util::stream::iter(items), meta());
    let outcome = drain(&mut stream);
    assert_eq!(outcome.len(), 2);
    assert!(outcome[1].is_err());
    assert!(stream.is_terminated());
}
