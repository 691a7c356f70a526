//! Configuration from code or the environment.
//!
//! | variable | meaning |
//! |---|---|
//! | `AZURE_OPENAI_ENDPOINT` | `https://{resource}.openai.azure.com` (or `…/openai/v1` for the v1 API) |
//! | `AZURE_OPENAI_API_KEY` (or `AZURE_OPENAI_KEY`) | the resource key, sent as `api-key` |
//! | `AZURE_OPENAI_AD_TOKEN` | a static Entra ID token, sent as `Authorization: Bearer` |
//! | `AZURE_OPENAI_API_VERSION` | default `2024-10-01-preview` |
//! | `AZURE_OPENAI_DEPLOYMENT` | the default deployment |
//! | `OPENAI_BASE_URL` | an OpenAI-compatible server (used when no Azure endpoint is set) |
//! | `OPENAI_API_KEY` | its key, sent as `Authorization: Bearer` |
//!
//! Variables in the process environment win over a `.env` file in the current
//! directory, which is read without modifying the environment.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::auth::{ApiKey, BearerToken, Credential, NoAuth};
use crate::error::ConfigError;
use crate::routing::{DEFAULT_API_VERSION, Endpoint};
use crate::secret::Secret;

/// How requests are authorised, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthSetting {
    /// Azure `api-key` header.
    ApiKey(Secret),
    /// `Authorization: Bearer` with a static token or OpenAI key.
    Bearer(Secret),
    /// No authorisation (local OpenAI-compatible servers).
    None,
}

impl AuthSetting {
    /// The credential for this setting.
    #[must_use]
    pub fn credential(&self) -> Arc<dyn Credential> {
        match self {
            Self::ApiKey(key) => Arc::new(ApiKey::new(key.clone())),
            Self::Bearer(token) => Arc::new(BearerToken::new(token.clone())),
            Self::None => Arc::new(NoAuth),
        }
    }
}

/// Where to send requests and how to authorise them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The authorisation.
    pub auth: AuthSetting,
    /// The deployment used when a caller doesn't name one.
    pub default_deployment: Option<String>,
}

impl Config {
    /// A config from parts.
    #[must_use]
    pub fn new(endpoint: Endpoint, auth: AuthSetting) -> Self {
        Self { endpoint, auth, default_deployment: None }
    }

    /// Sets the default deployment.
    #[must_use]
    pub fn with_default_deployment(mut self, deployment: impl Into<String>) -> Self {
        self.default_deployment = Some(deployment.into());
        self
    }

    /// Reads the process environment and `./.env`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let dotenv = read_dotenv(Path::new(".env"))?;
        Self::from_lookup(|name| std::env::var(name).ok().or_else(|| dotenv.get(name).cloned()))
    }

    /// Like [`Config::from_env`], but `Ok(None)` when neither an Azure endpoint
    /// nor an OpenAI-compatible server is configured (so a caller can fall back,
    /// for example to the local emulator).
    pub fn from_env_if_configured() -> Result<Option<Self>, ConfigError> {
        let dotenv = read_dotenv(Path::new(".env"))?;
        let lookup = |name: &str| std::env::var(name).ok().or_else(|| dotenv.get(name).cloned());
        if !is_configured(&lookup) {
            return Ok(None);
        }
        Self::from_lookup(lookup).map(Some)
    }

    /// Reads settings through `lookup` (for tests and custom sources).
    ///
    /// ```
    /// use aoai_core::config::{AuthSetting, Config};
    /// let vars = [("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com"), ("AZURE_OPENAI_API_KEY", "k")];
    /// let config = Config::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))?;
    /// assert!(matches!(config.auth, AuthSetting::ApiKey(_)));
    /// assert_eq!(config.endpoint.api_version(), Some("2024-10-01-preview"));
    /// # Ok::<(), aoai_core::error::ConfigError>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|value| value.trim().to_owned());
        let non_empty = |name: &str| -> Result<Option<String>, ConfigError> {
            match get(name) {
                Some(value) if value.is_empty() => Err(ConfigError::new(name, "is set but empty")),
                other => Ok(other),
            }
        };
        let default_deployment = get("AZURE_OPENAI_DEPLOYMENT").filter(|value| !value.is_empty());
        if let Some(deployment) = &default_deployment {
            crate::routing::validate_deployment(deployment)
                .map_err(|error| ConfigError::new("AZURE_OPENAI_DEPLOYMENT", error.message))?;
        }

        if let Some(endpoint) = non_empty("AZURE_OPENAI_ENDPOINT")? {
            let version = non_empty("AZURE_OPENAI_API_VERSION")?.unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
            let endpoint = Endpoint::azure_with_version(&endpoint, &version)?;
            let key = match non_empty("AZURE_OPENAI_API_KEY")? {
                Some(key) => Some(key),
                None => non_empty("AZURE_OPENAI_KEY")?,
            };
            let auth = match (key, non_empty("AZURE_OPENAI_AD_TOKEN")?) {
                (Some(key), _) => AuthSetting::ApiKey(Secret::new(key)),
                (None, Some(token)) => AuthSetting::Bearer(Secret::new(token)),
                (None, None) => {
                    return Err(ConfigError::new(
                        "AZURE_OPENAI_API_KEY",
                        "not set: set AZURE_OPENAI_API_KEY (or AZURE_OPENAI_KEY) to the resource key, \
                         or AZURE_OPENAI_AD_TOKEN to an Entra ID token",
                    ));
                }
            };
            return Ok(Self { endpoint, auth, default_deployment });
        }

        let base = non_empty("OPENAI_BASE_URL")?;
        let key = non_empty("OPENAI_API_KEY")?;
        if base.is_none() && key.is_none() {
            return Err(ConfigError::new(
                "AZURE_OPENAI_ENDPOINT",
                "not set: set it to https://<resource>.openai.azure.com (or OPENAI_BASE_URL for an OpenAI-compatible server)",
            ));
        }
        let base = base.unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
        let endpoint = Endpoint::openai(&base)?;
        let auth = match key {
            Some(key) => AuthSetting::Bearer(Secret::new(key)),
            None if endpoint.host() == "api.openai.com" => {
                return Err(ConfigError::new("OPENAI_API_KEY", "not set: api.openai.com needs a key"));
            }
            None => AuthSetting::None,
        };
        Ok(Self { endpoint, auth, default_deployment })
    }
}

