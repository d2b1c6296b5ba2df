//! EC2 networking: aws_vpc, aws_subnet, aws_internet_gateway, aws_route_table (routes inline),
//! aws_route_table_association, aws_security_group (rules inline), aws_security_group_rule.
//!
//! Set-like nested lists (routes, security group rules) have one canonical form, produced both
//! by `normalize` (from configuration) and by `describe` (from AWS): security group rules are
//! split into one entry per source (a CIDR, a group, or `self`), protocols spelled
//! `tcp`/`udp`/`icmp`/`-1`, sorted; routes sorted by destination with every target key
//! present. That is what lets an unchanged configuration plan as no-op.
//!
//! Inline `route`, `ingress` and `egress` are authoritative when present and unmanaged when
//! absent (so separate aws_security_group_rule resources and the default egress rule do not
//! show as perpetual drift) — the same contract as Terraform's.
//!
//! Delete ordering AWS enforces and moto does not: an internet gateway must be detached before
//! deletion (done here); a subnet, security group or VPC cannot be deleted while ENIs or
//! instances still use it (DependencyViolation, retried here until `ready_timeout` because
//! terminated instances release their ENIs asynchronously); a route table cannot be deleted
//! while associated. The engine's dependency graph deletes dependents first.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType as Rt,
    RouteTable as AwsRouteTable, SecurityGroup as AwsSecurityGroup, UserIdGroupPair,
};

use super::client::to_provider_error;
use super::declare::{Field, Identity, TagApi, attr, block, delete_call, updater};
use super::resource::{
    Attrs, Ctx, Observed, Query, ResourceType, attrs, blocks_attr, bool_attr, changed, ec2_filters,
    ec2_tag_spec, ec2_tags, gone_ok, int_attr, str_attr, strs_attr, take_listed, vlist, vnum, vstr,
};
use super::tags::Tags;
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError, Schema};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![
        Box::new(Vpc),
        Box::new(Subnet),
        Box::new(InternetGateway),
        Box::new(RouteTable),
        Box::new(RouteTableAssociation),
        Box::new(SecurityGroup),
        Box::new(SecurityGroupRule),
    ]
}

fn arn(cx: &Ctx, owner: Option<&str>, kind: &str, id: &str) -> Value {
    Value::string(format!(
        "arn:aws:ec2:{}:{}:{kind}/{id}",
        cx.clients.region,
        owner.unwrap_or("")
    ))
}

fn set_bool(v: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(v).build()
}

// ---------------------------------------------------------------------------------------------

pub struct Vpc;

#[async_trait::async_trait]
impl ResourceType for Vpc {
    fn name(&self) -> &'static str {
        "aws_vpc"
    }
    fn description(&self) -> &'static str {
        "A VPC."
    }
    fn fields(&self) -> Vec<Field> {
        let dns = updater!("ec2:ModifyVpcAttribute", Vpc::modify_dns);
        let unread = "Not refreshed: reading it costs one call per VPC";
        vec![
            attr("cidr_block", A::required(Type::String).force_new()),
            attr(
                "instance_tenancy",
                A::optional(Type::String)
                    .force_new()
                    .default(Value::string("default")),
            ),
            attr(
                "enable_dns_support",
                A::optional(Type::Bool)
                    .default(Value::Bool(true))
                    .describe(unread),
            )
            .by(dns),
            attr(
                "enable_dns_hostnames",
                A::optional(Type::Bool)
                    .default(Value::Bool(false))
                    .describe(unread),
            )
            .by(dns),
            attr("arn", A::computed(Type::String)),
            attr("owner_id", A::computed(Type::String)),
            attr("dhcp_options_id", A::computed(Type::String)),
        ]
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, q, "vpc-id");
        let vpcs = paginate!(
            cx,
            "ec2:DescribeVpcs",
            ec2.describe_vpcs().set_filters(Some(filters.clone())),
            vpcs
        );
        Ok(vpcs
            .into_iter()
            .filter_map(|v| {
                let id = v.vpc_id()?.to_string();
                Some(Observed {
                    attrs: attrs(vec![
                        ("cidr_block", vstr(v.cidr_block())),
                        (
                            "instance_tenancy",
                            vstr(v.instance_tenancy().map(|t| t.as_str())),
                        ),
                        ("arn", arn(cx, v.owner_id(), "vpc", &id)),
                        ("owner_id", vstr(v.owner_id())),
                        ("dhcp_options_id", vstr(v.dhcp_options_id())),
                    ]),
                    tags: Some(ec2_tags(v.tags())),
                    id,
                })
            })
            .collect())
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        _token: &str,
    ) -> Result<String, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let cidr = str_attr(planned, "cidr_block");
        let tenancy = str_attr(planned, "instance_tenancy");
        let out = cx
            .clients
            .run("ec2:CreateVpc", || {
                ec2.create_vpc()
                    .set_cidr_block(cidr.clone())
                    .set_instance_tenancy(tenancy.as_deref().map(Into::into))
                    .tag_specifications(ec2_tag_spec(Rt::Vpc, tags))
                    .send()
            })
            .await?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| ProviderError::fatal("CreateVpc returned no id"))?
            .to_string();
        // The DNS attributes cannot be set at creation; defaults are support on, hostnames off.
        self.update(cx, &id, &Value::Null, planned).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(cx, "ec2:DeleteVpc", Some("DependencyViolation"), || {
            ec2.delete_vpc().vpc_id(id).send()
        })
        .await
    }
}

