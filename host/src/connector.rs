//! A loaded connector and its calls. Each call gets a fresh `Store` with the
//! pipeline's memory limit and a wall-clock deadline: the epoch callback yields
//! to the runtime at every tick (so a guest that computes never keeps the other
//! streams waiting) and traps once the call has run `call_timeout_s`, and a
//! timeout around the call covers its host calls; a trap, a limit hit or an error the connector returns
//! becomes an [`Error::Connector`] naming the connector and the call. Nothing a
//! connector does can panic the host.

use crate::bindings::{ConnectorSpec, StreamInfo, WitError};
use crate::capability::HostState;
use crate::capability::files::FilesCtx;
use crate::capability::http::HttpCtx;
use crate::capability::output::OutputCtx;
use crate::capability::state::StateCtx;
use crate::engine::LoadedComponent;
use crate::error::Call;
use crate::footprint::{Footprint, FootprintExceeded};
use crate::{Error, Result, untrusted_text};
use std::path::PathBuf;
use std::time::Duration;
use wasmtime::component::ResourceTableError;
use wasmtime::{Store, Trap, UpdateDeadline};

/// Limits of one call.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    pub memory_mb: u64,
    pub timeout: Duration,
    /// The most bytes the connector may hand the host in one host call (wasmtime's
    /// hostcall fuel): at least a whole response, so a page the policy let through
    /// can always be handed back with `emit-records`.
    pub handoff_mb: u64,
}

/// wasmtime's default hostcall fuel, in MiB: the floor of `handoff_mb`.
const DEFAULT_HANDOFF_MB: u64 = 128;

impl CallLimits {
    /// Limits for the short calls made at install and inspection.
    pub fn inspection() -> Self {
        CallLimits { memory_mb: 256, timeout: Duration::from_secs(30), handoff_mb: DEFAULT_HANDOFF_MB }
    }

    /// Limits for a pipeline's calls.
    pub fn of(limits: &crate::config::Limits) -> Self {
        CallLimits {
            memory_mb: limits.memory_mb,
            timeout: Duration::from_secs(limits.call_timeout_s),
            // A response and the headers and arguments that go with it.
            handoff_mb: DEFAULT_HANDOFF_MB.max(limits.max_response_mb.saturating_add(8)),
        }
    }
}

pub struct Connector {
    /// The name users know it by: installed name, or the file name.
    pub name: String,
    /// The component file it was loaded from.
    pub file: PathBuf,
    pub component: LoadedComponent,
}

impl Connector {
    pub fn new(name: impl Into<String>, file: PathBuf, component: LoadedComponent) -> Self {
        Connector { name: name.into(), file, component }
    }

    /// A host state granting nothing, limited by `limits`.
    fn bare_state(&self, limits: CallLimits) -> HostState {
        HostState::bare(&self.name, store_limits(limits))
    }

    /// A host state for `check` and `discover`: HTTP and files, no output.
    pub fn probe_state(&self, limits: CallLimits, http: HttpCtx, files: FilesCtx) -> HostState {
        HostState::for_probe(&self.name, store_limits(limits), http, files)
    }

    /// A host state for `read`.
    pub fn read_state(
        &self,
        limits: CallLimits,
        http: HttpCtx,
        files: FilesCtx,
        state: StateCtx,
        output: OutputCtx,
    ) -> HostState {
        HostState::for_read(store_limits(limits), http, files, state, output)
    }

    /// The connector's spec, its name, version and description escaped for printing.
    pub async fn spec(&self, limits: CallLimits) -> Result<ConnectorSpec> {
        let (result, _) = self
            .call(Call::Spec, self.bare_state(limits), limits, async |c, s| c.call_spec(s).await.map(Ok::<_, WitError>))
            .await;
        let spec = result?;
        // Cut as well as escaped: they are printed and stored in the manifest (review D17).
        if spec.config_schema.len() > MAX_CONFIG_SCHEMA {
            return Err(self.fail(
                Call::Spec,
                format!(
                    "its config schema is {} bytes, more than {} KiB",
                    spec.config_schema.len(),
                    MAX_CONFIG_SCHEMA >> 10
                ),
            ));
        }
        Ok(ConnectorSpec {
            name: untrusted_text::excerpt(&spec.name, 200),
            version: untrusted_text::excerpt(&spec.version, 200),
            description: untrusted_text::excerpt(&spec.description, MAX_TEXT),
            config_schema: spec.config_schema,
        })
    }

    pub async fn check(&self, config: &str, state: HostState, limits: CallLimits) -> Result<()> {
        let config = config.to_string();
        self.call(Call::Check, state, limits, async move |c, s| c.call_check(s, &config).await).await.0
    }

