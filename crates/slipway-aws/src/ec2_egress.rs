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

use aws_sdk_ec2::types::{
    Address, ConnectivityType, DomainType, NatGateway as AwsNat, NatGatewayAddress,
    ResourceType as Rt, VpcEndpoint as AwsEndpoint, VpcEndpointType,
};

use super::declare::{Field, delete_call, erase, returned_id, updater, wait_for};
use super::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, ec2_filters, ec2_observed, ec2_tag_spec,
    ec2_tags, normalize_set, str_attr, strs_attr, vset, vstr,
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
    fn shape() -> Vec<Field<Address>> {
        type F = Field<Address>;
        vec![
            F::attr("domain", A::optional(Type::String).force_new().default(Value::string("vpc")))
                .read_str(|a| a.domain().map(DomainType::as_str)),
            F::attr("public_ipv4_pool", A::optional_computed(Type::String).force_new())
                .read_str(Address::public_ipv4_pool),
            F::attr("network_border_group", A::optional_computed(Type::String).force_new())
                .read_str(Address::network_border_group),
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
    fn name(&self) -> &'static str {
        "aws_eip"
    }
    fn description(&self) -> &'static str {
        "An Elastic IP address; a NAT gateway takes it by `allocation_id` (AWS then manages the association)."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&Eip::shape())
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, q, "allocation-id");
        // DescribeAddresses has no pages: one answer holds the region's addresses.
        let out = cx
            .clients
            .run("ec2:DescribeAddresses", || {
                ec2.describe_addresses().set_filters(Some(filters.clone())).send()
            })
            .await?;
        let shape = Eip::shape();
        let obs = |a: &Address| ec2_observed(cx, &shape, a, a.allocation_id(), a.tags());
        Ok(out.addresses().iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags) = (c.planned, c.tags);
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:AllocateAddress", || {
                ec2.allocate_address()
                    .set_domain(str_attr(planned, "domain").map(|d| DomainType::from(d.as_str())))
                    .set_public_ipv4_pool(str_attr(planned, "public_ipv4_pool"))
                    .set_network_border_group(str_attr(planned, "network_border_group"))
                    .tag_specifications(ec2_tag_spec(Rt::ElasticIp, tags))
                    .send()
            })
            .await?;
        returned_id("ec2:AllocateAddress", out.allocation_id())
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        // Refused with AuthFailure (AWS's wording) while a NAT gateway that is going away
        // still holds the address.
        delete_call(cx, "ec2:ReleaseAddress", Some("AuthFailure"), || {
            ec2.release_address().allocation_id(id).send()
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------

pub struct NatGateway;

/// NAT gateways as AWS lists them, live ones only.
async fn nat_gateways(cx: &Ctx, q: Query<'_>) -> Result<Vec<AwsNat>, ProviderError> {
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
    fn shape() -> Vec<Field<AwsNat>> {
        type F = Field<AwsNat>;
        /// The gateway's (first) address: AWS gives a public NAT gateway exactly one.
        fn address(g: &AwsNat) -> Option<&NatGatewayAddress> {
            g.nat_gateway_addresses().first()
        }
        vec![
            F::attr("subnet_id", A::required(Type::String).force_new()).read_str(AwsNat::subnet_id),
            F::attr(
                "allocation_id",
                A::optional(Type::String)
                    .force_new()
                    .describe("The Elastic IP's id; required for connectivity_type public"),
            )
            .read_str(|g| address(g)?.allocation_id()),
            F::attr(
                "connectivity_type",
                A::optional(Type::String).force_new().default(Value::string("public")),
            )
            .read_str(|g| g.connectivity_type().map(ConnectivityType::as_str)),
            F::attr("private_ip", A::optional_computed(Type::String).force_new())
                .read_str(|g| address(g)?.private_ip()),
            F::computed("public_ip", |g| address(g)?.public_ip()),
            F::computed("network_interface_id", |g| address(g)?.network_interface_id()),
            F::computed("vpc_id", AwsNat::vpc_id),
        ]
    }

    /// The gateway's state, and AWS's reason when it failed; None when AWS does not list it.
    async fn state(cx: &Ctx, id: &str) -> Result<Option<(String, String)>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, Query::Ids(&[id.to_string()]), "nat-gateway-id");
        let out = cx
            .clients
            .run("ec2:DescribeNatGateways", || {
                ec2.describe_nat_gateways().set_filter(Some(filters.clone())).send()
            })
            .await?;
        Ok(out.nat_gateways().first().map(|g| {
            let why = format!(
                "{}: {}",
                g.failure_code().unwrap_or("no FailureCode"),
                g.failure_message().unwrap_or("no FailureMessage")
            );
            (g.state().map_or("", |s| s.as_str()).to_string(), why)
        }))
    }
}