impl Vpc {
    async fn modify_dns(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        // One attribute per ModifyVpcAttribute call: the API refuses two at once.
        let support = bool_attr(planned, "enable_dns_support").unwrap_or(true);
        if bool_attr(prior, "enable_dns_support").unwrap_or(true) != support {
            cx.clients
                .run("ec2:ModifyVpcAttribute", || {
                    ec2.modify_vpc_attribute()
                        .vpc_id(id)
                        .enable_dns_support(set_bool(support))
                        .send()
                })
                .await?;
        }
        let hostnames = bool_attr(planned, "enable_dns_hostnames").unwrap_or(false);
        if bool_attr(prior, "enable_dns_hostnames").unwrap_or(false) != hostnames {
            cx.clients
                .run("ec2:ModifyVpcAttribute", || {
                    ec2.modify_vpc_attribute()
                        .vpc_id(id)
                        .enable_dns_hostnames(set_bool(hostnames))
                        .send()
                })
                .await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

pub struct Subnet;

#[async_trait::async_trait]
impl ResourceType for Subnet {
    fn name(&self) -> &'static str {
        "aws_subnet"
    }
    fn description(&self) -> &'static str {
        "A subnet of a VPC, in one availability zone."
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            attr("vpc_id", A::required(Type::String).force_new()),
            attr("cidr_block", A::required(Type::String).force_new()),
            attr(
                "availability_zone",
                A::optional_computed(Type::String).force_new(),
            ),
            attr(
                "map_public_ip_on_launch",
                A::optional(Type::Bool).default(Value::Bool(false)),
            )
            .by(updater!(
                "ec2:ModifySubnetAttribute",
                Subnet::modify_public_ip
            )),
            attr("availability_zone_id", A::computed(Type::String)),
            attr("arn", A::computed(Type::String)),
            attr("owner_id", A::computed(Type::String)),
        ]
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, q, "subnet-id");
        let subnets = paginate!(
            cx,
            "ec2:DescribeSubnets",
            ec2.describe_subnets().set_filters(Some(filters.clone())),
            subnets
        );
        Ok(subnets
            .into_iter()
            .filter_map(|s| {
                let id = s.subnet_id()?.to_string();
                Some(Observed {
                    attrs: attrs(vec![
                        ("vpc_id", vstr(s.vpc_id())),
                        ("cidr_block", vstr(s.cidr_block())),
                        ("availability_zone", vstr(s.availability_zone())),
                        ("availability_zone_id", vstr(s.availability_zone_id())),
                        (
                            "map_public_ip_on_launch",
                            Value::Bool(s.map_public_ip_on_launch().unwrap_or(false)),
                        ),
                        (
                            "arn",
                            match s.subnet_arn() {
                                Some(a) => Value::string(a),
                                None => arn(cx, s.owner_id(), "subnet", &id),
                            },
                        ),
                        ("owner_id", vstr(s.owner_id())),
                    ]),
                    tags: Some(ec2_tags(s.tags())),
                    id,
                })
            })
            .collect())
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        _token: &str,
    ) -> Result<String, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:CreateSubnet", || {
                ec2.create_subnet()
                    .set_vpc_id(str_attr(planned, "vpc_id"))
                    .set_cidr_block(str_attr(planned, "cidr_block"))
                    .set_availability_zone(str_attr(planned, "availability_zone"))
                    .tag_specifications(ec2_tag_spec(Rt::Subnet, tags))
                    .send()
            })
            .await?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .ok_or_else(|| ProviderError::fatal("CreateSubnet returned no id"))?
            .to_string();
        self.update(cx, &id, &Value::Null, planned).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(cx, "ec2:DeleteSubnet", Some("DependencyViolation"), || {
            ec2.delete_subnet().subnet_id(id).send()
        })
        .await
    }
}

impl Subnet {
    async fn modify_public_ip(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        let public = bool_attr(planned, "map_public_ip_on_launch").unwrap_or(false);
        if bool_attr(prior, "map_public_ip_on_launch").unwrap_or(false) != public {
            cx.clients
                .run("ec2:ModifySubnetAttribute", || {
                    ec2.modify_subnet_attribute()
                        .subnet_id(id)
                        .map_public_ip_on_launch(set_bool(public))
                        .send()
                })
                .await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

pub struct InternetGateway;

impl InternetGateway {
    async fn attach(cx: &Ctx, id: &str, vpc: &str) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        cx.clients
            .run("ec2:AttachInternetGateway", || {
                ec2.attach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc)
                    .send()
            })
            .await?;
        Ok(())
    }

    async fn detach(cx: &Ctx, id: &str, vpc: &str) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        // Refused (DependencyViolation) while public addresses are still mapped in the VPC.
        let busy = Some("DependencyViolation");
        let r = delete_call(cx, "ec2:DetachInternetGateway", busy, || {
            ec2.detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
        })
        .await;
        match r {
            // Already detached: the goal is reached.
            Err(e) if e.message.contains("Gateway.NotAttached") => Ok(()),
            other => other,
        }
    }
}