    pub async fn discover(&self, config: &str, state: HostState, limits: CallLimits) -> Result<Vec<StreamInfo>> {
        let config = config.to_string();
        self.call(Call::Discover, state, limits, async move |c, s| c.call_discover(s, &config).await).await.0
    }

    /// Reads `streams`; returns the host state too, which holds what was emitted.
    pub async fn read(
        &self,
        config: &str,
        streams: &[String],
        state: HostState,
        limits: CallLimits,
    ) -> (Result<()>, HostState) {
        let config = config.to_string();
        let streams = streams.to_vec();
        self.call(Call::Read, state, limits, async move |c, s| c.call_read(s, &config, &streams).await).await
    }

    /// Instantiates in a fresh store and runs one export under the limits.
    async fn call<T, F>(&self, call: Call, state: HostState, limits: CallLimits, f: F) -> (Result<T>, HostState)
    where
        F: AsyncFnOnce(
            &crate::bindings::exports::headwater::connector::connector::Guest,
            &mut Store<HostState>,
        ) -> wasmtime::Result<std::result::Result<T, WitError>>,
    {
        let mut store = Store::new(self.component.pre.engine(), state);
        store.limiter(|s| s.limits());
        store.set_hostcall_fuel(usize::try_from(limits.handoff_mb << 20).unwrap_or(usize::MAX));
        // The call's own time from the store's creation, host calls and its own waiting
        // included (review D26), others' turns on the shared thread not (`crate::budget`).
        // At every tick the guest yields, so that a guest that computes shares the
        // runtime thread with the other streams instead of stalling them (review D22).
        let budget = crate::budget::Budget::start(limits.timeout);
        let spent = budget.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if spent.spent() { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) })
        });
        let run = async {
            let instance = self.component.pre.instantiate_async(&mut store).await?;
            f(instance.headwater_connector_connector(), &mut store).await
        };
        let outcome = crate::budget::run(budget, run).await;
        let result = match outcome {
            None => {
                Err(self.fail(call, format!("timed out after {}s ([limits] call_timeout_s)", limits.timeout.as_secs())))
            }
            Some(Ok(Ok(v))) => Ok(v),
            // What the connector says is untrusted text: escaped before anything prints it.
            Some(Ok(Err(WitError::Paused(message)))) => Err(Error::Paused {
                connector: self.name.clone(),
                message: untrusted_text::excerpt(&message, MAX_TEXT),
            }),
            Some(Ok(Err(e))) => Err(self.fail(call, untrusted_text::excerpt(&e.describe(), MAX_TEXT))),
            Some(Err(trap)) => Err(self.fail(call, describe_trap(&trap, limits, &store.data().stderr_text()))),
        };
        (result, store.into_data())
    }

    /// A failure of `call`, naming the connector.
    pub fn fail(&self, call: Call, message: String) -> Error {
        Error::Connector { connector: self.name.clone(), call, message }
    }
}

/// The most of a connector's error or description the host keeps, in characters
/// (escaping can make it longer still): enough for any message, not a flood.
const MAX_TEXT: usize = 4096;
/// The largest config schema a connector's spec may return.
const MAX_CONFIG_SCHEMA: usize = 1 << 20;

fn store_limits(limits: CallLimits) -> Footprint {
    Footprint::new(limits.memory_mb)
}

/// Turns a trap into a sentence a user can act on.
fn describe_trap(e: &wasmtime::Error, limits: CallLimits, stderr: &str) -> String {
    // A trap's text carries the guest's own function names: untrusted too.
    let text = untrusted_text::lines(&format!("{e:#}"));
    let what = if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        format!(
            "was stopped: it ran longer than [limits] call_timeout_s = {}s (its own time: computing, host calls \
             and its own waiting, not other streams' turns)",
            limits.timeout.as_secs()
        )
    } else if let Some(exceeded) = e.downcast_ref::<FootprintExceeded>() {
        format!("was stopped: {exceeded}")
    } else if text.contains("fuel allocated for hostcalls has been exhausted") {
        format!(
            "was stopped: it handed the host more than {} MiB in one call (the larger of 128 MiB and \
             [limits] max_response_mb + 8): emit less at once, or raise max_response_mb",
            limits.handoff_mb
        )
    } else if e.downcast_ref::<ResourceTableError>().is_some() {
        format!("used a resource handle wrongly: {text}")
    } else {
        format!("trapped: {text}")
    };
    let stderr = untrusted_text::lines(stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
    if tail.is_empty() { what } else { format!("{what}\nconnector stderr:\n  {}", tail.join("\n  ")) }
}
