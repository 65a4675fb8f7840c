//! Errors from Slack's Web API, each with the retry class that tells a caller what to do.
//!
//! `ApiErrorCode` has a variant for every code documented for the methods we call
//! (`calls.*`, `chat.unfurl`, `chat.postEphemeral`, `chat.postMessage`), the errors every
//! method can return, the draft Calls spec's additions, and `response_url` answers.
//! Codes Slack adds later parse to [`ApiErrorCode::Other`] and are never retried.

use std::time::Duration;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Wait `retry_after` (Slack's `Retry-After`), then retry.
    RateLimited { retry_after: Option<Duration> },
    /// Retry with backoff.
    Transient,
    /// The installation's token is dead: disable it, tell the user to reinstall.
    TokenDead,
    /// A permission problem to report in plain words; never retried.
    Permission,
    /// Our bug or bad input; never retried.
    BadRequest,
}

/// The class a code belongs to, without the `Retry-After` that only a response carries.
#[derive(Clone, Copy)]
enum Class {
    RateLimited,
    Transient,
    TokenDead,
    Permission,
    BadRequest,
}

impl Class {
    const fn retry_class(self) -> RetryClass {
        match self {
            Class::RateLimited => RetryClass::RateLimited { retry_after: None },
            Class::Transient => RetryClass::Transient,
            Class::TokenDead => RetryClass::TokenDead,
            Class::Permission => RetryClass::Permission,
            Class::BadRequest => RetryClass::BadRequest,
        }
    }
}

