//! Streaming and response decoding, beside the baseline async-openai uses.
//!
//! - `streaming`: a long Azure chat stream (2,000 content chunks in Azure's
//!   shapes, led by Azure's first chunk with `"choices": []`, empty `id`,
//!   `model` and `object` and `"created": 0`, ending with the usage chunk)
//!   read through [`ChatStream`], against `eventsource-stream` feeding
//!   `serde_json::from_str` into async-openai's
//!   `CreateChatCompletionStreamResponse` (what async-openai does, minus its
//!   spawned task and channel, which would only slow it down). Two shapes:
//!   Azure's default content filter (filter results on every content chunk)
//!   and the asynchronous filter (annotation chunks without `delta` after the
//!   finish chunk, which async-openai rejects: they are counted and left out
//!   of the throughput comparison). Two read patterns: one read per event, as
//!   a live stream arrives, and 16 KiB reads, as a buffered connection
//!   delivers a fast one.
//! - `sse`: the event parsers alone.
//! - `chunk-json`: decoding the chunk JSON alone (a `ChunkDecoder` over the
//!   transcript, what `ChatStream` uses), to show where time goes.
//! - `response`: one realistic non-streamed Azure response, [`ChatResponse`]
//!   against async-openai's `CreateChatCompletionResponse`.
//! - `responses-stream`: a long Responses API stream (2,000
//!   `response.output_text.delta` events between the lifecycle, item and
//!   part events, `event:` lines, `sequence_number`, `obfuscation`, the
//!   final `response.completed` with Azure's `content_filters`, no `[DONE]`)
//!   read through [`ResponseStream`](aoai_core::responses::ResponseStream)
//!   against `eventsource-stream` feeding `serde_json::from_str` into
//!   async-openai's `ResponseStreamEvent`, in 16 KiB reads and one read per event.
//!
//! Besides criterion's statistics it prints one ratio line per comparison,
//! e.g. `streaming (…): aoai N chunks/s, async-openai M chunks/s, ratio R.RRx`,
//! from the fastest of 21 interleaved samples of each side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aoai_core::chat::{ChatChunk, ChatResponse, ChunkDecoder};
use aoai_core::clock::{Clock, ManualClock, SystemClock};
use aoai_core::error::BoxError;
use aoai_core::response::ResponseMeta;
use aoai_core::sse::{SseEvent, SseParser};
use aoai_core::stream::{ByteStream, ChatStream};
use async_openai::types::chat::{CreateChatCompletionResponse, CreateChatCompletionStreamResponse};
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

const CONTENT_CHUNKS: usize = 2_000;
const ID: &str = "chatcmpl-AYz3kQ7wq1mRZb8xJv2TtN5cLhP0e";
const MODEL: &str = "gpt-4o-2024-08-06";
const WORDS: [&str; 16] = [
    " the",
    " stream",
    " of",
    " tokens",
    " café",
    " über",
    " 日本語",
    " and",
    " a",
    " model",
    " 🌍",
    " is",
    " fast",
    ",",
    " résumé",
    ".",
];

fn safe() -> Value {
    json!({"filtered": false, "severity": "safe"})
}

fn completion_filter() -> Value {
    json!({"hate": safe(), "self_harm": safe(), "sexual": safe(), "violence": safe()})
}

fn chunk(choices: Value, usage: Value) -> Value {
    json!({"choices": choices, "created": 1_732_780_800, "id": ID, "model": MODEL,
           "object": "chat.completion.chunk", "system_fingerprint": "fp_04751d0b65", "usage": usage})
}

/// Azure's content-filter modes, which shape the stream.
#[derive(Clone, Copy)]
enum Filter {
    /// The default: every content chunk carries `content_filter_results`.
    Default,
    /// Asynchronous: content chunks carry no filter results; annotation
    /// chunks without `delta` follow the finish chunk.
    Asynchronous,
}

impl Filter {
    fn name(self) -> &'static str {
        match self {
            Self::Default => "default filter",
            Self::Asynchronous => "async filter",
        }
    }
}

