//! The `voicegate` binary.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;
use clap::Parser;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use voicegate::{
    audit::{self, Audit, AuditQuery, AuditReader},
    cli::{AuditArgs, Cli, Command, ModelCommand},
    config::{self, Loaded, LogFormat},
    plugins::{registry, Registry},
    server::{self, AppState},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli, loaded: Option<&Loaded>) {
    let format = cli
        .log_format
        .or(loaded.map(|l| l.config.log.format))
        .unwrap_or_default();
    let level = cli
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .or(loaded.map(|l| l.config.log.level.clone()))
        .unwrap_or_else(|| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|error| {
        eprintln!("warning: log level `{level}` is not a valid filter ({error}); using `info`");
        tracing_subscriber::EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Loaded> {
    config::load(&cli.config, std::env::vars().collect::<Vec<_>>())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn build_registry(loaded: &Loaded) -> anyhow::Result<Registry> {
    Registry::build(loaded).map_err(|e| anyhow::anyhow!("{e}"))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Model(ModelCommand::ImportCt2 { dir, out }) => {
            init_logging(&cli, None);
            import_ct2(dir, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let loaded = load_config(&cli)?;
            init_logging(&cli, Some(&loaded));
            let registry = build_registry(&loaded)?;
            println!("{} is valid.", loaded.file.display());
            println!(
                "Would listen on {} (public URL {}).",
                loaded.config.server.listen, loaded.config.server.public_url
            );
            print!("{}", registry::describe(&registry));
            match loaded.audit_path() {
                Some(path) => println!("Audit trail: {}.", path.display()),
                None => println!("Note: the audit trail is off (audit.path is empty)."),
            }
            if loaded.config.admin.all_tokens().is_empty() {
                println!(
                    "Note: no admin token is configured, so the admin API is closed (admin.token)."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(args) => {
            let loaded = load_config(&cli)?;
            init_logging(&cli, Some(&loaded));
            query_audit(&loaded, args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugins => {
            let loaded = load_config(&cli)?;
            init_logging(&cli, Some(&loaded));
            let registry = build_registry(&loaded)?;
            print!("{}", registry::describe(&registry));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen } => {
            let mut loaded = load_config(&cli)?;
            init_logging(&cli, Some(&loaded));
            if let Some(addr) = listen {
                loaded.config.server.listen = *addr;
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("voicegate")
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(serve(loaded))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(loaded: Loaded) -> anyhow::Result<()> {
    let metrics = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".to_owned()),
            &[
                0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                0.3, 0.5, 0.75, 1.0, 2.0, 5.0,
            ],
        )
        .context("configuring metrics")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    // Plugins load models here: keep that off the reactor.
    let for_registry = loaded.clone();
    let registry = tokio::task::spawn_blocking(move || build_registry(&for_registry))
        .await
        .context("loading plugins")??;
    if loaded.config.admin.all_tokens().is_empty() {
        tracing::warn!(
            "No admin token is configured (admin.token): the admin API answers 401 to everyone."
        );
    }
    let audit = match loaded.audit_path() {
        Some(path) => {
            let queue = loaded.config.audit.queue;
            let audit = tokio::task::spawn_blocking(move || Audit::open(&path, queue))
                .await
                .context("opening the audit trail")?
                .context("opening the audit trail (audit.path)")?;
            Some(audit)
        }
        None => {
            tracing::warn!("The audit trail is off (audit.path is empty): calls, verdicts and transcripts are not recorded.");
            None
        }
    };
    let listen = loaded.config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen} (server.listen)"))?;
    // Tests start the host on port 0 and read the real address from here.
    println!("voicegate listening on {}", listener.local_addr()?);
    let state: Arc<AppState> =
        AppState::with_audit(loaded, registry, Some(metrics), audit.as_ref());
    let served = server::serve(state, listener).await;
    // Everything queued is written before the process exits, even when
    // serving failed.
    if let Some(audit) = audit {
        audit.shutdown().await;
    }
    served.context("serving HTTP")?;
    Ok(())
}

fn query_audit(loaded: &Loaded, args: &AuditArgs) -> anyhow::Result<()> {
    let Some(path) = loaded.audit_path() else {
        anyhow::bail!(
            "the audit trail is off in {} (audit.path is empty)",
            loaded.file.display()
        );
    };
    let query = AuditQuery::new(
        args.call_id.as_deref(),
        args.from.as_deref(),
        args.since.as_deref(),
        Some(args.limit),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "bad option `--{}`: {}",
            e.param.replace('_', "-"),
            e.message
        )
    })?;
    let report = AuditReader::open(&path)?.query(&query)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("Audit trail {}", path.display());
        print!("{}", audit::render_text(&report));
    }
    Ok(())
}

fn import_ct2(dir: &std::path::Path, out: &std::path::Path) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} tensors")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = voicegate_model_import::import_ct2(dir, out, &mut |p| {
        bar.set_length(p.tensors_total as u64);
        bar.set_position(p.tensors_done as u64);
        bar.set_message(format!("{:?}", p.stage));
    })
    .with_context(|| format!("converting {} to {}", dir.display(), out.display()))?;
    bar.finish_and_clear();
    println!(
        "Wrote {} ({} tensors, {} bytes, sha256 {}).",
        out.display(),
        report.tensor_count,
        report.bytes_written,
        report.sha256
    );
    Ok(())
}
