//! aws_security_group (rules inline) and aws_security_group_rule, over the canonical rules of
//! `sg_rules`.
//!
//! **Invariants:** inline `ingress` and `egress` are authoritative when present and unmanaged
//! when absent, so separate aws_security_group_rule resources and AWS's default egress rule do
//! not show as perpetual drift (Terraform's contract). A group created with configured egress
//! loses the default allow-all unless the configuration lists it. A separate rule's id is
//! derived from its content; it exists while every one of its atoms is present.

use aws_sdk_ec2::operation::create_security_group::builders::CreateSecurityGroupFluentBuilder as NewGroup;
use aws_sdk_ec2::types::{ResourceType as Rt, SecurityGroup as AwsGroup};

use super::sg_rules::{
    Atom, Direction, Source, atoms_of_config, atoms_of_permissions, atoms_of_state, authorize,
    canonical_rule_list, norm_protocol, revoke, rule_schema, security_groups, sync_rules,
};
use crate::declare::{
    Field, Identity, Naming, TagApi, build, create_call, declared, delete_call, derived_id, updater,
};
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError};
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, Result, blocks_attr, ec2_arn, ec2_observed,
    ec2_tag_spec, normalize_set, str_attr, text,
};
use crate::value::{Type, Value};

pub(super) struct SecurityGroup;

