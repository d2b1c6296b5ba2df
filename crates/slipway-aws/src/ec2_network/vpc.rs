//! aws_vpc, aws_subnet and aws_internet_gateway: the network itself and its way out.
//!
//! The VPC's DNS attributes and a subnet's public-IP mapping cannot be set at creation: create
//! makes the object, then applies them through the same updaters an in-place change uses. An
//! internet gateway is detached before it is deleted (AWS refuses to delete an attached one);
//! a detach or delete refused with DependencyViolation (addresses still mapped, ENIs still in
//! a subnet) is retried until `ready_timeout`.

use aws_sdk_ec2::operation::create_internet_gateway::builders::CreateInternetGatewayFluentBuilder as NewIgw;
use aws_sdk_ec2::operation::create_subnet::builders::CreateSubnetFluentBuilder as NewSubnet;
use aws_sdk_ec2::operation::create_vpc::builders::CreateVpcFluentBuilder as NewVpc;
use aws_sdk_ec2::types::{
    InternetGateway as AwsIgw, ResourceType as Rt, Subnet as AwsSubnet, Vpc as AwsVpc,
};

use super::set_bool;
use crate::declare::{Field, build, create_call, declared, delete_call, remove_call, updater};
use crate::provider::AttributeSchema as A;
use crate::resource::{
    Create, Ctx, Observed, Query, ResourceType, Result, bool_change, changed, ec2_arn,
    ec2_tag_spec, str_attr, text,
};
use crate::value::{Type, Value};

pub(super) struct Vpc;

impl Vpc {
    fn shape() -> Vec<Field<AwsVpc, NewVpc>> {
        type F = Field<AwsVpc, NewVpc>;
        let dns = updater!("ec2:ModifyVpcAttribute", Vpc::modify_dns);
        let unread = "Not refreshed: reading it costs one call per VPC";
        let tenancy = A::optional(Type::String).force_new().default(Value::string("default"));
        let tenancy = tenancy.one_of(&["default", "dedicated"]);
        vec![
            F::attr("cidr_block", A::required(Type::String).force_new())
                .read_str(AwsVpc::cidr_block)
                .write(|b, v| b.set_cidr_block(text(v))),
            F::attr("instance_tenancy", tenancy)
                .read_str(|v| v.instance_tenancy().map(|t| t.as_str()))
                .write(|b, v| b.set_instance_tenancy(text(v).map(|t| t.as_str().into()))),
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
                .read_cx(|cx, v| ec2_arn(cx, v.owner_id(), "vpc", v.vpc_id())),
            F::computed("owner_id", AwsVpc::owner_id),
            F::computed("dhcp_options_id", AwsVpc::dhcp_options_id),
        ]
    }

