//! Guide section 5, errors: provoke the common failures and read what each
//! error says — kind, status, code, request id, retry hint, whether retrying
//! helps and whether the request may have reached the service — with a custom
//! [`RetryPolicy`] and [`Timeouts`].
//!
//! ```text
//! cargo run -p aoai-examples --bin s05_errors_and_monitoring
//! ```
//!
//! It calls a deployment that doesn't exist, sends an invalid parameter, gives
//! an attempt 1 ms, connects to a port where nothing listens (retried with a
//! custom policy), parses a content-filter error as Azure sends it, and ends
//! with one successful call. `error.summary_line()` is the line to log.

use std::process::ExitCode;
use std::time::Duration;

use aoai_core::chat::{ChatMessage, ChatRequest, ChatResponse};
use aoai_core::error::{ApiError, ApiErrorKind};
use aoai_core::response::ResponseMeta;
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_core::{Client, Error, Response, Result, Timeouts};

/// A content-filter error body exactly as Azure sends it for a blocked prompt.
const FILTER_ERROR_BODY: &str = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":true,"detected":true},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}}}}"#;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit(run().await)
}

async fn run() -> Result<()> {
    let session = aoai_examples::session().await?; // the configured endpoint, or the embedded emulator
    let client = session.client()?;
    let deployment = aoai_examples::chat_deployment();
    let hello = ChatRequest::new(vec![ChatMessage::user("Say hello.")]).max_tokens(20);

    println!("1. a deployment that doesn't exist");
    report(client.chat("no-such-deployment", &hello).await);

    println!("2. an invalid parameter (temperature 5)");
    report(client.chat(&deployment, &hello.clone().temperature(5.0)).await);

    println!("3. an attempt limited to 1 ms, no retries");
    let impatient = session
        .client_builder()
        .retry(RetryPolicy::none())
        .timeouts(Timeouts::default().attempt(Duration::from_millis(1)))
        .build()?;
    report(impatient.chat(&deployment, &hello).await);

    println!("4. nothing listening: retried twice, 100 ms then 200 ms, within a 10 s deadline");
    let nowhere = Client::builder(Endpoint::openai("http://127.0.0.1:9/v1")?)
        .retry(
            RetryPolicy::default()
                .max_retries(2)
                .backoff(Duration::from_millis(100), Duration::from_secs(2))
                .max_retry_after(Duration::from_secs(30))
                .jitter(false),
        )
        .timeouts(
            Timeouts::default()
                .connect(Duration::from_secs(2))
                .attempt(Duration::from_secs(60))
                .deadline(Some(Duration::from_secs(10))),
        )
        .build()?;
    report(nowhere.chat(&deployment, &hello).await);

    println!("5. a blocked prompt, as Azure reports it");
    let meta = ResponseMeta {
        status: 400,
        request_id: Some("recorded-example".to_owned()),
        attempts: 1,
        ..ResponseMeta::default()
    };
    describe(&Error::Api(ApiError::from_response(meta, FILTER_ERROR_BODY.as_bytes())));

    println!("6. a call that works");
    let response = client.chat(&deployment, &hello).await?;
    println!("   {} (attempts {})", response.text().unwrap_or("(no text)"), response.meta.attempts);
    Ok(())
}

fn report(result: Result<Response<ChatResponse>>) {
    match result {
        Ok(response) => println!("   succeeded: {}", response.text().unwrap_or("(no text)")),
        Err(error) => describe(&error),
    }
}

/// Everything an error tells, and what to do about it.
fn describe(error: &Error) {
    println!("   {}", error.summary_line());
    println!(
        "   kind {}, status {}, code {}, request id {}",
        error.kind_name(),
        error.status().map_or("-".to_owned(), |status| status.to_string()),
        error.code().unwrap_or("-"),
        error.request_id().unwrap_or("-"),
    );
    println!(
        "   retryable {}, may have been sent {}, attempts {}, retry after {:?}",
        error.is_retryable(),
        error.may_have_been_sent(),
        error.attempts(),
        error.retry_after(),
    );
    match error {
        Error::Api(api) => {
            if let Some(param) = api.param() {
                println!("   parameter: {param}");
            }
            if let Some(inner) = api.inner_code() {
                println!("   inner code: {inner}");
            }
            if let Some(results) = api.content_filter() {
                for verdict in results.categories() {
                    let level = match (&verdict.severity, verdict.detected) {
                        (Some(severity), _) => severity.as_str().to_owned(),
                        (None, Some(detected)) => if detected { "detected" } else { "not detected" }.to_owned(),
                        (None, None) => "-".to_owned(),
                    };
                    let blocked = if verdict.filtered { " (blocked)" } else { "" };
                    println!("   filter {}: {level}{blocked}", verdict.category);
                }
            }
        }
        Error::Timeout(timeout) => println!("   {:?} limit of {:?}", timeout.kind, timeout.limit),
        Error::Connection(connection) => {
            let mut cause = std::error::Error::source(connection);
            while let Some(inner) = cause {
                println!("   caused by: {inner}");
                cause = inner.source();
            }
        }
        _ => {}
    }
    println!("   → {}", advice(error));
}

fn advice(error: &Error) -> &'static str {
    match error {
        Error::Config(_) => "fix the named setting",
        Error::Credential(_) => "check the credential (key, token, az login)",
        Error::Api(api) => match api.kind() {
            ApiErrorKind::NotFound => "check the deployment name and the API version",
            ApiErrorKind::BadRequest => "fix the request; resending it won't help",
            ApiErrorKind::ContentFilter => "change the prompt; the categories say why it was blocked",
            ApiErrorKind::Authentication | ApiErrorKind::PermissionDenied => "check the key or the role assignment",
            ApiErrorKind::RateLimited => "wait retry_after, or spread the load",
            ApiErrorKind::QuotaExhausted => "no quota left for a long time: use another deployment",
            _ if api.is_retryable() => "transient: retry later",
            _ => "not retryable as is",
        },
        Error::Connection(connection) if !connection.may_have_been_sent => "nothing was sent: resending is safe",
        _ if error.may_have_been_sent() => "it may have been processed: resend only if duplicates are harmless",
        _ => "not retryable",
    }
}