/// One table drives `parse`, `as_str` and `class`, so the three can never disagree.
macro_rules! api_error_codes {
    ($($(#[$attr:meta])* $variant:ident = $code:literal => $class:ident,)*) => {
        /// An `error` code from an `{"ok": false}` answer.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ApiErrorCode {
            $($(#[$attr])* $variant,)*
            /// A code Slack added after this was written.
            Other(String),
        }

        impl ApiErrorCode {
            pub fn parse(code: &str) -> Self {
                match code {
                    $($code => ApiErrorCode::$variant,)*
                    other => ApiErrorCode::Other(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(ApiErrorCode::$variant => $code,)*
                    ApiErrorCode::Other(code) => code,
                }
            }

            fn base_class(&self) -> Class {
                match self {
                    $(ApiErrorCode::$variant => Class::$class,)*
                    // Unknown means we cannot know that a retry is safe or useful.
                    ApiErrorCode::Other(_) => Class::BadRequest,
                }
            }
        }
    };
}

api_error_codes! {
    // --- Rate limits ---
    /// Web API rate limit (`Retry-After` says how long).
    Ratelimited = "ratelimited" => RateLimited,
    /// `chat.*`: the app posted too many messages.
    RateLimitedPosting = "rate_limited" => RateLimited,

    // --- Slack's side failed: retry with backoff ---
    InternalError = "internal_error" => Transient,
    /// May have partly succeeded: the retry must be idempotent.
    FatalError = "fatal_error" => Transient,
    ServiceUnavailable = "service_unavailable" => Transient,
    /// The POST data was missing or truncated on the way.
    RequestTimeout = "request_timeout" => Transient,
    /// The workspace is migrating to an Enterprise org: intermittently unavailable.
    TeamAddedToOrg = "team_added_to_org" => Transient,
    /// Enterprise migration in progress: unavailable until it completes.
    OrgLoginRequired = "org_login_required" => Transient,

    // --- The installation's token is dead ---
    InvalidAuth = "invalid_auth" => TokenDead,
    NotAuthed = "not_authed" => TokenDead,
    AccountInactive = "account_inactive" => TokenDead,
    TokenRevoked = "token_revoked" => TokenDead,
    TokenExpired = "token_expired" => TokenDead,

    // --- Permission problems: report, never retry ---
    AccessDenied = "access_denied" => Permission,
    Accesslimited = "accesslimited" => Permission,
    EkmAccessDenied = "ekm_access_denied" => Permission,
    EnterpriseIsRestricted = "enterprise_is_restricted" => Permission,
    MissingScope = "missing_scope" => Permission,
    NoPermission = "no_permission" => Permission,
    NotAllowedTokenType = "not_allowed_token_type" => Permission,
    NotAuthorized = "not_authorized" => Permission,
    TeamAccessNotGranted = "team_access_not_granted" => Permission,
    TwoFactorSetupRequired = "two_factor_setup_required" => Permission,
    IsBot = "is_bot" => Permission,
    AppAccessRestricted = "app_access_restricted" => Permission,
    NotInChannel = "not_in_channel" => Permission,
    RestrictedAction = "restricted_action" => Permission,
    RestrictedActionReadOnlyChannel = "restricted_action_read_only_channel" => Permission,
    RestrictedActionThreadOnlyChannel = "restricted_action_thread_only_channel" => Permission,
    RestrictedActionNonThreadableChannel = "restricted_action_non_threadable_channel" => Permission,
    RestrictedActionThreadLocked = "restricted_action_thread_locked" => Permission,
    SendOnBehalfNotAllowed = "send_on_behalf_not_allowed" => Permission,
    SlackConnectCanvasSharingBlocked = "slack_connect_canvas_sharing_blocked" => Permission,
    SlackConnectFileLinkSharingBlocked = "slack_connect_file_link_sharing_blocked" => Permission,
    SlackConnectListsSharingBlocked = "slack_connect_lists_sharing_blocked" => Permission,
    MessagesTabDisabled = "messages_tab_disabled" => Permission,
    /// A free workspace's message quota, not a short rate limit: waiting seconds won't help.
    MessageLimitExceeded = "message_limit_exceeded" => Permission,
    /// `chat.unfurl`: the app is not allowed to unfurl in this workspace.
    CannotFindService = "cannot_find_service" => Permission,
    CannotAuthUser = "cannot_auth_user" => Permission,
    CannotPrompt = "cannot_prompt" => Permission,

    // --- Request problems common to every method ---
    DeprecatedEndpoint = "deprecated_endpoint" => BadRequest,
    MethodDeprecated = "method_deprecated" => BadRequest,
    NotImplemented = "not_implemented" => BadRequest,
    UnknownMethod = "unknown_method" => BadRequest,
    UpgradeRequired = "upgrade_required" => BadRequest,
    InvalidArgName = "invalid_arg_name" => BadRequest,
    InvalidArguments = "invalid_arguments" => BadRequest,
    InvalidArrayArg = "invalid_array_arg" => BadRequest,
    InvalidCharset = "invalid_charset" => BadRequest,
    InvalidFormData = "invalid_form_data" => BadRequest,
    InvalidPostType = "invalid_post_type" => BadRequest,
    MissingPostType = "missing_post_type" => BadRequest,
    InvalidJson = "invalid_json" => BadRequest,
    JsonNotObject = "json_not_object" => BadRequest,
    /// A required argument was not sent (`calls.participants.*`: `id` or `users`).
    MissingArgument = "missing_argument" => BadRequest,
    /// Sent as a warning, not an error: a JSON body without a charset.
    MissingCharset = "missing_charset" => BadRequest,
    /// Sent as a warning, not an error: a form body with a charset.
    SuperfluousCharset = "superfluous_charset" => BadRequest,

    // --- calls.* ---
    /// One of the `users` (or `created_by`) is not a user of the workspace: never
    /// existed, or deleted.
    UserNotFound = "user_not_found" => BadRequest,
    InvalidCreatedBy = "invalid_created_by" => BadRequest,
    InvalidStartTime = "invalid_start_time" => BadRequest,
    InvalidCallId = "invalid_call_id" => BadRequest,
    /// `calls.end` on a call that has already ended (Slack answers it with `ok: true`),
    /// or `calls.participants.*` / `calls.update` on one.
    InactiveCall = "inactive_call" => BadRequest,
    /// A participant added twice, or removed while not in the call (Slack answers it
    /// with `ok: true`, and may have applied none of the request).
    BadUsers = "bad_users" => BadRequest,

    // --- chat.unfurl ---
    /// A composer link (`channel: "COMPOSER"`) unfurled by `channel` + `ts`, or a
    /// conversation the token cannot see.
    CannotFindChannel = "cannot_find_channel" => BadRequest,
    CannotUnfurlUrl = "cannot_unfurl_url" => BadRequest,
    CannotUnfurlMessage = "cannot_unfurl_message" => BadRequest,
    CannotFindMessage = "cannot_find_message" => BadRequest,
    CannotParseAttachment = "cannot_parse_attachment" => BadRequest,
    InvalidUnfurlsFormat = "invalid_unfurls_format" => BadRequest,
    InvalidUnfurlId = "invalid_unfurl_id" => BadRequest,
    InvalidSource = "invalid_source" => BadRequest,
    MissingChannel = "missing_channel" => BadRequest,
    MissingTs = "missing_ts" => BadRequest,
    MissingUnfurls = "missing_unfurls" => BadRequest,
    MissingUnfurlId = "missing_unfurl_id" => BadRequest,
    MissingSource = "missing_source" => BadRequest,

    // --- chat.postMessage / chat.postEphemeral ---
    /// A conversation the bot cannot see (a DM between other people, say).
    ChannelNotFound = "channel_not_found" => BadRequest,
    /// `chat.postEphemeral` to someone who is not in the conversation (or not a user).
    UserNotInChannel = "user_not_in_channel" => BadRequest,
    IsArchived = "is_archived" => BadRequest,
    MsgTooLong = "msg_too_long" => BadRequest,
    MsgBlocksTooLong = "msg_blocks_too_long" => BadRequest,
    NoText = "no_text" => BadRequest,
    TooManyAttachments = "too_many_attachments" => BadRequest,
    TooManyContactCards = "too_many_contact_cards" => BadRequest,
    AttachmentPayloadLimitExceeded = "attachment_payload_limit_exceeded" => BadRequest,
    InvalidAttachments = "invalid_attachments" => BadRequest,
    InvalidBlocks = "invalid_blocks" => BadRequest,
    InvalidBlocksFormat = "invalid_blocks_format" => BadRequest,
    InvalidMetadataFormat = "invalid_metadata_format" => BadRequest,
    InvalidMetadataSchema = "invalid_metadata_schema" => BadRequest,
    MetadataMustBeSentFromApp = "metadata_must_be_sent_from_app" => BadRequest,
    MetadataTooLarge = "metadata_too_large" => BadRequest,
    MarkdownTextConflict = "markdown_text_conflict" => BadRequest,
    AsUserNotSupported = "as_user_not_supported" => BadRequest,
    CannotReplyToMessage = "cannot_reply_to_message" => BadRequest,
    DuplicateChannelNotFound = "duplicate_channel_not_found" => BadRequest,
    DuplicateMessageNotFound = "duplicate_message_not_found" => BadRequest,
    DraftAlreadyDeleted = "draft_already_deleted" => BadRequest,
    DraftAlreadySent = "draft_already_sent" => BadRequest,
    DraftHasConflict = "draft_has_conflict" => BadRequest,
    DraftNotFound = "draft_not_found" => BadRequest,
    MissingFileData = "missing_file_data" => BadRequest,
    TeamNotFound = "team_not_found" => BadRequest,

    // --- oauth.v2.access ---
    /// The code is unknown, expired or already used.
    InvalidCode = "invalid_code" => BadRequest,
    InvalidGrantType = "invalid_grant_type" => BadRequest,
    /// The refresh token was used already or revoked: the installation must be renewed.
    InvalidRefreshToken = "invalid_refresh_token" => TokenDead,
    BadClientSecret = "bad_client_secret" => BadRequest,
    InvalidClientId = "invalid_client_id" => BadRequest,
    BadRedirectUri = "bad_redirect_uri" => BadRequest,
    OauthAuthorizationUrlMismatch = "oauth_authorization_url_mismatch" => BadRequest,
    CannotInstallAnOrgInstalledApp = "cannot_install_an_org_installed_app" => BadRequest,

    // --- response_url answers ---
    /// The `response_url` is older than Slack keeps it (30 minutes).
    ExpiredUrl = "expired_url" => BadRequest,
    /// The `response_url` has been used as often as Slack allows.
    UsedUrl = "used_url" => BadRequest,
}

impl ApiErrorCode {
    pub fn class(&self) -> RetryClass {
        self.base_class().retry_class()
    }
}

impl std::fmt::Display for ApiErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed Slack request. Never carries a token, a request body or a `response_url`.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("{method} failed: {}", code.as_str())]
    Api {
        method: &'static str,
        code: ApiErrorCode,
    },
    #[error("{method} was rate limited{}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        method: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("{method} answered HTTP {status}")]
    Http { method: &'static str, status: u16 },
    #[error("{method} timed out")]
    Timeout { method: &'static str },
    #[error("{method} could not be sent: {reason}")]
    Transport {
        method: &'static str,
        reason: String,
    },
    #[error("{method} answered something unexpected: {reason}")]
    InvalidResponse {
        method: &'static str,
        reason: String,
    },
}

impl SlackError {
    pub fn class(&self) -> RetryClass {
        match self {
            SlackError::Api { code, .. } => code.class(),
            SlackError::RateLimited { retry_after, .. } => RetryClass::RateLimited {
                retry_after: *retry_after,
            },
            SlackError::Http { status, .. } if *status >= 500 => RetryClass::Transient,
            SlackError::Http { .. } => RetryClass::BadRequest,
            SlackError::Timeout { .. } | SlackError::Transport { .. } => RetryClass::Transient,
            SlackError::InvalidResponse { .. } => RetryClass::Transient,
        }
    }

    /// The Slack error code, for `{"ok": false}` answers.
    pub fn code(&self) -> Option<&ApiErrorCode> {
        match self {
            SlackError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The Web API method (or `response_url`) that failed.
    pub fn method(&self) -> &'static str {
        match self {
            SlackError::Api { method, .. }
            | SlackError::RateLimited { method, .. }
            | SlackError::Http { method, .. }
            | SlackError::Timeout { method }
            | SlackError::Transport { method, .. }
            | SlackError::InvalidResponse { method, .. } => method,
        }
    }

    /// `inactive_call`: the call has already ended in Slack. For `calls.end` that is the
    /// outcome wanted; for `calls.update` there is nothing left to update.
    pub fn is_already_ended(&self) -> bool {
        self.code() == Some(&ApiErrorCode::InactiveCall)
    }

    /// `bad_users`: a participant was already added (or already removed). Slack
    /// sends it with `ok: true` or `ok: false`; either way it is this error.
    pub fn is_bad_users(&self) -> bool {
        self.code() == Some(&ApiErrorCode::BadUsers)
    }

    /// A refusal about one of the users in the request (`bad_users`, `user_not_found`):
    /// the rest of the request would have been fine without that user.
    pub fn is_about_one_user(&self) -> bool {
        matches!(
            self.code(),
            Some(ApiErrorCode::BadUsers | ApiErrorCode::UserNotFound)
        )
    }

    /// Slack could not read a structured argument of a JSON body (`invalid_array_arg`,
    /// `invalid_form_data`): the same request sent as a form, as the official SDKs
    /// send it, may be read.
    pub fn wants_form_encoding(&self) -> bool {
        matches!(
            self.code(),
            Some(ApiErrorCode::InvalidArrayArg | ApiErrorCode::InvalidFormData)
        )
    }

    /// The token is dead: the installation needs to be disabled or refreshed.
    pub fn is_token_dead(&self) -> bool {
        self.class() == RetryClass::TokenDead
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.class(),
            RetryClass::RateLimited { .. } | RetryClass::Transient
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApiErrorCode as C;

    const RATE: RetryClass = RetryClass::RateLimited { retry_after: None };
    const TRANSIENT: RetryClass = RetryClass::Transient;
    const DEAD: RetryClass = RetryClass::TokenDead;
    const PERM: RetryClass = RetryClass::Permission;
    const BAD: RetryClass = RetryClass::BadRequest;

    /// Every documented code, written out independently of the macro table above:
    /// the common list and the method-specific codes of `calls.*` (CALLS-API.md, the
    /// draft spec, SlackKit), `chat.unfurl`, `chat.postEphemeral`, `chat.postMessage`.
    const DOCUMENTED: &[(&str, ApiErrorCode, RetryClass)] = &[
        // common to every method
        ("access_denied", C::AccessDenied, PERM),
        ("accesslimited", C::Accesslimited, PERM),
        ("account_inactive", C::AccountInactive, DEAD),
        ("deprecated_endpoint", C::DeprecatedEndpoint, BAD),
        ("ekm_access_denied", C::EkmAccessDenied, PERM),
        ("enterprise_is_restricted", C::EnterpriseIsRestricted, PERM),
        ("fatal_error", C::FatalError, TRANSIENT),
        ("internal_error", C::InternalError, TRANSIENT),
        ("invalid_arg_name", C::InvalidArgName, BAD),
        ("invalid_arguments", C::InvalidArguments, BAD),
        ("invalid_array_arg", C::InvalidArrayArg, BAD),
        ("invalid_auth", C::InvalidAuth, DEAD),
        ("invalid_charset", C::InvalidCharset, BAD),
        ("invalid_form_data", C::InvalidFormData, BAD),
        ("invalid_post_type", C::InvalidPostType, BAD),
        ("method_deprecated", C::MethodDeprecated, BAD),
        ("missing_post_type", C::MissingPostType, BAD),
        ("missing_scope", C::MissingScope, PERM),
        ("no_permission", C::NoPermission, PERM),
        ("not_allowed_token_type", C::NotAllowedTokenType, PERM),
        ("not_authed", C::NotAuthed, DEAD),
        ("not_implemented", C::NotImplemented, BAD),
        ("org_login_required", C::OrgLoginRequired, TRANSIENT),
        ("ratelimited", C::Ratelimited, RATE),
        ("request_timeout", C::RequestTimeout, TRANSIENT),
        ("service_unavailable", C::ServiceUnavailable, TRANSIENT),
        ("team_access_not_granted", C::TeamAccessNotGranted, PERM),
        ("team_added_to_org", C::TeamAddedToOrg, TRANSIENT),
        ("token_expired", C::TokenExpired, DEAD),
        ("token_revoked", C::TokenRevoked, DEAD),
        ("two_factor_setup_required", C::TwoFactorSetupRequired, PERM),
        // draft Calls spec
        ("invalid_json", C::InvalidJson, BAD),
        ("json_not_object", C::JsonNotObject, BAD),
        ("upgrade_required", C::UpgradeRequired, BAD),
        // calls.participants.* (api-ref), and the charset warnings Slack may send
        ("missing_argument", C::MissingArgument, BAD),
        ("missing_charset", C::MissingCharset, BAD),
        ("superfluous_charset", C::SuperfluousCharset, BAD),
        // calls.*
        ("not_authorized", C::NotAuthorized, PERM),
        ("user_not_found", C::UserNotFound, BAD),
        ("invalid_created_by", C::InvalidCreatedBy, BAD),
        ("invalid_start_time", C::InvalidStartTime, BAD),
        ("invalid_call_id", C::InvalidCallId, BAD),
        ("inactive_call", C::InactiveCall, BAD),
        ("bad_users", C::BadUsers, BAD),
        // oauth.v2.access
        ("invalid_code", C::InvalidCode, BAD),
        ("invalid_grant_type", C::InvalidGrantType, BAD),
        ("invalid_refresh_token", C::InvalidRefreshToken, DEAD),
        ("bad_client_secret", C::BadClientSecret, BAD),
        ("invalid_client_id", C::InvalidClientId, BAD),
        ("bad_redirect_uri", C::BadRedirectUri, BAD),
        (
            "oauth_authorization_url_mismatch",
            C::OauthAuthorizationUrlMismatch,
            BAD,
        ),
        (
            "cannot_install_an_org_installed_app",
            C::CannotInstallAnOrgInstalledApp,
            BAD,
        ),
        // chat.unfurl
        ("cannot_unfurl_url", C::CannotUnfurlUrl, BAD),
        ("cannot_unfurl_message", C::CannotUnfurlMessage, BAD),
        ("cannot_find_channel", C::CannotFindChannel, BAD),
        ("cannot_find_message", C::CannotFindMessage, BAD),
        ("cannot_find_service", C::CannotFindService, PERM),
        ("cannot_parse_attachment", C::CannotParseAttachment, BAD),
        ("cannot_prompt", C::CannotPrompt, PERM),
        ("cannot_auth_user", C::CannotAuthUser, PERM),
        ("invalid_unfurls_format", C::InvalidUnfurlsFormat, BAD),
        ("invalid_unfurl_id", C::InvalidUnfurlId, BAD),
        ("invalid_source", C::InvalidSource, BAD),
        ("invalid_metadata_format", C::InvalidMetadataFormat, BAD),
        ("missing_channel", C::MissingChannel, BAD),
        ("missing_ts", C::MissingTs, BAD),
        ("missing_unfurls", C::MissingUnfurls, BAD),
        ("missing_unfurl_id", C::MissingUnfurlId, BAD),
        ("missing_source", C::MissingSource, BAD),
        ("is_bot", C::IsBot, PERM),
        // chat.postEphemeral
        ("cannot_reply_to_message", C::CannotReplyToMessage, BAD),
        ("channel_not_found", C::ChannelNotFound, BAD),
        ("invalid_attachments", C::InvalidAttachments, BAD),
        ("invalid_blocks", C::InvalidBlocks, BAD),
        ("invalid_blocks_format", C::InvalidBlocksFormat, BAD),
        ("is_archived", C::IsArchived, BAD),
        ("markdown_text_conflict", C::MarkdownTextConflict, BAD),
        ("message_limit_exceeded", C::MessageLimitExceeded, PERM),
        ("messages_tab_disabled", C::MessagesTabDisabled, PERM),
        ("msg_too_long", C::MsgTooLong, BAD),
        ("no_text", C::NoText, BAD),
        ("not_in_channel", C::NotInChannel, PERM),
        ("restricted_action", C::RestrictedAction, PERM),
        ("too_many_attachments", C::TooManyAttachments, BAD),
        ("user_not_in_channel", C::UserNotInChannel, BAD),
        ("unknown_method", C::UnknownMethod, BAD),
        // chat.postMessage
        ("app_access_restricted", C::AppAccessRestricted, PERM),
        ("as_user_not_supported", C::AsUserNotSupported, BAD),
        (
            "attachment_payload_limit_exceeded",
            C::AttachmentPayloadLimitExceeded,
            BAD,
        ),
        ("draft_already_deleted", C::DraftAlreadyDeleted, BAD),
        ("draft_already_sent", C::DraftAlreadySent, BAD),
        ("draft_has_conflict", C::DraftHasConflict, BAD),
        ("draft_not_found", C::DraftNotFound, BAD),
        (
            "duplicate_channel_not_found",
            C::DuplicateChannelNotFound,
            BAD,
        ),
        (
            "duplicate_message_not_found",
            C::DuplicateMessageNotFound,
            BAD,
        ),
        ("invalid_metadata_schema", C::InvalidMetadataSchema, BAD),
        (
            "metadata_must_be_sent_from_app",
            C::MetadataMustBeSentFromApp,
            BAD,
        ),
        ("metadata_too_large", C::MetadataTooLarge, BAD),
        ("missing_file_data", C::MissingFileData, BAD),
        ("msg_blocks_too_long", C::MsgBlocksTooLong, BAD),
        ("rate_limited", C::RateLimitedPosting, RATE),
        (
            "restricted_action_non_threadable_channel",
            C::RestrictedActionNonThreadableChannel,
            PERM,
        ),
        (
            "restricted_action_read_only_channel",
            C::RestrictedActionReadOnlyChannel,
            PERM,
        ),
        (
            "restricted_action_thread_locked",
            C::RestrictedActionThreadLocked,
            PERM,
        ),
        (
            "restricted_action_thread_only_channel",
            C::RestrictedActionThreadOnlyChannel,
            PERM,
        ),
        (
            "send_on_behalf_not_allowed",
            C::SendOnBehalfNotAllowed,
            PERM,
        ),
        (
            "slack_connect_canvas_sharing_blocked",
            C::SlackConnectCanvasSharingBlocked,
            PERM,
        ),
        (
            "slack_connect_file_link_sharing_blocked",
            C::SlackConnectFileLinkSharingBlocked,
            PERM,
        ),
        (
            "slack_connect_lists_sharing_blocked",
            C::SlackConnectListsSharingBlocked,
            PERM,
        ),
        ("team_not_found", C::TeamNotFound, BAD),
        ("too_many_contact_cards", C::TooManyContactCards, BAD),
        // response_url
        ("expired_url", C::ExpiredUrl, BAD),
        ("used_url", C::UsedUrl, BAD),
    ];

    #[test]
    fn every_documented_code_parses_round_trips_and_is_classed() {
        let mut seen = std::collections::HashSet::new();
        for (code, variant, class) in DOCUMENTED {
            assert!(seen.insert(*code), "{code} is listed twice");
            let parsed = ApiErrorCode::parse(code);
            assert_eq!(&parsed, variant, "{code} parses to the wrong variant");
            assert!(
                !matches!(parsed, ApiErrorCode::Other(_)),
                "{code} is documented but unknown"
            );
            assert_eq!(parsed.as_str(), *code, "{code} does not round-trip");
            assert_eq!(parsed.class(), *class, "{code} has the wrong class");
            let error = SlackError::Api {
                method: "calls.add",
                code: parsed,
            };
            assert_eq!(error.class(), *class);
            assert!(error.to_string().contains(code));
        }
    }

    #[test]
    fn unknown_codes_are_kept_and_never_retried() {
        let code = ApiErrorCode::parse("brand_new_error");
        assert_eq!(code, ApiErrorCode::Other("brand_new_error".into()));
        assert_eq!(code.as_str(), "brand_new_error");
        assert_eq!(code.class(), RetryClass::BadRequest);
    }

    #[test]
    fn idempotent_outcomes_are_recognised() {
        let ended = SlackError::Api {
            method: "calls.end",
            code: ApiErrorCode::InactiveCall,
        };
        assert!(ended.is_already_ended());
        assert!(!ended.is_bad_users());
        let bad_users = SlackError::Api {
            method: "calls.participants.add",
            code: ApiErrorCode::BadUsers,
        };
        assert!(bad_users.is_bad_users());
        assert!(bad_users.is_about_one_user());
        assert!(!bad_users.is_already_ended());
        assert!(SlackError::Api {
            method: "calls.participants.add",
            code: ApiErrorCode::UserNotFound,
        }
        .is_about_one_user());
        assert!(!ended.is_about_one_user());
        for (code, form) in [
            (ApiErrorCode::InvalidArrayArg, true),
            (ApiErrorCode::InvalidFormData, true),
            (ApiErrorCode::InvalidArguments, false),
        ] {
            let error = SlackError::Api {
                method: "calls.add",
                code,
            };
            assert_eq!(error.wants_form_encoding(), form, "{error}");
        }
        assert!(!SlackError::Timeout {
            method: "calls.end"
        }
        .is_already_ended());
    }

    #[test]
    fn transport_level_errors_have_classes() {
        let limited = SlackError::RateLimited {
            method: "calls.add",
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            limited.class(),
            RetryClass::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(limited.to_string().contains("7 s"));
        assert!(SlackError::Http {
            method: "calls.add",
            status: 503
        }
        .is_retryable());
        assert!(!SlackError::Http {
            method: "calls.add",
            status: 404
        }
        .is_retryable());
        assert!(SlackError::Timeout {
            method: "calls.add"
        }
        .is_retryable());
        let dead = SlackError::Api {
            method: "calls.add",
            code: ApiErrorCode::TokenRevoked,
        };
        assert!(dead.is_token_dead());
        assert!(!dead.is_retryable());
        assert_eq!(dead.method(), "calls.add");
    }
}