#[async_trait::async_trait]
impl ResourceType for InternetGateway {
    fn name(&self) -> &'static str {
        "aws_internet_gateway"
    }
    fn description(&self) -> &'static str {
        "An internet gateway, attached to at most one VPC."
    }
    fn fields(&self) -> Vec<Field> {
        let reattach = updater!("ec2:AttachInternetGateway", InternetGateway::reattach);
        vec![
            attr("vpc_id", A::optional(Type::String)).by(reattach),
            attr("arn", A::computed(Type::String)),
            attr("owner_id", A::computed(Type::String)),
        ]
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, q, "internet-gateway-id");
        let igws = paginate!(
            cx,
            "ec2:DescribeInternetGateways",
            ec2.describe_internet_gateways()
                .set_filters(Some(filters.clone())),
            internet_gateways
        );
        Ok(igws
            .into_iter()
            .filter_map(|g| {
                let id = g.internet_gateway_id()?.to_string();
                let vpc = g.attachments().iter().find_map(|a| a.vpc_id());
                Some(Observed {
                    attrs: attrs(vec![
                        ("vpc_id", vstr(vpc)),
                        ("arn", arn(cx, g.owner_id(), "internet-gateway", &id)),
                        ("owner_id", vstr(g.owner_id())),
                    ]),
                    tags: Some(ec2_tags(g.tags())),
                    id,
                })
            })
            .collect())
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        _token: &str,
    ) -> Result<String, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:CreateInternetGateway", || {
                ec2.create_internet_gateway()
                    .tag_specifications(ec2_tag_spec(Rt::InternetGateway, tags))
                    .send()
            })
            .await?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| ProviderError::fatal("CreateInternetGateway returned no id"))?
            .to_string();
        if let Some(vpc) = str_attr(planned, "vpc_id") {
            Self::attach(cx, &id, &vpc).await?;
        }
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<(), ProviderError> {
        // AWS refuses to delete an attached gateway (DependencyViolation).
        if let Some(vpc) = str_attr(prior, "vpc_id") {
            Self::detach(cx, id, &vpc).await?;
        }
        let ec2 = &cx.clients.ec2;
        delete_call(
            cx,
            "ec2:DeleteInternetGateway",
            Some("DependencyViolation"),
            || ec2.delete_internet_gateway().internet_gateway_id(id).send(),
        )
        .await
    }
}

