//! Meetings from the provider's own HTTP API (`MEETING_API_URL`).
