//! The `trustd` binary: parses the command line and calls the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use trustd::config::{Cli, Command};

/// mimalloc instead of glibc's allocator (BENCHMARKS.md: malloc and free were ~17 % of a
/// stamping's CPU and ~5 % of an issuance's).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let json =
        matches!(&command, Command::Serve(s) if s.log_format == trustd::config::LogFormat::Json);
    trustd::init_tracing(json);
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
        Command::Witness(settings) => runtime.block_on(async move {
            let server = match trustd::witness::WitnessServer::build(&settings).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("trustd witness: cannot start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            eprintln!(
                "trustd witness: listening on port {}; its key (give it to the logs and verifiers):\n{}",
                server.port(),
                server.vkey()
            );
            match server.run_until_stopped().await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("trustd witness: server error: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Backup(args) => runtime.block_on(async move {
            match trustd::startup::backup(&args.settings, &args.dir).await {
                Ok(m) => {
                    println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trustd backup: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Restore(args) => match trustd::startup::restore(&args.settings, &args.dir, args.force) {
            Ok(m) => {
                println!(
                    "restored a backup of {} (log of {} entries, checkpoint {}); the next start checks it against the high-water mark",
                    m.created_at, m.log_size, m.checkpoint_size
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("trustd restore: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Log(trustd::config::LogCommand::Replay(args)) => runtime.block_on(async move {
            match trustd::startup::replay(args.settings, &args.export).await {
                Ok(r) => {
                    println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trustd log replay: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Log(trustd::config::LogCommand::Rotate(args)) => runtime.block_on(async move {
            match trustd::startup::rotate_log(args.settings, &args.origin).await {
                Ok(r) => {
                    println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trustd log rotate: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Root(trustd::config::RootCommand::Renew(args)) => runtime.block_on(async move {
            match trustd::startup::renew_root(args.settings).await {
                Ok(r) => {
                    println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trustd root renew: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Rekey(args) => runtime.block_on(async move {
            match trustd::startup::rekey(args.settings).await {
                Ok(r) => {
                    println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("trustd rekey: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        Command::Audit(args) => runtime.block_on(async move {
            match trustd::audit::run(&args).await {
                Ok(report) => {
                    println!(
                        "OK: checkpoint of {} entries verified (root {}), {} entries recomputed{}{}",
                        report.size,
                        hex::encode(report.root),
                        report.entries_checked,
                        report
                            .previous_size
                            .map(|s| format!(", consistent with the previous checkpoint of {s}"))
                            .unwrap_or_default(),
                        if report.witnessed_by.is_empty() {
                            String::new()
                        } else {
                            format!(", cosigned by {}", report.witnessed_by.join(", "))
                        }
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
    let logged = match args
        .log_proof
        .as_deref()
        .map(|p| log_proof(args, p, &bytes))
    {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(code)) => return code,
    };
    let head = &bytes[..bytes.len().min(1024)];
    let document = bytes.starts_with(b"PK") || head.windows(5).any(|w| w == b"%PDF-");
    if let (false, Some((value, ok))) = (document, &logged) {
        // A licence token: only its proof of logging is checked here.
        println!("{}", serde_json::json!({ "log_proof": value }));
        return if *ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
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
            let mut report = report.unwrap_or_default();
            if let (Some((value, _)), Some(map)) = (&logged, report.as_object_mut()) {
                map.insert("log_proof".into(), value.clone());
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            let logged_ok = logged.as_ref().is_none_or(|(_, ok)| *ok);
            if indication == trustd::verify::Indication::TotalPassed && logged_ok {
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

/// `--log-proof`: checks offline that `file` was logged. The JSON to report and whether it
/// passed; `Err` (exit 2) when the proof or a key cannot be read.
fn log_proof(
    args: &trustd::config::VerifyArgs,
    path: &std::path::Path,
    file: &[u8],
) -> Result<(serde_json::Value, bool), ExitCode> {
    use trustd::log::{checkpoint::NoteVerifier, cosign::CosignerKey, proof};
    let fail = |what: String| {
        eprintln!("trustd verify: {what}");
        ExitCode::from(2)
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let log = NoteVerifier::parse(args.log_key.as_deref().unwrap_or_default())
        .map_err(|_| fail("--log-key is not a log verifier key (name+id+base64)".into()))?;
    let witnesses = args
        .witness
        .iter()
        .map(|w| CosignerKey::parse(w))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| fail("a --witness is not a witness vkey".into()))?;
    let policy = proof::ProofPolicy {
        quorum: args.quorum.unwrap_or(witnesses.len()),
        log,
        witnesses,
    };
    let result = proof::TlogProof::parse(&text).and_then(|p| proof::check_file(&p, file, &policy));
    Ok(match result {
        Ok(found) => {
            let mut value = serde_json::to_value(&found).unwrap_or_default();
            value["logged"] = true.into();
            (value, true)
        }
        Err(e) => (
            serde_json::json!({ "logged": false, "error": e.to_string() }),
            false,
        ),
    })
}
