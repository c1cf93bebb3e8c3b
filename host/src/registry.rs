//! The connectors a pipeline can name: installed ones, under
//! `$HEADWATER_HOME/connectors/<name>/` (the component file, and a manifest
//! pinning its sha256 with its spec), and the built-in ones embedded in the
//! binary (`builtin`). An installed connector takes the place of a built-in
//! one of the same name; removing it brings the built-in one back.
//!
//! Installing validates the world and compiles the component once; native
//! code is cached under `$HEADWATER_HOME/cache/`, for built-in connectors too.

use crate::bindings::ConnectorSpec;
use crate::builtin;
use crate::config::ConnectorRef;
use crate::connector::{CallLimits, Connector};
use crate::engine::{ConnectorRuntime, Pin};
use crate::names;
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub sha256: String,
    /// sha256 of its compiled native code in the cache: other cached code is never run under this name.
    #[serde(default)]
    pub compiled_sha256: Option<String>,
    /// JSON Schema of the config, as the connector's `spec` returned it.
    pub config_schema: serde_json::Value,
    pub installed_from: PathBuf,
    pub installed_at: DateTime<Utc>,
}

/// Where a connector comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Installed with `headwater connector install`.
    Installed,
    /// Shipped inside the binary.
    BuiltIn,
}

/// A connector as `connector list` and `connector inspect` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub name: String,
    pub version: String,
    pub description: String,
    pub sha256: String,
    pub origin: Origin,
    /// An installed connector that takes the place of a built-in one of the same name.
    pub overrides_builtin: bool,
    pub config_schema: serde_json::Value,
    pub installed_from: Option<PathBuf>,
    pub installed_at: Option<DateTime<Utc>>,
}

impl Listing {
    fn installed(m: Manifest) -> Listing {
        Listing {
            overrides_builtin: builtin::get(&m.name).is_some(),
            name: m.name,
            version: m.version,
            description: m.description,
            sha256: m.sha256,
            origin: Origin::Installed,
            config_schema: m.config_schema,
            installed_from: Some(m.installed_from),
            installed_at: Some(m.installed_at),
        }
    }
}

pub struct Registry {
    home: PathBuf,
}

const COMPONENT: &str = "component.wasm";
const MANIFEST: &str = "manifest.json";

impl Registry {
    /// The registry at `$HEADWATER_HOME`, else the per-user data folder.
    pub fn from_env() -> Result<Registry> {
        let home = match std::env::var_os("HEADWATER_HOME") {
            Some(h) => PathBuf::from(h),
            None => dirs::data_dir()
                .ok_or_else(|| Error::Usage("no per-user data folder here: set HEADWATER_HOME".into()))?
                .join("headwater"),
        };
        Ok(Registry { home })
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.join("cache")
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.home.join("connectors").join(name)
    }

    /// Validates, compiles and installs a component. The name defaults to the
    /// connector's own (`spec().name`).
    pub async fn install(&self, runtime: &ConnectorRuntime, file: &Path, name: Option<&str>) -> Result<Manifest> {
        // Compiled afresh, whatever the cache holds: the pin written below is of code this install made.
        let bytes = std::fs::read(file).map_err(Error::io(format!("reading {}", file.display())))?;
        let shown = file.display().to_string();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let fresh = Pin { name: &shown, component_sha256: &sha256, compiled_sha256: None };
        let component = runtime.load(file, Some(fresh))?;
        let probe = Connector::new(file.display().to_string(), file.to_path_buf(), component.clone());
        let spec = probe.spec(CallLimits::inspection()).await?;
        let config_schema = config_schema(file, &spec)?;
        let name = name.unwrap_or(&spec.name).to_string();
        names::check(names::Kind::Connector, &name)
            .map_err(|e| Error::Usage(format!("{e}: install it under another name with --name")))?;
        let dir = self.dir(&name);
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let tmp = dir.join(format!("{COMPONENT}.tmp"));
        std::fs::write(&tmp, &bytes).map_err(Error::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, dir.join(COMPONENT)).map_err(Error::io(format!("installing into {}", dir.display())))?;
        let manifest = Manifest {
            name,
            version: spec.version,
            description: spec.description,
            sha256: component.sha256,
            compiled_sha256: component.compiled_sha256,
            config_schema,
            installed_from: std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
            installed_at: Utc::now(),
        };
        self.write_manifest(&manifest)?;
        Ok(manifest)
    }

