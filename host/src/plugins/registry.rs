//! Builds every instance named in the config, collecting all problems.

use std::{collections::HashMap, fmt, path::PathBuf, sync::Arc};

use indexmap::IndexMap;

use super::{
    host_services::{Counters, Owner},
    instances::{InstanceId, Kind, Policy, Responder, Stt, Transport, Tts},
    loader::{self, Created, InstanceSpec, Library, LibraryInfo, LoadError},
    scope::{self, CallScope},
};
use crate::{
    config::{InstanceTable, Loaded, Problem},
    model::RouteKind,
};

/// Every loaded library and instance.
#[derive(Debug, Default)]
pub struct Registry {
    /// Libraries by plugin name.
    pub libraries: IndexMap<String, Library>,
    /// Transports by instance name.
    pub transports: IndexMap<String, Arc<Transport>>,
    /// STT engines by instance name.
    pub stt: IndexMap<String, Arc<Stt>>,
    /// Policies in chain order.
    pub policies: Vec<Arc<Policy>>,
    /// TTS engines by instance name.
    pub tts: IndexMap<String, Arc<Tts>>,
    /// Responders by instance name.
    pub responders: IndexMap<String, Arc<Responder>>,
    /// The counters behind the host services.
    pub counters: Arc<Counters>,
}

/// Everything that went wrong while building the registry.
#[derive(Debug, thiserror::Error)]
pub struct RegistryError {
    /// Problems tied to config keys (plugin config issues).
    pub config: Vec<Problem>,
    /// The config file, for messages.
    pub file: PathBuf,
    /// Load and construction failures, one line each.
    pub failures: Vec<String>,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.config.len() + self.failures.len();
        writeln!(f, "{n} plugin problem{}:", if n == 1 { "" } else { "s" })?;
        for p in &self.config {
            write!(f, "  {}", self.file.display())?;
            if let Some(line) = p.line {
                write!(f, ":{line}")?;
            }
            writeln!(f, ": `{}`: {}", p.key, p.message)?;
        }
        for failure in &self.failures {
            writeln!(f, "  {failure}")?;
        }
        Ok(())
    }
}

impl Registry {
    /// Loads every library and creates every instance. Slow plugins (a
    /// Whisper model) load here, so call it off the async reactor.
    pub fn build(loaded: &Loaded) -> Result<Self, RegistryError> {
        let config = &loaded.config;
        let plugin_dir = loaded.resolve(&config.server.plugin_dir);
        let mut registry = Registry::default();
        let mut error = RegistryError {
            config: Vec::new(),
            file: loaded.file.clone(),
            failures: Vec::new(),
        };
        let mut failed_libraries: HashMap<String, String> = HashMap::new();
        let extensions =
            serde_json::json!({ "config_dir": loaded.dir.display().to_string() }).to_string();

        let sections: [(Kind, &IndexMap<String, InstanceTable>); 5] = [
            (Kind::Policy, &config.policies),
            (Kind::Stt, &config.stt),
            (Kind::Tts, &config.tts),
            (Kind::Responder, &config.responders),
            (Kind::Transport, &config.transports),
        ];
        for (kind, instances) in sections {
            for (name, table) in instances {
                let key = format!("{}.{name}", kind.section());
                let id = InstanceId {
                    kind,
                    instance: name.clone(),
                    plugin: table.plugin.clone(),
                };
                // Load the library once; later instances reuse it.
                let library = match registry.libraries.get(&table.plugin) {
                    Some(lib) => lib.clone(),
                    None => {
                        if let Some(reason) = failed_libraries.get(&table.plugin) {
                            error.failures.push(format!(
                                "{id}: not created, its library failed to load ({reason})"
                            ));
                            continue;
                        }
                        let path = loader::library_path(&plugin_dir, &table.plugin);
                        match loader::load(&table.plugin, &path, &registry.counters) {
                            Ok(lib) => {
                                tracing::info!(
                                    plugin = %table.plugin,
                                    version = %lib.info.version,
                                    api = %lib.info.api_version,
                                    path = %lib.path.display(),
                                    "Loaded plugin library."
                                );
                                registry.libraries.insert(table.plugin.clone(), lib.clone());
                                lib
                            }
                            Err(e) => {
                                let line = loaded.problem(&format!("{key}.plugin"), "").line;
                                error.failures.push(format!(
                                    "{id}{}: cannot load the plugin: {e}",
                                    line.map(|l| format!(" ({}:{l})", loaded.file.display()))
                                        .unwrap_or_default()
                                ));
                                failed_libraries.insert(table.plugin.clone(), short(&e));
                                continue;
                            }
                        }
                    }
                };
                if !library.info.kinds.contains(&kind) {
                    error.config.push(loaded.problem(
                        &format!("{key}.plugin"),
                        format!(
                            "plugin `{}` does not provide the {} kind (it provides: {})",
                            table.plugin,
                            kind.name(),
                            kinds_list(&library.info)
                        ),
                    ));
                    continue;
                }
                let config_json = match serde_json::to_string(&table.settings) {
                    Ok(json) => json,
                    Err(e) => {
                        error.config.push(
                            loaded.problem(&key, format!("cannot be passed to the plugin: {e}")),
                        );
                        continue;
                    }
                };
                let spec = InstanceSpec {
                    instance: name.clone(),
                    config_json,
                    public_url: config.server.public_url.clone(),
                    extensions_json: extensions.clone(),
                    owner: Owner {
                        plugin: table.plugin.clone(),
                        instance: name.clone(),
                    },
                    counters: registry.counters.clone(),
                };
                // The constructor's log lines name the instance being built.
                let scope = CallScope::new(&Arc::new(id.clone()), "");
                let created = scope::within(&scope, || library.instantiate(kind, &spec));
                let created = created.map(|created| match created {
                    Created::Transport(api) => Transport::new(id.clone(), api).map(|t| {
                        registry.transports.insert(name.clone(), Arc::new(t));
                    }),
                    Created::Stt(api) => Stt::new(id.clone(), api).map(|s| {
                        registry.stt.insert(name.clone(), Arc::new(s));
                    }),
                    Created::Policy(api) => {
                        registry
                            .policies
                            .push(Arc::new(Policy::new(id.clone(), api)));
                        Ok(())
                    }
                    Created::Tts(api) => Tts::new(id.clone(), api).map(|t| {
                        registry.tts.insert(name.clone(), Arc::new(t));
                    }),
                    Created::Responder(api) => {
                        registry
                            .responders
                            .insert(name.clone(), Arc::new(Responder::new(id.clone(), api)));
                        Ok(())
                    }
                });
                match created {
                    Ok(Ok(())) => {}
                    Ok(Err(call_error)) => error.failures.push(call_error.to_string()),
                    Err(plugin_error) if !plugin_error.issues.is_empty() => {
                        for issue in &plugin_error.issues {
                            let issue_key = if issue.key.is_empty() {
                                key.clone()
                            } else {
                                format!("{key}.{}", issue.key)
                            };
                            error.config.push(loaded.problem(
                                &issue_key,
                                format!("{} (plugin {})", issue.message, table.plugin),
                            ));
                        }
                    }
                    Err(plugin_error) => error.failures.push(format!(
                        "{id} ({}): the constructor failed: {plugin_error}",
                        library.path.display()
                    )),
                }
            }
        }
        check_routes(&registry, loaded, &mut error);
        if error.config.is_empty() && error.failures.is_empty() {
            Ok(registry)
        } else {
            Err(error)
        }
    }
}

