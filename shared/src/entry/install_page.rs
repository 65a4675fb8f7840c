//! The small HTML pages a person sees at the end of an install: what happened, and
//! where to go next. Every value is escaped; the pages load nothing and run nothing.

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{Response, StatusCode};

/// A page: no script, no frames, no requests of its own, never cached, and links
/// that do not hand the redirect's query (the code) on as a referrer.
pub fn html_page(
    status: StatusCode,
    title: &str,
    message: &str,
    link: Option<(&str, &str)>,
) -> Response<String> {
    let action = link
        .map(|(href, text)| {
            format!(
                r#"<p><a class="button" href="{}">{}</a></p>"#,
                escape(href),
                escape(text)
            )
        })
        .unwrap_or_default();
    let body = format!(
        concat!(
            "<!doctype html>\n",
            r#"<html lang="en"><head><meta charset="utf-8">"#,
            r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#,
            "<title>{title}</title><style>",
            "body{{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#1d1c1d}}",
            "a.button{{display:inline-block;padding:.5em 1em;background:#1d4f91;color:#fff;",
            "border-radius:4px;text-decoration:none}}",
            "</style></head><body><h1>{title}</h1><p>{message}</p>{action}</body></html>\n"
        ),
        title = escape(title),
        message = escape(message),
        action = action,
    );
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// A `302 Found` to `location`, with a short page for clients that do not follow it.
pub fn redirect(location: &str) -> Response<String> {
    let mut response = html_page(
        StatusCode::FOUND,
        "Continue to Slack",
        "Slack will ask you where to install the app.",
        Some((location, "Continue to Slack")),
    );
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
            response
        }
        // Our own URL builder made it: it is always a valid header value.
        Err(_) => html_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The link to Slack could not be made.",
            None,
        ),
    }
}

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_everywhere() {
        let page = html_page(
            StatusCode::OK,
            "<b>title</b>",
            r#"Team "<script>alert(1)</script>" & co"#,
            Some((r#"https://x.example/?a=1&b="2""#, "<open>")),
        );
        let body = page.body();
        assert!(!body.contains("<script>"), "{body}");
        assert!(!body.contains("<b>"), "{body}");
        assert!(body.contains("&lt;script&gt;"), "{body}");
        assert!(
            body.contains(r#"href="https://x.example/?a=1&amp;b=&quot;2&quot;""#),
            "{body}"
        );
        assert_eq!(page.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        assert!(page.headers()["content-security-policy"]
            .to_str()
            .is_ok_and(|csp| csp.starts_with("default-src 'none'")));
    }

    #[test]
    fn a_redirect_carries_its_location() {
        let response = redirect("https://slack.example/oauth/v2/authorize?state=abc&x=1");
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(
            response.headers()[LOCATION],
            "https://slack.example/oauth/v2/authorize?state=abc&x=1"
        );
    }
}