#[async_trait::async_trait]
impl ResourceType for NatGateway {
    fn name(&self) -> &'static str {
        "aws_nat_gateway"
    }
    fn description(&self) -> &'static str {
        "A NAT gateway in a public subnet; private subnets route 0.0.0.0/0 to it."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&NatGateway::shape())
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let shape = NatGateway::shape();
        let obs = |g: &AwsNat| ec2_observed(cx, &shape, g, g.nat_gateway_id(), g.tags());
        Ok(nat_gateways(cx, q).await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:CreateNatGateway", || {
                ec2.create_nat_gateway()
                    .set_subnet_id(str_attr(planned, "subnet_id"))
                    .set_allocation_id(str_attr(planned, "allocation_id"))
                    .set_connectivity_type(
                        str_attr(planned, "connectivity_type")
                            .map(|c| ConnectivityType::from(c.as_str())),
                    )
                    .set_private_ip_address(str_attr(planned, "private_ip"))
                    .client_token(client_token)
                    .tag_specifications(ec2_tag_spec(Rt::Natgateway, tags))
                    .send()
            })
            .await?;
        returned_id("ec2:CreateNatGateway", out.nat_gateway().and_then(|g| g.nat_gateway_id()))
    }
    /// `pending` → `available`, usually a minute or two; `failed` ends the wait with AWS's
    /// reason (a subnet without a route to an internet gateway, an address in use, …).
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<(), ProviderError> {
        let what = format!("NAT gateway {id} to be available");
        wait_for(cx, &what, || async {
            match Self::state(cx, id).await? {
                Some((s, _)) if s == "available" => Ok(Some(())),
                Some((s, why)) if s == "failed" => {
                    Err(ProviderError::fatal(format!("NAT gateway {id} failed: {why}")))
                }
                Some((s, _)) if s == "deleting" || s == "deleted" => Err(ProviderError::fatal(
                    format!("NAT gateway {id} is {s} while waiting for it to be available"),
                )),
                _ => Ok(None),
            }
        })
        .await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(cx, "ec2:DeleteNatGateway", None, || {
            ec2.delete_nat_gateway().nat_gateway_id(id).send()
        })
        .await?;
        // Its Elastic IP and its subnet stay in use until it is gone.
        let what = format!("NAT gateway {id} to be deleted");
        wait_for(cx, &what, || async {
            Ok(match Self::state(cx, id).await? {
                None => Some(()),
                Some((s, _)) => (s == "deleted" || s == "failed").then_some(()),
            })
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------

pub struct VpcEndpoint;

fn state_of(e: &AwsEndpoint) -> String {
    // AWS answers in lower case ("available"), the SDK's enum spells "Available".
    e.state().map_or(String::new(), |s| s.as_str().to_ascii_lowercase())
}

/// VPC endpoints as AWS lists them, live ones only.
async fn endpoints(cx: &Ctx, q: Query<'_>) -> Result<Vec<AwsEndpoint>, ProviderError> {
    let ec2 = &cx.clients.ec2;
    let mut all = Vec::new();
    match q {
        Query::Ids(ids) => {
            // By the ids parameter (the emulator has no vpc-endpoint-id filter): an id that no
            // longer exists fails the whole call, so it is dropped and the rest asked again.
            let mut ids = ids.to_vec();
            while !ids.is_empty() {
                let r = cx
                    .clients
                    .call("ec2:DescribeVpcEndpoints", || {
                        ec2.describe_vpc_endpoints().set_vpc_endpoint_ids(Some(ids.clone())).send()
                    })
                    .await;
                match r {
                    Ok(out) => {
                        all.extend(out.vpc_endpoints().iter().cloned());
                        break;
                    }
                    Err(e) if e.is_not_found() && ids.iter().any(|i| e.message.contains(i)) => {
                        ids.retain(|i| !e.message.contains(i.as_str()));
                    }
                    Err(e) => {
                        return Err(super::client::to_provider_error(
                            "ec2:DescribeVpcEndpoints",
                            e,
                        ));
                    }
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
    fn shape() -> Vec<Field<AwsEndpoint>> {
        type F = Field<AwsEndpoint>;
        let modify = updater!("ec2:ModifyVpcEndpoint", VpcEndpoint::modify);
        let ids = || A::optional(strings()).default(Value::List(Vec::new()));
        vec![
            F::attr("vpc_id", A::required(Type::String).force_new()).read_str(AwsEndpoint::vpc_id),
            F::attr(
                "service_name",
                A::required(Type::String)
                    .force_new()
                    .describe("com.amazonaws.REGION.s3, for instance"),
            )
            .read_str(AwsEndpoint::service_name),
            F::attr(
                "vpc_endpoint_type",
                A::optional(Type::String).force_new().default(Value::string("Gateway")),
            )
            .read_str(|e| e.vpc_endpoint_type().map(VpcEndpointType::as_str)),
            F::attr("route_table_ids", ids())
                .by(modify)
                .read(|e| vset(e.route_table_ids().to_vec())),
            F::attr("subnet_ids", ids()).by(modify).read(|e| vset(e.subnet_ids().to_vec())),
            F::attr("security_group_ids", A::optional_computed(strings()))
                .by(modify)
                .read(|e| vset(e.groups().iter().filter_map(|g| g.group_id()).map(str::to_string))),
            F::attr("policy", A::optional_computed(Type::String).describe("Default: full access"))
                .by(modify)
                .read(|e| vstr(e.policy_document().map(super::iam::canonical_json).as_deref())),
            F::attr("state", A::computed(Type::String)).read(|e| Value::string(state_of(e))),
            F::computed("owner_id", AwsEndpoint::owner_id),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, e| {
                Value::string(format!(
                    "arn:aws:ec2:{}:{}:vpc-endpoint/{}",
                    cx.clients.region,
                    e.owner_id().unwrap_or(""),
                    e.vpc_endpoint_id().unwrap_or("")
                ))
            }),
        ]
    }

    /// One ModifyVpcEndpoint for every changed list and the policy.
    async fn modify(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
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
        let ec2 = &cx.clients.ec2;
        cx.clients
            .run("ec2:ModifyVpcEndpoint", || {
                ec2.modify_vpc_endpoint()
                    .vpc_endpoint_id(id)
                    .set_add_route_table_ids(add_rt.clone())
                    .set_remove_route_table_ids(remove_rt.clone())
                    .set_add_subnet_ids(add_sn.clone())
                    .set_remove_subnet_ids(remove_sn.clone())
                    .set_add_security_group_ids(add_sg.clone())
                    .set_remove_security_group_ids(remove_sg.clone())
                    .set_policy_document(policy.clone())
                    .send()
            })
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for VpcEndpoint {
    fn name(&self) -> &'static str {
        "aws_vpc_endpoint"
    }
    fn description(&self) -> &'static str {
        "A VPC endpoint: Gateway (S3, DynamoDB: routes in the listed route tables) or Interface."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&VpcEndpoint::shape())
    }
    fn normalize(&self, a: &mut Attrs) {
        for k in ["route_table_ids", "subnet_ids", "security_group_ids"] {
            normalize_set(a, k);
        }
        if let Some(p) = a.get("policy").and_then(|v| v.as_str().map(super::iam::canonical_json)) {
            a.insert("policy".into(), Value::string(p));
        }
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let shape = VpcEndpoint::shape();
        let obs = |e: &AwsEndpoint| ec2_observed(cx, &shape, e, e.vpc_endpoint_id(), e.tags());
        Ok(endpoints(cx, q).await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let ec2 = &cx.clients.ec2;
        let list = |k: &str| Some(strs_attr(planned, k)).filter(|v| !v.is_empty());
        let out = cx
            .clients
            .run("ec2:CreateVpcEndpoint", || {
                ec2.create_vpc_endpoint()
                    .set_vpc_id(str_attr(planned, "vpc_id"))
                    .set_service_name(str_attr(planned, "service_name"))
                    .set_vpc_endpoint_type(
                        str_attr(planned, "vpc_endpoint_type")
                            .map(|t| VpcEndpointType::from(t.as_str())),
                    )
                    .set_route_table_ids(list("route_table_ids"))
                    .set_subnet_ids(list("subnet_ids"))
                    .set_security_group_ids(list("security_group_ids"))
                    .set_policy_document(str_attr(planned, "policy"))
                    .client_token(client_token)
                    .tag_specifications(ec2_tag_spec(Rt::VpcEndpoint, tags))
                    .send()
            })
            .await?;
        returned_id("ec2:CreateVpcEndpoint", out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()))
    }
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<(), ProviderError> {
        let what = format!("VPC endpoint {id} to be available");
        let ids = [id.to_string()];
        wait_for(cx, &what, || async {
            let found = endpoints(cx, Query::Ids(&ids)).await?;
            match found.first().map(|e| (state_of(e), e)) {
                Some((s, _)) if s == "available" || s == "pendingacceptance" => Ok(Some(())),
                Some((s, e)) if s == "partial" => Err(ProviderError::fatal(format!(
                    "VPC endpoint {id} is partial: {}",
                    e.last_error().and_then(|l| l.message()).unwrap_or("no reason given")
                ))),
                _ => Ok(None),
            }
        })
        .await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        let out = match cx
            .clients
            .call("ec2:DeleteVpcEndpoints", || {
                ec2.delete_vpc_endpoints().vpc_endpoint_ids(id).send()
            })
            .await
        {
            Ok(out) => out,
            // Only the endpoint's own absence means deleted (not, say, a route's).
            Err(e) if e.code == "InvalidVpcEndpointId.NotFound" => return Ok(()),
            // A retry after a lost answer may be refused for what the first call already did
            // (moto: the routes it removed): gone is gone.
            Err(e) if endpoints(cx, Query::Ids(&[id.to_string()])).await?.is_empty() => {
                tracing::debug!(id, code = %e.code, "endpoint already deleted");
                return Ok(());
            }
            Err(e) => {
                return Err(super::client::to_provider_error("ec2:DeleteVpcEndpoints", e));
            }
        };
        // Failures come per endpoint in the answer, not as an error.
        if let Some(err) = out.unsuccessful().iter().find_map(|u| u.error()) {
            let code = err.code().unwrap_or("");
            if code != "InvalidVpcEndpointId.NotFound" {
                return Err(ProviderError::fatal(format!(
                    "ec2:DeleteVpcEndpoints failed: {code}: {}",
                    err.message().unwrap_or("")
                )));
            }
        }
        let ids = [id.to_string()];
        let what = format!("VPC endpoint {id} to be deleted");
        wait_for(cx, &what, || async {
            Ok(endpoints(cx, Query::Ids(&ids)).await?.is_empty().then_some(()))
        })
        .await
    }
}