impl InternetGateway {
    async fn reattach(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        if !changed(prior, planned, "vpc_id") {
            return Ok(());
        }
        if let Some(old) = str_attr(prior, "vpc_id") {
            Self::detach(cx, id, &old).await?;
        }
        if let Some(new) = str_attr(planned, "vpc_id") {
            Self::attach(cx, id, &new).await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

pub struct RouteTable;

const ROUTE_TARGETS: &[&str] = &[
    "gateway_id",
    "nat_gateway_id",
    "network_interface_id",
    "vpc_peering_connection_id",
];

fn route_schema() -> Schema {
    let mut s = Schema::new().attr("cidr_block", A::required(Type::String));
    for t in ROUTE_TARGETS {
        s = s.attr(t, A::optional(Type::String));
    }
    s
}

/// Canonical route: every key present (null when unset), so config and AWS compare equal.
fn canonical_route(r: &Value) -> Value {
    let mut m = Attrs::new();
    m.insert(
        "cidr_block".into(),
        vstr(str_attr(r, "cidr_block").as_deref()),
    );
    for t in ROUTE_TARGETS {
        m.insert(t.to_string(), vstr(str_attr(r, t).as_deref()));
    }
    Value::Map(m)
}

fn canonical_routes(list: &[Value]) -> Value {
    let mut routes: Vec<Value> = list.iter().map(canonical_route).collect();
    routes.sort_by_key(|r| str_attr(r, "cidr_block"));
    Value::List(routes)
}

impl RouteTable {
    async fn put_route(cx: &Ctx, id: &str, r: &Value, replace: bool) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        let cidr = str_attr(r, "cidr_block");
        if replace {
            cx.clients
                .run("ec2:ReplaceRoute", || {
                    ec2.replace_route()
                        .route_table_id(id)
                        .set_destination_cidr_block(cidr.clone())
                        .set_gateway_id(str_attr(r, "gateway_id"))
                        .set_nat_gateway_id(str_attr(r, "nat_gateway_id"))
                        .set_network_interface_id(str_attr(r, "network_interface_id"))
                        .set_vpc_peering_connection_id(str_attr(r, "vpc_peering_connection_id"))
                        .send()
                })
                .await?;
        } else {
            cx.clients
                .run("ec2:CreateRoute", || {
                    ec2.create_route()
                        .route_table_id(id)
                        .set_destination_cidr_block(cidr.clone())
                        .set_gateway_id(str_attr(r, "gateway_id"))
                        .set_nat_gateway_id(str_attr(r, "nat_gateway_id"))
                        .set_network_interface_id(str_attr(r, "network_interface_id"))
                        .set_vpc_peering_connection_id(str_attr(r, "vpc_peering_connection_id"))
                        .send()
                })
                .await?;
        }
        Ok(())
    }

    async fn sync_routes(
        cx: &Ctx,
        id: &str,
        prior: &[Value],
        planned: &[Value],
    ) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        let key = |r: &Value| str_attr(r, "cidr_block").unwrap_or_default();
        for old in prior {
            if !planned.iter().any(|n| key(n) == key(old)) {
                let cidr = key(old);
                delete_call(cx, "ec2:DeleteRoute", None, || {
                    ec2.delete_route()
                        .route_table_id(id)
                        .destination_cidr_block(&cidr)
                        .send()
                })
                .await?;
            }
        }
        for new in planned {
            match prior.iter().find(|o| key(o) == key(new)) {
                Some(old) if old == new => {}
                Some(_) => Self::put_route(cx, id, new, true).await?,
                None => Self::put_route(cx, id, new, false).await?,
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for RouteTable {
    fn name(&self) -> &'static str {
        "aws_route_table"
    }
    fn description(&self) -> &'static str {
        "A route table with its routes (inline `route` blocks; the local route is implicit)."
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            attr("vpc_id", A::required(Type::String).force_new()),
            attr("arn", A::computed(Type::String)),
            attr("owner_id", A::computed(Type::String)),
            block("route", BlockNesting::List, route_schema())
                .by(updater!("ec2:CreateRoute", RouteTable::update_routes)),
        ]
    }
    fn keep_prior_when_empty(&self) -> &'static [&'static str] {
        &["route"]
    }
    fn normalize(&self, a: &mut Attrs) {
        if let Some(Value::List(routes)) = a.get("route")
            && !routes.iter().any(Value::contains_unknown)
        {
            let c = canonical_routes(routes);
            a.insert("route".into(), c);
        }
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        Ok(route_tables(cx, q, "route-table-id")
            .await?
            .iter()
            .filter_map(|t| {
                let id = t.route_table_id()?.to_string();
                let routes: Vec<Value> = t
                    .routes()
                    .iter()
                    // The VPC's local route exists in every table and cannot be managed.
                    .filter(|r| r.gateway_id() != Some("local"))
                    .filter_map(|r| {
                        let cidr = r.destination_cidr_block()?;
                        Some(Value::Map(attrs(vec![
                            ("cidr_block", Value::string(cidr)),
                            ("gateway_id", vstr(r.gateway_id())),
                            ("nat_gateway_id", vstr(r.nat_gateway_id())),
                            ("network_interface_id", vstr(r.network_interface_id())),
                            (
                                "vpc_peering_connection_id",
                                vstr(r.vpc_peering_connection_id()),
                            ),
                        ])))
                    })
                    .collect();
                Some(Observed {
                    attrs: attrs(vec![
                        ("vpc_id", vstr(t.vpc_id())),
                        ("route", canonical_routes(&routes)),
                        ("arn", arn(cx, t.owner_id(), "route-table", &id)),
                        ("owner_id", vstr(t.owner_id())),
                    ]),
                    tags: Some(ec2_tags(t.tags())),
                    id,
                })
            })
            .collect())
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:CreateRouteTable", || {
                ec2.create_route_table()
                    .set_vpc_id(str_attr(planned, "vpc_id"))
                    .client_token(client_token)
                    .tag_specifications(ec2_tag_spec(Rt::RouteTable, tags))
                    .send()
            })
            .await?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .ok_or_else(|| ProviderError::fatal("CreateRouteTable returned no id"))?
            .to_string();
        Self::sync_routes(cx, &id, &[], &blocks_attr(planned, "route")).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(
            cx,
            "ec2:DeleteRouteTable",
            Some("DependencyViolation"),
            || ec2.delete_route_table().route_table_id(id).send(),
        )
        .await
    }
}

impl RouteTable {
    async fn update_routes(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let new = blocks_attr(planned, "route");
        if new.is_empty() {
            return Ok(()); // unmanaged
        }
        Self::sync_routes(cx, id, &blocks_attr(prior, "route"), &new).await
    }
}

// ---------------------------------------------------------------------------------------------

/// Route tables as AWS lists them. The stack's are read once per refresh: the tables' routes
/// and their associations come from the same answer.
async fn route_tables(
    cx: &Ctx,
    q: Query<'_>,
    id_filter: &str,
) -> Result<Arc<Vec<AwsRouteTable>>, ProviderError> {
    cx.shared_if_stack("ec2:DescribeRouteTables", q, || async {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, q, id_filter);
        Ok(paginate!(
            cx,
            "ec2:DescribeRouteTables",
            ec2.describe_route_tables()
                .set_filters(Some(filters.clone())),
            route_tables
        ))
    })
    .await
}

/// No tags in AWS: found through its route table, adopted by (subnet, route table) identity.
pub struct RouteTableAssociation;

