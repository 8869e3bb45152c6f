//! Turning settings into a connected sink: the API key from the environment, the client,
//! the user field and the mapping, against Startdeliver or an in-process sandbox.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use startdeliver_sandbox::{Sandbox, SandboxConfig};
use startdeliver_sink::policy::RateConfig;
use startdeliver_sink::wire::WireProfile;
use startdeliver_sink::{ApiKey, Client, ClientConfig, SinkConfig, StartdeliverSink};

use crate::cli::{DeliveryArgs, TargetArgs};
use crate::mapping::MappingSource;

/// Environment variable that holds the Startdeliver API key.
pub const API_KEY_ENV: &str = "STARTDELIVER_API_KEY";

/// The key of in-process sandboxes; it guards nothing, since they listen on loopback
/// for one run only.
const SANDBOX_KEY: &str = "in-process-sandbox";

/// Request rate with `--sandbox` when `--rate` is not given: high enough never to be
/// the bottleneck of a local run.
const SANDBOX_RATE_PER_SECOND: f64 = 100_000.0;
const DEFAULT_RATE_PER_SECOND: f64 = 5.0;

/// A sink ready to deliver, with what it was built from.
#[derive(Debug)]
pub struct Target {
    pub sink: Arc<StartdeliverSink>,
    /// The key requests are sent with, for mapping reloads from a URL.
    pub api_key: ApiKey,
    pub mapping: Option<MappingSource>,
    /// The in-process sandbox, when delivering to one.
    pub sandbox: Option<Sandbox>,
}

/// Reads the API key from the environment.
///
/// # Errors
///
/// Fails when the variable is unset or empty, saying how to set it.
pub fn api_key_from_env() -> Result<ApiKey> {
    let value = std::env::var(API_KEY_ENV).unwrap_or_default();
    if value.trim().is_empty() {
        bail!(
            "{API_KEY_ENV} is not set: export the Startdeliver API key in this variable \
             (it is never accepted as a flag), or pass --sandbox to try without an account"
        );
    }
    ApiKey::new(value).with_context(|| format!("{API_KEY_ENV} is not a usable API key"))
}

/// Returns the user field, which track, page and screen calls need.
///
/// # Errors
///
/// Fails when neither `--user-field` nor `STARTDELIVER_USER_FIELD` is set.
pub fn user_field(target: &TargetArgs) -> Result<String> {
    match target.user_field.as_deref().map(str::trim) {
        Some(field) if !field.is_empty() => Ok(field.to_owned()),
        _ => bail!(
            "no user field: set --user-field (or STARTDELIVER_USER_FIELD) to the Startdeliver \
             user field that holds the Segment userId, such as externalId"
        ),
    }
}

/// Reads the wire profile: the defaults, with the keys of the `--wire-profile` file
/// over them.
///
/// # Errors
///
/// Fails when the file cannot be read, is not JSON, or has a key the profile does not
/// have, naming the file and the key.
pub fn wire_profile(target: &TargetArgs) -> Result<WireProfile> {
    read_wire_profile(target.wire_profile.as_deref())
}

/// Reads a wire-profile file, or returns the defaults for `None`.
///
/// # Errors
///
/// As [`wire_profile`].
pub fn read_wire_profile(path: Option<&Path>) -> Result<WireProfile> {
    let Some(path) = path else {
        return Ok(WireProfile::default());
    };

    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the wire profile {}", path.display()))?;
    let profile = serde_json::from_str(&text).with_context(|| {
        format!(
            "invalid wire profile {}: expected a JSON object of profile keys such as \
             {{\"customerLinkKey\": \"customer\", \"usage\": {{\"kind\": \"type\"}}}}",
            path.display()
        )
    })?;
    tracing::info!(file = %path.display(), "wire profile overrides loaded");
    Ok(profile)
}