    async fn modify_dns(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        let (c, ec2) = (&cx.clients, &cx.clients.ec2);
        // One attribute per ModifyVpcAttribute call: the API refuses two at once. A create's
        // prior is null: AWS's defaults, support on and hostnames off.
        if let Some(on) = bool_change(prior, planned, "enable_dns_support", true) {
            let req = ec2.modify_vpc_attribute().vpc_id(id).enable_dns_support(set_bool(on));
            c.run("ec2:ModifyVpcAttribute", || req.clone().send()).await?;
        }
        if let Some(on) = bool_change(prior, planned, "enable_dns_hostnames", false) {
            let req = ec2.modify_vpc_attribute().vpc_id(id).enable_dns_hostnames(set_bool(on));
            c.run("ec2:ModifyVpcAttribute", || req.clone().send()).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for Vpc {
    declared!("aws_vpc", "A VPC.", Vpc::shape());
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let shape = Vpc::shape();
        ec2_describe!(cx, q, shape, "ec2:DescribeVpcs" => describe_vpcs().vpcs, "vpc-id" => vpc_id)
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let new = cx.clients.ec2.create_vpc().tag_specifications(ec2_tag_spec(Rt::Vpc, c.tags));
        let req = build(&Vpc::shape(), new, c.planned);
        let id = create_call(cx, "ec2:CreateVpc", || req.clone().send(), |o| o.vpc()?.vpc_id());
        let id = id.await?;
        // The DNS attributes cannot be set at creation.
        self.update(cx, &id, &Value::Null, c.planned).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.delete_vpc().vpc_id(id);
        delete_call(cx, "ec2:DeleteVpc", Some("DependencyViolation"), || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

pub(super) struct Subnet;

impl Subnet {
    fn shape() -> Vec<Field<AwsSubnet, NewSubnet>> {
        type F = Field<AwsSubnet, NewSubnet>;
        let public = updater!("ec2:ModifySubnetAttribute", Subnet::modify_public_ip);
        vec![
            F::attr("vpc_id", A::required(Type::String).force_new())
                .read_str(AwsSubnet::vpc_id)
                .write(|b, v| b.set_vpc_id(text(v))),
            F::attr("cidr_block", A::required(Type::String).force_new())
                .read_str(AwsSubnet::cidr_block)
                .write(|b, v| b.set_cidr_block(text(v))),
            F::attr("availability_zone", A::optional_computed(Type::String).force_new())
                .read_str(AwsSubnet::availability_zone)
                .write(|b, v| b.set_availability_zone(text(v))),
            F::attr("map_public_ip_on_launch", A::optional(Type::Bool).default(Value::Bool(false)))
                .by(public)
                .read(|s| Value::Bool(s.map_public_ip_on_launch().unwrap_or(false))),
            F::computed("availability_zone_id", AwsSubnet::availability_zone_id),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, s| match s.subnet_arn() {
                Some(a) => Value::string(a),
                None => ec2_arn(cx, s.owner_id(), "subnet", s.subnet_id()),
            }),
            F::computed("owner_id", AwsSubnet::owner_id),
        ]
    }

    async fn modify_public_ip(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        if let Some(on) = bool_change(prior, planned, "map_public_ip_on_launch", false) {
            let req = cx.clients.ec2.modify_subnet_attribute().subnet_id(id);
            let req = req.map_public_ip_on_launch(set_bool(on));
            cx.clients.run("ec2:ModifySubnetAttribute", || req.clone().send()).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for Subnet {
    declared!("aws_subnet", "A subnet of a VPC, in one availability zone.", Subnet::shape());
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let (api, shape) = ("ec2:DescribeSubnets", Subnet::shape());
        ec2_describe!(cx, q, shape, api => describe_subnets().subnets, "subnet-id" => subnet_id)
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let new =
            cx.clients.ec2.create_subnet().tag_specifications(ec2_tag_spec(Rt::Subnet, c.tags));
        let req = build(&Subnet::shape(), new, c.planned);
        let id =
            create_call(cx, "ec2:CreateSubnet", || req.clone().send(), |o| o.subnet()?.subnet_id());
        let id = id.await?;
        // The public-IP mapping cannot be set at creation.
        self.update(cx, &id, &Value::Null, c.planned).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.delete_subnet().subnet_id(id);
        delete_call(cx, "ec2:DeleteSubnet", Some("DependencyViolation"), || req.clone().send())
            .await
    }
}

// ---------------------------------------------------------------------------------------------

pub(super) struct InternetGateway;

impl InternetGateway {
    fn shape() -> Vec<Field<AwsIgw, NewIgw>> {
        type F = Field<AwsIgw, NewIgw>;
        let reattach = updater!("ec2:AttachInternetGateway", InternetGateway::reattach);
        vec![
            F::attr("vpc_id", A::optional(Type::String))
                .by(reattach)
                .read_str(|g| g.attachments().iter().find_map(|a| a.vpc_id())),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, g| {
                ec2_arn(cx, g.owner_id(), "internet-gateway", g.internet_gateway_id())
            }),
            F::computed("owner_id", AwsIgw::owner_id),
        ]
    }

    /// Attaches to the planned VPC after detaching from the prior one (a create's prior is
    /// null: the gateway is made detached).
    async fn reattach(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        if !changed(prior, planned, "vpc_id") {
            return Ok(());
        }
        if let Some(old) = str_attr(prior, "vpc_id") {
            Self::detach(cx, id, &old).await?;
        }
        if let Some(vpc) = str_attr(planned, "vpc_id") {
            let req = cx.clients.ec2.attach_internet_gateway().internet_gateway_id(id).vpc_id(vpc);
            cx.clients.run("ec2:AttachInternetGateway", || req.clone().send()).await?;
        }
        Ok(())
    }

    async fn detach(cx: &Ctx, id: &str, vpc: &str) -> Result<()> {
        let req = cx.clients.ec2.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc);
        // Refused (DependencyViolation) while public addresses are still mapped in the VPC.
        let (busy, done) = (Some("DependencyViolation"), ["Gateway.NotAttached"]);
        remove_call(cx, "ec2:DetachInternetGateway", busy, &done, || req.clone().send()).await
    }
}

#[async_trait::async_trait]
impl ResourceType for InternetGateway {
    declared!(
        "aws_internet_gateway",
        "An internet gateway, attached to at most one VPC.",
        InternetGateway::shape()
    );
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let (api, shape) = ("ec2:DescribeInternetGateways", InternetGateway::shape());
        ec2_describe!(cx, q, shape, api => describe_internet_gateways().internet_gateways,
            "internet-gateway-id" => internet_gateway_id)
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let spec = ec2_tag_spec(Rt::InternetGateway, c.tags);
        let req = build(&Self::shape(), cx.clients.ec2.create_internet_gateway(), c.planned);
        let req = req.tag_specifications(spec);
        let id = create_call(
            cx,
            "ec2:CreateInternetGateway",
            || req.clone().send(),
            |o| o.internet_gateway()?.internet_gateway_id(),
        );
        let id = id.await?;
        Self::reattach(cx, &id, &Value::Null, c.planned).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<()> {
        // AWS refuses to delete an attached gateway (DependencyViolation).
        if let Some(vpc) = str_attr(prior, "vpc_id") {
            Self::detach(cx, id, &vpc).await?;
        }
        let req = cx.clients.ec2.delete_internet_gateway().internet_gateway_id(id);
        delete_call(cx, "ec2:DeleteInternetGateway", Some("DependencyViolation"), || {
            req.clone().send()
        })
        .await
    }
}
