//! `voicegate-loadgen`: plays N concurrent Twilio callers against a running
//! voicegate host and reports what it measured.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use voicegate_loadgen::{clip::Speech, run, Report, RunConfig, Target};

#[derive(Parser)]
#[command(name = "voicegate-loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one load level and prints (and optionally saves) its report.
    Run(Box<RunArgs>),
    /// Prints saved JSON reports as one Markdown table.
    Table {
        /// The STT columns (speakers, end-of-speech-to-final latency, queue).
        #[arg(long)]
        stt: bool,
        /// Report files written by `run --json`.
        reports: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Where the host listens.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// The host's `server.public_url` (what signatures cover); defaults to --base.
    #[arg(long)]
    public_url: Option<String>,
    /// The Twilio transport instance.
    #[arg(long, default_value = "twilio")]
    instance: String,
    /// The instance's `auth_token`.
    #[arg(long, env = "VOICEGATE_LOADGEN_AUTH_TOKEN", hide_env_values = true)]
    auth_token: String,
    /// Concurrent calls.
    #[arg(long, default_value_t = 10)]
    calls: usize,
    /// Seconds every call streams once all are up.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Calls started per second while ramping up.
    #[arg(long, default_value_t = 100.0)]
    ramp_per_sec: f64,
    /// Share of callers that speak (the clip, looped); the rest are silent.
    #[arg(long, default_value_t = 1.0, conflicts_with = "speaking_calls")]
    speaking: f64,
    /// Exact number of speaking callers.
    #[arg(long)]
    speaking_calls: Option<usize>,
    /// The sentence speakers say (espeak-ng).
    #[arg(long)]
    text: Option<String>,
    /// espeak-ng voice.
    #[arg(long, default_value = "en-us")]
    voice: String,
    /// Words per minute.
    #[arg(long, default_value_t = 150)]
    wpm: u32,
    /// Silence between repetitions of the sentence, ms.
    #[arg(long, default_value_t = 1500)]
    pause_ms: u32,
    /// Seconds after the last call started that are left out of the window.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Caller IDs are this prefix and four digits (allow-list or
    /// rate-limit-exempt it in the policy).
    #[arg(long, default_value = "+1500555")]
    from_prefix: String,
    /// The number called.
    #[arg(long, default_value = "+15005550006")]
    to: String,
    /// The host's pid: its CPU and memory are read from /proc.
    #[arg(long)]
    host_pid: Option<u32>,
    /// Admin token: follow /api/events for STT latency and errors.
    #[arg(long, env = "VOICEGATE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Do not scrape /metrics.
    #[arg(long)]
    no_metrics: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Tells this run's CallSids apart from other runs' (default: the time).
    #[arg(long)]
    run_id: Option<u64>,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("voicegate-loadgen: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run_level(*args),
        Command::Table { stt, reports } => {
            println!(
                "{}",
                if stt {
                    Report::markdown_stt_header()
                } else {
                    Report::markdown_header()
                }
            );
            for path in reports {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let report: Report = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a loadgen report", path.display()))?;
                if stt {
                    println!("{}", report.markdown_stt_row());
                } else {
                    println!("{}", report.markdown_row());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_level(args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.speaking),
        "--speaking is a share between 0 and 1"
    );
    anyhow::ensure!(args.duration > 0.0, "--duration must be positive");
    let speaking_calls = args
        .speaking_calls
        .unwrap_or_else(|| (args.speaking * args.calls as f64).round() as usize);
    let mut speech = Speech {
        voice: args.voice,
        wpm: args.wpm,
        pause_ms: args.pause_ms,
        ..Speech::default()
    };
    if let Some(text) = args.text {
        speech.text = text;
    }
    let run_id = args.run_id.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let target = Target {
        public_url: args.public_url.unwrap_or_else(|| args.base.clone()),
        base: args.base,
        instance: args.instance,
        auth_token: args.auth_token,
        from_prefix: args.from_prefix,
        to: args.to,
    };
    let cfg = RunConfig {
        calls: args.calls,
        duration: Duration::from_secs_f64(args.duration),
        ramp_per_sec: args.ramp_per_sec,
        speaking_calls,
        speech,
        settle: Duration::from_secs_f64(args.settle.max(0.0)),
        host_pid: args.host_pid,
        admin_token: args.admin_token,
        scrape_metrics: !args.no_metrics,
        run_id,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("loadgen")
        .build()
        .context("starting the async runtime")?;
    let report = runtime
        .block_on(run(target, cfg))
        .context("running the load")?;
    print!("{}", report.human());
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