/// Converts the profile for an in-process sandbox, so that the sandbox accepts what a
/// client with `profile` sends.
pub fn sandbox_profile(profile: &WireProfile) -> startdeliver_sandbox::WireProfile {
    startdeliver_sandbox::WireProfile {
        user_path: profile.user_path.clone(),
        customer_path: profile.customer_path.clone(),
        usage_path: profile.usage_path.clone(),
        me_path: profile.me_path.clone(),
        result_key: profile.result_key.clone(),
        id_key: profile.id_key.clone(),
        customer_link: profile.customer_link_key.clone(),
        usage_user: profile.usage.user.clone(),
        usage_customer: profile.usage.customer.clone(),
        usage_kind: profile.usage.kind.clone(),
        usage_name: profile.usage.name.clone(),
        usage_date: profile.usage.date.clone(),
        usage_message_id: profile.usage.message_id.clone(),
        usage_properties: profile.usage.properties.clone(),
        ..startdeliver_sandbox::WireProfile::default()
    }
}

/// Connects to Startdeliver, or starts an in-process sandbox when `sandbox` is set, and
/// builds the sink with the mapping loaded and validated.
///
/// # Errors
///
/// Fails on a missing key or user field, an invalid URL or wire profile, or a mapping
/// that cannot be loaded or is invalid.
pub async fn connect(
    target: &TargetArgs,
    delivery: &DeliveryArgs,
    sandbox: bool,
) -> Result<Target> {
    let user_field = user_field(target)?;
    let profile = wire_profile(target)?;
    let (api_key, sandbox) = if sandbox {
        let mut config = SandboxConfig::new(SANDBOX_KEY);
        config.profile = sandbox_profile(&profile);
        let sandbox = Sandbox::start(config)
            .await
            .context("failed to start the in-process sandbox")?;
        (ApiKey::new(SANDBOX_KEY)?, Some(sandbox))
    } else {
        (api_key_from_env()?, None)
    };

    let mapping_source = target.mapping.as_deref().map(MappingSource::parse);
    let mapping = match &mapping_source {
        Some(source) => Some(source.load(Some(&api_key)).await?),
        None => None,
    };

    let mut client_config = ClientConfig::new(api_key.clone());
    client_config.base_url = match &sandbox {
        Some(sandbox) => sandbox.base_url(),
        None => target.api_url.clone(),
    };
    client_config.timeout = delivery.timeout;
    client_config.profile = profile;
    let default_rate = if sandbox.is_some() {
        SANDBOX_RATE_PER_SECOND
    } else {
        DEFAULT_RATE_PER_SECOND
    };
    client_config.rate = RateConfig {
        max_per_second: delivery.rate.unwrap_or(default_rate),
        ..RateConfig::default()
    };
    let client = Client::new(client_config).context("invalid Startdeliver connection settings")?;

    if let Some(config) = &mapping
        && let Some(warning) = user_field_mismatch(client.profile(), &user_field, config)
    {
        tracing::warn!("{warning}");
    }
    let mut sink_config = SinkConfig::new(user_field);
    sink_config.mapping = mapping;
    let sink = StartdeliverSink::new(client, sink_config)?;
    tracing::info!(
        user_key = sink.user_key(),
        mapping = mapping_source.as_ref().map(ToString::to_string),
        sandbox = sandbox.is_some(),
        "delivery settings resolved"
    );

    Ok(Target {
        sink: Arc::new(sink),
        api_key,
        mapping: mapping_source,
        sandbox,
    })
}

/// Describes the mismatch when the user field of track, page and screen calls and the
/// mapping's user match field name different Startdeliver fields, because identify calls
/// and the other calls would then find or create different users for one `userId`.
pub fn user_field_mismatch(
    profile: &WireProfile,
    user_field: &str,
    mapping: &field_mapping::Config,
) -> Option<String> {
    let user_key = profile.field_key(user_field.trim());
    let match_key = profile.field_key(&mapping.user_match().field);
    (user_key != match_key).then(|| {
        format!(
            "the user field {user_key} differs from the mapping's match field {match_key}, so \
             identify calls and track, page or screen calls create separate users; set \
             --user-field to {match_key} unless that is intended"
        )
    })
}
