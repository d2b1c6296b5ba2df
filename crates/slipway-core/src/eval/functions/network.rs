//! IP network functions (`cidrhost`, `cidrsubnet(s)`, `cidrnetmask`) over IPv4 and IPv6 as
//! 128-bit integers; every prefix and host number is range-checked before use.

use super::*;

pub(super) struct Cidr {
    network: u128,
    prefix: u32,
    /// 32 or 128.
    bits: u32,
}

impl Cidr {
    fn format_addr(&self, addr: u128) -> String {
        if self.bits == 32 {
            Ipv4Addr::from(addr as u32).to_string()
        } else {
            Ipv6Addr::from(addr).to_string()
        }
    }
}

/// The netmask of `prefix` leading ones in a `bits`-wide address.
pub(super) fn netmask(bits: u32, prefix: u32) -> u128 {
    let width = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
    let host_bits = bits.saturating_sub(prefix);
    let host_mask = 1u128.checked_shl(host_bits).map_or(u128::MAX, |v| v.wrapping_sub(1));
    width & !host_mask
}

pub(super) fn parse_cidr(s: &str, i: usize, cx: &Cx) -> Result<Cidr, FunctionError> {
    let bad = || arg_err(i, format!("invalid CIDR address {}", cx.quote(s)));
    let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit()) || prefix.len() > 3 {
        return Err(bad());
    }
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    let (addr, bits) = match ip.parse::<IpAddr>().map_err(|_| bad())? {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    if prefix > bits {
        return Err(bad());
    }
    // Like Go's net.ParseCIDR, host bits given in the address are ignored.
    Ok(Cidr { network: addr & netmask(bits, prefix), prefix, bits })
}

/// A whole number as i128 (netnum/hostnum in IPv6 may exceed i64, though f64 limits precision).
pub(super) fn want_i128(v: &Value, i: usize, cx: &Cx) -> Result<i128, FunctionError> {
    let n = want_num(v, i, cx)?;
    if !n.is_finite() || n.fract() != 0.0 || n.abs() >= 1.0e38 {
        return Err(arg_err(i, format!("expected a whole number, got {}", cx.describe(v))));
    }
    Ok(n as i128)
}

pub(super) fn f_cidrsubnet(args: &[Value], cx: &Cx) -> R {
    let c = parse_cidr(&want_str(arg(args, 0), 0, cx)?, 0, cx)?;
    let newbits = want_int(arg(args, 1), 1, cx)?;
    let netnum = want_i128(arg(args, 2), 2, cx)?;
    if newbits < 0 {
        return Err(arg_err(1, "newbits must not be negative"));
    }
    let new_prefix = i64::from(c.prefix) + newbits;
    if new_prefix > i64::from(c.bits) {
        return Err(arg_err(
            1,
            format!("insufficient address space to extend prefix of {} by {newbits}", c.prefix),
        ));
    }
    let newbits = newbits as u32;
    let max_netnum = 1u128.checked_shl(newbits).map(|v| v - 1);
    if netnum < 0 || max_netnum.is_some_and(|m| netnum as u128 > m) {
        return Err(arg_err(
            2,
            format!(
                "prefix extension of {newbits} bits does not accommodate a subnet numbered {netnum}"
            ),
        ));
    }
    let shift = c.bits - new_prefix as u32;
    let addr = c.network | (netnum as u128).checked_shl(shift).unwrap_or(0);
    Ok(Value::String(format!("{}/{new_prefix}", c.format_addr(addr))))
}

/// `cidrsubnets(prefix, newbits…)`: consecutive subnets, each the next free one of its size
/// after the previous (Terraform's algorithm, from go-cidr's NextSubnet).
pub(super) fn f_cidrsubnets(args: &[Value], cx: &Cx) -> R {
    let c = parse_cidr(&want_str(arg(args, 0), 0, cx)?, 0, cx)?;
    let width_mask = netmask(c.bits, c.bits);
    let host = |plen: u32| width_mask & !netmask(c.bits, plen);
    let mut out = Vec::new();
    let mut current: Option<(u128, u32)> = None;
    for (i, a) in args.iter().enumerate().skip(1) {
        let newbits = want_int(a, i, cx)?;
        let plen = i64::from(c.prefix) + newbits;
        if newbits < 1 || plen > i64::from(c.bits) {
            return Err(arg_err(
                i,
                format!("would extend prefix to {plen} bits, which is too long for this address"),
            ));
        }
        let plen = plen as u32;
        let mask = netmask(c.bits, plen);
        let addr = match current {
            None => c.network,
            Some((addr, cur_plen)) => {
                let last = addr | host(cur_plen);
                let block_last = (last & mask) | host(plen);
                let next = block_last.wrapping_add(1) & width_mask & mask;
                let inside = next & netmask(c.bits, c.prefix) == c.network;
                if block_last == width_mask || !inside {
                    return Err(arg_err(
                        i,
                        format!(
                            "not enough remaining address space for a subnet with a prefix of {plen} bits after {}/{cur_plen}",
                            c.format_addr(addr)
                        ),
                    ));
                }
                next
            }
        };
        out.push(format!("{}/{plen}", c.format_addr(addr)));
        current = Some((addr, plen));
    }
    Ok(str_list(out))
}

pub(super) fn f_cidrhost(args: &[Value], cx: &Cx) -> R {
    let c = parse_cidr(&want_str(arg(args, 0), 0, cx)?, 0, cx)?;
    let hostnum = want_i128(arg(args, 1), 1, cx)?;
    let host_bits = c.bits - c.prefix;
    // None means 2^128 addresses, which no i128 host number can exceed.
    let size = 1u128.checked_shl(host_bits);
    let out_of_range = || {
        arg_err(1, format!("prefix of {} does not accommodate a host numbered {hostnum}", c.prefix))
    };
    let host = if hostnum >= 0 {
        let h = hostnum as u128;
        if size.is_some_and(|sz| h >= sz) {
            return Err(out_of_range());
        }
        h
    } else {
        // Negative numbers count back from the end of the range, as in Terraform.
        let back = hostnum.unsigned_abs();
        match size {
            Some(sz) if back > sz => return Err(out_of_range()),
            Some(sz) => sz - back,
            None => u128::MAX - (back - 1),
        }
    };
    Ok(Value::String(c.format_addr(c.network | host)))
}

pub(super) fn f_cidrnetmask(args: &[Value], cx: &Cx) -> R {
    let c = parse_cidr(&want_str(arg(args, 0), 0, cx)?, 0, cx)?;
    if c.bits != 32 {
        return Err(arg_err(0, "cidrnetmask() only supports IPv4 prefixes"));
    }
    Ok(Value::String(Ipv4Addr::from(netmask(32, c.prefix) as u32).to_string()))
}
