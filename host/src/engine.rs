//! The process's one wasmtime [`Engine`], its linker, and compiled components.
//!
//! Components are compiled once and their native code cached on disk, keyed by
//! the component's sha256 and the engine's compatibility hash; a later load only
//! maps the cached code. Imports are resolved once per component
//! (`instantiate_pre`), so a stream read costs a `Store` and an instantiation.

use crate::bindings::SourcePre;
use crate::capability::{self, HostState};
use crate::compile::Compiler;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

/// How often the epoch advances: the granularity of call deadlines, and how long
/// a guest that computes runs before it yields the runtime thread to the others.
pub const EPOCH_TICK: Duration = Duration::from_millis(20);

pub struct ConnectorRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: PathBuf,
    compiler: Compiler,
}

/// A component ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pub pre: SourcePre<HostState>,
    pub sha256: String,
    /// The sha256 of the cached native code it was loaded from or compiled into.
    pub compiled_sha256: Option<String>,
}

impl ConnectorRuntime {
    /// Builds the engine (with epoch interruption and a ticker thread) and the
    /// linker; components not in the cache are compiled by `compiler`.
    pub fn new(cache_dir: &Path, compiler: Compiler) -> Result<ConnectorRuntime> {
        let engine = Engine::new(&config()).map_err(|e| Error::Engine(format!("{e:#}")))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("headwater-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(Error::io("starting the epoch thread"))?;
        let mut linker = Linker::new(&engine);
        capability::add_to_linker(&mut linker)
            .map_err(|e| Error::Engine(format!("linking the host's interfaces: {e:#}")))?;
        Ok(ConnectorRuntime { engine, linker, cache_dir: cache_dir.to_path_buf(), compiler })
    }

    /// Loads a component file: checks it is a component of the `source` world,
    /// compiles it (or maps the cached native code) and resolves its imports.
    /// With a `pin`, the file's sha256 must match, and the cached native code is
    /// used only when its own sha256 matches the pin too (else it is compiled
    /// again: a swapped cache file never runs under an installed connector's name).
    pub fn load(&self, path: &Path, pin: Option<Pin<'_>>) -> Result<LoadedComponent> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::InvalidComponent { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        self.load_bytes(path, &bytes, pin)
    }

    /// [`load`](Self::load) of a component's bytes; `path` names it in messages.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8], pin: Option<Pin<'_>>) -> Result<LoadedComponent> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        if let Some(pin) = &pin
            && pin.component_sha256 != sha256
        {
            return Err(Error::PinMismatch {
                name: pin.name.to_string(),
                path: path.to_path_buf(),
                pinned: pin.component_sha256.to_string(),
                actual: sha256,
            });
        }
        check_is_component(path, bytes)?;
        let (component, compiled_sha256) = self.compile_cached(path, bytes, &sha256, pin.as_ref())?;
        let invalid = |message: String| Error::InvalidComponent { path: path.to_path_buf(), message };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            invalid(format!(
                "not a Headwater source connector: it imports something the host does not provide \
                 (it must target the `source` world of headwater:connector@0.1.0): {e:#}"
            ))
        })?;
        let pre = SourcePre::new(instance_pre).map_err(|e| {
            invalid(format!(
                "not a Headwater source connector: it does not export `headwater:connector/connector` \
                 as the `source` world defines it: {e:#}"
            ))
        })?;
        Ok(LoadedComponent { pre, sha256, compiled_sha256 })
    }

    /// The component compiled, from the cache when the cached code may be trusted,
    /// and the sha256 of the native code it came from (`None` when it could not be cached).
    fn compile_cached(
        &self,
        path: &Path,
        bytes: &[u8],
        sha256: &str,
        pin: Option<&Pin<'_>>,
    ) -> Result<(Component, Option<String>)> {
        let mut h = DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let cached = self.cache_dir.join(format!("{sha256}-{:016x}.cwasm", h.finish()));
        // A component named by path has no manifest to pin its native code: the host
        // records the sha256 of what it wrote beside it (`<cache>.pin`), and trusts
        // only a file that matches, never whatever `.cwasm` lies in the folder (review D14).
        let own_pin = cached.with_extension("cwasm.pin");
        if let Ok(native) = std::fs::read(&cached) {
            let native_sha256 = hex::encode(Sha256::digest(&native));
            let trusted = match pin {
                Some(p) => p.compiled_sha256 == Some(native_sha256.as_str()),
                None => std::fs::read_to_string(&own_pin).is_ok_and(|pinned| pinned.trim() == native_sha256),
            };
            if trusted {
                // SAFETY: the bytes are native code `Component::serialize` wrote for an
                // engine with this compatibility hash: the file name says which, and an
                // installed connector's pin says these are the very bytes it wrote.
                match unsafe { Component::deserialize(&self.engine, &native) } {
                    Ok(c) => return Ok((c, Some(native_sha256))),
                    Err(e) => tracing::warn!("ignoring unusable compiled cache {}: {e}", cached.display()),
                }
            } else if pin.is_none_or(|p| p.compiled_sha256.is_some()) {
                tracing::warn!(
                    "the compiled code cached at {} is not the one pinned for `{}`: compiling the component again",
                    cached.display(),
                    pin.map_or_else(|| path.display().to_string(), |p| p.name.to_string())
                );
            }
        }
        let (component, serialized) = self.compile(path, bytes)?;
        let Some(serialized) = serialized else { return Ok((component, None)) };
        let native_sha256 = hex::encode(Sha256::digest(&serialized));
        // Written under a temporary name then renamed, so a reader never maps half a file.
        let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
        let pin_tmp = own_pin.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::create_dir_all(&self.cache_dir)
            .and_then(|_| std::fs::write(&tmp, &serialized))
            .and_then(|_| std::fs::rename(&tmp, &cached))
            .and_then(|_| match pin {
                Some(_) => Ok(()),
                None => std::fs::write(&pin_tmp, &native_sha256).and_then(|_| std::fs::rename(&pin_tmp, &own_pin)),
            });
        match written {
            Ok(()) => Ok((component, Some(native_sha256))),
            Err(e) => {
                tracing::warn!("cannot cache compiled code at {}: {e}", cached.display());
                Ok((component, None))
            }
        }
    }

    /// Compiles `bytes` (the component at `path`): in a child process under the
    /// compile limits, or here when the runtime has no child to run; with its
    /// serialized native code when there is some to cache.
    fn compile(&self, path: &Path, bytes: &[u8]) -> Result<(Component, Option<Vec<u8>>)> {
        let invalid = |message: String| Error::InvalidComponent { path: path.to_path_buf(), message };
        let Some(exe) = &self.compiler.exe else {
            let component = Component::new(&self.engine, bytes)
                .map_err(|e| invalid(format!("not a valid WebAssembly component: {e:#}")))?;
            let serialized = component.serialize().ok();
            return Ok((component, serialized));
        };
        // The child reads the component from a file of its own (a built-in one has none).
        let scratch = self.cache_dir.join("compiling");
        let input = std::fs::create_dir_all(&scratch)
            .and_then(|()| tempfile::Builder::new().prefix("component-").suffix(".wasm").tempfile_in(&scratch))
            .and_then(|mut f| std::io::Write::write_all(&mut f, bytes).map(|()| f))
            .map_err(|e| {
                Error::Engine(format!(
                    "writing {} for its compilation under {}: {e}",
                    path.display(),
                    scratch.display()
                ))
            })?;
        let serialized =
            crate::compile::in_child(exe, input.path(), self.compiler.limits, &scratch).map_err(|e| match e {
                crate::compile::CompileError::Child(_) => Error::Engine(format!("compiling {}: {e}", path.display())),
                _ => invalid(e.to_string()),
            })?;
        // SAFETY: the bytes are native code that this very binary's compiling child
        // wrote just now, with the engine settings of `config()`.
        let component = unsafe { Component::deserialize(&self.engine, &serialized) }
            .map_err(|e| Error::Engine(format!("loading the code compiled for {}: {e:#}", path.display())))?;
        Ok((component, Some(serialized)))
    }
}

/// The engine's settings, the same wherever a component is compiled (this
/// process or a compiling child, `crate::compile`), so native code compiled by
/// one loads in the other.
pub(crate) fn config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    config
}

/// What an installed connector is pinned to: its component's sha256 and, once
/// compiled, the sha256 of its cached native code.
pub struct Pin<'a> {
    pub name: &'a str,
    pub component_sha256: &'a str,
    pub compiled_sha256: Option<&'a str>,
}

/// Tells a core module or a non-wasm file from a component, with what to do.
fn check_is_component(path: &Path, bytes: &[u8]) -> Result<()> {
    let invalid = |message: &str| Error::InvalidComponent { path: path.to_path_buf(), message: message.to_string() };
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(invalid("not a WebAssembly file (no `\\0asm` header)"));
    }
    // Core modules have version 1 and layer 0; components have layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(invalid(
            "a core WebAssembly module, not a component: build the connector for wasm32-wasip2 \
             (or wrap it with `wasm-tools component new`)",
        ));
    }
    Ok(())
}
