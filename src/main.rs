//! The `trustd` binary: parses the command line and calls the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use trustd::config::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // No command means `serve`, configured from the environment.
    let command = match cli.command {
        Some(c) => c,
        None => match Cli::parse_from(["trustd", "serve"]).command {
            Some(c) => c,
            None => return ExitCode::FAILURE,
        },
    };
    trustd::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trustd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Serve(settings) => runtime.block_on(async move {
            let app = match trustd::startup::Application::build(*settings).await {
                Ok(app) => app,
                Err(e) => {
                    eprintln!("trustd: cannot start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match app.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("trustd: server error: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Verify(args) => verify(&args),
        Command::Audit(args) => runtime.block_on(async move {
            match trustd::audit::run(&args).await {
                Ok(report) => {
                    println!(
                        "OK: checkpoint of {} entries verified (root {}), {} entries recomputed{}",
                        report.size,
                        hex::encode(report.root),
                        report.entries_checked,
                        report
                            .previous_size
                            .map(|s| format!(", consistent with the previous checkpoint of {s}"))
                            .unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trustd audit: FAILED: {e}");
                    ExitCode::from(2)
                }
            }
        }),
    }
}

/// `trustd verify FILE [--trust PEM]…`
fn verify(args: &trustd::config::VerifyArgs) -> ExitCode {
    let mut anchors = Vec::new();
    for path in &args.trust {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("trustd verify: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let ders = trustd::pki::pem_certificates(&text);
        if ders.is_empty() {
            eprintln!("trustd verify: {} holds no PEM certificate", path.display());
            return ExitCode::from(2);
        }
        for der in ders {
            let mut anchor = trustd::verify::Anchor::new(path.display().to_string(), der);
            anchor.revocation_required = !args.revocation_optional;
            anchors.push(anchor);
        }
    }
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("trustd verify: cannot read {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // An OFD is a zip package (`PK`); anything else is read as a PDF.
    let result = if bytes.starts_with(b"PK") {
        trustd::verify::ofd::verify_offline(&bytes, &anchors, now)
            .map(|r| (serde_json::to_value(&r), r.indication))
    } else {
        trustd::verify::verify_offline(&bytes, &anchors, now, &Default::default())
            .map(|r| (serde_json::to_value(&r), r.indication))
    };
    match result {
        Ok((report, indication)) => {
            println!(
                "{}",
                report
                    .ok()
                    .and_then(|r| serde_json::to_string_pretty(&r).ok())
                    .unwrap_or_default()
            );
            if indication == trustd::verify::Indication::TotalPassed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("trustd verify: {e}");
            ExitCode::from(2)
        }
    }
}
