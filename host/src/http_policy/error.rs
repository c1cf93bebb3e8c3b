//! Why the HTTP policy did not return a response, by kind; the capability layer
//! maps each kind to the WIT error a connector sees (`capability::error`).
//! Messages name the URL as the connector wrote it, never with a credential.

#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// The request itself is wrong (its URL, method or a header), or names a
    /// credential that cannot be used for it.
    #[error("{0}")]
    Invalid(String),
    /// The policy refused it: a host, scheme or redirect not allowed, a private
    /// address, a credential not granted for the host, a response too large.
    #[error("{0}")]
    Denied(String),
    /// The token endpoint refused or failed a credential.
    #[error("{0}")]
    Auth(String),
    /// The server could not be reached or kept failing, within the retries allowed.
    #[error("{0}")]
    Unavailable(String),
    /// The server's quota is spent beyond `[limits] max_wait_s`: the stream pauses.
    #[error("{0}")]
    QuotaSpent(String),
    /// The host failed at its own work (e.g. saving a rotated refresh token).
    #[error("{0}")]
    Host(String),
}
