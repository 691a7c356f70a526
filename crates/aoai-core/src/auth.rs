//! Credentials: how requests are authorised.
//!
//! [`Credential`] is the seam. Built in: [`ApiKey`] (`api-key` header),
//! [`BearerToken`] (a static `Authorization: Bearer` token, also used for
//! OpenAI-compatible keys), [`SubscriptionKey`] (`Ocp-Apim-Subscription-Key`,
//! for Azure AI services such as Content Safety), [`NoAuth`], and [`RefreshingCredential`], which
//! caches a token from any [`TokenProvider`] and refreshes it before it
//! expires. With feature `entra`, [`entra::EntraCredential`] adapts any
//! `azure_core` `TokenCredential` (scope [`COGNITIVE_SERVICES_SCOPE`]).
//!
//! On a 401 the client calls [`Credential::invalidate`] and, when the
//! credential [`can_refresh`](Credential::can_refresh), retries once with a
//! fresh token.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock};
use crate::error::CredentialError;
use crate::secret::Secret;

/// The Entra ID scope for Azure OpenAI.
pub const COGNITIVE_SERVICES_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

/// The Entra ID scope for Azure AI Search (use it with a token provider's
/// `with_scope`, or fetch a token for it and send it as a [`BearerToken`]).
pub const SEARCH_SCOPE: &str = "https://search.azure.com/.default";

/// One header to add to a request. The value is a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    /// The header name (`api-key` or `authorization`).
    pub name: &'static str,
    /// The full header value (`Bearer …` for tokens).
    pub value: Secret,
}

/// Produces the authorisation header for a request.
#[async_trait]
pub trait Credential: Send + Sync + fmt::Debug {
    /// The header for the next request, or `None` to send no authorisation.
    async fn authorize(&self) -> Result<Option<AuthHeader>, CredentialError>;

    /// Whether a fresh token may differ from the current one (so a 401 is worth
    /// one retry after [`invalidate`](Credential::invalidate)).
    fn can_refresh(&self) -> bool {
        false
    }

    /// Drops any cached token; called after a 401.
    fn invalidate(&self) {}
}

/// An Azure `api-key` header.
#[derive(Debug, Clone)]
pub struct ApiKey(Secret);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<Secret>) -> Self {
        Self(key.into())
    }
}

#[async_trait]
impl Credential for ApiKey {
    async fn authorize(&self) -> Result<Option<AuthHeader>, CredentialError> {
        Ok(Some(AuthHeader { name: "api-key", value: self.0.clone() }))
    }
}

/// An `Ocp-Apim-Subscription-Key` header: the key of an Azure AI services
/// resource such as Azure AI Content Safety.
#[derive(Debug, Clone)]
pub struct SubscriptionKey(Secret);

impl SubscriptionKey {
    /// Wraps a key.
    pub fn new(key: impl Into<Secret>) -> Self {
        Self(key.into())
    }
}

#[async_trait]
impl Credential for SubscriptionKey {
    async fn authorize(&self) -> Result<Option<AuthHeader>, CredentialError> {
        Ok(Some(AuthHeader { name: "ocp-apim-subscription-key", value: self.0.clone() }))
    }
}

/// A static bearer token (`AZURE_OPENAI_AD_TOKEN`, or an OpenAI API key).
#[derive(Debug, Clone)]
pub struct BearerToken(Secret);

impl BearerToken {
    /// Wraps a token (without the `Bearer ` prefix).
    pub fn new(token: impl Into<Secret>) -> Self {
        Self(token.into())
    }
}

#[async_trait]
impl Credential for BearerToken {
    async fn authorize(&self) -> Result<Option<AuthHeader>, CredentialError> {
        Ok(Some(bearer(&self.0)))
    }
}

fn bearer(token: &Secret) -> AuthHeader {
    AuthHeader { name: "authorization", value: Secret::new(format!("Bearer {}", token.expose())) }
}

/// Sends no authorisation (local servers).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

#[async_trait]
impl Credential for NoAuth {
    async fn authorize(&self) -> Result<Option<AuthHeader>, CredentialError> {
        Ok(None)
    }
}

