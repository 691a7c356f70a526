//! Guide section 18, configuration: settings from the environment, `.env` or
//! any source, errors that name the wrong variable, and the options only code
//! sets (telemetry, timeouts, retries).
//!
//! ```text
//! cargo run -p aoai-examples --bin s18_configuration
//! ```
//!
//! The first part needs no service: [`Config::from_lookup`] reads settings
//! through any function, so the program feeds it a few sets of variables, good
//! and bad. The second lists what `./.env` sets. The third reads the real
//! environment and `./.env` (the process environment wins) through the
//! examples' switch, `aoai_examples::session` ([`Config::from_env_if_configured`]):
//! with nothing configured it starts the embedded emulator, a partial or wrong
//! configuration stops the program with the error naming the variable. It then
//! adds [`TelemetryConfig`], [`Timeouts`] and a [`RetryPolicy`] in code and
//! makes one call. The fourth builds an assistant from a configuration file,
//! `examples/fixtures/assistant.toml` ([`AssistantConfig`]: deployment,
//! instructions from a file beside it, tools by name from the program's
//! [`ToolRegistry`], limits, sampling, metadata), shows the errors a typo
//! and an unknown tool give, lets the environment's deployment override the
//! file's, and runs one turn.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use aoai_assistants::AssistantConfig;
use aoai_core::Timeouts;
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::config::{AuthSetting, Config, read_dotenv};
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_core::telemetry::TelemetryConfig;
use aoai_tools::{ToolContext, ToolError, ToolRegistry, typed_tool};
use schemars::JsonSchema;
use serde::Deserialize;

/// The assistant's configuration file, fixed at build time so any working directory works.
const ASSISTANT_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/assistant.toml");

