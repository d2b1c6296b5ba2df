//! EC2 egress: aws_eip, aws_nat_gateway, aws_vpc_endpoint — how instances in private subnets
//! reach the internet (through a NAT gateway holding an Elastic IP) and S3 (through a gateway
//! endpoint on their route tables, which costs nothing and keeps that traffic off the NAT).
//!
//! Each type is read in one batched Describe per refresh (by the stack tag; by id for objects
//! in state the tag does not find) and adopted by its ownership tags.
//!
//! Waits that real AWS needs and the emulator does not:
//! - a NAT gateway is `pending` for a minute or more: create waits for `available`, and a
//!   `failed` one fails the create naming AWS's FailureCode and FailureMessage; delete waits
//!   for `deleted`, since its Elastic IP stays associated until then.
//! - releasing an Elastic IP that a NAT gateway still holds is refused with `AuthFailure` (so
//!   AWS words it): retried until the ready timeout, as other deletes waiting on a dependency.
//! - a VPC endpoint is `pending` until `available` (gateway endpoints are at once); its delete
//!   reports failures per endpoint in the answer's body, not as an error.
//!
//! **Invariants:** objects AWS still lists after their end (NAT gateways `deleted` or
//! `failed`, endpoints `deleted`, for about an hour) count as gone; `describe` and `normalize`
//! give lists of ids in one canonical (sorted) form.

use aws_sdk_ec2::operation::allocate_address::builders::AllocateAddressFluentBuilder as NewEip;
use aws_sdk_ec2::operation::create_nat_gateway::builders::CreateNatGatewayFluentBuilder as NewNat;
use aws_sdk_ec2::operation::create_vpc_endpoint::builders::CreateVpcEndpointFluentBuilder as NewEndpoint;
use aws_sdk_ec2::types::{
    Address, ConnectivityType, DomainType, NatGateway as AwsNat, NatGatewayAddress,
    ResourceType as Rt, VpcEndpoint as AwsEndpoint, VpcEndpointType,
};

use super::client::to_provider_error;
use super::declare::{
    Field, GONE, Goal, Status, build, create_call, declared, delete_call, updater, wait_status,
};
use super::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, Result, ec2_arn, ec2_filters, ec2_observed,
    ec2_tag_spec, ec2_tags, normalize_set, str_attr, strs_attr, text, texts, vset, vstr,
};
use super::tags::{ADDRESS_TAG, STACK_TAG, Tags};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(Eip), Box::new(NatGateway), Box::new(VpcEndpoint)]
}

fn strings() -> Type {
    Type::List(Box::new(Type::String))
}

/// Whether tags match `q` (for APIs whose tag filters the emulator ignores; AWS applies them
/// itself, so on AWS this keeps everything). `?` in an address query stands for any character
/// (see `ec2_filters`); the exact match is checked by adoption.
fn tags_match(cx: &Ctx, q: Query<'_>, tags: &Tags) -> bool {
    let stack = tags.get(STACK_TAG).is_some_and(|s| *s == cx.stack_id);
    match q {
        Query::Stack => stack,
        Query::Address(a) => {
            let got = tags.get(ADDRESS_TAG).map_or("", String::as_str);
            stack
                && got.len() == a.len()
                && got
                    .chars()
                    .zip(a.chars())
                    .all(|(g, w)| g == w || matches!(w, '*' | '?' | '[' | ']' | '\\'))
        }
        Query::Ids(_) => true,
    }
}

// ---------------------------------------------------------------------------------------------

pub struct Eip;

