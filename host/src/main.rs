//! The `headwater` command. It only parses arguments, dispatches to one
//! subcommand (one file each under `commands/`) and maps errors to exit codes:
//! 0 ok, 1 the run failed, 2 bad usage, pipeline file, config or connector file.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Headwater runs data connectors compiled to WebAssembly components and lands
/// their records as Parquet, with each stream's watermark committed alongside.
#[derive(Parser)]
#[command(name = "headwater", version, about, propagate_version = true)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install, list, inspect and remove connectors.
    #[command(subcommand)]
    Connector(commands::connector::ConnectorCommand),
    Check(commands::check::Check),
    Discover(commands::discover::Discover),
    Run(commands::run::Run),
    /// Show or reset the committed state of a pipeline's streams.
    #[command(subcommand)]
    State(commands::state::StateCommand),
    /// What the sink holds per stream and shard: version, watermark, rows, last commit.
    Status(commands::status::Status),
    Demo(commands::demo::Demo),
    Schema(commands::schema::Schema),
    New(commands::new::New),
    /// (internal) Compiles a component in a child process under the compile limits.
    #[command(name = "__compile-component", hide = true)]
    CompileComponent {
        input: std::path::PathBuf,
        output: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::CompileComponent { input, output } = &cli.command {
        return ExitCode::from(u8::try_from(headwater::compile::serve(input, output)).unwrap_or(1));
    }
    init_tracing(cli.verbose);
    raise_open_file_limit();
    let out = commands::Output { json: cli.json };
    // One thread: a run's streams share one task and a connector's calls are
    // sequential, so a multi-threaded scheduler would only add a cross-thread
    // wake-up to every request (it cost a fifth of API ingestion's wall time in
    // `just bench api`). The CPU-heavy Parquet encoding has threads of its own.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Connector(c) => c.run(&out).await,
            Command::Check(c) => c.run(&out).await,
            Command::Discover(c) => c.run(&out).await,
            Command::Run(c) => c.run(&out).await,
            Command::State(c) => c.run(&out).await,
            Command::Status(c) => c.run(&out).await,
            Command::Demo(c) => c.run(&out).await,
            Command::Schema(c) => c.run(&out).await,
            Command::New(c) => c.run(&out).await,
            Command::CompileComponent { .. } => unreachable!("handled before the runtime starts"),
        }
    });
    // Work that outlived its call (a remote open stuck in a blocking thread, its
    // call long timed out) must not keep the process: the runtime's drop would wait
    // for it without end.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The first Headwater error in the chain says what kind of failure this is.
            let ours = e.chain().find_map(|c| c.downcast_ref::<headwater::Error>());
            let code = ours.map_or(1, headwater::Error::exit_code);
            // A failed run already printed its summary, errors included.
            let summarised = matches!(ours, Some(headwater::Error::RunFailed { .. }));
            if out.json && !summarised {
                commands::say(
                    &serde_json::json!({ "status": "error", "exit_code": code, "error": format!("{e:#}") }).to_string(),
                );
            }
            // `{:#}` prints the chain once: each cause after the one it explains.
            eprintln!("error: {e:#}");
            ExitCode::from(code)
        }
    }
}

/// Lifts the soft limit on open files to the hard one: each stream's connector may
/// hold up to 1024 open readers and several streams run at once, so under a soft
/// limit of 1024 (a common default) one stream's readers could leave the others
/// none. The host's own per-connector handle limit is then what a connector meets.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},cranelift=warn,wasmtime=warn")));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