/// The events (data lines) of an Azure chat stream with `include_usage`.
fn azure_events(filter: Filter) -> Vec<String> {
    let mut events = vec![json!({
        "choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
            "hate": safe(), "jailbreak": {"filtered": false, "detected": false},
            "self_harm": safe(), "sexual": safe(), "violence": safe()}}]
    })];
    events.push(chunk(
        json!([{"content_filter_results": {}, "delta": {"content": "", "refusal": null, "role": "assistant"},
                "finish_reason": null, "index": 0, "logprobs": null}]),
        Value::Null,
    ));
    for index in 0..CONTENT_CHUNKS {
        let mut choice = json!({"delta": {"content": WORDS[index % WORDS.len()]}, "finish_reason": null, "index": 0,
                                "logprobs": null});
        if let Filter::Default = filter {
            choice["content_filter_results"] = completion_filter();
        }
        events.push(chunk(json!([choice]), Value::Null));
    }
    events.push(chunk(
        json!([{"content_filter_results": {}, "delta": {}, "finish_reason": "stop", "index": 0, "logprobs": null}]),
        Value::Null,
    ));
    let annotations: &[(u32, u32)] = match filter {
        Filter::Default => &[],
        Filter::Asynchronous => &[(0, 600), (600, 1200), (1200, 1800), (1800, 2400), (2400, 3000), (3000, 3600)],
    };
    for &(start, end) in annotations {
        events.push(json!({
            "choices": [{"content_filter_offsets": {"check_offset": start, "start_offset": start, "end_offset": end},
                         "content_filter_results": completion_filter(), "finish_reason": null, "index": 0}],
            "created": 0, "id": "", "model": "", "object": ""
        }));
    }
    events.push(chunk(
        json!([]),
        json!({"completion_tokens": CONTENT_CHUNKS, "prompt_tokens": 25, "total_tokens": CONTENT_CHUNKS + 25,
               "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                             "reasoning_tokens": 0, "rejected_prediction_tokens": 0},
               "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0}}),
    ));
    events.iter().map(|event| serde_json::to_string(event).unwrap()).collect()
}

/// How the body arrives: one read per event, as a live stream does, or 16 KiB
/// reads, as a buffered connection delivers a fast stream.
#[derive(Clone, Copy)]
enum Reads {
    PerEvent,
    Kib16,
}

impl Reads {
    fn name(self) -> &'static str {
        match self {
            Self::PerEvent => "per-event reads",
            Self::Kib16 => "16 KiB reads",
        }
    }
}

fn body(events: &[String], reads: Reads) -> Vec<Bytes> {
    let framed: Vec<String> =
        events.iter().map(|data| format!("data: {data}\n\n")).chain(["data: [DONE]\n\n".to_owned()]).collect();
    match reads {
        Reads::PerEvent => framed.into_iter().map(Bytes::from).collect(),
        Reads::Kib16 => {
            let whole = Bytes::from(framed.concat());
            (0..whole.len())
                .step_by(16 * 1024)
                .map(|start| whole.slice(start..whole.len().min(start + 16 * 1024)))
                .collect()
        }
    }
}

fn byte_stream(reads: &[Bytes]) -> ByteStream {
    let items: Vec<Result<Bytes, BoxError>> = reads.iter().cloned().map(Ok).collect();
    Box::pin(futures_util::stream::iter(items))
}

/// Polls a stream that is always ready to its end, folding its items.
fn drain<S: Stream + Unpin, A>(mut stream: S, mut acc: A, mut fold: impl FnMut(&mut A, S::Item)) -> A {
    let mut context = Context::from_waker(Waker::noop());
    loop {
        match stream.poll_next_unpin(&mut context) {
            Poll::Ready(Some(item)) => fold(&mut acc, item),
            Poll::Ready(None) => return acc,
            Poll::Pending => panic!("the benchmark sources never wait"),
        }
    }
}

/// Our path: bytes -> SSE -> `ChatChunk`, through the public `ChatStream`.
/// Returns (chunks decoded, errors).
fn aoai_stream(reads: &[Bytes]) -> (usize, usize) {
    let stream = ChatStream::new(byte_stream(reads), ResponseMeta::default(), None, Arc::new(ManualClock::new()));
    drain(stream, (0, 0), |(ok, failed), item: Result<ChatChunk, aoai_core::Error>| match item {
        Ok(chunk) => {
            black_box(&chunk);
            *ok += 1;
        }
        Err(_) => *failed += 1,
    })
}