impl Eip {
    fn shape() -> Vec<Field<Address, NewEip>> {
        type F = Field<Address, NewEip>;
        vec![
            F::attr(
                "domain",
                A::optional(Type::String)
                    .force_new()
                    .default(Value::string("vpc"))
                    .one_of(&["vpc", "standard"]),
            )
            .read_str(|a| a.domain().map(DomainType::as_str))
            .write(|b, v| b.set_domain(text(v).map(|d| d.as_str().into()))),
            F::attr("public_ipv4_pool", A::optional_computed(Type::String).force_new())
                .read_str(Address::public_ipv4_pool)
                .write(|b, v| b.set_public_ipv4_pool(text(v))),
            F::attr("network_border_group", A::optional_computed(Type::String).force_new())
                .read_str(Address::network_border_group)
                .write(|b, v| b.set_network_border_group(text(v))),
            F::computed("allocation_id", Address::allocation_id),
            F::computed("public_ip", Address::public_ip),
            F::computed("private_ip", Address::private_ip_address),
            F::computed("association_id", Address::association_id),
            F::computed("network_interface", Address::network_interface_id),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for Eip {
    declared!(
        "aws_eip",
        "An Elastic IP address; a NAT gateway takes it by `allocation_id` (AWS then manages the association).",
        Eip::shape()
    );
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let filters = ec2_filters(cx, q, "allocation-id");
        // DescribeAddresses has no pages (so no `ec2_describe!`): one answer holds the
        // region's addresses.
        let req = cx.clients.ec2.describe_addresses().set_filters(Some(filters));
        let out = cx.clients.run("ec2:DescribeAddresses", || req.clone().send()).await?;
        let shape = Eip::shape();
        let obs = |a: &Address| ec2_observed(cx, &shape, a, a.allocation_id(), a.tags());
        Ok(out.addresses().iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let new = cx.clients.ec2.allocate_address();
        let new = new.tag_specifications(ec2_tag_spec(Rt::ElasticIp, c.tags));
        let req = build(&Eip::shape(), new, c.planned);
        create_call(cx, "ec2:AllocateAddress", || req.clone().send(), |o| o.allocation_id()).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.release_address().allocation_id(id);
        // Refused with AuthFailure (AWS's wording) while a NAT gateway that is going away
        // still holds the address.
        delete_call(cx, "ec2:ReleaseAddress", Some("AuthFailure"), || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

pub struct NatGateway;

/// NAT gateways as AWS lists them, live ones only.
async fn nat_gateways(cx: &Ctx, q: Query<'_>) -> Result<Vec<AwsNat>> {
    let ec2 = &cx.clients.ec2;
    let filters = ec2_filters(cx, q, "nat-gateway-id");
    let all = paginate!(
        cx,
        "ec2:DescribeNatGateways",
        ec2.describe_nat_gateways().set_filter(Some(filters.clone())),
        nat_gateways
    );
    Ok(all
        .into_iter()
        .filter(|g| {
            matches!(g.state().map(|s| s.as_str()), Some("pending" | "available"))
                && tags_match(cx, q, &ec2_tags(g.tags()))
        })
        .collect())
}

impl NatGateway {
    fn shape() -> Vec<Field<AwsNat, NewNat>> {
        type F = Field<AwsNat, NewNat>;
        /// The gateway's (first) address: AWS gives a public NAT gateway exactly one.
        fn address(g: &AwsNat) -> Option<&NatGatewayAddress> {
            g.nat_gateway_addresses().first()
        }
        let eip = "The Elastic IP's id; required for connectivity_type public";
        let public = Value::string("public");
        let connectivity = A::optional(Type::String).force_new().default(public);
        let connectivity = connectivity.one_of(&["public", "private"]);
        vec![
            F::attr("subnet_id", A::required(Type::String).force_new())
                .read_str(AwsNat::subnet_id)
                .write(|b, v| b.set_subnet_id(text(v))),
            F::attr("allocation_id", A::optional(Type::String).force_new().describe(eip))
                .read_str(|g| address(g)?.allocation_id())
                .write(|b, v| b.set_allocation_id(text(v))),
            F::attr("connectivity_type", connectivity)
                .read_str(|g| g.connectivity_type().map(ConnectivityType::as_str))
                .write(|b, v| b.set_connectivity_type(text(v).map(|t| t.as_str().into()))),
            F::attr("private_ip", A::optional_computed(Type::String).force_new())
                .read_str(|g| address(g)?.private_ip())
                .write(|b, v| b.set_private_ip_address(text(v))),
            F::computed("public_ip", |g| address(g)?.public_ip()),
            F::computed("network_interface_id", |g| address(g)?.network_interface_id()),
            F::computed("vpc_id", AwsNat::vpc_id),
        ]
    }

    /// The gateway's state, with AWS's reason when it failed.
    async fn status(cx: &Ctx, id: &str) -> Result<Status> {
        let filters = ec2_filters(cx, Query::Ids(&[id.to_string()]), "nat-gateway-id");
        let req = cx.clients.ec2.describe_nat_gateways().set_filter(Some(filters));
        let out = cx.clients.run("ec2:DescribeNatGateways", || req.clone().send()).await?;
        Ok(out.nat_gateways().first().map(|g| {
            let why =
                g.failure_code().map(|c| format!("{c}: {}", g.failure_message().unwrap_or("")));
            (g.state().map_or("", |s| s.as_str()).to_string(), why)
        }))
    }
}

#[async_trait::async_trait]
impl ResourceType for NatGateway {
    declared!(
        "aws_nat_gateway",
        "A NAT gateway in a public subnet; private subnets route 0.0.0.0/0 to it.",
        NatGateway::shape()
    );
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let shape = NatGateway::shape();
        let obs = |g: &AwsNat| ec2_observed(cx, &shape, g, g.nat_gateway_id(), g.tags());
        Ok(nat_gateways(cx, q).await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let new = cx.clients.ec2.create_nat_gateway().client_token(c.token);
        let new = new.tag_specifications(ec2_tag_spec(Rt::Natgateway, c.tags));
        let req = build(&NatGateway::shape(), new, c.planned);
        let api = "ec2:CreateNatGateway";
        create_call(cx, api, || req.clone().send(), |o| o.nat_gateway()?.nat_gateway_id()).await
    }
    /// `pending` → `available`, usually a minute or two; `failed` ends the wait with AWS's
    /// reason (a subnet without a route to an internet gateway, an address in use, …).
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<()> {
        let goal = Goal {
            name: "available",
            done: &["available"],
            fail: &["failed", "deleting", "deleted"],
        };
        wait_status(cx, &format!("NAT gateway {id}"), goal, || Self::status(cx, id)).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.delete_nat_gateway().nat_gateway_id(id);
        delete_call(cx, "ec2:DeleteNatGateway", None, || req.clone().send()).await?;
        // Its Elastic IP and its subnet stay in use until it is gone.
        let goal = Goal { name: "deleted", done: &["deleted", "failed", GONE], fail: &[] };
        wait_status(cx, &format!("NAT gateway {id}"), goal, || Self::status(cx, id)).await
    }
}

// ---------------------------------------------------------------------------------------------

pub struct VpcEndpoint;

fn state_of(e: &AwsEndpoint) -> String {
    // AWS answers in lower case ("available"), the SDK's enum spells "Available".
    e.state().map_or(String::new(), |s| s.as_str().to_ascii_lowercase())
}

/// VPC endpoints as AWS lists them, live ones only.
async fn endpoints(cx: &Ctx, q: Query<'_>) -> Result<Vec<AwsEndpoint>> {
    let ec2 = &cx.clients.ec2;
    let mut all = Vec::new();
    match q {
        Query::Ids(ids) => {
            // By the ids parameter (the emulator has no vpc-endpoint-id filter): an id that no
            // longer exists fails the whole call, so it is dropped and the rest asked again.
            let mut ids = ids.to_vec();
            while !ids.is_empty() {
                let req = ec2.describe_vpc_endpoints().set_vpc_endpoint_ids(Some(ids.clone()));
                match cx.clients.call("ec2:DescribeVpcEndpoints", || req.clone().send()).await {
                    Ok(out) => {
                        all.extend(out.vpc_endpoints().iter().cloned());
                        break;
                    }
                    Err(e) if e.is_not_found() && ids.iter().any(|i| e.message.contains(i)) => {
                        ids.retain(|i| !e.message.contains(i.as_str()));
                    }
                    Err(e) => return Err(to_provider_error("ec2:DescribeVpcEndpoints", e)),
                }
            }
        }
        _ => {
            let filters = ec2_filters(cx, q, "vpc-endpoint-id");
            all = paginate!(
                cx,
                "ec2:DescribeVpcEndpoints",
                ec2.describe_vpc_endpoints().set_filters(Some(filters.clone())),
                vpc_endpoints
            );
        }
    }
    all.retain(|e| {
        !matches!(state_of(e).as_str(), "deleted" | "deleting" | "failed" | "rejected" | "expired")
    });
    Ok(all)
}

impl VpcEndpoint {
    fn shape() -> Vec<Field<AwsEndpoint, NewEndpoint>> {
        type F = Field<AwsEndpoint, NewEndpoint>;
        let modify = updater!("ec2:ModifyVpcEndpoint", VpcEndpoint::modify);
        let ids = || A::optional(strings()).default(Value::List(Vec::new()));
        let example = "com.amazonaws.REGION.s3, for instance";
        let gateway = Value::string("Gateway");
        let kind = A::optional(Type::String).force_new().default(gateway);
        let kind = kind.one_of(&["Gateway", "Interface", "GatewayLoadBalancer"]);
        vec![
            F::attr("vpc_id", A::required(Type::String).force_new())
                .read_str(AwsEndpoint::vpc_id)
                .write(|b, v| b.set_vpc_id(text(v))),
            F::attr("service_name", A::required(Type::String).force_new().describe(example))
                .read_str(AwsEndpoint::service_name)
                .write(|b, v| b.set_service_name(text(v))),
            F::attr("vpc_endpoint_type", kind)
                .read_str(|e| e.vpc_endpoint_type().map(VpcEndpointType::as_str))
                .write(|b, v| b.set_vpc_endpoint_type(text(v).map(|t| t.as_str().into()))),
            F::attr("route_table_ids", ids())
                .by(modify)
                .read(|e| vset(e.route_table_ids().to_vec()))
                .write(|b, v| b.set_route_table_ids(texts(v))),
            F::attr("subnet_ids", ids())
                .by(modify)
                .read(|e| vset(e.subnet_ids().to_vec()))
                .write(|b, v| b.set_subnet_ids(texts(v))),
            F::attr("security_group_ids", A::optional_computed(strings()))
                .by(modify)
                .read(|e| vset(e.groups().iter().filter_map(|g| g.group_id()).map(str::to_string)))
                .write(|b, v| b.set_security_group_ids(texts(v))),
            F::attr("policy", A::optional_computed(Type::String).describe("Default: full access"))
                .by(modify)
                .read(|e| vstr(e.policy_document().map(super::iam::canonical_json).as_deref()))
                .write(|b, v| b.set_policy_document(text(v))),
            F::attr("state", A::computed(Type::String)).read(|e| Value::string(state_of(e))),
            F::computed("owner_id", AwsEndpoint::owner_id),
            F::attr("arn", A::computed(Type::String))
                .read_cx(|cx, e| ec2_arn(cx, e.owner_id(), "vpc-endpoint", e.vpc_endpoint_id())),
        ]
    }

    /// The endpoint's state, with AWS's last error; None once it is deleted (or failed).
    async fn status(cx: &Ctx, id: &str) -> Result<Status> {
        let found = endpoints(cx, Query::Ids(&[id.to_string()])).await?;
        let why = |e: &AwsEndpoint| e.last_error().and_then(|l| l.message()).map(str::to_string);
        Ok(found.first().map(|e| (state_of(e), why(e))))
    }

    /// One ModifyVpcEndpoint for every changed list and the policy.
    async fn modify(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        let diff = |k: &str| {
            let (old, new) = (strs_attr(prior, k), strs_attr(planned, k));
            let add: Vec<String> = new.iter().filter(|x| !old.contains(x)).cloned().collect();
            let remove: Vec<String> = old.iter().filter(|x| !new.contains(x)).cloned().collect();
            let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
            (some(add), some(remove))
        };
        let (add_rt, remove_rt) = diff("route_table_ids");
        let (add_sn, remove_sn) = diff("subnet_ids");
        let (add_sg, remove_sg) = diff("security_group_ids");
        let policy =
            str_attr(planned, "policy").filter(|p| Some(p) != str_attr(prior, "policy").as_ref());
        let changes = [&add_rt, &remove_rt, &add_sn, &remove_sn, &add_sg, &remove_sg];
        if policy.is_none() && changes.iter().all(|c| c.is_none()) {
            return Ok(());
        }
        let req = cx.clients.ec2.modify_vpc_endpoint().vpc_endpoint_id(id);
        let req = req.set_add_route_table_ids(add_rt).set_remove_route_table_ids(remove_rt);
        let req = req.set_add_subnet_ids(add_sn).set_remove_subnet_ids(remove_sn);
        let req = req.set_add_security_group_ids(add_sg).set_remove_security_group_ids(remove_sg);
        let req = req.set_policy_document(policy);
        cx.clients.run("ec2:ModifyVpcEndpoint", || req.clone().send()).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for VpcEndpoint {
    declared!(
        "aws_vpc_endpoint",
        "A VPC endpoint: Gateway (S3, DynamoDB: routes in the listed route tables) or Interface.",
        VpcEndpoint::shape()
    );
    fn normalize(&self, a: &mut Attrs) {
        for k in ["route_table_ids", "subnet_ids", "security_group_ids"] {
            normalize_set(a, k);
        }
        if let Some(p) = a.get("policy").and_then(|v| v.as_str().map(super::iam::canonical_json)) {
            a.insert("policy".into(), Value::string(p));
        }
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let shape = VpcEndpoint::shape();
        let obs = |e: &AwsEndpoint| ec2_observed(cx, &shape, e, e.vpc_endpoint_id(), e.tags());
        Ok(endpoints(cx, q).await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let new = cx.clients.ec2.create_vpc_endpoint().client_token(c.token);
        let new = new.tag_specifications(ec2_tag_spec(Rt::VpcEndpoint, c.tags));
        let req = build(&VpcEndpoint::shape(), new, c.planned);
        let api = "ec2:CreateVpcEndpoint";
        create_call(cx, api, || req.clone().send(), |o| o.vpc_endpoint()?.vpc_endpoint_id()).await
    }
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<()> {
        let goal = Goal {
            name: "available",
            done: &["available", "pendingacceptance"],
            fail: &["partial"],
        };
        wait_status(cx, &format!("VPC endpoint {id}"), goal, || VpcEndpoint::status(cx, id)).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let ids = [id.to_string()];
        let req = cx.clients.ec2.delete_vpc_endpoints().vpc_endpoint_ids(id);
        let out = match cx.clients.call("ec2:DeleteVpcEndpoints", || req.clone().send()).await {
            Ok(out) => out,
            // Only the endpoint's own absence means deleted (not, say, a route's).
            Err(e) if e.code == "InvalidVpcEndpointId.NotFound" => return Ok(()),
            // A retry after a lost answer may be refused for what the first call already did
            // (moto: the routes it removed): gone is gone.
            Err(e) if endpoints(cx, Query::Ids(&ids)).await?.is_empty() => {
                tracing::debug!(id, code = %e.code, "endpoint already deleted");
                return Ok(());
            }
            Err(e) => return Err(to_provider_error("ec2:DeleteVpcEndpoints", e)),
        };
        // Failures come per endpoint in the answer, not as an error.
        if let Some(err) = out.unsuccessful().iter().find_map(|u| u.error())
            && err.code() != Some("InvalidVpcEndpointId.NotFound")
        {
            let (code, why) = (err.code().unwrap_or(""), err.message().unwrap_or(""));
            return Err(ProviderError::fatal(format!(
                "ec2:DeleteVpcEndpoints failed: {code}: {why}"
            )));
        }
        let goal = Goal { name: "deleted", done: &[GONE], fail: &[] };
        wait_status(cx, &format!("VPC endpoint {id}"), goal, || VpcEndpoint::status(cx, id)).await
    }
}