fn short(e: &LoadError) -> String {
    let text = e.to_string();
    text.split(';').next().unwrap_or(&text).to_owned()
}

fn kinds_list(info: &LibraryInfo) -> String {
    let kinds: Vec<&str> = info.kinds.iter().map(|k| k.name()).collect();
    if kinds.is_empty() {
        "nothing".to_owned()
    } else {
        kinds.join(", ")
    }
}

/// Two routes of one transport that collide are a plugin bug; say so at
/// start rather than serving one of them silently.
fn check_routes(registry: &Registry, loaded: &Loaded, error: &mut RegistryError) {
    for (name, transport) in &registry.transports {
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for route in &transport.info.routes {
            let key = (route.method.clone(), route.path.clone());
            *seen.entry(key).or_default() += 1;
        }
        for ((method, path), n) in seen {
            if n > 1 {
                error.failures.push(format!(
                    "transport `{name}` (plugin {}): declares `{method} {path}` {n} times ({})",
                    transport.id.plugin,
                    loaded.file.display()
                ));
            }
        }
    }
}

/// A human-readable summary for `voicegate plugins` and `voicegate check`.
pub fn describe(registry: &Registry) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "Plugin libraries:");
    for (name, lib) in &registry.libraries {
        let _ = writeln!(
            out,
            "  {name} {} (plugin-api {}, interface v{}, kinds: {}) {}",
            lib.info.version,
            lib.info.api_version,
            lib.info.interface_version,
            kinds_list(&lib.info),
            lib.path.display()
        );
    }
    let _ = writeln!(out, "Transports:");
    for (name, t) in &registry.transports {
        let _ = writeln!(out, "  {name} (plugin {})", t.id.plugin);
        for route in &t.info.routes {
            let kind = if route.kind == RouteKind::WebSocket {
                "WS  ".to_owned()
            } else {
                format!("{:<4}", route.method)
            };
            let _ = writeln!(
                out,
                "    {kind} /api/voice/{name}/{}  {}",
                route.path, route.description
            );
        }
    }
    for (label, names) in [
        (
            "STT",
            registry
                .stt
                .iter()
                .map(|(n, s)| format!("{n} (plugin {}, {} Hz)", s.id.plugin, s.info.sample_rate))
                .collect::<Vec<_>>(),
        ),
        (
            "Policies (in order)",
            registry
                .policies
                .iter()
                .map(|p| format!("{} (plugin {})", p.id.instance, p.id.plugin))
                .collect(),
        ),
        (
            "TTS",
            registry
                .tts
                .iter()
                .map(|(n, t)| format!("{n} (plugin {}, {} Hz)", t.id.plugin, t.info.sample_rate))
                .collect(),
        ),
        (
            "Responders",
            registry
                .responders
                .iter()
                .map(|(n, r)| format!("{n} (plugin {})", r.id.plugin))
                .collect(),
        ),
    ] {
        let _ = writeln!(out, "{label}:");
        if names.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for n in names {
            let _ = writeln!(out, "  {n}");
        }
    }
    out
}
