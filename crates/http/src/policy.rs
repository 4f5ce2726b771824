//! The operator's address policy: which IP addresses outbound requests may reach.
//!
//! Every address a request would connect to (from DNS, a literal in the URL or a redirect) goes
//! through [`Policy::check`]. The built-in rules refuse loopback, private, link-local, shared
//! (CGNAT), unspecified, broadcast, multicast, reserved and cloud-metadata addresses, also when
//! they hide inside IPv6 (IPv4-mapped, IPv4-compatible, NAT64, 6to4).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default total timeout of one request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default response body cap: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Default (and recommended maximum) number of redirects followed.
pub const DEFAULT_MAX_REDIRECTS: usize = 10;

/// Cloud metadata endpoints: AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba.
const METADATA: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
];

/// What the outbound client may do. The defaults are safe for a multi-tenant server: only public
/// addresses are reachable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Allow loopback addresses (`127.0.0.0/8`, `::1`). Default `false`.
    pub allow_loopback: bool,
    /// Allow private (RFC 1918, `fc00::/7`), link-local (`169.254.0.0/16`, `fe80::/10`) and
    /// shared (CGNAT, `100.64.0.0/10`) addresses. Cloud metadata addresses stay blocked unless
    /// listed in [`Policy::allow`]. Default `false`.
    pub allow_private: bool,
    /// Networks always allowed, whatever the built-in rules say (but not over [`Policy::deny`]).
    pub allow: Vec<IpNet>,
    /// Networks always refused, checked first.
    pub deny: Vec<IpNet>,
    /// Time allowed to open a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, reading the body included. Default 30 s.
    pub timeout: Duration,
    /// The largest response body read; larger bodies fail with `too_large`. Default 10 MiB.
    pub max_body_bytes: usize,
    /// Redirects followed before failing with `too_many_redirects`. Default 10.
    pub max_redirects: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_loopback: false,
            allow_private: false,
            allow: Vec::new(),
            deny: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_redirects: DEFAULT_MAX_REDIRECTS,
        }
    }
}

/// Why an address is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockReason {
    /// In the operator's deny-list.
    Denied,
    /// A cloud metadata endpoint.
    Metadata,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// RFC 1918 or `fc00::/7`.
    Private,
    /// `169.254.0.0/16` or `fe80::/10`.
    LinkLocal,
    /// `100.64.0.0/10` (carrier-grade NAT).
    Shared,
    /// `0.0.0.0`, `0.0.0.0/8` or `::`.
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// Multicast.
    Multicast,
    /// Reserved for future use (`240.0.0.0/4`).
    Reserved,
}

impl BlockReason {
    /// A stable word for details and logs: `denied`, `metadata`, `loopback`, `private`,
    /// `link_local`, `shared`, `unspecified`, `broadcast`, `multicast` or `reserved`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::Denied => "denied",
            BlockReason::Metadata => "metadata",
            BlockReason::Loopback => "loopback",
            BlockReason::Private => "private",
            BlockReason::LinkLocal => "link_local",
            BlockReason::Shared => "shared",
            BlockReason::Unspecified => "unspecified",
            BlockReason::Broadcast => "broadcast",
            BlockReason::Multicast => "multicast",
            BlockReason::Reserved => "reserved",
        }
    }

    /// A phrase for messages: "a loopback address", "in the deny-list"…
    pub fn describe(self) -> &'static str {
        match self {
            BlockReason::Denied => "in the operator's deny-list",
            BlockReason::Metadata => "a cloud metadata address",
            BlockReason::Loopback => "a loopback address",
            BlockReason::Private => "a private address",
            BlockReason::LinkLocal => "a link-local address",
            BlockReason::Shared => "a shared (carrier-grade NAT) address",
            BlockReason::Unspecified => "an unspecified address",
            BlockReason::Broadcast => "a broadcast address",
            BlockReason::Multicast => "a multicast address",
            BlockReason::Reserved => "a reserved address",
        }
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl Policy {
    /// A policy that also allows loopback: for tests and single-user installs.
    pub fn allowing_loopback() -> Self {
        Policy {
            allow_loopback: true,
            ..Policy::default()
        }
    }

    /// Whether `ip` may be reached, and why not.
    pub fn check(&self, ip: IpAddr) -> Result<(), BlockReason> {
        let ip = canonical(ip);
        if self.deny.iter().any(|net| net.contains(&ip)) {
            return Err(BlockReason::Denied);
        }
        if self.allow.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match classify(ip) {
            None => Ok(()),
            Some(BlockReason::Loopback) if self.allow_loopback => Ok(()),
            Some(BlockReason::Private | BlockReason::LinkLocal | BlockReason::Shared)
                if self.allow_private =>
            {
                Ok(())
            }
            Some(reason) => Err(reason),
        }
    }
}

