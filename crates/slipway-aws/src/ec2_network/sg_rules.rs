//! Security group rules in their canonical "one source per rule" form, and the calls that
//! change them; shared by aws_security_group (inline rules) and aws_security_group_rule.
//!
//! **Invariants:** a rule is split into `Atom`s, one per source (an IPv4 or IPv6 CIDR, a prefix
//! list, a group, or `self`), protocols spelled `tcp`/`udp`/`icmp`/`-1`, sorted and deduplicated
//! — the same from configuration and from AWS, so an unchanged configuration plans as no-op.
//! Authorizing a rule already there and revoking one already gone both succeed (the goal
//! holds). Within one refresh the stack's groups are read once (`security_groups`).

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, SecurityGroup as AwsSecurityGroup,
    UserIdGroupPair,
};

use crate::client::to_provider_error;
use crate::provider::{AttributeSchema as A, ProviderError, Schema};
use crate::resource::{
    Ctx, Query, Result, attrs, blocks_attr, bool_attr, ec2_filters, gone_ok, int_attr, str_attr,
    strs_attr, vlist, vnum,
};
use crate::value::{Type, Value};

pub(super) fn rule_schema() -> Schema {
    Schema::new()
        .attr("protocol", A::required(Type::String))
        .attr("from_port", A::required(Type::Number))
        .attr("to_port", A::required(Type::Number))
        .attr("cidr_blocks", A::optional(Type::List(Box::new(Type::String))))
        .attr("ipv6_cidr_blocks", A::optional(Type::List(Box::new(Type::String))))
        .attr("prefix_list_ids", A::optional(Type::List(Box::new(Type::String))))
        .attr("security_groups", A::optional(Type::List(Box::new(Type::String))))
        .attr("self", A::optional(Type::Bool))
        .attr("description", A::optional(Type::String))
}

pub(super) fn norm_protocol(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "all" | "-1" => "-1".into(),
        other => other.into(),
    }
}

/// One atomic rule. `source` is exactly one of an IPv4 or IPv6 CIDR, a prefix list, a group id,
/// or self.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Atom {
    protocol: String,
    from: i64,
    to: i64,
    source: Source,
    description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Source {
    Cidr(String),
    Cidr6(String),
    PrefixList(String),
    Group(String),
    /// The rule's own group, however the configuration named it (`self = true`, or
    /// `source_security_group_id` equal to the group): AWS stores and returns one pair.
    SelfRef,
}

/// Makes a source from its address or id (`Source::Cidr`, `Source::Group`, …).
type SourceOf = fn(String) -> Source;

impl Atom {
    pub(super) fn new(
        protocol: &str,
        from: i64,
        to: i64,
        source: Source,
        description: &str,
    ) -> Atom {
        let protocol = norm_protocol(protocol);
        let (from, to) = if protocol == "-1" { (0, 0) } else { (from, to) };
        Atom { protocol, from, to, source, description: description.to_string() }
    }

    pub(super) fn to_value(&self) -> Value {
        let (cidrs, groups, selfref) = match &self.source {
            Source::Cidr(c) => (vec![c.clone()], vec![], false),
            Source::Group(g) => (vec![], vec![g.clone()], false),
            Source::SelfRef => (vec![], vec![], true),
            Source::Cidr6(_) | Source::PrefixList(_) => (vec![], vec![], false),
        };
        let mut v = attrs(vec![
            ("protocol", Value::string(self.protocol.clone())),
            ("from_port", vnum(Some(self.from))),
            ("to_port", vnum(Some(self.to))),
            ("cidr_blocks", vlist(cidrs)),
            ("security_groups", vlist(groups)),
            ("self", Value::Bool(selfref)),
            ("description", Value::string(self.description.clone())),
        ]);
        // Only when used: inline rules written before these sources existed keep their shape.
        match &self.source {
            Source::Cidr6(c) => {
                v.insert("ipv6_cidr_blocks".into(), vlist(vec![c.clone()]));
            }
            Source::PrefixList(p) => {
                v.insert("prefix_list_ids".into(), vlist(vec![p.clone()]));
            }
            _ => {}
        }
        Value::Map(v)
    }