/// async-openai's path: `eventsource-stream`, stop at `[DONE]`, skip
/// `keepalive` events, `serde_json::from_str` each data. Returns (chunks decoded, errors).
fn async_openai_stream(reads: &[Bytes]) -> (usize, usize) {
    let items: Vec<Result<Bytes, std::io::Error>> = reads.iter().cloned().map(Ok).collect();
    let events = futures_util::stream::iter(items).eventsource();
    let mut done = false;
    drain(events, (0, 0), |(ok, failed), item| {
        let Ok(event) = item else {
            *failed += 1;
            return;
        };
        if done || event.data == "[DONE]" {
            done = true;
            return;
        }
        if event.event == "keepalive" {
            return;
        }
        match serde_json::from_str::<CreateChatCompletionStreamResponse>(&event.data) {
            Ok(chunk) => {
                black_box(&chunk);
                *ok += 1;
            }
            Err(_) => *failed += 1,
        }
    })
}

fn aoai_sse_only(reads: &[Bytes]) -> usize {
    let mut parser = SseParser::new();
    let mut events: Vec<SseEvent> = Vec::new();
    let mut count = 0;
    for read in reads {
        parser.feed(read, &mut events);
        count += events.len();
        black_box(&events);
        events.clear();
    }
    count
}

fn eventsource_sse_only(reads: &[Bytes]) -> usize {
    let items: Vec<Result<Bytes, std::io::Error>> = reads.iter().cloned().map(Ok).collect();
    drain(futures_util::stream::iter(items).eventsource(), 0, |count, item| {
        black_box(&item);
        *count += 1;
    })
}

/// A realistic non-streamed Azure response: filter results for prompt and
/// completion, a long answer with multibyte text, usage with details.
fn azure_response() -> String {
    let answer: String = (0..400).map(|index| WORDS[index % WORDS.len()]).collect();
    serde_json::to_string(&json!({
        "choices": [{
            "content_filter_results": {
                "hate": safe(), "protected_material_code": {"filtered": false, "detected": false},
                "protected_material_text": {"filtered": false, "detected": false},
                "self_harm": safe(), "sexual": safe(), "violence": safe()},
            "finish_reason": "stop", "index": 0, "logprobs": null,
            "message": {"content": answer, "refusal": null, "role": "assistant"}
        }],
        "created": 1_732_780_800, "id": ID, "model": MODEL, "object": "chat.completion",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
            "hate": safe(), "jailbreak": {"filtered": false, "detected": false},
            "self_harm": safe(), "sexual": safe(), "violence": safe()}}],
        "system_fingerprint": "fp_04751d0b65",
        "usage": {"completion_tokens": 400, "completion_tokens_details": {"accepted_prediction_tokens": 0,
                  "audio_tokens": 0, "reasoning_tokens": 0, "rejected_prediction_tokens": 0},
                  "prompt_tokens": 1_250, "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 1_024},
                  "total_tokens": 1_650}
    }))
    .unwrap()
}

/// Seconds per call of `ours` and `theirs`: the fastest of `samples`
/// interleaved samples of `batch` calls each. Interleaving and taking the
/// minimum keep a busy machine from favouring either side.
fn compare(samples: usize, batch: usize, mut ours: impl FnMut(), mut theirs: impl FnMut()) -> (f64, f64) {
    let time = |work: &mut dyn FnMut()| {
        let start = SystemClock.now();
        for _ in 0..batch {
            work();
        }
        SystemClock.now().duration_since(start).as_secs_f64() / batch as f64
    };
    time(&mut ours);
    time(&mut theirs);
    let (mut best_ours, mut best_theirs) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..samples {
        best_ours = best_ours.min(time(&mut ours));
        best_theirs = best_theirs.min(time(&mut theirs));
    }
    (best_ours, best_theirs)
}

