//! Loading the integration config from a file or a URL, and keeping it current.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use field_mapping::Config;
use startdeliver_sink::{ApiKey, StartdeliverSink};

/// How often a mapping file is checked for changes.
const FILE_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long a mapping fetched from a URL is used before it is fetched again.
const URL_CACHE_TTL: Duration = Duration::from_secs(10 * 60);

/// Source of the integration config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingSource {
    File(PathBuf),
    Url(String),
}

impl MappingSource {
    /// Reads `--mapping`: an `http://` or `https://` URL, otherwise a file path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("http://") || text.starts_with("https://") {
            Self::Url(text.to_owned())
        } else {
            Self::File(PathBuf::from(text))
        }
    }

    /// Loads and validates the config.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read, the URL cannot be fetched, or the config is
    /// invalid; the message lists every problem with its location.
    pub async fn load(&self, api_key: Option<&ApiKey>) -> Result<Config> {
        let text = match self {
            Self::File(path) => tokio::fs::read_to_string(path)
                .await
                .with_context(|| format!("failed to read mapping file {}", path.display()))?,
            Self::Url(url) => fetch(url, api_key).await?,
        };
        Config::parse(&text).with_context(|| format!("mapping {self} is invalid"))
    }

    /// Keeps the sink's config current until the process ends: a file is reloaded when
    /// its modification time changes, a URL is fetched again every 10 minutes. A config
    /// that fails to load is logged and the one in force stays.
    pub fn spawn_reloader(self, sink: Arc<StartdeliverSink>, api_key: Option<ApiKey>) {
        tokio::spawn(async move {
            let mut last_modified = self.modified().await;
            let interval = match self {
                Self::File(_) => FILE_POLL_INTERVAL,
                Self::Url(_) => URL_CACHE_TTL,
            };
            loop {
                tokio::time::sleep(interval).await;
                if let Self::File(_) = self {
                    let modified = self.modified().await;
                    if modified == last_modified {
                        continue;
                    }
                    last_modified = modified;
                }
                match self.load(api_key.as_ref()).await {
                    Ok(config) => {
                        sink.replace_mapping(Some(config));
                        tracing::info!(mapping = %self, "reloaded the mapping");
                    }
                    Err(err) => tracing::error!(
                        mapping = %self,
                        error = format!("{err:#}"),
                        "failed to reload the mapping; the previous one stays in force"
                    ),
                }
            }
        });
    }

    async fn modified(&self) -> Option<SystemTime> {
        match self {
            Self::File(path) => tokio::fs::metadata(path)
                .await
                .and_then(|m| m.modified())
                .ok(),
            Self::Url(_) => None,
        }
    }
}

impl std::fmt::Display for MappingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => f.write_str(url),
        }
    }
}

/// Fetches a config over HTTP, sending the API key as Startdeliver expects it, because a
/// config URL is usually served by the same account.
async fn fetch(url: &str, api_key: Option<&ApiKey>) -> Result<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("failed to build the HTTP client for the mapping URL")?;
    let mut request = client.get(url);
    if let Some(key) = api_key {
        request = request.header(reqwest::header::AUTHORIZATION, key.expose());
    }

    let response = request
        .send()
        .await
        .with_context(|| format!("failed to fetch mapping from {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("failed to fetch mapping from {url}: the server returned {status}");
    }
    response
        .text()
        .await
        .with_context(|| format!("failed to read the mapping body from {url}"))
}
