//! aws_vpc, aws_subnet and aws_internet_gateway: the network itself and its way out.
//!
//! The VPC's DNS attributes and a subnet's public-IP mapping cannot be set at creation: create
//! makes the object, then applies them through the same updaters an in-place change uses. An
//! internet gateway is detached before it is deleted (AWS refuses to delete an attached one);
//! a detach or delete refused with DependencyViolation (addresses still mapped, ENIs still in
//! a subnet) is retried until `ready_timeout`.

use aws_sdk_ec2::types::{
    InternetGateway as AwsIgw, ResourceType as Rt, Subnet as AwsSubnet, Vpc as AwsVpc,
};

use super::{arn, set_bool};
use crate::declare::{Field, delete_call, erase, returned_id, updater};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::resource::{
    Create, Ctx, Observed, Query, ResourceType, bool_attr, changed, ec2_filters, ec2_observed,
    ec2_tag_spec, str_attr,
};
use crate::value::{Type, Value};

pub(super) struct Vpc;

impl Vpc {
    fn shape() -> Vec<Field<AwsVpc>> {
        type F = Field<AwsVpc>;
        let dns = updater!("ec2:ModifyVpcAttribute", Vpc::modify_dns);
        let unread = "Not refreshed: reading it costs one call per VPC";
        vec![
            F::attr("cidr_block", A::required(Type::String).force_new())
                .read_str(AwsVpc::cidr_block),
            F::attr(
                "instance_tenancy",
                A::optional(Type::String).force_new().default(Value::string("default")),
            )
            .read_str(|v| v.instance_tenancy().map(|t| t.as_str())),
            F::attr(
                "enable_dns_support",
                A::optional(Type::Bool).default(Value::Bool(true)).describe(unread),
            )
            .by(dns),
            F::attr(
                "enable_dns_hostnames",
                A::optional(Type::Bool).default(Value::Bool(false)).describe(unread),
            )
            .by(dns),
            F::attr("arn", A::computed(Type::String))
                .read_cx(|cx, v| arn(cx, v.owner_id(), "vpc", v.vpc_id().unwrap_or(""))),
            F::computed("owner_id", AwsVpc::owner_id),
            F::computed("dhcp_options_id", AwsVpc::dhcp_options_id),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for Vpc {
    fn name(&self) -> &'static str {
        "aws_vpc"
    }
    fn description(&self) -> &'static str {
        "A VPC."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&Vpc::shape())
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
        let shape = Vpc::shape();
        let obs = |v: &AwsVpc| ec2_observed(cx, &shape, v, v.vpc_id(), v.tags());
        Ok(vpcs.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags) = (c.planned, c.tags);
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
        let id = returned_id("ec2:CreateVpc", out.vpc().and_then(|v| v.vpc_id()))?;
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

pub(super) struct Subnet;

#[async_trait::async_trait]
impl ResourceType for Subnet {
    fn name(&self) -> &'static str {
        "aws_subnet"
    }
    fn description(&self) -> &'static str {
        "A subnet of a VPC, in one availability zone."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&Subnet::shape())
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
        let shape = Subnet::shape();
        let obs = |s: &AwsSubnet| ec2_observed(cx, &shape, s, s.subnet_id(), s.tags());
        Ok(subnets.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags) = (c.planned, c.tags);
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
        let id = returned_id("ec2:CreateSubnet", out.subnet().and_then(|s| s.subnet_id()))?;
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
    fn shape() -> Vec<Field<AwsSubnet>> {
        type F = Field<AwsSubnet>;
        vec![
            F::attr("vpc_id", A::required(Type::String).force_new()).read_str(AwsSubnet::vpc_id),
            F::attr("cidr_block", A::required(Type::String).force_new())
                .read_str(AwsSubnet::cidr_block),
            F::attr("availability_zone", A::optional_computed(Type::String).force_new())
                .read_str(AwsSubnet::availability_zone),
            F::attr("map_public_ip_on_launch", A::optional(Type::Bool).default(Value::Bool(false)))
                .by(updater!("ec2:ModifySubnetAttribute", Subnet::modify_public_ip))
                .read(|s| Value::Bool(s.map_public_ip_on_launch().unwrap_or(false))),
            F::computed("availability_zone_id", AwsSubnet::availability_zone_id),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, s| match s.subnet_arn() {
                Some(a) => Value::string(a),
                None => arn(cx, s.owner_id(), "subnet", s.subnet_id().unwrap_or("")),
            }),
            F::computed("owner_id", AwsSubnet::owner_id),
        ]
    }

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

pub(super) struct InternetGateway;

impl InternetGateway {
    fn shape() -> Vec<Field<AwsIgw>> {
        type F = Field<AwsIgw>;
        let reattach = updater!("ec2:AttachInternetGateway", InternetGateway::reattach);
        vec![
            F::attr("vpc_id", A::optional(Type::String))
                .by(reattach)
                .read_str(|g| g.attachments().iter().find_map(|a| a.vpc_id())),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, g| {
                let id = g.internet_gateway_id().unwrap_or("");
                arn(cx, g.owner_id(), "internet-gateway", id)
            }),
            F::computed("owner_id", AwsIgw::owner_id),
        ]
    }

    async fn attach(cx: &Ctx, id: &str, vpc: &str) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        cx.clients
            .run("ec2:AttachInternetGateway", || {
                ec2.attach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send()
            })
            .await?;
        Ok(())
    }

    async fn detach(cx: &Ctx, id: &str, vpc: &str) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        // Refused (DependencyViolation) while public addresses are still mapped in the VPC.
        let busy = Some("DependencyViolation");
        let r = delete_call(cx, "ec2:DetachInternetGateway", busy, || {
            ec2.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send()
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
        erase(&InternetGateway::shape())
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, q, "internet-gateway-id");
        let igws = paginate!(
            cx,
            "ec2:DescribeInternetGateways",
            ec2.describe_internet_gateways().set_filters(Some(filters.clone())),
            internet_gateways
        );
        let shape = InternetGateway::shape();
        let obs = |g: &AwsIgw| ec2_observed(cx, &shape, g, g.internet_gateway_id(), g.tags());
        Ok(igws.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags) = (c.planned, c.tags);
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:CreateInternetGateway", || {
                ec2.create_internet_gateway()
                    .tag_specifications(ec2_tag_spec(Rt::InternetGateway, tags))
                    .send()
            })
            .await?;
        let igw = out.internet_gateway();
        let id =
            returned_id("ec2:CreateInternetGateway", igw.and_then(|g| g.internet_gateway_id()))?;
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
        delete_call(cx, "ec2:DeleteInternetGateway", Some("DependencyViolation"), || {
            ec2.delete_internet_gateway().internet_gateway_id(id).send()
        })
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
