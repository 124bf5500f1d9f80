//! The `hotline-bridge` command: the service and its operator tools.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "hotline-bridge",
    version,
    about = "SIP back-to-back user agent linking the 12345 government-service hotline with the 110 police call desk",
    long_about = "SIP back-to-back user agent linking the 12345 government-service hotline with \
        the 110 police call desk.\n\nWith no command it serves the configuration given by \
        --config (by default the demo in config/)."
)]
struct Cli {
    /// The service configuration; the SIP profiles are found through its `sip.profiles`.
    #[arg(
        long,
        short,
        global = true,
        default_value = "config/hotline-bridge.toml"
    )]
    config: PathBuf,

    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: SIP on UDP and TCP, media relay. Stops taking calls on SIGTERM or
    /// Ctrl-C and exits when the calls in progress end or the grace time runs out.
    Serve,
    /// Check the configuration and the SIP profiles and print every problem found as
    /// `file: key: what is wrong`. Exits 0 when all is well, 1 otherwise.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => match hotline_bridge::config::load(&cli.config) {
            Ok(settings) => {
                println!(
                    "{}: ok ({} hotlines, {} seats and trunks)",
                    cli.config.display(),
                    settings.engine.control.hotlines.len(),
                    settings.engine.control.seats.len()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{error}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => {
            let settings = match hotline_bridge::config::load(&cli.config) {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("{error}");
                    return ExitCode::FAILURE;
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("cannot start the runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(hotline_bridge::server::serve(
                settings,
                shutdown_signal(),
                None,
            )) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("hotline-bridge: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
