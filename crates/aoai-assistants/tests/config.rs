//! An assistant built from a configuration file, run against the emulator
//! through the real client: the instructions file, the tools named, the
//! vector store, the limits and the metadata all reach the service.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use aoai_assistants::config::ConfigProblem;
use aoai_assistants::error::Error;
use aoai_assistants::knowledge::{self, SyncOptions};
use aoai_assistants::{AssistantConfig, ThreadBackend};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::retry::RetryPolicy;
use aoai_emulator::Emulator;
use aoai_tools::{ToolContext, ToolError, ToolRegistry, typed_tool};
use schemars::JsonSchema;
use serde::Deserialize;

const LEAVE: &str = "# Holiday policy\n\nEvery employee receives twenty-five days of paid annual leave. \
                     Unused leave days carry over to the next year, up to five days.\n";
const BIKES: &str = "# Commuting\n\nBicycles are parked in the basement garage; showers are on the second floor.\n";

#[derive(Deserialize, JsonSchema)]
struct City {
    /// The city.
    city: String,
}

fn registry() -> ToolRegistry {
    let weather =
        typed_tool("get_weather", "Get the current weather in a city", |args: City, _: ToolContext| async move {
            Ok::<_, ToolError>(serde_json::json!({"city": args.city, "celsius": 21, "sky": "clear"}))
        });
    let time = typed_tool("get_time", "Get the local time in a city", |_: City, _: ToolContext| async move {
        Ok::<_, ToolError>("12:00")
    });
    ToolRegistry::new().with(weather).unwrap().with(time).unwrap()
}

#[tokio::test]
async fn an_assistant_from_a_file_answers_from_its_store_and_calls_its_tools() {
    let clock = ManualClock::new();
    let emulator =
        Emulator::builder().time(Time::manual(&clock)).batch_step(Duration::from_secs(1)).start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).time(Time::manual(&clock)).build().unwrap();
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    std::fs::create_dir(root.join("handbook")).unwrap();
    std::fs::write(root.join("handbook/leave.md"), LEAVE).unwrap();
    std::fs::write(root.join("handbook/bikes.md"), BIKES).unwrap();
    let report = knowledge::create_from_directory(
        &client,
        "handbook",
        &root.join("handbook"),
        &SyncOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();

    std::fs::create_dir(root.join("config")).unwrap();
    std::fs::write(root.join("config/instructions.md"), "Answer from the handbook and cite it.").unwrap();
    let path = root.join("config/assistant.toml");
    std::fs::write(
        &path,
        format!(
            r#"
deployment = "gpt-4o"
instructions_file = "instructions.md"
tools = ["get_weather"]

[file_search]
vector_store_ids = ["{}"]
max_results = 4

[limits]
max_rounds = 3
tool_timeout_seconds = 5
max_output_tokens = 300

[sampling]
temperature = 0.3

[metadata]
assistant = "handbook"
"#,
            report.vector_store_id
        ),
    )
    .unwrap();

    let config = AssistantConfig::from_path(&path).unwrap();
    let assistant = config.build(client.clone(), &registry()).unwrap();
    assert_eq!(assistant.tools().names().collect::<Vec<_>>(), ["get_weather"]);
    let thread = assistant.create_thread().await.unwrap();
    assert_eq!(thread.backend(), ThreadBackend::Conversation, "build wires the client's conversations");

    // A question the store answers: cited from the right file.
    let answer = assistant.run(&thread, "How many days of paid annual leave does an employee receive?").await.unwrap();
    assert!(!answer.citations.is_empty(), "{}", answer.text);
    assert!(answer.citations.iter().all(|citation| citation.filename == "leave.md"), "{:?}", answer.citations);
    let stored = client.get_response(&answer.response_ids[0], &[]).await.unwrap().body;
    assert_eq!(
        stored.instructions.as_ref().and_then(|value| value.as_str()),
        Some("Answer from the handbook and cite it.")
    );
    assert_eq!(stored.metadata.as_ref().unwrap()["assistant"], "handbook");
    assert_eq!(stored.max_output_tokens, Some(300));

    // A question for the tool named in the file: called, and its result used.
    let answer = assistant.run(&thread, "What is the weather in Paris?").await.unwrap();
    assert_eq!(answer.tool_calls.len(), 1, "{}", answer.text);
    assert_eq!(answer.tool_calls[0].name, "get_weather");
    assert!(answer.tool_calls[0].error.is_none(), "{:?}", answer.tool_calls[0]);
    assert!(answer.text.contains("celsius"), "{}", answer.text);
    assert_eq!(answer.thread_id, thread.id());

    // The file's round limit applies.
    std::fs::write(
        &path,
        "deployment = \"gpt-4o\"\ntools = [\"get_weather\"]\nbackend = \"client_side\"\n[limits]\nmax_rounds = 1\n",
    )
    .unwrap();
    let limited = AssistantConfig::from_path(&path).unwrap().build(client.clone(), &registry()).unwrap();
    let thread = limited.create_thread().await.unwrap();
    assert_eq!(thread.backend(), ThreadBackend::ClientSide);
    let error = limited.run(&thread, "What is the weather in Paris?").await.unwrap_err();
    let Error::RoundLimit(limit) = error else { panic!("{error}") };
    assert_eq!(limit.rounds(), 1);

    // A tool the registry does not hold stops the build, naming the file and the known tools.
    std::fs::write(&path, "deployment = \"gpt-4o\"\ntools = [\"get_wether\"]\n").unwrap();
    let error = AssistantConfig::from_path(&path).unwrap().build(client.clone(), &registry()).unwrap_err();
    let Error::ConfigFile(error) = error else { panic!("{error}") };
    assert_eq!(error.problem(), ConfigProblem::UnknownTool);
    assert_eq!(error.path(), Some(path.as_path()));
    assert!(
        error.to_string().ends_with("unknown tool `get_wether` in `tools`; known tools: get_weather, get_time"),
        "{error}"
    );
}