    /// Writes a manifest whole, under a temporary name then renamed.
    fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        let dir = self.dir(&manifest.name);
        let json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        std::fs::write(&tmp, json).map_err(Error::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, dir.join(MANIFEST))
            .map_err(Error::io(format!("writing the manifest in {}", dir.display())))
    }

    /// The installed connectors, by name.
    pub fn installed(&self) -> Result<Vec<Manifest>> {
        let root = self.home.join("connectors");
        let Ok(entries) = std::fs::read_dir(&root) else { return Ok(Vec::new()) };
        let mut manifests = Vec::new();
        for entry in entries.flatten() {
            if let Some(m) = entry.file_name().to_str().and_then(|name| self.manifest(name).ok()) {
                manifests.push(m);
            }
        }
        manifests.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(manifests)
    }

    pub fn manifest(&self, name: &str) -> Result<Manifest> {
        names::check(names::Kind::Connector, name)?;
        let path = self.dir(name).join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|_| self.not_found(name))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidComponent { path, message: format!("unreadable manifest: {e}") })
    }

    fn not_found(&self, name: &str) -> Error {
        let mut installed = self.installed().unwrap_or_default().into_iter().map(|m| m.name).collect::<Vec<_>>();
        let builtins: Vec<String> =
            builtin::names().filter(|b| !installed.iter().any(|n| n == b)).map(|b| format!("{b} (built in)")).collect();
        installed.extend(builtins);
        installed.sort();
        Error::ConnectorNotFound {
            name: name.to_string(),
            installed: if installed.is_empty() { "none".into() } else { installed.join(", ") },
        }
    }

    pub fn remove(&self, name: &str) -> Result<Manifest> {
        let manifest = self.manifest(name)?;
        let dir = self.dir(name);
        std::fs::remove_dir_all(&dir).map_err(Error::io(format!("removing {}", dir.display())))?;
        Ok(manifest)
    }

    /// Loads the connector a pipeline phase names: an installed one (its bytes
    /// checked against the pinned sha256) or a component file.
    pub fn load(&self, runtime: &ConnectorRuntime, r: &ConnectorRef) -> Result<Connector> {
        match r {
            ConnectorRef::Installed(name) => {
                let mut manifest = match self.manifest(name) {
                    Ok(manifest) => manifest,
                    Err(Error::ConnectorNotFound { .. }) if builtin::get(name).is_some() => {
                        return self.load_builtin(runtime, name);
                    }
                    Err(e) => return Err(e),
                };
                let file = self.dir(name).join(COMPONENT);
                let pin = Pin {
                    name,
                    component_sha256: &manifest.sha256,
                    compiled_sha256: manifest.compiled_sha256.as_deref(),
                };
                let component = runtime.load(&file, Some(pin))?;
                // Compiled again (another engine, or the cache did not match): pin the new code.
                if component.compiled_sha256.is_some() && component.compiled_sha256 != manifest.compiled_sha256 {
                    manifest.compiled_sha256 = component.compiled_sha256.clone();
                    self.write_manifest(&manifest)?;
                }
                Ok(Connector::new(name.clone(), file, component))
            }
            ConnectorRef::Path(path) => {
                if !path.exists() {
                    return Err(Error::InvalidComponent { path: path.clone(), message: "no such file".into() });
                }
                let component = runtime.load(path, None)?;
                let name =
                    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
                Ok(Connector::new(name, path.clone(), component))
            }
        }
    }

    /// The built-in connector `name`, compiled (or its cached code mapped).
    fn load_builtin(&self, runtime: &ConnectorRuntime, name: &str) -> Result<Connector> {
        let bytes = builtin::get(name).ok_or_else(|| self.not_found(name))?;
        let label = builtin::label(name);
        let component = runtime.load_bytes(&label, bytes, None)?;
        Ok(Connector::new(name, label, component))
    }

    /// Whether a pipeline can name the connector `name` (installed or built in).
    pub fn has(&self, name: &str) -> bool {
        builtin::get(name).is_some() || self.manifest(name).is_ok()
    }

    /// Every connector a pipeline can name, by name: the installed ones, and
    /// the built-in ones no install takes the place of.
    pub async fn list(&self, runtime: &ConnectorRuntime) -> Result<Vec<Listing>> {
        let mut listed: Vec<Listing> = self.installed()?.into_iter().map(Listing::installed).collect();
        for name in builtin::names() {
            if !listed.iter().any(|l| l.name == name) {
                listed.push(self.builtin_listing(runtime, name).await?);
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// The connector a pipeline naming `name` would run.
    pub async fn describe(&self, runtime: &ConnectorRuntime, name: &str) -> Result<Listing> {
        match self.manifest(name) {
            Ok(manifest) => Ok(Listing::installed(manifest)),
            Err(Error::ConnectorNotFound { .. }) if builtin::get(name).is_some() => {
                self.builtin_listing(runtime, name).await
            }
            Err(e) => Err(e),
        }
    }

    async fn builtin_listing(&self, runtime: &ConnectorRuntime, name: &str) -> Result<Listing> {
        let connector = self.load_builtin(runtime, name)?;
        let spec = connector.spec(CallLimits::inspection()).await?;
        let config_schema = config_schema(&connector.file, &spec)?;
        Ok(Listing {
            name: name.to_string(),
            version: spec.version,
            description: spec.description,
            sha256: connector.component.sha256,
            origin: Origin::BuiltIn,
            overrides_builtin: false,
            config_schema,
            installed_from: None,
            installed_at: None,
        })
    }
}

/// The JSON Schema of a connector's config, as its `spec` declares it: JSON, and a
/// valid schema, or the component is not a usable connector (at install, and when a
/// pipeline names the file directly alike).
pub fn config_schema(file: &Path, spec: &ConnectorSpec) -> Result<serde_json::Value> {
    let invalid = |message: String| Error::InvalidComponent { path: file.to_path_buf(), message };
    let schema: serde_json::Value = serde_json::from_str(&spec.config_schema)
        .map_err(|e| invalid(format!("its spec's config-schema is not JSON: {e}")))?;
    jsonschema::validator_for(&schema)
        .map_err(|e| invalid(format!("its spec's config-schema is not a valid JSON Schema: {e}")))?;
    Ok(schema)
}
