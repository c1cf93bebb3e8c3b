//! The [`Connector`] trait and the glue that exports it through the WIT
//! `connector` interface, so that connector authors never touch the bindings.

use crate::{Error, Result, StreamInfo};
use serde::de::DeserializeOwned;

/// A source connector. Each function gets the config already parsed into
/// `Self::Config`; the host has validated it against the JSON Schema derived from
/// that type before calling.
pub trait Connector {
    /// The connector's config, as written in the pipeline file's `config` table.
    type Config: DeserializeOwned + schemars::JsonSchema;

    /// Can the connector reach its source with this config? Defaults to yes.
    fn check(config: &Self::Config) -> Result<()> {
        let _ = config;
        Ok(())
    }

    /// The streams this config yields, with their columns, keys and cursor.
    fn discover(config: &Self::Config) -> Result<Vec<StreamInfo>>;

    /// Reads `streams`, emitting rows and checkpointing each stream as it goes.
    /// The host calls `read` once per stream, each in its own sandbox, so
    /// `streams` names exactly one; a connector should still skip names it does
    /// not know rather than fail.
    fn read(config: &Self::Config, streams: &[String]) -> Result<()>;
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    use crate::ConnectorSpec;

    pub fn spec<C: Connector>(name: &str, version: &str, description: &str) -> ConnectorSpec {
        let schema = schemars::schema_for!(C::Config);
        ConnectorSpec {
            name: name.to_string(),
            version: version.to_string(),
            description: description.to_string(),
            config_schema: serde_json::to_string(&schema).unwrap_or_else(|_| "{}".to_string()),
        }
    }

    pub fn parse_config<C: Connector>(config: &str) -> Result<C::Config> {
        serde_json::from_str(config).map_err(|e| Error::Config(format!("invalid config: {e}")))
    }

    pub fn check<C: Connector>(config: String) -> Result<()> {
        C::check(&parse_config::<C>(&config)?)
    }

    pub fn discover<C: Connector>(config: String) -> Result<Vec<StreamInfo>> {
        C::discover(&parse_config::<C>(&config)?)
    }

    pub fn read<C: Connector>(config: String, streams: Vec<String>) -> Result<()> {
        C::read(&parse_config::<C>(&config)?, &streams)
    }
}

/// Exports a [`Connector`] as the component's `connector` interface. The spec's
/// name, version and description come from the connector crate's Cargo.toml.
#[macro_export]
macro_rules! export {
    ($ty:ident) => {
        impl $crate::bindings::exports::headwater::connector::connector::Guest for $ty {
            fn spec() -> $crate::ConnectorSpec {
                $crate::__private::spec::<$ty>(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
            fn check(config: String) -> $crate::Result<()> {
                $crate::__private::check::<$ty>(config)
            }
            fn discover(config: String) -> $crate::Result<Vec<$crate::StreamInfo>> {
                $crate::__private::discover::<$ty>(config)
            }
            fn read(config: String, streams: Vec<String>) -> $crate::Result<()> {
                $crate::__private::read::<$ty>(config, streams)
            }
        }
        $crate::bindings::__export_source!($ty with_types_in $crate::bindings);
    };
}