/// The IPv4 address hidden in an IPv6 one (mapped, compatible, NAT64 or 6to4), else the address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    // ::ffff:a.b.c.d (mapped)
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some(tail);
    }
    // ::a.b.c.d (deprecated compatible), but not :: and ::1 themselves.
    if s[..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1) {
        return Some(tail);
    }
    // 64:ff9b::a.b.c.d (NAT64 well-known prefix) and 64:ff9b:1::/48 (local-use NAT64).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) {
        return Some(tail);
    }
    // 2002:a.b.c.d::/48 (6to4)
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// The built-in reason to refuse an address, if any.
fn classify(ip: IpAddr) -> Option<BlockReason> {
    if METADATA.contains(&ip) {
        return Some(BlockReason::Metadata);
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<BlockReason> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some(BlockReason::Loopback)
    } else if ip.is_unspecified() || o[0] == 0 {
        Some(BlockReason::Unspecified)
    } else if ip.is_broadcast() {
        Some(BlockReason::Broadcast)
    } else if ip.is_private() {
        Some(BlockReason::Private)
    } else if ip.is_link_local() {
        Some(BlockReason::LinkLocal)
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some(BlockReason::Shared)
    } else if ip.is_multicast() {
        Some(BlockReason::Multicast)
    } else if o[0] >= 240 {
        Some(BlockReason::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<BlockReason> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some(BlockReason::Loopback)
    } else if ip.is_unspecified() {
        Some(BlockReason::Unspecified)
    } else if ip.is_multicast() {
        Some(BlockReason::Multicast)
    } else if (first & 0xfe00) == 0xfc00 {
        Some(BlockReason::Private)
    } else if (first & 0xffc0) == 0xfe80 {
        Some(BlockReason::LinkLocal)
    } else if (first & 0xffc0) == 0xfec0 {
        // Deprecated site-local: private in practice.
        Some(BlockReason::Private)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn default_policy_blocks_internal_ranges() {
        let policy = Policy::default();
        for (addr, reason) in [
            ("127.0.0.1", BlockReason::Loopback),
            ("127.255.0.9", BlockReason::Loopback),
            ("::1", BlockReason::Loopback),
            ("10.0.0.1", BlockReason::Private),
            ("172.16.5.4", BlockReason::Private),
            ("192.168.1.1", BlockReason::Private),
            ("fc00::1", BlockReason::Private),
            ("fd12:3456::1", BlockReason::Private),
            ("169.254.1.1", BlockReason::LinkLocal),
            ("fe80::1", BlockReason::LinkLocal),
            ("100.64.0.1", BlockReason::Shared),
            ("100.127.255.254", BlockReason::Shared),
            ("0.0.0.0", BlockReason::Unspecified),
            ("0.1.2.3", BlockReason::Unspecified),
            ("::", BlockReason::Unspecified),
            ("255.255.255.255", BlockReason::Broadcast),
            ("224.0.0.1", BlockReason::Multicast),
            ("ff02::1", BlockReason::Multicast),
            ("240.0.0.1", BlockReason::Reserved),
            ("169.254.169.254", BlockReason::Metadata),
            ("fd00:ec2::254", BlockReason::Metadata),
            ("100.100.100.200", BlockReason::Metadata),
            ("::ffff:127.0.0.1", BlockReason::Loopback),
            ("::ffff:169.254.169.254", BlockReason::Metadata),
            ("::ffff:10.1.2.3", BlockReason::Private),
            ("::10.1.2.3", BlockReason::Private),
            ("64:ff9b::a9fe:a9fe", BlockReason::Metadata),
            ("2002:7f00:1::", BlockReason::Loopback),
        ] {
            assert_eq!(policy.check(ip(addr)), Err(reason), "{addr}");
        }
        for addr in [
            "93.184.215.14",
            "8.8.8.8",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(policy.check(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn switches_and_lists() {
        let loopback = Policy::allowing_loopback();
        assert_eq!(loopback.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(loopback.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(loopback.check(ip("10.0.0.1")), Err(BlockReason::Private));

        let private = Policy {
            allow_private: true,
            ..Policy::default()
        };
        assert_eq!(private.check(ip("10.0.0.1")), Ok(()));
        assert_eq!(private.check(ip("fe80::1")), Ok(()));
        assert_eq!(private.check(ip("100.64.1.1")), Ok(()));
        assert_eq!(
            private.check(ip("169.254.169.254")),
            Err(BlockReason::Metadata)
        );
        assert_eq!(private.check(ip("127.0.0.1")), Err(BlockReason::Loopback));

        let listed = Policy {
            allow: vec!["10.1.0.0/16".parse().unwrap()],
            deny: vec![
                "10.1.2.0/24".parse().unwrap(),
                "8.8.8.8/32".parse().unwrap(),
            ],
            ..Policy::default()
        };
        assert_eq!(listed.check(ip("10.1.9.9")), Ok(()));
        assert_eq!(listed.check(ip("10.1.2.3")), Err(BlockReason::Denied));
        assert_eq!(listed.check(ip("10.2.0.1")), Err(BlockReason::Private));
        assert_eq!(listed.check(ip("8.8.8.8")), Err(BlockReason::Denied));
        assert_eq!(listed.check(ip("::ffff:8.8.8.8")), Err(BlockReason::Denied));
    }
}