fn is_configured(lookup: &impl Fn(&str) -> Option<String>) -> bool {
    ["AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY"]
        .iter()
        .any(|name| lookup(name).is_some_and(|value| !value.trim().is_empty()))
}

/// Reads a `.env` file into a map; a missing file is an empty map.
pub fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let setting = path.display().to_string();
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(error) if error.not_found() => return Ok(HashMap::new()),
        Err(error) => return Err(ConfigError::new(setting, format!("cannot read ({error})"))),
    };
    let mut vars = HashMap::new();
    for item in iter {
        match item {
            Ok((name, value)) => {
                vars.insert(name, value);
            }
            Err(dotenvy::Error::LineParse(_, index)) => {
                return Err(ConfigError::new(setting, format!("cannot parse the line at byte {index}")));
            }
            Err(error) => return Err(ConfigError::new(setting, format!("cannot read ({error})"))),
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn azure_key_variants() {
        let c = config(&[("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/"), ("AZURE_OPENAI_KEY", "k")]).unwrap();
        assert_eq!(c.auth, AuthSetting::ApiKey(Secret::new("k")));
        let c = config(&[("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/"), ("AZURE_OPENAI_AD_TOKEN", "t")])
            .unwrap();
        assert_eq!(c.auth, AuthSetting::Bearer(Secret::new("t")));
        let c = config(&[
            ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/"),
            ("AZURE_OPENAI_API_KEY", "k"),
            ("AZURE_OPENAI_API_VERSION", "2024-06-01"),
            ("AZURE_OPENAI_DEPLOYMENT", "gpt-4o"),
        ])
        .unwrap();
        assert_eq!(c.endpoint.api_version(), Some("2024-06-01"));
        assert_eq!(c.default_deployment.as_deref(), Some("gpt-4o"));
    }

    #[test]
    fn errors_name_the_variable() {
        let e = config(&[("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/")]).unwrap_err();
        assert_eq!(e.setting, "AZURE_OPENAI_API_KEY");
        let e = config(&[("AZURE_OPENAI_ENDPOINT", "not a url"), ("AZURE_OPENAI_API_KEY", "k")]).unwrap_err();
        assert_eq!(e.setting, "AZURE_OPENAI_ENDPOINT");
        let e = config(&[("AZURE_OPENAI_ENDPOINT", "https://r"), ("AZURE_OPENAI_API_KEY", "")]).unwrap_err();
        assert_eq!(e.setting, "AZURE_OPENAI_API_KEY");
        assert!(e.to_string().contains("empty"));
        let e = config(&[
            ("AZURE_OPENAI_ENDPOINT", "https://r"),
            ("AZURE_OPENAI_API_KEY", "k"),
            ("AZURE_OPENAI_API_VERSION", "june"),
        ])
        .unwrap_err();
        assert_eq!(e.setting, "AZURE_OPENAI_API_VERSION");
        let e = config(&[]).unwrap_err();
        assert_eq!(e.setting, "AZURE_OPENAI_ENDPOINT");
        let e = config(&[("OPENAI_BASE_URL", "https://api.openai.com/v1")]).unwrap_err();
        assert_eq!(e.setting, "OPENAI_API_KEY");
        let e = config(&[
            ("AZURE_OPENAI_ENDPOINT", "https://r"),
            ("AZURE_OPENAI_API_KEY", "k"),
            ("AZURE_OPENAI_DEPLOYMENT", "a/b"),
        ])
        .unwrap_err();
        assert_eq!(e.setting, "AZURE_OPENAI_DEPLOYMENT");
    }

    #[test]
    fn openai_compatible() {
        let c = config(&[("OPENAI_BASE_URL", "http://localhost:11434/v1")]).unwrap();
        assert_eq!(c.auth, AuthSetting::None);
        let c = config(&[("OPENAI_API_KEY", "sk")]).unwrap();
        assert_eq!(c.endpoint.host(), "api.openai.com");
        assert_eq!(c.auth, AuthSetting::Bearer(Secret::new("sk")));
    }

    #[test]
    fn dotenv_is_read_without_touching_env() {
        let dir = std::env::temp_dir().join(format!("aoai-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(
            &path,
            "AZURE_OPENAI_ENDPOINT=https://x.openai.azure.com\n# comment\nAZURE_OPENAI_API_KEY=\"quoted key\"\n",
        )
        .unwrap();
        let vars = read_dotenv(&path).unwrap();
        assert_eq!(vars["AZURE_OPENAI_API_KEY"], "quoted key");
        assert!(read_dotenv(&dir.join("missing.env")).unwrap().is_empty());
        std::fs::write(&path, "NOT VALID LINE\n").unwrap();
        assert!(read_dotenv(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