/// A token with its expiry.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token.
    pub token: Secret,
    /// When it stops being valid.
    pub expires_at: SystemTime,
}

/// Fetches new tokens, e.g. from Entra ID.
#[async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A fresh token.
    async fn fetch_token(&self) -> Result<AccessToken, CredentialError>;
}

/// Caches a [`TokenProvider`]'s token and refreshes it `refresh_before`
/// its expiry (default five minutes). Concurrent callers share one fetch.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use aoai_core::auth::{AccessToken, Credential, RefreshingCredential, TokenProvider};
/// use aoai_core::error::CredentialError;
///
/// #[derive(Debug)]
/// struct Fixed;
///
/// #[async_trait::async_trait]
/// impl TokenProvider for Fixed {
///     async fn fetch_token(&self) -> Result<AccessToken, CredentialError> {
///         Ok(AccessToken {
///             token: "t0k3n".into(),
///             expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000),
///         })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let credential = RefreshingCredential::new(Fixed);
/// let header = credential.authorize().await?.expect("a header");
/// assert_eq!(header.value.expose(), "Bearer t0k3n");
/// # Ok::<(), CredentialError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RefreshingCredential<P> {
    provider: P,
    clock: Arc<dyn Clock>,
    refresh_before: Duration,
    cached: Mutex<Option<AccessToken>>,
    fetch_lock: tokio::sync::Mutex<()>,
}

impl<P: TokenProvider> RefreshingCredential<P> {
    /// A credential over `provider`, on the system clock.
    pub fn new(provider: P) -> Self {
        Self::with_clock(provider, Arc::new(SystemClock))
    }

