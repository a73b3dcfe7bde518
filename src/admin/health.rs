//! What an operator watches (ARCHITECTURE.md §13): the remaining validity of every CA and TSA
//! certificate and of every CA's latest CRL, the age of the latest checkpoint and the entries
//! waiting for it (Prometheus gauges, read from the database at each scrape), and the
//! readiness rule of `/readyz`.

use time::OffsetDateTime;

use crate::context::Context;
pub use crate::context::Readiness;
use crate::error::ServiceError;
use crate::store::{CertKind, CertificateRecord};

/// Certificates whose end an operator must plan for: the CAs and the time-stamping units.
const WATCHED: [CertKind; 6] = [
    CertKind::RootCa,
    CertKind::DepartmentCa,
    CertKind::Tsa,
    CertKind::Sm2RootCa,
    CertKind::Sm2DepartmentCa,
    CertKind::Sm2Tsa,
];

/// One watched certificate.
#[derive(Debug, Clone)]
pub struct CertificateGauge {
    /// The CA it is (`root`, a department code, `root-sm2`, `<code>-sm2`), or for a TSA the
    /// CA that issued it.
    pub ca: String,
    pub kind: CertKind,
    pub serial: String,
    /// Seconds until `notAfter` (negative once it has passed).
    pub remaining: i64,
}

/// The gauges of one scrape.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub certificates: Vec<CertificateGauge>,
    /// (CA name, seconds until the latest CRL's nextUpdate).
    pub crls: Vec<(String, i64)>,
    /// Seconds since the latest checkpoint was signed.
    pub checkpoint_age: i64,
    /// Committed entries not yet in a checkpoint.
    pub integration_lag: u64,
}

/// The name a CA certificate's CRL and OCSP go by (a TSA's: its issuer's).
fn ca_name(c: &CertificateRecord) -> String {
    crate::pki::ca_name(c).unwrap_or_else(|| c.issuer.clone())
}

/// Reads the gauges at `now`.
pub async fn gauges(ctx: &Context, now: OffsetDateTime) -> Result<Gauges, ServiceError> {
    let now = now.unix_timestamp();
    let mut out = Gauges::default();
    for kind in WATCHED {
        for c in ctx.store.certificates_of_kind(kind, None).await? {
            if c.revoked_at.is_some() {
                continue;
            }
            let ca = ca_name(&c);
            let is_ca = !matches!(kind, CertKind::Tsa | CertKind::Sm2Tsa);
            if is_ca {
                if let Some(crl) = ctx.store.latest_crl(&ca).await? {
                    out.crls.push((ca.clone(), crl.next_update - now));
                }
            }
            out.certificates.push(CertificateGauge {
                ca,
                kind,
                serial: c.serial,
                remaining: c.not_after - now,
            });
        }
    }
    let size = ctx.store.log_size().await?;
    let integrated = ctx.store.integrated_size().await?;
    out.integration_lag = size.saturating_sub(integrated);
    out.checkpoint_age = ctx
        .store
        .latest_checkpoint()
        .await?
        .map_or(0, |c| now - c.created_at);
    Ok(out)
}

/// Why the instance should not take traffic, if it should not: entries waiting for a
/// checkpoint for too long (the integrator is stuck), or a CA or TSA certificate about to end
/// (what it would sign could not be verified for long).
pub async fn not_ready(
    ctx: &Context,
    rule: Readiness,
    now: OffsetDateTime,
) -> Result<Option<String>, ServiceError> {
    let g = gauges(ctx, now).await?;
    if g.integration_lag > 0 && g.checkpoint_age > rule.max_integration_seconds {
        return Ok(Some(format!(
            "{} log entries have waited {} s for a checkpoint",
            g.integration_lag, g.checkpoint_age
        )));
    }
    if let Some(c) = g
        .certificates
        .iter()
        .filter(|c| c.remaining < rule.min_validity_seconds)
        .min_by_key(|c| c.remaining)
    {
        return Ok(Some(format!(
            "the {} certificate of {} ends in {} s",
            c.kind.as_str(),
            c.ca,
            c.remaining
        )));
    }
    Ok(None)
}
