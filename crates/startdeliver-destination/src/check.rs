//! `check`: validate the settings and the mapping, and with an API key, ask Startdeliver
//! whether the key works or, with `--probe`, which guesses of the wire profile hold.

use anyhow::Result;
use serde::Serialize;
use startdeliver_sink::probe::{ProbeReport, Verdict};
use startdeliver_sink::wire::WireProfile;
use startdeliver_sink::{ApiKey, Client, ClientConfig};

use crate::cli::CheckArgs;
use crate::exit::Exit;
use crate::mapping::MappingSource;
use crate::probe;
use crate::summary::count_of;
use crate::target::{self, API_KEY_ENV};

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    /// Valid, but probably not what was meant.
    Warning,
    Invalid,
    Failed,
    Skipped,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Invalid => "invalid",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Line {
    status: Status,
    message: String,
}

/// Everything `check` found, printed as text lines or as one JSON object.
#[derive(Debug, Default, Serialize)]
struct CheckOutput {
    checks: Vec<Line>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<ProbeReport>,
}

impl CheckOutput {
    fn push(&mut self, status: Status, message: impl Into<String>) {
        self.checks.push(Line {
            status,
            message: message.into(),
        });
    }

    fn count(&self, status: Status) -> usize {
        self.checks
            .iter()
            .filter(|line| line.status == status)
            .count()
    }
}

/// Runs `check`: reports each check and exits 2 when a setting or the mapping is
/// invalid, 1 when the key was rejected, Startdeliver could not be reached, or the probe
/// found a contradicted guess.
pub async fn run(args: CheckArgs) -> Result<Exit> {
    let mut output = CheckOutput::default();
    let api_key = target::api_key_from_env().ok();

    let profile = check_settings(&args, api_key.as_ref(), &mut output).await;
    let exit = match (profile, api_key) {
        (None, _) => Exit::Usage,
        (Some(_), None) if args.probe => {
            output.push(
                Status::Invalid,
                format!("--probe needs the API key: export it in {API_KEY_ENV}"),
            );
            Exit::Usage
        }
        (Some(_), None) => {
            output.push(
                Status::Skipped,
                format!("API key check: {API_KEY_ENV} is not set"),
            );
            Exit::Success
        }
        (Some(profile), Some(api_key)) => check_key(&args, api_key, profile, &mut output).await?,
    };

    print(&args, &output)?;
    Ok(exit)
}

/// Validates the settings and returns the wire profile, or `None` when any setting is
/// invalid.
async fn check_settings(
    args: &CheckArgs,
    api_key: Option<&ApiKey>,
    output: &mut CheckOutput,
) -> Option<WireProfile> {
    match target::user_field(&args.target) {
        Ok(field) => output.push(Status::Ok, format!("user field: {field}")),
        Err(err) => output.push(Status::Invalid, err.to_string()),
    }
    match reqwest::Url::parse(&args.target.api_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            output.push(Status::Ok, format!("API URL: {url}"));
        }
        _ => output.push(
            Status::Invalid,
            format!(
                "API URL {:?}: expected an http(s) URL such as {}",
                args.target.api_url,
                crate::cli::DEFAULT_API_URL
            ),
        ),
    }
    check_mapping(args, api_key, output).await;
    let profile = match target::wire_profile(&args.target) {
        Ok(profile) => {
            let source = args.target.wire_profile.as_ref().map_or_else(
                || "the defaults".to_owned(),
                |path| path.display().to_string(),
            );
            output.push(Status::Ok, format!("wire profile: {source}"));
            Some(profile)
        }
        Err(err) => {
            output.push(Status::Invalid, format!("{err:#}"));
            None
        }
    };

    if output.count(Status::Invalid) > 0 {
        return None;
    }
    profile
}

async fn check_mapping(args: &CheckArgs, api_key: Option<&ApiKey>, output: &mut CheckOutput) {
    let Some(source) = args.target.mapping.as_deref().map(MappingSource::parse) else {
        output.push(
            Status::Ok,
            "no mapping: identify and group calls will be skipped",
        );
        return;
    };

    match source.load(api_key).await {
        Ok(config) => {
            let disabled = if config.enabled() {
                ""
            } else {
                " (disabled: enabled is false)"
            };
            output.push(
                Status::Ok,
                format!(
                    "mapping {source}: {}, {}{disabled}",
                    count_of(
                        config.user_mapping().len() as u64,
                        "user field",
                        "user fields"
                    ),
                    count_of(
                        config.customer_mapping().len() as u64,
                        "customer field",
                        "customer fields"
                    ),
                ),
            );
            let user_field = args.target.user_field.as_deref().unwrap_or_default();
            let profile = target::wire_profile(&args.target).unwrap_or_default();
            if !user_field.trim().is_empty()
                && let Some(warning) = target::user_field_mismatch(&profile, user_field, &config)
            {
                output.push(Status::Warning, warning);
            }
        }
        Err(err) => output.push(Status::Invalid, format!("{err:#}")),
    }
}

async fn check_key(
    args: &CheckArgs,
    api_key: ApiKey,
    profile: WireProfile,
    output: &mut CheckOutput,
) -> Result<Exit> {
    let mut config = ClientConfig::new(api_key);
    config.base_url = args.target.api_url.clone();
    config.profile = profile;
    let client = Client::new(config)?;

    if !args.probe {
        return Ok(match client.me().await {
            Ok(_) => {
                let message = format!("API key accepted by {}", args.target.api_url);
                output.push(Status::Ok, message);
                Exit::Success
            }
            Err(err) => {
                output.push(Status::Failed, format!("API key check: {err}"));
                Exit::SomeFailed
            }
        });
    }

    // The settings were validated before the key was used, so the field is set.
    let user_field = target::user_field(&args.target).ok();
    match startdeliver_sink::probe::run(&client, user_field.as_deref()).await {
        Ok(report) => {
            let contradicted = report.count(Verdict::Contradicted);
            output.probe = Some(report);
            Ok(if contradicted > 0 {
                Exit::SomeFailed
            } else {
                Exit::Success
            })
        }
        Err(err) => {
            output.push(Status::Failed, format!("probe: {err}"));
            Ok(Exit::SomeFailed)
        }
    }
}

#[allow(clippy::print_stdout)]
fn print(args: &CheckArgs, output: &CheckOutput) -> Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(output)?);
        return Ok(());
    }

    for line in &output.checks {
        println!("{:<7} {}", line.status.label(), line.message);
    }
    if let Some(report) = &output.probe {
        print!("{}", probe::render(report));
    }
    Ok(())
}
