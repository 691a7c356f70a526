//! The async scheduler on a manual clock: shared limiters, spreading over
//! deployments, one pause per 429, immediate rejections. Nothing sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aoai_batch::limiter::{LimitKind, QuotaSpec, Remaining, RpmWindow};
use aoai_batch::{Error, Scheduler};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::response::RateLimitInfo;

fn scheduler(clock: &ManualClock, deployments: &[(&str, QuotaSpec)]) -> Scheduler {
    let mut builder = Scheduler::builder(Time::manual(clock));
    for (name, spec) in deployments {
        builder = builder.deployment(*name, *spec);
    }
    builder.build().unwrap()
}

fn window_total(charges: &[(Instant, u64)], end: Instant, length: Duration) -> u64 {
    charges.iter().filter(|&&(at, _)| at <= end && at + length > end).map(|&(_, amount)| amount).sum()
}

#[tokio::test]
async fn concurrent_tasks_share_the_quota_across_deployments() {
    let clock = ManualClock::new();
    let specs = [("a", QuotaSpec::new(2_000, 120).rpm_window(RpmWindow::OneSecond)), ("b", QuotaSpec::new(5_000, 60))];
    let scheduler = scheduler(&clock, &specs);
    let tasks: Vec<_> = (0..60u64)
        .map(|index| {
            let scheduler = scheduler.clone();
            tokio::spawn(async move {
                let grant = scheduler.acquire(100 + index * 13 % 700).await.unwrap();
                (grant.deployment().to_owned(), grant.permit())
            })
        })
        .collect();
    let mut by_deployment: HashMap<String, Vec<(Instant, u64)>> = HashMap::new();
    for task in tasks {
        let (name, permit) = task.await.unwrap();
        by_deployment.entry(name).or_default().push((permit.admitted_at(), permit.cost()));
    }
    assert_eq!(by_deployment.len(), 2, "both deployments were used");
    for (name, spec) in specs {
        let charges = &by_deployment[name];
        let (requests, request_window) = spec.request_window().unwrap();
        for &(end, _) in charges {
            assert!(window_total(charges, end, Duration::from_secs(60)) <= spec.tokens_per_minute().unwrap());
            let ones: Vec<_> = charges.iter().map(|&(at, _)| (at, 1)).collect();
            assert!(window_total(&ones, end, request_window) <= requests);
        }
    }
}

#[tokio::test]
async fn spreads_by_remaining_capacity() {
    let clock = ManualClock::new();
    let scheduler = scheduler(&clock, &[("small", QuotaSpec::new(1_000, 600)), ("large", QuotaSpec::new(4_000, 600))]);
    // `large` has the larger share left until it has taken 3,000.
    let mut names = Vec::new();
    for _ in 0..5 {
        names.push(scheduler.acquire(500).await.unwrap().deployment().to_owned());
    }
    assert_eq!(names, ["large", "large", "large", "small", "large"]);
    assert_eq!(clock.elapsed(), Duration::ZERO);
    assert_eq!(scheduler.acquire_on("small", 500).await.unwrap().deployment(), "small");
    assert!(matches!(scheduler.acquire_on("nope", 1).await, Err(Error::UnknownDeployment(_))));
}

#[tokio::test]
async fn never_fitting_requests_fail_at_once() {
    let clock = ManualClock::new();
    let scheduler = scheduler(&clock, &[("a", QuotaSpec::new(1_000, 60)), ("b", QuotaSpec::new(3_000, 60))]);
    // Fill both so that anything would have to wait.
    scheduler.acquire(3_000).await.unwrap();
    scheduler.acquire(1_000).await.unwrap();
    let error = scheduler.acquire(3_001).await.unwrap_err();
    let never = error.never_fits().unwrap();
    assert_eq!((never.cost(), never.capacity(), never.limit()), (3_001, 3_000, LimitKind::Tokens));
    assert!(matches!(&error, Error::NeverFits { deployment, .. } if deployment == "b"));
    assert!(clock.sleeps().is_empty(), "no waiting, no spinning");
    // 2,000 fits only `b`, after its 3,000 leave.
    let grant = scheduler.acquire(2_000).await.unwrap();
    assert_eq!(grant.deployment(), "b");
    assert_eq!(clock.elapsed(), Duration::from_secs(60));
}

