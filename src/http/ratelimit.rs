//! Per-client rate limits: a token bucket per client (an IPv4 address, or an IPv6 /64 — one
//! host usually has a whole /64), refilled at the configured rate up to the burst. Used for the
//! public endpoints (`/v/…`, `/api/v1/public/…`, `/api/v1/verify/…`, `/ocsp`, `/tsa`, every
//! request takes a token) and for failed authentications (each failure takes a token; a client
//! with none left is refused before its key is even looked at). An empty bucket answers 429
//! with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle ones are dropped.
const MAX_CLIENTS: usize = 100_000;

/// Whether a path is one of the rate-limited public endpoints.
pub fn is_public(path: &str) -> bool {
    path.starts_with("/v/")
        || path.starts_with("/api/v1/public/")
        || path.starts_with("/api/v1/log/proofs/")
        || (path.starts_with("/api/v1/licences/") && path.ends_with("/log-proof"))
        || path.starts_with("/api/v1/verify/")
        || path == "/ocsp"
        || path.starts_with("/ocsp/")
        || path == "/tsa"
}

#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens per second; 0 disables the limit.
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// The key a client is limited under: an IPv4 address (also when written IPv4-mapped), or the
/// /64 network of an IPv6 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(bits))
            }
        },
    }
}

impl RateLimiter {
    pub fn new(rate_per_second: u32, burst: u32) -> Self {
        RateLimiter {
            rate: f64::from(rate_per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `per_minute` a minute, all of them at once at most; 0 turns the limit off.
    pub fn per_minute(per_minute: u32) -> Self {
        RateLimiter {
            rate: f64::from(per_minute) / 60.0,
            burst: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` has a token left (none is taken), or in how many seconds it will.
    pub fn peek(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        self.bucket(client, now, false)
    }

    /// Takes a token for `client`, or says in how many seconds one will be there.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        self.bucket(client, now, true)
    }

    fn bucket(&self, client: IpAddr, now: Instant, take: bool) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let client = client_key(client);
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_CLIENTS {
            let burst = self.burst;
            let rate = self.rate;
            // Drop the buckets that would be full again anyway.
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            if take {
                *tokens -= 1.0;
            }
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refills_at_the_rate_up_to_the_burst() {
        let limiter = RateLimiter::new(2, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        assert_eq!(limiter.check(ip, t0), Err(1));
        assert!(limiter.check(other, t0).is_ok(), "buckets are per client");
        assert!(limiter.check(ip, t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.check(ip, t0 + Duration::from_millis(500)).is_err());
        // Never more than the burst after a long pause.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(limiter.check(ip, later).is_ok());
        }
        assert!(limiter.check(ip, later).is_err());
        assert!(
            RateLimiter::new(0, 0).check(ip, t0).is_ok(),
            "0 turns it off"
        );
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let limiter = RateLimiter::new(1, 2);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check(a, t0).is_ok());
        assert!(limiter.check(b, t0).is_ok());
        assert!(limiter.check(a, t0).is_err(), "same /64, same bucket");
        assert!(limiter.check(c, t0).is_ok(), "another /64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn peeking_takes_nothing() {
        let limiter = RateLimiter::per_minute(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.peek(ip, t0).is_ok());
        }
        assert!(limiter.check(ip, t0).is_ok() && limiter.check(ip, t0).is_ok());
        assert_eq!(limiter.peek(ip, t0), Err(30), "one token every 30 s");
    }

    #[test]
    fn knows_the_public_endpoints() {
        for p in [
            "/v/abc",
            "/api/v1/public/jwks.json",
            "/api/v1/verify/pdf",
            "/ocsp",
            "/ocsp/MEQ",
            "/tsa",
            "/api/v1/log/proofs/7",
            "/api/v1/licences/X/log-proof",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in [
            "/healthz",
            "/api/v1/seals",
            "/api/v1/log/checkpoint",
            "/tsa/x",
            "/verify",
        ] {
            assert!(!is_public(p), "{p}");
        }
    }
}
