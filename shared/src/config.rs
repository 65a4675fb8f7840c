//! Configuration, read once per container from the environment.
//!
//! The variable names are a contract with the SAM template and other tooling: keep them.

use std::collections::HashMap;

/// Default Slack Web API base.
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api/";
/// Default meeting URL: any Jitsi Meet server opens a room on first join.
pub const DEFAULT_JOIN_URL_TEMPLATE: &str = "https://meet.jit.si/{room}";
/// Default Slack OAuth authorize page: where the install link sends the browser.
pub const DEFAULT_SLACK_AUTHORIZE_URL: &str = "https://slack.com/oauth/v2/authorize";
/// Default hosts a `response_url` may point at: Slack issues them on both.
pub const DEFAULT_RESPONSE_URL_HOSTS: &str = "hooks.slack.com,slack.com";
pub const DEFAULT_STALE_CALL_MINUTES: i64 = 30;
pub const DEFAULT_MAX_CALL_HOURS: i64 = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `CALLS_TABLE`: the DynamoDB table. Unset only in local runs on the embedded store.
    pub calls_table: Option<String>,
    /// `SECRET_ID`: Secrets Manager id or ARN. Unset: secrets come from the environment.
    pub secret_id: Option<String>,
    /// `TOKEN_KMS_KEY_ID`: the KMS key that seals installations' tokens. Unset: tokens
    /// are sealed with `TOKEN_LOCAL_KEY`, or cannot be stored (single-workspace mode).
    pub token_kms_key_id: Option<String>,
    /// `SLACK_API_URL`, always ending in `/`.
    pub slack_api_url: String,
    /// `JOIN_URL_TEMPLATE`, containing `{room}`.
    pub join_url_template: String,
    /// `DESKTOP_JOIN_URL_TEMPLATE`, containing `{room}`.
    pub desktop_join_url_template: Option<String>,
    /// `PHONE_CALL_URL_TEMPLATE`, containing `{phone}`: enables audio calls from the
    /// call button with the URL-template provider.
    pub phone_call_url_template: Option<String>,
    /// `DESKTOP_PHONE_CALL_URL_TEMPLATE`, containing `{phone}`.
    pub desktop_phone_call_url_template: Option<String>,
    /// `MEETING_API_URL`: create meetings through the provider's HTTP API instead.
    pub meeting_api_url: Option<String>,
    /// `RESPONSE_URL_HOSTS`: where we may POST `response_url` messages.
    pub response_url_hosts: Vec<String>,
    /// Hosts whose links we unfurl: the join URL template's host plus `UNFURL_DOMAINS`.
    pub unfurl_domains: Vec<String>,
    /// `PROVIDER_CALLBACK_URL`: where we tell the provider about rejections.
    pub provider_callback_url: Option<String>,
    /// `SLACK_AUTHORIZE_URL`: Slack's OAuth authorize page (the install link's target).
    pub slack_authorize_url: String,
    /// `SLACK_REDIRECT_URI`: where Slack sends the browser back after an install.
    /// Unset: derived from the install request's own URL.
    pub slack_redirect_uri: Option<String>,
    /// `STALE_CALL_MINUTES`
    pub stale_call_minutes: i64,
    /// `MAX_CALL_HOURS`
    pub max_call_hours: i64,
    /// `SLACK_APP_ID`: when set, Slack requests naming another `api_app_id` are refused.
    pub slack_app_id: Option<String>,
    /// `SLACK_INSTALL_URL`: the install link shown to a workspace without the app;
    /// unset, it is derived from the request's host (`https://{host}/slack/install`).
    pub slack_install_url: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_lookup(|name| vars.get(name).cloned())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let mut slack_api_url =
            get("SLACK_API_URL").unwrap_or_else(|| DEFAULT_SLACK_API_URL.into());
        require_http_url("SLACK_API_URL", &slack_api_url)?;
        if !slack_api_url.ends_with('/') {
            slack_api_url.push('/');
        }

        let join_url_template =
            get("JOIN_URL_TEMPLATE").unwrap_or_else(|| DEFAULT_JOIN_URL_TEMPLATE.into());
        require_room_placeholder("JOIN_URL_TEMPLATE", &join_url_template)?;
        require_http_url("JOIN_URL_TEMPLATE", &join_url_template)?;
        let desktop_join_url_template = get("DESKTOP_JOIN_URL_TEMPLATE");
        if let Some(template) = &desktop_join_url_template {
            require_room_placeholder("DESKTOP_JOIN_URL_TEMPLATE", template)?;
        }

        let phone_call_url_template = get("PHONE_CALL_URL_TEMPLATE");
        if let Some(template) = &phone_call_url_template {
            require_placeholder("PHONE_CALL_URL_TEMPLATE", template, "{phone}")?;
            require_http_url("PHONE_CALL_URL_TEMPLATE", template)?;
        }
        let desktop_phone_call_url_template = get("DESKTOP_PHONE_CALL_URL_TEMPLATE");
        if let Some(template) = &desktop_phone_call_url_template {
            require_placeholder("DESKTOP_PHONE_CALL_URL_TEMPLATE", template, "{phone}")?;
        }

        let meeting_api_url = get("MEETING_API_URL");
        if let Some(url) = &meeting_api_url {
            require_http_url("MEETING_API_URL", url)?;
        }
        let provider_callback_url = get("PROVIDER_CALLBACK_URL");
        if let Some(url) = &provider_callback_url {
            require_http_url("PROVIDER_CALLBACK_URL", url)?;
        }

        let slack_authorize_url =
            get("SLACK_AUTHORIZE_URL").unwrap_or_else(|| DEFAULT_SLACK_AUTHORIZE_URL.into());
        require_http_url("SLACK_AUTHORIZE_URL", &slack_authorize_url)?;
        let slack_redirect_uri = get("SLACK_REDIRECT_URI");
        if let Some(url) = &slack_redirect_uri {
            require_http_url("SLACK_REDIRECT_URI", url)?;
        }
        let slack_install_url = get("SLACK_INSTALL_URL");
        if let Some(url) = &slack_install_url {
            require_http_url("SLACK_INSTALL_URL", url)?;
        }

        let response_url_hosts = split_list(
            &get("RESPONSE_URL_HOSTS").unwrap_or_else(|| DEFAULT_RESPONSE_URL_HOSTS.into()),
        );

        let mut unfurl_domains = Vec::new();
        if let Some(host) = url::Url::parse(&join_url_template.replace("{room}", "room"))
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        {
            unfurl_domains.push(host);
        }
        for domain in split_list(&get("UNFURL_DOMAINS").unwrap_or_default()) {
            let domain = domain.to_ascii_lowercase();
            if !unfurl_domains.contains(&domain) {
                unfurl_domains.push(domain);
            }
        }

        Ok(Config {
            calls_table: get("CALLS_TABLE"),
            secret_id: get("SECRET_ID"),
            token_kms_key_id: get("TOKEN_KMS_KEY_ID"),
            slack_api_url,
            join_url_template,
            desktop_join_url_template,
            phone_call_url_template,
            desktop_phone_call_url_template,
            meeting_api_url,
            response_url_hosts,
            unfurl_domains,
            provider_callback_url,
            slack_authorize_url,
            slack_redirect_uri,
            slack_app_id: get("SLACK_APP_ID"),
            slack_install_url,
            stale_call_minutes: positive_number(
                &get,
                "STALE_CALL_MINUTES",
                DEFAULT_STALE_CALL_MINUTES,
            )?,
            max_call_hours: positive_number(&get, "MAX_CALL_HOURS", DEFAULT_MAX_CALL_HOURS)?,
        })
    }

    /// The table name, for the functions that cannot run without one.
    pub fn require_calls_table(&self) -> Result<&str, ConfigError> {
        self.calls_table
            .as_deref()
            .ok_or(ConfigError::Missing("CALLS_TABLE"))
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn require_room_placeholder(name: &'static str, template: &str) -> Result<(), ConfigError> {
    require_placeholder(name, template, "{room}")
}

fn require_placeholder(
    name: &'static str,
    template: &str,
    placeholder: &str,
) -> Result<(), ConfigError> {
    if template.contains(placeholder) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name,
            reason: format!("must contain the placeholder {placeholder}"),
        })
    }
}