    fn to_permission(&self, own_group: &str) -> IpPermission {
        let p = IpPermission::builder()
            .ip_protocol(&self.protocol)
            .from_port(self.from as i32)
            .to_port(self.to as i32);
        let desc = (!self.description.is_empty()).then(|| self.description.clone());
        match &self.source {
            Source::Cidr(c) => {
                p.ip_ranges(IpRange::builder().cidr_ip(c).set_description(desc).build())
            }
            Source::Cidr6(c) => {
                p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(desc).build())
            }
            Source::PrefixList(id) => p.prefix_list_ids(
                PrefixListId::builder().prefix_list_id(id).set_description(desc).build(),
            ),
            Source::Group(g) => p.user_id_group_pairs(
                UserIdGroupPair::builder().group_id(g).set_description(desc).build(),
            ),
            Source::SelfRef => p.user_id_group_pairs(
                UserIdGroupPair::builder().group_id(own_group).set_description(desc).build(),
            ),
        }
        .build()
    }
}

/// Splits a configured rule into atoms; None while any part is unknown.
pub(super) fn atoms_of_config(rule: &Value) -> Option<Vec<Atom>> {
    if rule.contains_unknown() {
        return None;
    }
    let protocol = str_attr(rule, "protocol").unwrap_or_default();
    let from = int_attr(rule, "from_port").unwrap_or(0);
    let to = int_attr(rule, "to_port").unwrap_or(0);
    let desc = str_attr(rule, "description").unwrap_or_default();
    let atom = |source| Atom::new(&protocol, from, to, source, &desc);
    let lists: [(&str, SourceOf); 4] = [
        ("cidr_blocks", Source::Cidr),
        ("ipv6_cidr_blocks", Source::Cidr6),
        ("prefix_list_ids", Source::PrefixList),
        ("security_groups", Source::Group),
    ];
    let mut out: Vec<Atom> = lists
        .iter()
        .flat_map(|(k, src)| strs_attr(rule, k).into_iter().map(|v| atom(src(v))))
        .collect();
    if bool_attr(rule, "self").unwrap_or(false) {
        out.push(atom(Source::SelfRef));
    }
    Some(out)
}

pub(super) fn atoms_of_permissions(perms: &[IpPermission], own_group: &str) -> Vec<Atom> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1");
        let from = p.from_port().unwrap_or(0) as i64;
        let to = p.to_port().unwrap_or(0) as i64;
        // A source AWS lists without its address or id is skipped.
        let atom = |src: SourceOf, id: Option<&str>, desc: Option<&str>| {
            Some(Atom::new(protocol, from, to, src(id?.to_string()), desc.unwrap_or("")))
        };
        let (v4, v6) = (p.ip_ranges().iter(), p.ipv6_ranges().iter());
        out.extend(v4.filter_map(|r| atom(Source::Cidr, r.cidr_ip(), r.description())));
        out.extend(v6.filter_map(|r| atom(Source::Cidr6, r.cidr_ipv6(), r.description())));
        let pl = p.prefix_list_ids().iter();
        out.extend(
            pl.filter_map(|l| atom(Source::PrefixList, l.prefix_list_id(), l.description())),
        );
        for g in p.user_id_group_pairs() {
            let own = g.group_id() == Some(own_group);
            let src: SourceOf = if own { |_| Source::SelfRef } else { Source::Group };
            out.extend(atom(src, g.group_id(), g.description()));
        }
    }
    out.sort();
    out.dedup();
    out
}

pub(super) fn canonical_rule_list(rules: &[Value]) -> Option<Value> {
    let mut atoms = Vec::new();
    for r in rules {
        atoms.extend(atoms_of_config(r)?);
    }
    atoms.sort();
    atoms.dedup();
    Some(Value::List(atoms.iter().map(Atom::to_value).collect()))
}

pub(super) fn atoms_of_state(v: &Value, k: &str) -> Vec<Atom> {
    let mut out = Vec::new();
    for r in blocks_attr(v, k) {
        out.extend(atoms_of_config(&r).unwrap_or_default());
    }
    out.sort();
    out.dedup();
    out
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// A group's rules in this direction, as AWS lists them.
    pub(super) fn permissions(self, g: &AwsSecurityGroup) -> &[IpPermission] {
        match self {
            Direction::Ingress => g.ip_permissions(),
            Direction::Egress => g.ip_permissions_egress(),
        }
    }
}

pub(super) async fn authorize(cx: &Ctx, group: &str, dir: Direction, atoms: &[Atom]) -> Result<()> {
    change_rules(cx, group, dir, atoms, true).await
}

pub(super) async fn revoke(cx: &Ctx, group: &str, dir: Direction, atoms: &[Atom]) -> Result<()> {
    change_rules(cx, group, dir, atoms, false).await
}