#[tokio::test]
async fn a_429_reported_by_many_tasks_pauses_once() {
    let clock = ManualClock::new();
    let scheduler = scheduler(&clock, &[("d", QuotaSpec::new(100_000, 6_000))]);
    for _ in 0..8 {
        scheduler.rate_limited("d", Some(Duration::from_millis(2_500))).unwrap();
    }
    scheduler.acquire(10).await.unwrap();
    assert_eq!(clock.sleeps(), [Duration::from_millis(2_500)]);
    // A 429 without a delay pauses for the default second.
    scheduler.rate_limited("d", None).unwrap();
    scheduler.acquire(10).await.unwrap();
    assert_eq!(clock.elapsed(), Duration::from_millis(3_500));
}

#[tokio::test]
async fn a_deployment_without_quota_is_dropped() {
    let clock = ManualClock::new();
    let scheduler = scheduler(&clock, &[("gone", QuotaSpec::new(10_000, 60)), ("ok", QuotaSpec::new(1_000, 60))]);
    let error = scheduler.rate_limited("gone", Some(Duration::from_secs(86_400))).unwrap_err();
    assert!(matches!(error, Error::NoQuota { .. }));
    for _ in 0..3 {
        assert_eq!(scheduler.acquire(100).await.unwrap().deployment(), "ok");
    }
    assert!(matches!(scheduler.acquire_on("gone", 1).await, Err(Error::NoQuota { .. })));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn headers_tighten_the_shared_limiter() {
    let clock = ManualClock::new();
    let scheduler = scheduler(&clock, &[("d", QuotaSpec::new(1_000, 600))]);
    let grant = scheduler.acquire(100).await.unwrap();
    // The service saw 400 tokens more than we charged.
    let headers =
        RateLimitInfo { remaining_tokens: Some(500), remaining_requests: Some(99), ..RateLimitInfo::default() };
    scheduler.observe(&grant, &headers);
    assert_eq!(scheduler.remaining("d").unwrap(), Remaining { tokens: Some(500), requests: Some(99) });
    scheduler.acquire(600).await.unwrap();
    assert_eq!(clock.elapsed(), Duration::from_secs(60));
    assert!(matches!(Scheduler::builder(Time::manual(&clock)).build(), Err(Error::NoDeployments)));
    assert_eq!(scheduler.deployments().collect::<Vec<_>>(), ["d"]);
}

/// Tokio's clock, paused and auto-advancing: tasks really wait on each
/// other, but no time passes.
#[derive(Debug)]
struct TokioTime;

impl aoai_core::clock::Clock for TokioTime {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn system_time(&self) -> std::time::SystemTime {
        std::time::SystemTime::UNIX_EPOCH
    }
}

impl aoai_core::clock::Sleep for TokioTime {
    #[allow(clippy::disallowed_methods)] // Tokio's paused clock: nothing really sleeps.
    fn sleep(&self, duration: Duration) -> aoai_core::clock::SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[tokio::test(start_paused = true)]
async fn a_large_request_is_not_starved_by_small_ones() {
    let time = Time { clock: std::sync::Arc::new(TokioTime), sleep: std::sync::Arc::new(TokioTime) };
    let scheduler = Scheduler::builder(time.clone()).deployment("d", QuotaSpec::new(1_000, 6_000)).build().unwrap();
    let start = time.clock.now();
    scheduler.acquire(900).await.unwrap();
    let large = {
        let scheduler = scheduler.clone();
        tokio::spawn(async move { scheduler.acquire(1_000).await.unwrap().permit() })
    };
    tokio::task::yield_now().await;
    // Small requests keep arriving, each of which would fit the 100 left now.
    let small: Vec<_> = (0..30u64)
        .map(|second| {
            let (scheduler, time) = (scheduler.clone(), time.clone());
            tokio::spawn(async move {
                time.sleep.sleep(Duration::from_secs(second)).await;
                scheduler.acquire(50).await.unwrap().permit()
            })
        })
        .collect();
    let large = large.await.unwrap();
    assert_eq!(large.admitted_at() - start, Duration::from_secs(60), "admitted as soon as the 900 left");
    for task in small {
        assert!(task.await.unwrap().admitted_at() >= large.admitted_at(), "first come, first served");
    }
    // Hopeless requests don't queue behind the others.
    assert!(matches!(scheduler.acquire(1_001).await, Err(Error::NeverFits { .. })));
}
