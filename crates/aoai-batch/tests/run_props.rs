//! Property tests of the runner's parsers: input lines, journal replay and
//! the replay of results files cut anywhere by a crash.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;

use aoai_batch::run::input::{Operation, parse_line, parse_url};
use aoai_batch::run::journal::{Recorded, Sending, replay_journal};
use proptest::prelude::*;
use serde_json::json;

const HEADER: &str = r#"{"aoai_batch_journal":1,"input_bytes":1,"input_fnv1a64":"00","input_lines":1}"#;

fn id() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9-]{1,12}", "\\PC{1,8}", Just("quote \" and \\ back\nslash".to_owned())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the bytes, the parser answers (an item or a reason) and never panics.
    #[test]
    fn any_bytes_parse_or_are_malformed(bytes in proptest::collection::vec(any::<u8>(), 0..200), line in 1_u64..1000) {
        match parse_line(line, &bytes) {
            Ok(item) => prop_assert_eq!(item.line, line),
            Err(malformed) => {
                prop_assert_eq!(malformed.line, line);
                prop_assert!(!malformed.message.is_empty());
            }
        }
    }

    /// A well-formed line keeps its id, operation and unknown body fields.
    #[test]
    fn valid_lines_round_trip(
        custom_id in id(),
        chat in any::<bool>(),
        prefix in prop_oneof![Just(""), Just("/v1"), Just("/openai"), Just("/openai/v1"), Just("/openai/deployments/d1")],
        extra in any::<i64>(),
    ) {
        let (path, body) = if chat {
            ("/chat/completions", json!({"messages": [{"role": "user", "content": "hi"}], "x_extra": extra}))
        } else {
            ("/embeddings", json!({"input": ["a", "b"], "x_extra": extra}))
        };
        let url = format!("{prefix}{path}");
        let line = json!({"custom_id": custom_id, "method": "post", "url": url, "body": body}).to_string();
        let item = parse_line(4, line.as_bytes()).unwrap();
        prop_assert_eq!(&item.custom_id, &custom_id);
        prop_assert_eq!(item.operation, if chat { Operation::ChatCompletions } else { Operation::Embeddings });
        prop_assert_eq!(item.url_deployment.as_deref(), prefix.strip_prefix("/openai/deployments/"));
        prop_assert_eq!(item.body.get("x_extra"), Some(&json!(extra)));
        prop_assert_eq!(parse_url(&url).unwrap().0, item.operation);
    }

    /// A journal cut at any byte replays to exactly its complete records.
    #[test]
    fn a_journal_cut_anywhere_replays_its_complete_lines(
        records in proptest::collection::vec((id(), 1_u32..5), 0..20),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = format!("{HEADER}\n").into_bytes();
        let mut ends = vec![bytes.len()];
        for (custom_id, attempt) in &records {
            bytes.extend(serde_json::to_vec(&Sending::new(custom_id.clone(), *attempt)).unwrap());
            bytes.push(b'\n');
            ends.push(bytes.len());
        }
        let cut = cut.index(bytes.len() + 1);
        let replay = replay_journal(&bytes[..cut]).unwrap();
        let complete = ends.iter().filter(|end| **end <= cut).count();
        let expected_len = if complete == 0 { 0 } else { ends[complete - 1] };
        prop_assert_eq!(replay.valid_len, expected_len as u64);
        prop_assert_eq!(replay.header.is_some(), complete > 0);
        let mut expected: HashMap<String, u32> = HashMap::new();
        for (custom_id, attempt) in records.iter().take(complete.saturating_sub(1)) {
            let entry = expected.entry(custom_id.clone()).or_insert(0);
            *entry = (*entry).max(*attempt);
        }
        prop_assert_eq!(replay.started, expected);
    }

    /// Results files cut anywhere: the complete lines are recorded, the torn
    /// one is left out, and replaying the kept part again gives the same.
    #[test]
    fn results_cut_anywhere_record_their_complete_lines(
        outcomes in proptest::collection::vec(0_u8..3, 0..20),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for (index, outcome) in outcomes.iter().enumerate() {
            let line = match outcome {
                0 => json!({"id": "x", "custom_id": format!("id-{index}"), "response": {"status_code": 200, "request_id": "r", "body": {"a": "b\nc"}}, "error": null}),
                1 => json!({"id": "x", "custom_id": format!("id-{index}"), "response": null, "error": {"code": "never_fits", "message": "m"}}),
                _ => json!({"id": null, "custom_id": null, "line": index + 1, "response": null, "error": {"code": "malformed_line", "message": "m"}}),
            };
            bytes.extend(serde_json::to_vec(&line).unwrap());
            bytes.push(b'\n');
            ends.push(bytes.len());
        }
        let cut = cut.index(bytes.len() + 1);
        let mut recorded = Recorded::default();
        let valid = recorded.replay(&bytes[..cut]).unwrap();
        let complete = ends.iter().filter(|end| **end <= cut).count();
        prop_assert_eq!(valid, if complete == 0 { 0 } else { ends[complete - 1] as u64 });
        let kept = &outcomes[..complete];
        prop_assert_eq!(recorded.succeeded, kept.iter().filter(|o| **o == 0).count() as u64);
        prop_assert_eq!(recorded.failed.values().sum::<u64>(), kept.iter().filter(|o| **o == 1).count() as u64);
        prop_assert_eq!(recorded.malformed_lines.len(), kept.iter().filter(|o| **o == 2).count());
        prop_assert_eq!(recorded.done.len(), kept.iter().filter(|o| **o != 2).count());
        let mut again = Recorded::default();
        prop_assert_eq!(again.replay(&bytes[..valid as usize]).unwrap(), valid);
        prop_assert_eq!(again, recorded);
    }
}
