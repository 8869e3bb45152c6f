//! `check`: validate the settings and the mapping, and with an API key, ask Startdeliver
//! whether the key works.

use anyhow::Result;

use crate::cli::CheckArgs;
use crate::exit::Exit;
use crate::mapping::MappingSource;
use crate::target::{self, API_KEY_ENV};

/// Runs `check`: prints one line per check and exits 2 when a setting or the mapping is
/// invalid, 1 when the key was rejected or Startdeliver could not be reached.
#[allow(clippy::print_stdout)]
pub async fn run(args: CheckArgs) -> Result<Exit> {
    let mut problems = 0;
    let api_key = target::api_key_from_env().ok();

    match target::user_field(&args.target) {
        Ok(field) => println!("ok      user field: {field}"),
        Err(err) => {
            problems += 1;
            println!("invalid {err}");
        }
    }
    match reqwest::Url::parse(&args.target.api_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => println!("ok      API URL: {url}"),
        _ => {
            problems += 1;
            println!(
                "invalid API URL {:?}: expected an http(s) URL such as {}",
                args.target.api_url,
                crate::cli::DEFAULT_API_URL
            );
        }
    }
    match args.target.mapping.as_deref().map(MappingSource::parse) {
        None => println!("ok      no mapping: identify and group calls will be skipped"),
        Some(source) => match source.load(api_key.as_ref()).await {
            Ok(config) => println!(
                "ok      mapping {source}: {} user fields, {} customer fields{}",
                config.user_mapping().len(),
                config.customer_mapping().len(),
                if config.enabled() {
                    ""
                } else {
                    " (disabled: enabled is false)"
                }
            ),
            Err(err) => {
                problems += 1;
                println!("invalid {err:#}");
            }
        },
    }
    if problems > 0 {
        return Ok(Exit::Usage);
    }

    let Some(api_key) = api_key else {
        println!("skipped API key check: {API_KEY_ENV} is not set");
        return Ok(Exit::Success);
    };
    check_key(&args, api_key).await
}

#[allow(clippy::print_stdout)]
async fn check_key(args: &CheckArgs, api_key: startdeliver_sink::ApiKey) -> Result<Exit> {
    let mut config = startdeliver_sink::ClientConfig::new(api_key);
    config.base_url = args.target.api_url.clone();
    let client = startdeliver_sink::Client::new(config)?;

    match client.me().await {
        Ok(_) => {
            println!("ok      API key accepted by {}", args.target.api_url);
            Ok(Exit::Success)
        }
        Err(err) => {
            println!("failed  GET me: {err}");
            Ok(Exit::SomeFailed)
        }
    }
}