impl SecurityGroup {
    fn shape() -> Vec<Field<AwsGroup, NewGroup>> {
        type F = Field<AwsGroup, NewGroup>;
        let rules = updater!("ec2:AuthorizeSecurityGroup*", SecurityGroup::sync_inline_rules);
        /// Rules in canonical form: one entry per source, `self` for the group itself.
        fn rules_of(g: &AwsGroup, dir: Direction) -> Value {
            let atoms = atoms_of_permissions(dir.permissions(g), g.group_id().unwrap_or(""));
            Value::List(atoms.iter().map(Atom::to_value).collect())
        }
        let name = "Default: the Name tag plus a suffix from the client token";
        let description =
            A::optional(Type::String).force_new().default(Value::string("Managed by slipway"));
        vec![
            // Written by create, which derives the default.
            F::attr("name", A::optional_computed(Type::String).force_new().describe(name))
                .read_str(AwsGroup::group_name),
            F::attr("description", description)
                .read_str(AwsGroup::description)
                .write(|b, v| b.set_description(text(v))),
            F::attr("vpc_id", A::required(Type::String).force_new())
                .read_str(AwsGroup::vpc_id)
                .write(|b, v| b.set_vpc_id(text(v))),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, g| {
                match g.security_group_arn() {
                    Some(a) => Value::string(a),
                    None => ec2_arn(cx, g.owner_id(), "security-group", g.group_id()),
                }
            }),
            F::computed("owner_id", AwsGroup::owner_id),
            F::block("ingress", BlockNesting::List, rule_schema())
                .by(rules)
                .read(|g| rules_of(g, Direction::Ingress)),
            F::block("egress", BlockNesting::List, rule_schema())
                .by(rules)
                .read(|g| rules_of(g, Direction::Egress)),
        ]
    }

    async fn sync_inline_rules(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        for (k, dir) in [("ingress", Direction::Ingress), ("egress", Direction::Egress)] {
            if blocks_attr(planned, k).is_empty() {
                continue; // unmanaged
            }
            sync_rules(cx, id, dir, &atoms_of_state(prior, k), &atoms_of_state(planned, k)).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for SecurityGroup {
    declared!(
        "aws_security_group",
        "A security group; inline ingress/egress blocks are authoritative when present.",
        SecurityGroup::shape()
    );
    fn keep_prior_when_empty(&self) -> &'static [&'static str] {
        &["ingress", "egress"]
    }
    fn normalize(&self, a: &mut Attrs) {
        for k in ["ingress", "egress"] {
            if let Some(Value::List(rules)) = a.get(k)
                && let Some(c) = canonical_rule_list(rules)
            {
                a.insert(k.into(), c);
            }
        }
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let shape = SecurityGroup::shape();
        let obs = |g: &AwsGroup| ec2_observed(cx, &shape, g, g.group_id(), g.tags());
        Ok(security_groups(cx, q).await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let name = Naming::SecurityGroup.name(&c);
        let (api, spec) = ("ec2:CreateSecurityGroup", ec2_tag_spec(Rt::SecurityGroup, c.tags));
        let new = cx.clients.ec2.create_security_group().group_name(name).tag_specifications(spec);
        let req = build(&Self::shape(), new, c.planned);
        let id = create_call(cx, api, || req.clone().send(), |o| o.group_id()).await?;
        authorize(cx, &id, Direction::Ingress, &atoms_of_state(c.planned, "ingress")).await?;
        let egress = atoms_of_state(c.planned, "egress");
        if !egress.is_empty() {
            // Configured egress is authoritative: drop AWS's default allow-all unless listed.
            let default = vec![Atom::new("-1", 0, 0, Source::Cidr("0.0.0.0/0".into()), "")];
            sync_rules(cx, &id, Direction::Egress, &default, &egress).await?;
        }
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.delete_security_group().group_id(id);
        let busy = Some("DependencyViolation");
        delete_call(cx, "ec2:DeleteSecurityGroup", busy, || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

/// One rule (possibly several CIDRs) attached to a group managed elsewhere. Its id is derived
/// from its content, like Terraform's `sgrule-…`; it exists while every atom is present.
pub(super) struct SecurityGroupRule;

impl SecurityGroupRule {
    fn shape() -> Vec<Field> {
        // Every field identifies the rule: any change is a new rule.
        let strs = || A::optional(Type::List(Box::new(Type::String))).force_new();
        vec![
            Field::attr(
                "type",
                A::required(Type::String).force_new().one_of(&["ingress", "egress"]),
            ),
            Field::attr("security_group_id", A::required(Type::String).force_new()),
            Field::attr("protocol", A::required(Type::String).force_new()),
            Field::attr("from_port", A::required(Type::Number).force_new()),
            Field::attr("to_port", A::required(Type::Number).force_new()),
            Field::attr("cidr_blocks", strs()),
            Field::attr("ipv6_cidr_blocks", strs()),
            Field::attr("prefix_list_ids", strs()),
            Field::attr("source_security_group_id", A::optional(Type::String).force_new()),
            Field::attr("self", A::optional(Type::Bool).force_new()),
            Field::attr("description", A::optional(Type::String).force_new()),
        ]
    }

    fn direction(v: &Value) -> Direction {
        let egress = str_attr(v, "type").as_deref() == Some("egress");
        if egress { Direction::Egress } else { Direction::Ingress }
    }

    fn atoms(v: &Value) -> Vec<Atom> {
        // Only what defines the rule: computed attributes (`id`) are unknown in a plan and
        // would hide a rule whose definition is fully known. The group and type say where the
        // rule is, not what it is, and the source group is mapped below: every other declared
        // field is part of the rule.
        let all = v.as_map().cloned().unwrap_or_default();
        let place = ["type", "security_group_id", "source_security_group_id"];
        let fields = Self::shape().into_iter().filter(|f| !place.contains(&f.name));
        let mut rule: Attrs =
            fields.filter_map(|f| Some((f.name.to_string(), all.get(f.name)?.clone()))).collect();
        if let Some(src) = all.get("source_security_group_id").cloned()
            && !src.is_null()
        {
            // A rule whose source is its own group is what AWS reports as a self-reference:
            // the usual way to let a group's members talk to each other.
            if src.as_str().is_some()
                && src.as_str() == all.get("security_group_id").and_then(Value::as_str)
            {
                rule.insert("self".into(), Value::Bool(true));
            } else {
                rule.insert("security_groups".into(), Value::List(vec![src]));
            }
        }
        let mut atoms = atoms_of_config(&Value::Map(rule)).unwrap_or_default();
        atoms.sort();
        atoms
    }

    fn rule_id(v: &Value) -> String {
        let s = |k| str_attr(v, k).unwrap_or_default();
        derived_id(
            "sgrule",
            &[&s("security_group_id"), &s("type"), &format!("{:?}", Self::atoms(v))],
        )
    }
}

#[async_trait::async_trait]
impl ResourceType for SecurityGroupRule {
    declared!(
        "aws_security_group_rule",
        "One ingress or egress rule of a security group.",
        SecurityGroupRule::shape(),
        tags: TagApi::None,
        identity: Identity::Derived(|v| Some(Self::rule_id(v))),
    );
    fn normalize(&self, a: &mut Attrs) {
        if let Some(p) = a.get("protocol").and_then(|p| p.as_str().map(norm_protocol)) {
            a.insert("protocol".into(), Value::string(p));
        }
        for k in ["cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"] {
            normalize_set(a, k);
        }
    }
    /// One DescribeSecurityGroups for every group the rules belong to.
    async fn observe(&self, cx: &Ctx, priors: &[Value]) -> Result<Vec<Option<Observed>>> {
        let (key, group_type) = ("security_group_id", "aws_security_group");
        let found = parents_of!(cx, priors, key, group_type, security_groups, AwsGroup::group_id);
        Ok(priors
            .iter()
            .map(|p| {
                let gid = str_attr(p, "security_group_id")?;
                let g = found.iter().find(|g| g.group_id() == Some(gid.as_str()))?;
                let present = atoms_of_permissions(Self::direction(p).permissions(g), &gid);
                let wanted = Self::atoms(p);
                if wanted.is_empty() || !wanted.iter().all(|a| present.contains(a)) {
                    return None;
                }
                Some(Observed { id: Self::rule_id(p), attrs: Attrs::new(), tags: None })
            })
            .collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let group = str_attr(c.planned, "security_group_id")
            .ok_or_else(|| ProviderError::fatal("security_group_id is required"))?;
        let atoms = Self::atoms(c.planned);
        if atoms.is_empty() {
            return Err(ProviderError::fatal(
                "aws_security_group_rule needs cidr_blocks, ipv6_cidr_blocks, prefix_list_ids, source_security_group_id or self",
            ));
        }
        authorize(cx, &group, Self::direction(c.planned), &atoms).await?;
        Ok(Self::rule_id(c.planned))
    }
    async fn delete(&self, cx: &Ctx, _id: &str, prior: &Value) -> Result<()> {
        let Some(group) = str_attr(prior, "security_group_id") else {
            return Ok(());
        };
        revoke(cx, &group, Self::direction(prior), &Self::atoms(prior)).await
    }
}