fn print_ratio(what: &str, unit: &str, per_call: f64, ours: f64, theirs: f64) {
    let ours_rate = per_call / ours;
    let theirs_rate = per_call / theirs;
    println!(
        "{what}: aoai {ours_rate:.0} {unit}/s, async-openai {theirs_rate:.0} {unit}/s, ratio {:.2}x",
        ours_rate / theirs_rate
    );
}

fn streaming(c: &mut Criterion) {
    let mut group = c.benchmark_group("streaming");
    group.measurement_time(Duration::from_secs(3)).sample_size(20);
    for filter in [Filter::Default, Filter::Asynchronous] {
        let all_events = azure_events(filter);

        // Which Azure chunks does async-openai reject? Throughput is compared without them.
        let rejected: Vec<&String> = all_events
            .iter()
            .filter(|data| serde_json::from_str::<CreateChatCompletionStreamResponse>(data).is_err())
            .collect();
        let full = body(&all_events, Reads::PerEvent);
        let (aoai_ok, aoai_failed) = aoai_stream(&full);
        let (theirs_ok, theirs_failed) = async_openai_stream(&full);
        assert_eq!((aoai_ok, aoai_failed), (all_events.len(), 0), "aoai must accept every Azure chunk");
        assert_eq!(theirs_failed, rejected.len());
        println!(
            "azure stream ({}), {} chunks: aoai decoded {aoai_ok}, async-openai decoded {theirs_ok} and failed on {theirs_failed}",
            filter.name(),
            all_events.len()
        );
        if let Some(data) = rejected.first() {
            let error = serde_json::from_str::<CreateChatCompletionStreamResponse>(data).unwrap_err();
            println!("  async-openai rejects e.g.: {error}: {}…", &data[..data.len().min(90)]);
        }

        let common: Vec<String> = all_events.iter().filter(|data| !rejected.contains(data)).cloned().collect();
        group.throughput(Throughput::Elements(common.len() as u64));
        for reads in [Reads::PerEvent, Reads::Kib16] {
            let input = body(&common, reads);
            assert_eq!(aoai_stream(&input), (common.len(), 0));
            assert_eq!(async_openai_stream(&input), (common.len(), 0));
            let case = format!("{}, {}", filter.name(), reads.name());
            group.bench_with_input(BenchmarkId::new("aoai", &case), &input, |b, input| {
                b.iter(|| aoai_stream(input));
            });
            group.bench_with_input(BenchmarkId::new("async-openai", &case), &input, |b, input| {
                b.iter(|| async_openai_stream(input));
            });
            let (ours, theirs) = compare(
                21,
                3,
                || {
                    black_box(aoai_stream(&input));
                },
                || {
                    black_box(async_openai_stream(&input));
                },
            );
            print_ratio(&format!("streaming ({case})"), "chunks", common.len() as f64, ours, theirs);
        }
    }
    group.finish();

    let common = azure_events(Filter::Default);
    let mut group = c.benchmark_group("sse");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .throughput(Throughput::Elements(common.len() as u64));
    for reads in [Reads::PerEvent, Reads::Kib16] {
        let input = body(&common, reads);
        assert_eq!(aoai_sse_only(&input), common.len() + 1);
        assert_eq!(eventsource_sse_only(&input), common.len() + 1);
        group.bench_with_input(BenchmarkId::new("aoai", reads.name()), &input, |b, input| {
            b.iter(|| aoai_sse_only(input));
        });
        group.bench_with_input(BenchmarkId::new("eventsource-stream", reads.name()), &input, |b, input| {
            b.iter(|| eventsource_sse_only(input));
        });
        let (ours, theirs) = compare(
            21,
            3,
            || {
                black_box(aoai_sse_only(&input));
            },
            || {
                black_box(eventsource_sse_only(&input));
            },
        );
        println!(
            "sse parsing only ({}): aoai {:.0} events/s, eventsource-stream {:.0} events/s, ratio {:.2}x",
            reads.name(),
            common.len() as f64 / ours,
            common.len() as f64 / theirs,
            theirs / ours
        );
    }
    group.finish();

    // Where our time goes: decoding the chunk JSON alone, per chunk.
    let mut group = c.benchmark_group("chunk-json");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .throughput(Throughput::Elements(common.len() as u64));
    group.bench_function("aoai ChatChunk", |b| {
        b.iter(|| {
            let mut decoder = ChunkDecoder::new();
            common.iter().for_each(|data| drop(black_box(decoder.decode(data).unwrap())))
        })
    });
    group.bench_function("async-openai", |b| {
        b.iter(|| {
            common.iter().for_each(|data| {
                drop(black_box(serde_json::from_str::<CreateChatCompletionStreamResponse>(data).unwrap()))
            })
        })
    });
    group.finish();
    let (ours, theirs) = compare(
        21,
        3,
        || {
            let mut decoder = ChunkDecoder::new();
            common.iter().for_each(|data| drop(black_box(decoder.decode(data).unwrap())))
        },
        || {
            common.iter().for_each(|data| {
                drop(black_box(serde_json::from_str::<CreateChatCompletionStreamResponse>(data).unwrap()))
            })
        },
    );
    print_ratio("chunk JSON only (default filter)", "chunks", common.len() as f64, ours, theirs);
}

