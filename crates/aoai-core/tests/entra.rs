//! Feature `entra`: an `azure_core` `TokenCredential` drives a refreshing
//! credential, scoped to Cognitive Services, refreshed on 401.

#![cfg(feature = "entra")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use aoai_core::Client;
use aoai_core::auth::COGNITIVE_SERVICES_SCOPE;
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::routing::Endpoint;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::time::{Duration as AzDuration, OffsetDateTime};
use support::{RawServer, Reply};

#[derive(Debug, Default)]
struct FakeAzureCredential {
    calls: AtomicU32,
    scopes: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl TokenCredential for FakeAzureCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.scopes.lock().unwrap().extend(scopes.iter().map(|s| (*s).to_owned()));
        Ok(AccessToken::new(format!("entra-{n}"), OffsetDateTime::now_utc() + AzDuration::hours(1)))
    }
}

#[tokio::test]
async fn azure_identity_credential_is_scoped_cached_and_refreshed_on_401() {
    let body =
        std::fs::read_to_string(format!("{}/tests/fixtures/wire/chat_response_azure.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let server = RawServer::start(vec![
        Reply::json(200, &[], &body),
        Reply::json(200, &[], &body),
        Reply::json(401, &[], r#"{"error":{"code":"401","message":"Token expired"}}"#),
        Reply::json(200, &[], &body),
    ])
    .await;
    let azure = Arc::new(FakeAzureCredential::default());
    let client = Client::builder(Endpoint::azure(&server.base).unwrap())
        .credential(aoai_core::auth::entra::credential(azure.clone()))
        .build()
        .unwrap();
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);
    client.chat("gpt-4o", &request).await.unwrap();
    client.chat("gpt-4o", &request).await.unwrap();
    client.chat("gpt-4o", &request).await.unwrap();
    let auth: Vec<String> = server.requests().iter().map(|r| r.header("authorization").unwrap().to_owned()).collect();
    assert_eq!(auth, ["Bearer entra-1", "Bearer entra-1", "Bearer entra-1", "Bearer entra-2"]);
    assert_eq!(azure.calls.load(Ordering::SeqCst), 2);
    assert!(azure.scopes.lock().unwrap().iter().all(|scope| scope == COGNITIVE_SERVICES_SCOPE));
}