#[async_trait::async_trait]
impl ResourceType for RouteTableAssociation {
    fn name(&self) -> &'static str {
        "aws_route_table_association"
    }
    fn description(&self) -> &'static str {
        "Associates a subnet with a route table."
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            attr("subnet_id", A::required(Type::String).force_new()),
            attr("route_table_id", A::required(Type::String).force_new()),
        ]
    }
    fn tag_api(&self) -> TagApi {
        TagApi::None
    }
    fn identity(&self) -> Identity {
        Identity::UniqueKey
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        // Associations carry no tags: they are read by id (adoption goes through
        // `find_existing`). In a refresh of the route tables too, those of the stack's tables
        // come from the tables' own answer.
        let Query::Ids(ids) = q else {
            return Ok(Vec::new());
        };
        let mut tables = Vec::new();
        let mut missing = ids.to_vec();
        if cx.refreshing("aws_route_table") {
            let stack = route_tables(cx, Query::Stack, "route-table-id").await?;
            missing.retain(|id| {
                !stack
                    .iter()
                    .flat_map(|t| t.associations())
                    .any(|a| a.route_table_association_id() == Some(id.as_str()))
            });
            tables.extend(stack.iter().cloned());
        }
        if !missing.is_empty() {
            let by_id = route_tables(
                cx,
                Query::Ids(&missing),
                "association.route-table-association-id",
            )
            .await?;
            tables.extend(by_id.iter().cloned());
        }
        Ok(tables
            .iter()
            .flat_map(|t| t.associations())
            .filter(|a| {
                a.route_table_association_id()
                    .is_some_and(|id| ids.iter().any(|w| w == id))
            })
            .filter_map(|a| {
                Some(Observed {
                    id: a.route_table_association_id()?.to_string(),
                    attrs: attrs(vec![
                        ("subnet_id", vstr(a.subnet_id())),
                        ("route_table_id", vstr(a.route_table_id())),
                    ]),
                    tags: None,
                })
            })
            .collect())
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        planned: &Value,
        _tags: &Tags,
        _token: &str,
    ) -> Result<Option<String>, ProviderError> {
        let (Some(rt), Some(subnet)) = (
            str_attr(planned, "route_table_id"),
            str_attr(planned, "subnet_id"),
        ) else {
            return Ok(None);
        };
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:DescribeRouteTables", || {
                ec2.describe_route_tables().route_table_ids(&rt).send()
            })
            .await?;
        Ok(out
            .route_tables()
            .iter()
            .flat_map(|t| t.associations())
            .find(|a| a.subnet_id() == Some(subnet.as_str()))
            .and_then(|a| a.route_table_association_id())
            .map(str::to_string))
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        _tags: &Tags,
        _token: &str,
    ) -> Result<String, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:AssociateRouteTable", || {
                ec2.associate_route_table()
                    .set_route_table_id(str_attr(planned, "route_table_id"))
                    .set_subnet_id(str_attr(planned, "subnet_id"))
                    .send()
            })
            .await?;
        out.association_id()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::fatal("AssociateRouteTable returned no id"))
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(cx, "ec2:DisassociateRouteTable", None, || {
            ec2.disassociate_route_table().association_id(id).send()
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Security group rules, in the canonical "one source per rule" form.

fn rule_schema() -> Schema {
    Schema::new()
        .attr("protocol", A::required(Type::String))
        .attr("from_port", A::required(Type::Number))
        .attr("to_port", A::required(Type::Number))
        .attr(
            "cidr_blocks",
            A::optional(Type::List(Box::new(Type::String))),
        )
        .attr(
            "ipv6_cidr_blocks",
            A::optional(Type::List(Box::new(Type::String))),
        )
        .attr(
            "prefix_list_ids",
            A::optional(Type::List(Box::new(Type::String))),
        )
        .attr(
            "security_groups",
            A::optional(Type::List(Box::new(Type::String))),
        )
        .attr("self", A::optional(Type::Bool))
        .attr("description", A::optional(Type::String))
}

fn norm_protocol(p: &str) -> String {
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
struct Atom {
    protocol: String,
    from: i64,
    to: i64,
    source: Source,
    description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Cidr(String),
    Cidr6(String),
    PrefixList(String),
    Group(String),
    /// The rule's own group, however the configuration named it (`self = true`, or
    /// `source_security_group_id` equal to the group): AWS stores and returns one pair.
    SelfRef,
}

impl Atom {
    fn new(protocol: &str, from: i64, to: i64, source: Source, description: &str) -> Atom {
        let protocol = norm_protocol(protocol);
        let (from, to) = if protocol == "-1" { (0, 0) } else { (from, to) };
        Atom {
            protocol,
            from,
            to,
            source,
            description: description.to_string(),
        }
    }

    fn to_value(&self) -> Value {
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
            Source::Cidr6(c) => p.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(c)
                    .set_description(desc)
                    .build(),
            ),
            Source::PrefixList(id) => p.prefix_list_ids(
                PrefixListId::builder()
                    .prefix_list_id(id)
                    .set_description(desc)
                    .build(),
            ),
            Source::Group(g) => p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .set_description(desc)
                    .build(),
            ),
            Source::SelfRef => p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(own_group)
                    .set_description(desc)
                    .build(),
            ),
        }
        .build()
    }
}