/// The arguments of the `get_weather` tool.
#[derive(Deserialize, JsonSchema)]
struct City {
    /// The city.
    city: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    println!("1. settings from any source (Config::from_lookup)");
    let examples: [&[(&str, &str)]; 8] = [
        &[("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com"), ("AZURE_OPENAI_API_KEY", "k")],
        &[
            ("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com/openai/v1"),
            ("AZURE_OPENAI_AD_TOKEN", "t"),
            ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o-mini"),
        ],
        &[("OPENAI_BASE_URL", "http://localhost:11434/v1")],
        // Each of these names the variable to fix.
        &[],
        &[("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com")],
        &[("AZURE_OPENAI_ENDPOINT", "my-resource"), ("AZURE_OPENAI_API_KEY", "k")],
        &[
            ("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com"),
            ("AZURE_OPENAI_API_KEY", "k"),
            ("AZURE_OPENAI_API_VERSION", "june"),
        ],
        &[("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com"), ("AZURE_OPENAI_API_KEY", " ")],
    ];
    for vars in examples {
        let names: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
        match Config::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, value)| (*value).to_owned())) {
            Ok(config) => println!("   {names:?}\n     → {}", describe(&config)),
            Err(error) => println!("   {names:?}\n     → fix {}: {}", error.setting, error.problem),
        }
    }

    println!("2. ./.env (variables in the environment win over it)");
    match read_dotenv(Path::new(".env")) {
        Ok(vars) if vars.is_empty() => println!("   no ./.env here"),
        Ok(vars) => {
            let mut names: Vec<&String> = vars.keys().collect();
            names.sort();
            println!("   ./.env sets {names:?}");
        }
        Err(error) => println!("   ./.env is unusable: {error}"),
    }

    println!("3. the real environment, with options set in code");
    let session = aoai_examples::session().await?;
    let source = if session.is_offline() { "nothing configured, so the embedded emulator" } else { "configured" };
    println!("   {source}: {}", describe(session.config()));
    // Prompt text in traces only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
    let telemetry = TelemetryConfig::from_env();
    let timeouts = Timeouts::default()
        .connect(Duration::from_secs(5))
        .attempt(Duration::from_secs(120))
        .deadline(Some(Duration::from_secs(300)))
        .stream_idle(Some(Duration::from_secs(30)));
    let retry = RetryPolicy::default()
        .max_retries(4)
        .backoff(Duration::from_millis(250), Duration::from_secs(10))
        .max_retry_after(Duration::from_secs(30));
    println!("   capture content: {}", telemetry.capture_content);
    println!("   {timeouts:?}");
    println!("   {retry:?}");
    let client = session.client_builder().telemetry(telemetry).timeouts(timeouts).retry(retry).build()?;

    let deployment = client.default_deployment().map_or_else(aoai_examples::chat_deployment, str::to_owned);
    let request = ChatRequest::new(vec![ChatMessage::user("Reply with the word 'configured'.")]).max_tokens(10);
    let response = client.chat(&deployment, &request).await?;
    println!("   {deployment}: {}", response.text().unwrap_or("(no text)"));

    println!("4. an assistant from a configuration file (AssistantConfig)");
    // The program's tools; the file picks among them by name.
    let weather = typed_tool("get_weather", "Current weather in a city", |args: City, _: ToolContext| async move {
        Ok::<_, ToolError>(serde_json::json!({"city": args.city, "celsius": 21, "sky": "clear"}))
    });
    let time =
        typed_tool(
            "get_time",
            "Local time in a city",
            |_: City, _: ToolContext| async move { Ok::<_, ToolError>("12:00") },
        );
    let registry = ToolRegistry::new().with(weather)?.with(time)?;
    let config = AssistantConfig::from_path(ASSISTANT_CONFIG)?;
    println!(
        "   fixtures/assistant.toml: deployment {}, tools {:?}, max rounds {:?}, temperature {:?}, instructions from {}",
        config.deployment.as_deref().unwrap_or("none"),
        config.tools,
        config.limits.max_rounds,
        config.sampling.temperature,
        config
            .instructions_file
            .as_deref()
            .and_then(Path::file_name)
            .map_or("none".into(), |name| name.to_string_lossy()),
    );
    // Mistakes are caught when the file is read or built, naming the key or the tool.
    if let Err(error) = AssistantConfig::from_toml_str("deployment = \"gpt-4o\"\n[sampling]\ntemprature = 0.2\n") {
        println!("   a typo: {error}");
    }
    let unknown = AssistantConfig::from_toml_str("deployment = \"gpt-4o\"\ntools = [\"get_wether\"]\n")?;
    if let Err(error) = unknown.build(client.clone(), &registry) {
        println!("   an unknown tool: {error}");
    }
    // The environment (AZURE_OPENAI_DEPLOYMENT) overrides the file; code could still change the builder.
    let assistant = config.apply_core_config(session.config()).build(client, &registry)?;
    let thread = assistant.create_thread().await?;
    let answer = assistant.run(&thread, "What is the weather in Paris?").await?;
    println!("   assistant on {}, {} thread", assistant.deployment(), thread.backend().name());
    for call in &answer.tool_calls {
        println!("   tool {}({}) -> {}", call.name, call.arguments, call.output);
    }
    println!("   answer after {} round(s): {}", answer.rounds, answer.text);
    Ok(())
}

/// Where a configuration sends requests and how it authorises them — never the secret itself.
fn describe(config: &Config) -> String {
    let endpoint = match &config.endpoint {
        Endpoint::Azure { api_version, .. } => format!("Azure {} (api-version {api_version})", config.endpoint.host()),
        Endpoint::AzureV1 { .. } => format!("Azure v1 API on {}", config.endpoint.host()),
        Endpoint::OpenAi { base } => format!("OpenAI-compatible {base}"),
        _ => format!("{:?}", config.endpoint),
    };
    let auth = match &config.auth {
        AuthSetting::ApiKey(_) => "api-key header",
        AuthSetting::Bearer(_) => "bearer token",
        AuthSetting::None => "no authorisation",
        _ => "other",
    };
    let deployment = config.default_deployment.as_deref().unwrap_or("none");
    format!("{endpoint}, {auth}, default deployment {deployment}")
}
