//! Prometheus text metrics: requests by route template, method and status; a latency
//! histogram per route template; failed authentications; stampings and issuances per
//! department; and, read at each scrape, the gauges of `admin::health` (certificates' and
//! CRLs' remaining validity, checkpoint age, integration lag).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    auth_failures: u64,
    /// (what, department) → count; what is `stamping` or `licence`.
    per_department: BTreeMap<(&'static str, String), u64>,
}

/// Successful requests counted per department: (method, route template, metric).
const PER_DEPARTMENT: [(&str, &str, &str); 2] = [
    ("POST", "/api/v1/seals/{id}/stamp", "trustd_stampings_total"),
    ("POST", "/api/v1/licences", "trustd_licences_issued_total"),
];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner
            .requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let h = inner.latency.entry(route.to_owned()).or_default();
        h.count += 1;
        h.sum += seconds;
        for (slot, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *slot += 1;
            }
        }
    }

    pub fn auth_failed(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.auth_failures += 1;
        }
    }

    /// Counts a successful stamping or issuance of `department` (the caller's).
    pub fn department_request(&self, method: &str, route: &str, status: u16, department: &str) {
        if !(200..300).contains(&status) {
            return;
        }
        if let Some((_, _, metric)) = PER_DEPARTMENT
            .iter()
            .find(|(m, r, _)| *m == method && *r == route)
        {
            if let Ok(mut inner) = self.inner.lock() {
                *inner
                    .per_department
                    .entry((metric, department.to_owned()))
                    .or_default() += 1;
            }
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(inner) = self.inner.lock() else {
            return out;
        };
        out.push_str("# HELP trustd_http_requests_total HTTP requests by route template, method and status.\n");
        out.push_str("# TYPE trustd_http_requests_total counter\n");
        for ((route, method, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "trustd_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str(
            "# HELP trustd_http_request_duration_seconds Request latency by route template.\n",
        );
        out.push_str("# TYPE trustd_http_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            let route = escape(route);
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "trustd_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "trustd_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "trustd_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "trustd_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP trustd_auth_failures_total Requests with an unknown, revoked or malformed API key.\n");
        out.push_str("# TYPE trustd_auth_failures_total counter\n");
        let _ = writeln!(out, "trustd_auth_failures_total {}", inner.auth_failures);
        for (_, _, metric) in PER_DEPARTMENT {
            let _ = writeln!(
                out,
                "# HELP {metric} Successful requests by department.\n# TYPE {metric} counter"
            );
            for ((m, department), n) in &inner.per_department {
                if *m == metric {
                    let _ = writeln!(out, "{metric}{{department=\"{}\"}} {n}", escape(department));
                }
            }
        }
        out
    }
}

/// Appends the gauges read from the database at this scrape.
pub fn render_gauges(g: &crate::admin::health::Gauges, out: &mut String) {
    out.push_str("# HELP trustd_certificate_expiry_seconds Seconds until a CA or TSA certificate ends (negative: ended).\n");
    out.push_str("# TYPE trustd_certificate_expiry_seconds gauge\n");
    for c in &g.certificates {
        let _ = writeln!(
            out,
            "trustd_certificate_expiry_seconds{{ca=\"{}\",kind=\"{}\",serial=\"{}\"}} {}",
            escape(&c.ca),
            c.kind.as_str(),
            escape(&c.serial),
            c.remaining
        );
    }
    out.push_str("# HELP trustd_crl_next_update_seconds Seconds until the nextUpdate of a CA's latest CRL.\n");
    out.push_str("# TYPE trustd_crl_next_update_seconds gauge\n");
    for (ca, remaining) in &g.crls {
        let _ = writeln!(
            out,
            "trustd_crl_next_update_seconds{{ca=\"{}\"}} {remaining}",
            escape(ca)
        );
    }
    let _ = writeln!(out, "# HELP trustd_log_checkpoint_age_seconds Seconds since the latest checkpoint was signed.\n# TYPE trustd_log_checkpoint_age_seconds gauge\ntrustd_log_checkpoint_age_seconds {}", g.checkpoint_age);
    let _ = writeln!(out, "# HELP trustd_log_integration_lag_entries Committed log entries not yet in a checkpoint.\n# TYPE trustd_log_integration_lag_entries gauge\ntrustd_log_integration_lag_entries {}", g.integration_lag);
}