fn require_http_url(name: &'static str, value: &str) -> Result<(), ConfigError> {
    match url::Url::parse(&value.replace("{room}", "room").replace("{phone}", "1")) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(_) => Err(ConfigError::Invalid {
            name,
            reason: "must be an http(s) URL with a host".into(),
        }),
        Err(error) => Err(ConfigError::Invalid {
            name,
            reason: error.to_string(),
        }),
    }
}

fn positive_number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
) -> Result<i64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(value) => match value.parse::<i64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("expected a positive whole number, got {value:?}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_unset() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.slack_api_url, DEFAULT_SLACK_API_URL);
        assert_eq!(config.join_url_template, DEFAULT_JOIN_URL_TEMPLATE);
        assert_eq!(config.unfurl_domains, vec!["meet.jit.si".to_string()]);
        assert_eq!(
            config.response_url_hosts,
            vec!["hooks.slack.com".to_string(), "slack.com".to_string()]
        );
        assert_eq!(config.slack_authorize_url, DEFAULT_SLACK_AUTHORIZE_URL);
        assert_eq!(config.slack_redirect_uri, None);
        assert_eq!(config.stale_call_minutes, 30);
        assert_eq!(config.max_call_hours, 12);
        assert_eq!(
            config.require_calls_table(),
            Err(ConfigError::Missing("CALLS_TABLE"))
        );
    }

    #[test]
    fn missing_table_error_names_the_variable() {
        let config = config(&[("CALLS_TABLE", "  ")]).expect("valid");
        let error = config.require_calls_table().expect_err("blank is unset");
        assert!(error.to_string().contains("CALLS_TABLE"));
    }

    #[test]
    fn slack_api_url_gets_a_trailing_slash() {
        let config = config(&[("SLACK_API_URL", "http://127.0.0.1:9/api")]).expect("valid");
        assert_eq!(config.slack_api_url, "http://127.0.0.1:9/api/");
    }

    #[test]
    fn invalid_values_are_named() {
        let error = config(&[("JOIN_URL_TEMPLATE", "https://x.example/")]).expect_err("no {room}");
        assert!(error.to_string().contains("JOIN_URL_TEMPLATE"));
        let error =
            config(&[("SLACK_REDIRECT_URI", "/slack/oauth_redirect")]).expect_err("not absolute");
        assert!(error.to_string().contains("SLACK_REDIRECT_URI"));
        let error = config(&[("STALE_CALL_MINUTES", "soon")]).expect_err("not a number");
        assert!(error.to_string().contains("STALE_CALL_MINUTES"));
    }

    #[test]
    fn unfurl_domains_merge_template_host_and_list() {
        let config = config(&[
            ("JOIN_URL_TEMPLATE", "https://Meet.Example.com/j/{room}"),
            ("UNFURL_DOMAINS", "meet.example.com, video.example.org"),
        ])
        .expect("valid");
        assert_eq!(
            config.unfurl_domains,
            vec![
                "meet.example.com".to_string(),
                "video.example.org".to_string()
            ]
        );
    }
}
