//! The one place that decides which WIT `error` a connector sees for a failure
//! of the host's layers: the policy refused (`denied`), the request or config is
//! wrong (`config`), the data does not fit (`data`), the source may recover
//! (`transient`), the quota is spent (`paused`), or anything else (`other`).

use crate::bindings::WitError;
use crate::http_policy::HttpError;
use crate::load::LoadError;
use crate::roots::RootError;
use crate::stream::StreamError;

impl From<HttpError> for WitError {
    fn from(e: HttpError) -> Self {
        let message = e.to_string();
        match e {
            HttpError::Invalid(_) => WitError::Config(message),
            HttpError::Denied(_) => WitError::Denied(message),
            HttpError::Auth(_) => WitError::Auth(message),
            HttpError::Unavailable(_) => WitError::Transient(message),
            HttpError::QuotaSpent(_) => WitError::Paused(message),
            HttpError::Host(_) => WitError::Other(message),
        }
    }
}

impl From<RootError> for WitError {
    fn from(e: RootError) -> Self {
        let message = e.to_string();
        match e {
            RootError::NotGranted { .. }
            | RootError::NotPlain { .. }
            | RootError::Escapes { .. }
            | RootError::OtherSlice { .. } => WitError::Denied(message),
            RootError::NotListable { .. } | RootError::BadGlob { .. } | RootError::TooLarge { .. } => {
                WitError::Config(message)
            }
            RootError::Unavailable { .. } => WitError::Transient(message),
            RootError::NotFound { .. } | RootError::NotAFile { .. } | RootError::Io { .. } => WitError::Other(message),
            RootError::Http(e) => e.into(),
        }
    }
}

impl From<LoadError> for WitError {
    fn from(e: LoadError) -> Self {
        let message = e.to_string();
        match e {
            LoadError::Options { .. } => WitError::Config(message),
            LoadError::File { .. } | LoadError::Line { .. } => WitError::Data(message),
            LoadError::Panicked { .. } => WitError::Other(message),
        }
    }
}

impl From<StreamError> for WitError {
    fn from(e: StreamError) -> Self {
        let message = e.to_string();
        match e {
            StreamError::NotRead { .. } => WitError::Denied(message),
            StreamError::Rows { .. }
            | StreamError::PageRows { .. }
            | StreamError::Schema { .. }
            | StreamError::StateNotJson { .. } => WitError::Data(message),
            StreamError::Sink(_) | StreamError::Delivery(_) => WitError::Other(message),
            StreamError::Root(e) => e.into(),
            StreamError::Load(e) => e.into(),
            // The kind of what the stream refused, with the file named.
            StreamError::InFile { source, .. } => same_kind(WitError::from(*source), message),
            // The kind of the first failure (review D25: always `data`, even after a denial).
            StreamError::Poisoned { cause, .. } => same_kind(WitError::from(cause.as_ref().clone()), message),
        }
    }
}

/// `message` with the kind of `like`.
fn same_kind(like: WitError, message: String) -> WitError {
    match like {
        WitError::Config(_) => WitError::Config(message),
        WitError::Auth(_) => WitError::Auth(message),
        WitError::Transient(_) => WitError::Transient(message),
        WitError::Denied(_) => WitError::Denied(message),
        WitError::Data(_) => WitError::Data(message),
        WitError::Paused(_) => WitError::Paused(message),
        WitError::Other(_) => WitError::Other(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a connector can react to keeps its kind across the layers.
    #[test]
    fn kinds_a_connector_reacts_to() {
        let denied = RootError::NotPlain { root: "r".into(), path: "../x".into() };
        assert!(matches!(WitError::from(denied), WitError::Denied(_)));
        let quota = RootError::Http(HttpError::QuotaSpent("wait".into()));
        assert!(matches!(WitError::from(quota), WitError::Paused(_)));
        let sink = StreamError::Sink(crate::sink::SinkError::Stopped { stream: "s".into() });
        assert!(matches!(WitError::from(sink), WitError::Other(_)), "a sink failure is not the connector's data");
    }

    /// Review D25: a poisoned stream's refusal was always `data`; it keeps the kind of its cause.
    #[test]
    fn a_poisoned_stream_refuses_with_the_kind_of_its_first_failure() {
        use crate::stream::Step;
        let poisoned = |cause: StreamError| StreamError::Poisoned {
            refused: Step::Checkpoint,
            step: Step::Load,
            stream: "s".into(),
            cause: std::sync::Arc::new(cause),
        };
        let denied = StreamError::Root(RootError::NotPlain { root: "r".into(), path: "../x".into() });
        assert!(matches!(WitError::from(poisoned(denied)), WitError::Denied(m) if m.contains("refused")));
        let sink = StreamError::Sink(crate::sink::SinkError::Stopped { stream: "s".into() });
        assert!(matches!(WitError::from(poisoned(sink)), WitError::Other(_)));
        let data = StreamError::StateNotJson { stream: "s".into() };
        assert!(matches!(WitError::from(poisoned(data)), WitError::Data(_)));
    }
}