    /// A credential over `provider` with an injected clock.
    pub fn with_clock(provider: P, clock: Arc<dyn Clock>) -> Self {
        Self {
            provider,
            clock,
            refresh_before: Duration::from_secs(300),
            cached: Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// How long before expiry a token is replaced.
    #[must_use]
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    fn fresh_cached(&self) -> Option<Secret> {
        let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        let token = cached.as_ref()?;
        let now = self.clock.system_time();
        (now + self.refresh_before < token.expires_at).then(|| token.token.clone())
    }
}

impl<P> fmt::Debug for RefreshingCredential<P>
where
    P: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshingCredential")
            .field("provider", &self.provider)
            .field("refresh_before", &self.refresh_before)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<P: TokenProvider> Credential for RefreshingCredential<P> {
    async fn authorize(&self) -> Result<Option<AuthHeader>, CredentialError> {
        if let Some(token) = self.fresh_cached() {
            return Ok(Some(bearer(&token)));
        }
        let _guard = self.fetch_lock.lock().await;
        // Another caller may have refreshed while we waited.
        if let Some(token) = self.fresh_cached() {
            return Ok(Some(bearer(&token)));
        }
        let token = self.provider.fetch_token().await?;
        if token.token.is_empty() {
            return Err(CredentialError::new("token provider returned an empty token", None));
        }
        let header = bearer(&token.token);
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(token);
        Ok(Some(header))
    }

    fn can_refresh(&self) -> bool {
        true
    }

    fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[async_trait]
impl<C: Credential + ?Sized> Credential for Arc<C> {
    async fn authorize(&self) -> Result<Option<AuthHeader>, CredentialError> {
        (**self).authorize().await
    }

    fn can_refresh(&self) -> bool {
        (**self).can_refresh()
    }

    fn invalidate(&self) {
        (**self).invalidate();
    }
}

/// Entra ID through `azure_core`'s `TokenCredential`.
#[cfg(feature = "entra")]
pub mod entra {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use async_trait::async_trait;
    use azure_core::credentials::TokenCredential;

    use super::{AccessToken, COGNITIVE_SERVICES_SCOPE, RefreshingCredential, TokenProvider};
    use crate::error::CredentialError;
    use crate::secret::Secret;

    /// Fetches tokens for a scope from any `azure_core` `TokenCredential`
    /// (`DeveloperToolsCredential`, `ManagedIdentityCredential`, `ClientSecretCredential`, …).
    #[derive(Debug, Clone)]
    pub struct AzureTokenProvider {
        credential: Arc<dyn TokenCredential>,
        scope: String,
    }

    impl AzureTokenProvider {
        /// A provider for the Cognitive Services scope.
        pub fn new(credential: Arc<dyn TokenCredential>) -> Self {
            Self { credential, scope: COGNITIVE_SERVICES_SCOPE.to_owned() }
        }

        /// Overrides the scope (sovereign clouds).
        #[must_use]
        pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
            self.scope = scope.into();
            self
        }
    }

    #[async_trait]
    impl TokenProvider for AzureTokenProvider {
        async fn fetch_token(&self) -> Result<AccessToken, CredentialError> {
            let token = self
                .credential
                .get_token(&[self.scope.as_str()], None)
                .await
                .map_err(|error| CredentialError::new("Entra ID token request failed", Some(Box::new(error))))?;
            let seconds = token.expires_on.unix_timestamp();
            let expires_at = if seconds >= 0 {
                SystemTime::UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
            } else {
                SystemTime::UNIX_EPOCH
            };
            Ok(AccessToken { token: Secret::new(token.token.secret()), expires_at })
        }
    }

    /// A refreshing credential over an Azure `TokenCredential`.
    pub type EntraCredential = RefreshingCredential<AzureTokenProvider>;

    /// Adapts an Azure `TokenCredential` for Azure OpenAI.
    ///
    /// ```no_run
    /// # fn demo(azure: std::sync::Arc<dyn azure_core::credentials::TokenCredential>) {
    /// let credential = aoai_core::auth::entra::credential(azure);
    /// # let _ = credential;
    /// # }
    /// ```
    pub fn credential(azure: Arc<dyn TokenCredential>) -> EntraCredential {
        RefreshingCredential::new(AzureTokenProvider::new(azure))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn subscription_key_header_is_redacted_in_debug() {
        let credential = SubscriptionKey::new("cs-key-123");
        let header = credential.authorize().await.unwrap().unwrap();
        assert_eq!(header.name, "ocp-apim-subscription-key");
        assert_eq!(header.value.expose(), "cs-key-123");
        assert!(!format!("{credential:?} {header:?}").contains("cs-key-123"));
    }

    #[derive(Debug)]
    struct Counting {
        clock: ManualClock,
        fetches: AtomicU32,
    }

    #[async_trait]
    impl TokenProvider for Counting {
        async fn fetch_token(&self) -> Result<AccessToken, CredentialError> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AccessToken {
                token: Secret::new(format!("token-{n}")),
                expires_at: self.clock.system_time() + Duration::from_secs(3600),
            })
        }
    }

    #[tokio::test]
    async fn refreshes_before_expiry_and_after_invalidate() {
        let clock = ManualClock::new();
        let credential = Arc::new(RefreshingCredential::with_clock(
            Counting { clock: clock.clone(), fetches: AtomicU32::new(0) },
            Arc::new(clock.clone()),
        ));
        let first = credential.authorize().await.unwrap().unwrap();
        assert_eq!(first.value.expose(), "Bearer token-1");
        clock.advance(Duration::from_secs(3000));
        assert_eq!(credential.authorize().await.unwrap().unwrap().value.expose(), "Bearer token-1");
        // Inside the five-minute margin: refreshed.
        clock.advance(Duration::from_secs(301));
        assert_eq!(credential.authorize().await.unwrap().unwrap().value.expose(), "Bearer token-2");
        credential.invalidate();
        assert_eq!(credential.authorize().await.unwrap().unwrap().value.expose(), "Bearer token-3");
        assert!(credential.can_refresh());
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let clock = ManualClock::new();
        let credential = Arc::new(RefreshingCredential::with_clock(
            Counting { clock: clock.clone(), fetches: AtomicU32::new(0) },
            Arc::new(clock.clone()),
        ));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let credential = credential.clone();
            tasks.push(tokio::spawn(async move { credential.authorize().await.unwrap() }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().value.expose(), "Bearer token-1");
        }
    }

    #[test]
    fn debug_never_shows_keys() {
        let printed = format!("{:?} {:?}", ApiKey::new("k-123"), BearerToken::new("t-456"));
        assert!(!printed.contains("k-123") && !printed.contains("t-456"), "{printed}");
    }
}
