//! Meetings from a URL template (`JOIN_URL_TEMPLATE`), no account needed.