/// Adds (`add`) or removes rules. Both are idempotent: a rule already there (an interrupted
/// run, or an identical rule elsewhere) or already gone means the goal holds. AWS applies a
/// call's permissions all or nothing: when one of several is a duplicate (say the default
/// egress `0.0.0.0/0` beside a new `::/0`) the whole call is refused and nothing is added, so the
/// atoms are then sent one by one.
async fn change_rules(
    cx: &Ctx,
    group: &str,
    dir: Direction,
    atoms: &[Atom],
    add: bool,
) -> Result<()> {
    match change_rules_once(cx, group, dir, atoms, add).await {
        Err(Partial) if atoms.len() > 1 => {
            for atom in atoms {
                match change_rules_once(cx, group, dir, std::slice::from_ref(atom), add).await {
                    Ok(()) | Err(Partial) => {}
                    Err(Failed(e)) => return Err(e),
                }
            }
            Ok(())
        }
        Ok(()) | Err(Partial) => Ok(()),
        Err(Failed(e)) => Err(e),
    }
}

/// Why one rule call did not simply succeed.
enum RuleCallError {
    /// A duplicate (adding) or an absent rule (removing): for a single rule the goal holds; for
    /// several, AWS did nothing at all.
    Partial,
    Failed(ProviderError),
}
use RuleCallError::{Failed, Partial};

async fn change_rules_once(
    cx: &Ctx,
    group: &str,
    dir: Direction,
    atoms: &[Atom],
    add: bool,
) -> Result<(), RuleCallError> {
    if atoms.is_empty() {
        return Ok(());
    }
    let perms: Vec<IpPermission> = atoms.iter().map(|a| a.to_permission(group)).collect();
    // The four rule calls (authorize/revoke × ingress/egress) differ only in name.
    macro_rules! rule_call {
        ($api:literal, $op:ident) => {{
            let req = cx.clients.ec2.$op().group_id(group).set_ip_permissions(Some(perms));
            cx.clients.call($api, || req.clone().send()).await.map(|_| ())
        }};
    }
    let r = match (add, dir) {
        (true, Direction::Ingress) => {
            rule_call!("ec2:AuthorizeSecurityGroupIngress", authorize_security_group_ingress)
        }
        (true, Direction::Egress) => {
            rule_call!("ec2:AuthorizeSecurityGroupEgress", authorize_security_group_egress)
        }
        (false, Direction::Ingress) => {
            rule_call!("ec2:RevokeSecurityGroupIngress", revoke_security_group_ingress)
        }
        (false, Direction::Egress) => {
            rule_call!("ec2:RevokeSecurityGroupEgress", revoke_security_group_egress)
        }
    };
    match r {
        Err(e) if add && e.code == "InvalidPermission.Duplicate" => Err(Partial),
        Err(e) if !add && e.code == "InvalidPermission.NotFound" => Err(Partial),
        other if add => other
            .map(|_| ())
            .map_err(|e| Failed(to_provider_error("ec2:AuthorizeSecurityGroup", e))),
        other => gone_ok("ec2:RevokeSecurityGroup", other).map_err(Failed),
    }
}

/// Revokes what is no longer wanted, then authorizes what is new. A description change is a
/// revoke plus an authorize of the same rule (a brief gap; UpdateSecurityGroupRuleDescriptions
/// would avoid it).
pub(super) async fn sync_rules(
    cx: &Ctx,
    group: &str,
    dir: Direction,
    prior: &[Atom],
    planned: &[Atom],
) -> Result<()> {
    let old: BTreeSet<&Atom> = prior.iter().collect();
    let new: BTreeSet<&Atom> = planned.iter().collect();
    let gone: Vec<Atom> = old.difference(&new).map(|a| (*a).clone()).collect();
    let added: Vec<Atom> = new.difference(&old).map(|a| (*a).clone()).collect();
    revoke(cx, group, dir, &gone).await?;
    authorize(cx, group, dir, &added).await
}

/// Security groups as AWS lists them. The stack's are read once per refresh: the groups'
/// inline rules and the separate aws_security_group_rule objects come from the same answer.
pub(super) async fn security_groups(cx: &Ctx, q: Query<'_>) -> Result<Arc<Vec<AwsSecurityGroup>>> {
    cx.shared_if_stack("ec2:DescribeSecurityGroups", q, || async {
        let filters = ec2_filters(cx, q, "group-id");
        let list = cx.clients.ec2.describe_security_groups().set_filters(Some(filters));
        Ok(paginate!(cx, "ec2:DescribeSecurityGroups", list.clone(), security_groups))
    })
    .await
}