fn response(c: &mut Criterion) {
    let body = azure_response();
    let ours: ChatResponse = serde_json::from_str(&body).unwrap();
    let theirs: CreateChatCompletionResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(ours.text(), theirs.choices[0].message.content.as_deref());

    let mut group = c.benchmark_group("response");
    group.measurement_time(Duration::from_secs(3)).sample_size(30).throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("aoai", |b| b.iter(|| serde_json::from_str::<ChatResponse>(black_box(&body)).unwrap()));
    group.bench_function("async-openai", |b| {
        b.iter(|| serde_json::from_str::<CreateChatCompletionResponse>(black_box(&body)).unwrap())
    });
    group.finish();

    let (ours, theirs) = compare(
        21,
        2_000,
        || drop(black_box(serde_json::from_str::<ChatResponse>(black_box(&body)).unwrap())),
        || drop(black_box(serde_json::from_str::<CreateChatCompletionResponse>(black_box(&body)).unwrap())),
    );
    print_ratio(&format!("response ({} bytes)", body.len()), "responses", 1.0, ours, theirs);
}

/// A Responses API stream: lifecycle, one message with `deltas` text deltas, completed.
fn responses_events(deltas: usize) -> Vec<(String, String)> {
    let response = |status: &str, output: Value, usage: Value| {
        json!({
            "id": "resp_68e1a0c3f6b48190a1b2c3d4e5f6071800", "object": "response", "created_at": 1_765_100_000,
            "status": status, "background": false, "error": null, "incomplete_details": null,
            "instructions": null, "max_output_tokens": null, "model": MODEL, "output": output,
            "parallel_tool_calls": true, "previous_response_id": null, "reasoning": {"effort": null, "summary": null},
            "store": true, "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
            "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": null, "metadata": {},
            "content_filters": [{"blocked": false, "source_type": "prompt", "content_filter_results": {
                "hate": safe(), "self_harm": safe(), "sexual": safe(), "violence": safe(),
                "jailbreak": {"filtered": false, "detected": false}},
                "content_filter_offsets": {"start_offset": 0, "end_offset": 120, "check_offset": 0}}]
        })
    };
    let item_id = "msg_68e1a0c3f6b48190a1b2c3d4e5f60718";
    let text: String = (0..deltas).map(|index| WORDS[index % WORDS.len()]).collect();
    let part = |text: &str| json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
    let message = |status: &str, content: Value| json!({"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content});
    let done_message = message("completed", json!([part(&text)]));
    let mut events = vec![
        json!({"type": "response.created", "response": response("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.in_progress", "response": response("in_progress", json!([]), Value::Null)}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": message("in_progress", json!([]))}),
        json!({"type": "response.content_part.added", "item_id": item_id, "output_index": 0, "content_index": 0, "part": part("")}),
    ];
    for index in 0..deltas {
        events.push(json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0,
            "content_index": 0, "delta": WORDS[index % WORDS.len()], "logprobs": [], "obfuscation": "Kq9x2"}));
    }
    events.extend([
        json!({"type": "response.output_text.done", "item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
        json!({"type": "response.content_part.done", "item_id": item_id, "output_index": 0, "content_index": 0, "part": part(&text)}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": done_message.clone()}),
        json!({"type": "response.completed", "response": response("completed", json!([done_message]),
            json!({"input_tokens": 1_250, "input_tokens_details": {"cached_tokens": 1_024}, "output_tokens": deltas,
                   "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1_250 + deltas}))}),
    ]);
    events
        .into_iter()
        .enumerate()
        .map(|(number, mut event)| {
            event["sequence_number"] = json!(number);
            let kind = event["type"].as_str().unwrap().to_owned();
            (kind, serde_json::to_string(&event).unwrap())
        })
        .collect()
}

fn responses_body(events: &[(String, String)], reads: Reads) -> Vec<Bytes> {
    let framed: Vec<String> = events.iter().map(|(kind, data)| format!("event: {kind}\ndata: {data}\n\n")).collect();
    match reads {
        Reads::PerEvent => framed.into_iter().map(Bytes::from).collect(),
        Reads::Kib16 => {
            let whole = Bytes::from(framed.concat());
            (0..whole.len())
                .step_by(16 * 1024)
                .map(|start| whole.slice(start..whole.len().min(start + 16 * 1024)))
                .collect()
        }
    }
}

/// Our path: bytes -> SSE -> typed events, through the public `ResponseStream`.
fn aoai_responses(reads: &[Bytes]) -> (usize, usize) {
    let stream = aoai_core::responses::ResponseStream::new(
        byte_stream(reads),
        ResponseMeta::default(),
        None,
        Arc::new(ManualClock::new()),
    );
    drain(stream, (0, 0), |(ok, failed), item: Result<aoai_core::responses::ResponseStreamEvent, aoai_core::Error>| {
        match item {
            Ok(event) => {
                black_box(&event);
                *ok += 1;
            }
            Err(_) => *failed += 1,
        }
    })
}

/// async-openai's path: `eventsource-stream`, `serde_json::from_str` each data into its event enum.
fn async_openai_responses(reads: &[Bytes]) -> (usize, usize) {
    let items: Vec<Result<Bytes, std::io::Error>> = reads.iter().cloned().map(Ok).collect();
    drain(futures_util::stream::iter(items).eventsource(), (0, 0), |(ok, failed), item| {
        let Ok(event) = item else {
            *failed += 1;
            return;
        };
        match serde_json::from_str::<async_openai::types::responses::ResponseStreamEvent>(&event.data) {
            Ok(event) => {
                black_box(&event);
                *ok += 1;
            }
            Err(_) => *failed += 1,
        }
    })
}

fn responses_stream(c: &mut Criterion) {
    let events = responses_events(CONTENT_CHUNKS);
    let mut group = c.benchmark_group("responses-stream");
    group.measurement_time(Duration::from_secs(3)).sample_size(20);
    for reads in [Reads::Kib16, Reads::PerEvent] {
        let body = responses_body(&events, reads);
        let (ours_ok, ours_failed) = aoai_responses(&body);
        let (theirs_ok, theirs_failed) = async_openai_responses(&body);
        assert_eq!((ours_ok, ours_failed), (events.len(), 0));
        assert_eq!(
            (theirs_ok, theirs_failed),
            (events.len(), 0),
            "async-openai must read every event for a fair ratio"
        );
        let name = reads.name();
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::new("aoai", name), &body, |b, body| b.iter(|| aoai_responses(body)));
        group.bench_with_input(BenchmarkId::new("async-openai", name), &body, |b, body| {
            b.iter(|| async_openai_responses(body))
        });
        let (ours, theirs) = compare(
            21,
            5,
            || {
                black_box(aoai_responses(&body));
            },
            || {
                black_box(async_openai_responses(&body));
            },
        );
        print_ratio(&format!("responses stream ({name})"), "events", events.len() as f64, ours, theirs);
    }
    group.finish();
}

criterion_group!(benches, streaming, response, responses_stream);
criterion_main!(benches);
