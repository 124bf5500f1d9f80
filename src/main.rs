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
    /// List tickets (工单 and 警单), newest first, or show one with its feedback.
    Tickets {
        /// The ticket number to show.
        number: Option<String>,
        /// Only tickets with this status (open, handed_over, accepted, in_progress,
        /// finished, closed).
        #[arg(long)]
        status: Option<String>,
        /// Print the overdue report (督办) instead: tickets whose handoff was not accepted in
        /// time, whose result is late, or whose work log missed its deadline.
        #[arg(long, conflicts_with_all = ["number", "status"])]
        overdue: bool,
        /// Print JSON for machines.
        #[arg(long)]
        json: bool,
    },
    /// Record feedback (反馈) on a ticket: progress, or the result that finishes the matter
    /// and starts the three-working-day clock for its work log.
    Feedback {
        number: String,
        /// `progress` or `result`.
        #[arg(long, default_value = "progress")]
        kind: String,
        /// What was done.
        text: String,
    },
    /// Read the handoff log: one incident's timeline (wall-clock time with milliseconds,
    /// offset from the start, actor, event, details), the list of recent incidents, or a
    /// check of the whole hash chain that names the first broken entry (exit code 1).
    /// `audit export` and `audit verify-export` take an incident away and check it
    /// elsewhere.
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        action: Option<AuditAction>,
        /// The incident number to show.
        incident: Option<i64>,
        /// List the most recent incidents instead.
        #[arg(long, conflicts_with_all = ["incident", "verify"])]
        list: bool,
        /// Verify the hash chain of the whole log.
        #[arg(long, conflicts_with = "incident")]
        verify: bool,
        /// Print JSON for machines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Write an incident's timeline (JSON and text), its recordings and a manifest of
    /// SHA-256 digests (also as SHA256SUMS) into a new or empty folder.
    Export { incident: i64, dir: PathBuf },
    /// Check an exported folder without the service: every digest, every log entry's hash,
    /// and the recordings against the digests the log holds. Exit code 1 names each
    /// problem.
    VerifyExport { dir: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service logs what an operator wants to see; the one-shot commands only problems.
    let serving = matches!(cli.command, None | Some(Command::Serve));
    init_logging(
        cli.log_format,
        if serving { "info,sqlx=warn" } else { "warn" },
    );
    match cli.command.unwrap_or(Command::Serve) {
        Command::Tickets {
            number,
            status,
            overdue,
            json,
        } => report(if overdue {
            hotline_bridge::cli::overdue(&cli.config, json)
        } else {
            hotline_bridge::cli::tickets(&cli.config, number, status, json)
        }),
        Command::Feedback { number, kind, text } => report(hotline_bridge::cli::feedback(
            &cli.config,
            &number,
            &kind,
            &text,
        )),
        Command::Audit {
            action: Some(action),
            ..
        } => {
            let result = match action {
                AuditAction::Export { incident, dir } => {
                    hotline_bridge::cli::export(&cli.config, incident, &dir)
                }
                AuditAction::VerifyExport { dir } => hotline_bridge::cli::verify_export(&dir),
            };
            match result {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("hotline-bridge audit: {error:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Audit {
            action: None,
            incident,
            list,
            verify,
            json,
        } => match hotline_bridge::cli::audit(&cli.config, incident, list, verify, json) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("hotline-bridge audit: {error:#}");
                ExitCode::from(2)
            }
        },
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

/// Prints an operator command's error and turns its outcome into the exit code.
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hotline-bridge: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
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
