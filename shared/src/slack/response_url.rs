//! Where we may POST `response_url` messages: we never send to arbitrary URLs.
//!
//! `RESPONSE_URL_HOSTS` entries are bare hosts (`hooks.slack.com`: `https://` on that
//! host only) or full origins (`http://127.0.0.1:8111`: exactly that origin, for tests
//! and local runs).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseUrlError {
    #[error("response_url is not a valid URL")]
    Invalid,
    #[error("response_url must not carry credentials")]
    Credentials,
    #[error("response_url points to a host that is not allowed")]
    NotAllowed,
}

pub fn check_response_url(value: &str, allowed: &[String]) -> Result<(), ResponseUrlError> {
    let url = url::Url::parse(value).map_err(|_| ResponseUrlError::Invalid)?;
    let Some(host) = url.host_str() else {
        return Err(ResponseUrlError::Invalid);
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ResponseUrlError::Credentials);
    }
    let host = host.to_ascii_lowercase();
    let origin = url.origin().ascii_serialization();
    let permitted = allowed.iter().any(|entry| {
        let entry = entry.trim().trim_end_matches('/').to_ascii_lowercase();
        if entry.contains("://") {
            entry == origin
        } else {
            url.scheme() == "https" && host == entry
        }
    });
    if permitted {
        Ok(())
    } else {
        Err(ResponseUrlError::NotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["hooks.slack.com".into(), "http://127.0.0.1:8111".into()]
    }

    #[test]
    fn slack_hooks_over_https_are_allowed() {
        assert_eq!(
            check_response_url("https://hooks.slack.com/commands/T1/1/abc", &allowed()),
            Ok(())
        );
        assert_eq!(
            check_response_url("https://HOOKS.slack.com/x", &allowed()),
            Ok(())
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for url in [
            "http://hooks.slack.com/commands/x",
            "https://hooks.slack.com.evil.example/x",
            "https://evil.example/hooks.slack.com",
            "https://user:pw@hooks.slack.com/x",
            "http://127.0.0.1:8112/response/1",
            "https://127.0.0.1:8111/response/1",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(
                check_response_url(url, &allowed()).is_err(),
                "{url} should be refused"
            );
        }
    }

    #[test]
    fn the_default_hosts_are_slacks_two() {
        let defaults: Vec<String> = crate::config::DEFAULT_RESPONSE_URL_HOSTS
            .split(',')
            .map(str::to_owned)
            .collect();
        for url in [
            "https://hooks.slack.com/commands/T1/1/abc",
            "https://slack.com/app/response/T1/1/abc",
        ] {
            assert_eq!(check_response_url(url, &defaults), Ok(()), "{url}");
        }
        for url in [
            "http://slack.com/x",
            "https://slack.com.evil.example/x",
            "https://evil.example/slack.com",
        ] {
            assert!(check_response_url(url, &defaults).is_err(), "{url}");
        }
    }

    #[test]
    fn exact_origins_are_allowed() {
        assert_eq!(
            check_response_url("http://127.0.0.1:8111/response/1", &allowed()),
            Ok(())
        );
    }
}