/// Splits a configured rule into atoms; None while any part is unknown.
fn atoms_of_config(rule: &Value) -> Option<Vec<Atom>> {
    if rule.contains_unknown() {
        return None;
    }
    let protocol = str_attr(rule, "protocol").unwrap_or_default();
    let from = int_attr(rule, "from_port").unwrap_or(0);
    let to = int_attr(rule, "to_port").unwrap_or(0);
    let desc = str_attr(rule, "description").unwrap_or_default();
    let mut out: Vec<Atom> = strs_attr(rule, "cidr_blocks")
        .into_iter()
        .map(|c| Atom::new(&protocol, from, to, Source::Cidr(c), &desc))
        .collect();
    out.extend(
        strs_attr(rule, "ipv6_cidr_blocks")
            .into_iter()
            .map(|c| Atom::new(&protocol, from, to, Source::Cidr6(c), &desc)),
    );
    out.extend(
        strs_attr(rule, "prefix_list_ids")
            .into_iter()
            .map(|p| Atom::new(&protocol, from, to, Source::PrefixList(p), &desc)),
    );
    out.extend(
        strs_attr(rule, "security_groups")
            .into_iter()
            .map(|g| Atom::new(&protocol, from, to, Source::Group(g), &desc)),
    );
    if bool_attr(rule, "self").unwrap_or(false) {
        out.push(Atom::new(&protocol, from, to, Source::SelfRef, &desc));
    }
    Some(out)
}

