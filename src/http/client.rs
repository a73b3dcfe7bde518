//! Who the client is, behind reverse proxies.
//!
//! The address a request is limited and logged under is the connection's peer, unless that peer
//! is one of `TRUSTD_TRUSTED_PROXIES`: then the proxy header (`X-Forwarded-For` by default, or
//! `Forwarded`, RFC 7239, per `TRUSTD_PROXY_HEADER`) is read from the right, each entry believed
//! only while the hop that wrote it is itself a trusted proxy. Only one header is read: a proxy
//! that sets `X-Forwarded-For` usually passes a client's own `Forwarded` through untouched, so
//! reading both would let a client name any address it likes.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

pub use crate::config::{parse_trusted, ProxyHeader, TrustedProxies};

#[derive(Debug, Clone)]
pub struct ClientAddress {
    trusted: Vec<IpNet>,
    header: ProxyHeader,
}

impl ClientAddress {
    pub fn new(trusted: Vec<IpNet>, header: ProxyHeader) -> Self {
        ClientAddress { trusted, header }
    }

    /// No proxy trusted: the peer is the client.
    pub fn direct() -> Self {
        Self::new(Vec::new(), ProxyHeader::XForwardedFor)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = unmap(peer);
        if self.trusted.is_empty() || !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = match self.header {
            ProxyHeader::XForwardedFor => headers
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(parse_node)
                .collect(),
            ProxyHeader::Forwarded => headers
                .get_all("forwarded")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|element| {
                    element
                        .split(';')
                        .filter_map(|pair| pair.split_once('='))
                        .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                        .and_then(|(_, v)| parse_node(v.trim().trim_matches('"')))
                })
                .collect(),
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            if !self.is_trusted(client) {
                break;
            }
            match hop {
                Some(ip) => client = ip,
                // `unknown`, an obfuscated name or garbage: nothing further left can be believed.
                None => break,
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as the IPv4 address it is.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(unmap(ip));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(unmap(sa.ip()));
    }
    s.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(unmap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_are_believed_only_from_trusted_proxies() {
        let proxies = ClientAddress::new(
            parse_trusted("10.0.0.0/8, 192.0.2.1").unwrap(),
            ProxyHeader::XForwardedFor,
        );
        let spoof = headers(&[("x-forwarded-for", "203.0.113.9")]);
        // From an untrusted peer the header is ignored.
        assert_eq!(
            proxies.resolve(ip("198.51.100.5"), &spoof),
            ip("198.51.100.5")
        );
        assert_eq!(
            ClientAddress::direct().resolve(ip("10.1.1.1"), &spoof),
            ip("10.1.1.1")
        );
        // From a trusted proxy, its entry is the client.
        assert_eq!(proxies.resolve(ip("192.0.2.1"), &spoof), ip("203.0.113.9"));
        // A client's own entry on the left of the proxy's is not believed.
        let chained = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(proxies.resolve(ip("10.0.0.2"), &chained), ip("203.0.113.9"));
        // Two trusted proxies in a row.
        let two = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.7")]);
        assert_eq!(proxies.resolve(ip("10.0.0.2"), &two), ip("203.0.113.9"));
        // Split over two header lines, with ports and IPv6.
        let lines = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "[2001:db8::5]:443"),
        ]);
        assert_eq!(proxies.resolve(ip("10.0.0.2"), &lines), ip("2001:db8::5"));
        // Garbage stops at the proxy.
        let junk = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(proxies.resolve(ip("10.0.0.2"), &junk), ip("10.0.0.2"));
        // Forwarded is not read when the proxies write X-Forwarded-For.
        let forwarded = headers(&[("forwarded", "for=203.0.113.50")]);
        assert_eq!(proxies.resolve(ip("10.0.0.2"), &forwarded), ip("10.0.0.2"));
        // IPv4-mapped peers are their IPv4 address.
        assert_eq!(
            proxies.resolve(ip("::ffff:10.0.0.2"), &spoof),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn reads_rfc_7239() {
        let proxies =
            ClientAddress::new(parse_trusted("10.0.0.1").unwrap(), ProxyHeader::Forwarded);
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(proxies.resolve(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let xff = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(proxies.resolve(ip("10.0.0.1"), &xff), ip("10.0.0.1"));
        let obfuscated = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(proxies.resolve(ip("10.0.0.1"), &obfuscated), ip("10.0.0.1"));
    }

    #[test]
    fn parses_the_setting() {
        assert_eq!(parse_trusted("").unwrap().len(), 0);
        assert_eq!(
            parse_trusted("127.0.0.1/32 ::1,10.0.0.0/8").unwrap().len(),
            3
        );
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(parse_trusted("localhost").is_err());
    }
}
