//! The scheduler in front of the real emulator on loopback, both on one
//! manual clock: every request the scheduler admits is admitted by the
//! emulator's quota model (zero 429s), and the emulator's
//! `x-ratelimit-remaining-*` headers agree with the limiter's own count.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aoai_batch::estimate::Estimator;
use aoai_batch::limiter::{QuotaSpec, RpmWindow};
use aoai_batch::{Error, Scheduler};
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::embeddings::{EmbeddingInput, EmbeddingsRequest};
use aoai_core::retry::RetryPolicy;
use aoai_emulator::Emulator;
use aoai_emulator::config::DeploymentConfig;
use aoai_emulator::quota;

#[tokio::test]
async fn admitted_schedules_draw_no_429s() {
    let clock = ManualClock::new();
    let emulator = Emulator::builder()
        .time(Time::manual(&clock))
        .deployment(
            DeploymentConfig::new("a", "gpt-4o-mini").tpm(2_000).rpm(120).rpm_window(quota::RpmWindow::OneSecond),
        )
        .deployment(DeploymentConfig::new("b", "gpt-4o-mini").tpm(3_000).rpm(60))
        .deployment(
            DeploymentConfig::new("e", "text-embedding-3-small")
                .tpm(500)
                .rpm(30)
                .rpm_window(quota::RpmWindow::OneSecond),
        )
        .start()
        .await
        .unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).build().unwrap();
    let scheduler = Scheduler::builder(Time::manual(&clock))
        .deployment("a", QuotaSpec::new(2_000, 120).rpm_window(RpmWindow::OneSecond))
        .deployment("b", QuotaSpec::new(3_000, 60).rpm_window(RpmWindow::TenSeconds))
        .build()
        .unwrap();
    // Embeddings have their own deployment and scheduler.
    let embedder = Scheduler::builder(Time::manual(&clock))
        .deployment("e", QuotaSpec::new(500, 30).rpm_window(RpmWindow::OneSecond))
        .build()
        .unwrap();
    let chat_cost = Estimator::for_model("gpt-4o-mini");
    let embedding_cost = Estimator::for_model("text-embedding-3-small");

    for index in 0..120u32 {
        let request = ChatRequest::new(vec![ChatMessage::user(format!("Question {index}: name a river."))])
            .max_tokens(20 + index * 37 % 400)
            .n(1 + index % 2);
        let grant = scheduler.acquire(chat_cost.chat(&request)).await.unwrap();
        let response = client.chat(grant.deployment(), &request).await.unwrap_or_else(|error| {
            panic!("request {index} on {} at {:?} refused: {error}", grant.deployment(), clock.elapsed())
        });
        let ours = scheduler.remaining(grant.deployment()).unwrap();
        assert_eq!(response.meta.rate_limits.remaining_tokens, ours.tokens, "request {index}");
        assert_eq!(response.meta.rate_limits.remaining_requests, ours.requests, "request {index}");
        scheduler.observe(&grant, &response.meta.rate_limits);

        let input = EmbeddingInput::Text(format!("passage {index} ").repeat(1 + (index as usize * 7) % 40));
        let embeddings = EmbeddingsRequest::new(input);
        let grant = embedder.acquire(embedding_cost.embeddings(&embeddings)).await.unwrap();
        let response = client.embeddings("e", &embeddings).await.unwrap();
        assert_eq!(response.meta.rate_limits.remaining_tokens, embedder.remaining("e").unwrap().tokens);
        embedder.observe(&grant, &response.meta.rate_limits);
    }

    // Larger than every deployment's TPM: rejected without a request or a wait.
    let huge = ChatRequest::new(vec![ChatMessage::user("hi")]).max_tokens(10_000);
    let before = clock.elapsed();
    assert!(matches!(scheduler.acquire(chat_cost.chat(&huge)).await, Err(Error::NeverFits { .. })));
    assert_eq!(clock.elapsed(), before);

    let stats = emulator.stats();
    let mut served = 0;
    for name in ["a", "b", "e"] {
        let deployment = stats.deployment(name).unwrap();
        assert_eq!(deployment.rate_limited, 0, "{name} answered a 429");
        served += deployment.served;
    }
    assert_eq!(served, 240);
    assert_eq!(stats.deployment("a").unwrap().served + stats.deployment("b").unwrap().served, 120);
    emulator.shutdown().await;
}