fn atoms_of_permissions(perms: &[IpPermission], own_group: &str) -> Vec<Atom> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1");
        let from = p.from_port().unwrap_or(0) as i64;
        let to = p.to_port().unwrap_or(0) as i64;
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.push(Atom::new(
                    protocol,
                    from,
                    to,
                    Source::Cidr(c.to_string()),
                    r.description().unwrap_or(""),
                ));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                out.push(Atom::new(
                    protocol,
                    from,
                    to,
                    Source::Cidr6(c.to_string()),
                    r.description().unwrap_or(""),
                ));
            }
        }
        for l in p.prefix_list_ids() {
            if let Some(id) = l.prefix_list_id() {
                out.push(Atom::new(
                    protocol,
                    from,
                    to,
                    Source::PrefixList(id.to_string()),
                    l.description().unwrap_or(""),
                ));
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                let source = if id == own_group {
                    Source::SelfRef
                } else {
                    Source::Group(id.to_string())
                };
                out.push(Atom::new(
                    protocol,
                    from,
                    to,
                    source,
                    g.description().unwrap_or(""),
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn canonical_rule_list(rules: &[Value]) -> Option<Value> {
    let mut atoms = Vec::new();
    for r in rules {
        atoms.extend(atoms_of_config(r)?);
    }
    atoms.sort();
    atoms.dedup();
    Some(Value::List(atoms.iter().map(Atom::to_value).collect()))
}

fn atoms_of_state(v: &Value, k: &str) -> Vec<Atom> {
    let mut out = Vec::new();
    for r in blocks_attr(v, k) {
        out.extend(atoms_of_config(&r).unwrap_or_default());
    }
    out.sort();
    out.dedup();
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Ingress,
    Egress,
}

/// One of the four rule calls (authorize/revoke × ingress/egress); they differ only in name.
macro_rules! rule_call {
    ($cx:expr, $api:literal, $method:ident, $group:expr, $perms:expr) => {
        $cx.clients
            .call($api, || {
                $cx.clients
                    .ec2
                    .$method()
                    .group_id($group)
                    .set_ip_permissions(Some($perms.clone()))
                    .send()
            })
            .await
            .map(|_| ())
    };
}

async fn authorize(
    cx: &Ctx,
    group: &str,
    dir: Direction,
    atoms: &[Atom],
) -> Result<(), ProviderError> {
    change_rules(cx, group, dir, atoms, true).await
}

async fn revoke(
    cx: &Ctx,
    group: &str,
    dir: Direction,
    atoms: &[Atom],
) -> Result<(), ProviderError> {
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
) -> Result<(), ProviderError> {
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
    let r = match (add, dir) {
        (true, Direction::Ingress) => rule_call!(
            cx,
            "ec2:AuthorizeSecurityGroupIngress",
            authorize_security_group_ingress,
            group,
            perms
        ),
        (true, Direction::Egress) => rule_call!(
            cx,
            "ec2:AuthorizeSecurityGroupEgress",
            authorize_security_group_egress,
            group,
            perms
        ),
        (false, Direction::Ingress) => rule_call!(
            cx,
            "ec2:RevokeSecurityGroupIngress",
            revoke_security_group_ingress,
            group,
            perms
        ),
        (false, Direction::Egress) => rule_call!(
            cx,
            "ec2:RevokeSecurityGroupEgress",
            revoke_security_group_egress,
            group,
            perms
        ),
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
async fn sync_rules(
    cx: &Ctx,
    group: &str,
    dir: Direction,
    prior: &[Atom],
    planned: &[Atom],
) -> Result<(), ProviderError> {
    let old: BTreeSet<&Atom> = prior.iter().collect();
    let new: BTreeSet<&Atom> = planned.iter().collect();
    let gone: Vec<Atom> = old.difference(&new).map(|a| (*a).clone()).collect();
    let added: Vec<Atom> = new.difference(&old).map(|a| (*a).clone()).collect();
    revoke(cx, group, dir, &gone).await?;
    authorize(cx, group, dir, &added).await
}

/// Security groups as AWS lists them. The stack's are read once per refresh: the groups'
/// inline rules and the separate aws_security_group_rule objects come from the same answer.
async fn security_groups(
    cx: &Ctx,
    q: Query<'_>,
) -> Result<Arc<Vec<AwsSecurityGroup>>, ProviderError> {
    cx.shared_if_stack("ec2:DescribeSecurityGroups", q, || async {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, q, "group-id");
        Ok(paginate!(
            cx,
            "ec2:DescribeSecurityGroups",
            ec2.describe_security_groups()
                .set_filters(Some(filters.clone())),
            security_groups
        ))
    })
    .await
}

pub struct SecurityGroup;

#[async_trait::async_trait]
impl ResourceType for SecurityGroup {
    fn name(&self) -> &'static str {
        "aws_security_group"
    }
    fn description(&self) -> &'static str {
        "A security group; inline ingress/egress blocks are authoritative when present."
    }
    fn fields(&self) -> Vec<Field> {
        let rules = updater!(
            "ec2:AuthorizeSecurityGroup*",
            SecurityGroup::sync_inline_rules
        );
        vec![
            attr(
                "name",
                A::optional_computed(Type::String)
                    .force_new()
                    .describe("Default: the Name tag plus a suffix from the client token"),
            ),
            attr(
                "description",
                A::optional(Type::String)
                    .force_new()
                    .default(Value::string("Managed by slipway")),
            ),
            attr("vpc_id", A::required(Type::String).force_new()),
            attr("arn", A::computed(Type::String)),
            attr("owner_id", A::computed(Type::String)),
            block("ingress", BlockNesting::List, rule_schema()).by(rules),
            block("egress", BlockNesting::List, rule_schema()).by(rules),
        ]
    }
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
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        Ok(security_groups(cx, q)
            .await?
            .iter()
            .filter_map(|g| {
                let id = g.group_id()?.to_string();
                let rules = |perms: &[IpPermission]| {
                    Value::List(
                        atoms_of_permissions(perms, &id)
                            .iter()
                            .map(Atom::to_value)
                            .collect(),
                    )
                };
                Some(Observed {
                    attrs: attrs(vec![
                        ("name", vstr(g.group_name())),
                        ("description", vstr(g.description())),
                        ("vpc_id", vstr(g.vpc_id())),
                        ("ingress", rules(g.ip_permissions())),
                        ("egress", rules(g.ip_permissions_egress())),
                        (
                            "arn",
                            match g.security_group_arn() {
                                Some(a) => Value::string(a),
                                None => arn(cx, g.owner_id(), "security-group", &id),
                            },
                        ),
                        ("owner_id", vstr(g.owner_id())),
                    ]),
                    tags: Some(ec2_tags(g.tags())),
                    id,
                })
            })
            .collect())
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, ProviderError> {
        let ec2 = &cx.clients.ec2;
        // Names are unique per VPC, and a replacement exists next to its predecessor for a
        // while: derive a default name that differs per generation.
        let name = str_attr(planned, "name").unwrap_or_else(|| {
            let base = tags.get(super::tags::NAME_TAG).cloned().unwrap_or_default();
            let suffix: String = client_token
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(8)
                .collect();
            format!("{base}-{suffix}")
        });
        let out = cx
            .clients
            .run("ec2:CreateSecurityGroup", || {
                ec2.create_security_group()
                    .group_name(&name)
                    .set_description(str_attr(planned, "description"))
                    .set_vpc_id(str_attr(planned, "vpc_id"))
                    .tag_specifications(ec2_tag_spec(Rt::SecurityGroup, tags))
                    .send()
            })
            .await?;
        let id = out
            .group_id()
            .ok_or_else(|| ProviderError::fatal("CreateSecurityGroup returned no id"))?
            .to_string();
        authorize(
            cx,
            &id,
            Direction::Ingress,
            &atoms_of_state(planned, "ingress"),
        )
        .await?;
        let egress = atoms_of_state(planned, "egress");
        if !egress.is_empty() {
            // Configured egress is authoritative: drop AWS's default allow-all unless listed.
            let default = vec![Atom::new("-1", 0, 0, Source::Cidr("0.0.0.0/0".into()), "")];
            sync_rules(cx, &id, Direction::Egress, &default, &egress).await?;
        }
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(
            cx,
            "ec2:DeleteSecurityGroup",
            Some("DependencyViolation"),
            || ec2.delete_security_group().group_id(id).send(),
        )
        .await
    }
}

impl SecurityGroup {
    async fn sync_inline_rules(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        for (k, dir) in [
            ("ingress", Direction::Ingress),
            ("egress", Direction::Egress),
        ] {
            let new = atoms_of_state(planned, k);
            if blocks_attr(planned, k).is_empty() {
                continue; // unmanaged
            }
            sync_rules(cx, id, dir, &atoms_of_state(prior, k), &new).await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// One rule (possibly several CIDRs) attached to a group managed elsewhere. Its id is derived
/// from its content, like Terraform's `sgrule-…`; it exists while every atom is present.
pub struct SecurityGroupRule;

impl SecurityGroupRule {
    fn direction(v: &Value) -> Direction {
        if str_attr(v, "type").as_deref() == Some("egress") {
            Direction::Egress
        } else {
            Direction::Ingress
        }
    }

    fn atoms(v: &Value) -> Vec<Atom> {
        // Only what defines the rule: computed attributes (`id`) are unknown in a plan and
        // would hide a rule whose definition is fully known.
        let all = v.as_map().cloned().unwrap_or_default();
        let mut rule: Attrs = [
            "protocol",
            "from_port",
            "to_port",
            "description",
            "cidr_blocks",
            "ipv6_cidr_blocks",
            "prefix_list_ids",
            "self",
        ]
        .into_iter()
        .filter_map(|k| all.get(k).map(|x| (k.to_string(), x.clone())))
        .collect();
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
        use sha2::Digest;
        let key = format!(
            "{}|{}|{:?}",
            str_attr(v, "security_group_id").unwrap_or_default(),
            str_attr(v, "type").unwrap_or_default(),
            Self::atoms(v)
        );
        format!(
            "sgrule-{}",
            &hex::encode(sha2::Sha256::digest(key.as_bytes()))[..16]
        )
    }
}

#[async_trait::async_trait]
impl ResourceType for SecurityGroupRule {
    fn name(&self) -> &'static str {
        "aws_security_group_rule"
    }
    fn description(&self) -> &'static str {
        "One ingress or egress rule of a security group."
    }
    fn fields(&self) -> Vec<Field> {
        // Every field identifies the rule: any change is a new rule.
        let strs = || A::optional(Type::List(Box::new(Type::String))).force_new();
        vec![
            attr("type", A::required(Type::String).force_new()),
            attr("security_group_id", A::required(Type::String).force_new()),
            attr("protocol", A::required(Type::String).force_new()),
            attr("from_port", A::required(Type::Number).force_new()),
            attr("to_port", A::required(Type::Number).force_new()),
            attr("cidr_blocks", strs()),
            attr("ipv6_cidr_blocks", strs()),
            attr("prefix_list_ids", strs()),
            attr(
                "source_security_group_id",
                A::optional(Type::String).force_new(),
            ),
            attr("self", A::optional(Type::Bool).force_new()),
            attr("description", A::optional(Type::String).force_new()),
        ]
    }
    fn tag_api(&self) -> TagApi {
        TagApi::None
    }
    fn identity(&self) -> Identity {
        Identity::Derived(|v| Some(Self::rule_id(v)))
    }
    fn normalize(&self, a: &mut Attrs) {
        if let Some(p) = a
            .get("protocol")
            .and_then(|p| p.as_str().map(norm_protocol))
        {
            a.insert("protocol".into(), Value::string(p));
        }
        super::resource::normalize_set(a, "cidr_blocks");
        super::resource::normalize_set(a, "ipv6_cidr_blocks");
        super::resource::normalize_set(a, "prefix_list_ids");
    }
    /// One DescribeSecurityGroups for every group the rules belong to.
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        let mut groups: Vec<String> = priors
            .iter()
            .filter_map(|p| str_attr(p, "security_group_id"))
            .collect();
        groups.sort();
        groups.dedup();
        if groups.is_empty() {
            return Ok(priors.iter().map(|_| None).collect());
        }
        // In a refresh of the groups too, rules come from the groups' own answer.
        let (mut found, missing) = if cx.refreshing("aws_security_group") {
            let stack = security_groups(cx, Query::Stack).await?;
            take_listed(&stack, groups, |g| g.group_id())
        } else {
            (Vec::new(), groups)
        };
        if !missing.is_empty() {
            found.extend(
                security_groups(cx, Query::Ids(&missing))
                    .await?
                    .iter()
                    .cloned(),
            );
        }
        Ok(priors
            .iter()
            .map(|p| {
                let gid = str_attr(p, "security_group_id")?;
                let g = found.iter().find(|g| g.group_id() == Some(gid.as_str()))?;
                let perms = match Self::direction(p) {
                    Direction::Ingress => g.ip_permissions(),
                    Direction::Egress => g.ip_permissions_egress(),
                };
                let present = atoms_of_permissions(perms, &gid);
                let wanted = Self::atoms(p);
                if wanted.is_empty() || !wanted.iter().all(|a| present.contains(a)) {
                    return None;
                }
                Some(Observed {
                    id: Self::rule_id(p),
                    attrs: Attrs::new(),
                    tags: None,
                })
            })
            .collect())
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        _tags: &Tags,
        _token: &str,
    ) -> Result<String, ProviderError> {
        let group = str_attr(planned, "security_group_id")
            .ok_or_else(|| ProviderError::fatal("security_group_id is required"))?;
        let atoms = Self::atoms(planned);
        if atoms.is_empty() {
            return Err(ProviderError::fatal(
                "aws_security_group_rule needs cidr_blocks, ipv6_cidr_blocks, prefix_list_ids, source_security_group_id or self",
            ));
        }
        authorize(cx, &group, Self::direction(planned), &atoms).await?;
        Ok(Self::rule_id(planned))
    }
    async fn delete(&self, cx: &Ctx, _id: &str, prior: &Value) -> Result<(), ProviderError> {
        let Some(group) = str_attr(prior, "security_group_id") else {
            return Ok(());
        };
        revoke(cx, &group, Self::direction(prior), &Self::atoms(prior)).await
    }
}
