//! aws_route_table (routes inline) and aws_route_table_association.
//!
//! **Invariants:** routes have one canonical form, from configuration (`normalize`) and from
//! AWS (`describe`) alike: sorted by destination, every target key present (null when unset),
//! the VPC's implicit local route left out. Inline `route` blocks are authoritative when
//! present and unmanaged when absent. Within one refresh the stack's tables are read once:
//! associations come from the tables' answer (`route_tables`).

use std::sync::Arc;

use aws_sdk_ec2::operation::associate_route_table::builders::AssociateRouteTableFluentBuilder as NewAssociation;
use aws_sdk_ec2::operation::create_route_table::builders::CreateRouteTableFluentBuilder as NewTable;
use aws_sdk_ec2::types::{
    ResourceType as Rt, Route, RouteTable as AwsRouteTable, RouteTableAssociation as AwsAssociation,
};

use crate::declare::{
    Field, Identity, TagApi, build, create_call, declared, delete_call, observed, updater,
};
use crate::provider::{AttributeSchema as A, BlockNesting, Schema};
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, Result, attrs, blocks_attr, ec2_arn,
    ec2_filters, ec2_observed, ec2_tag_spec, str_attr, take_listed, text, vstr,
};
use crate::value::{Type, Value};

const ROUTE_TARGETS: &[&str] =
    &["gateway_id", "nat_gateway_id", "network_interface_id", "vpc_peering_connection_id"];

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
    m.insert("cidr_block".into(), vstr(str_attr(r, "cidr_block").as_deref()));
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

/// A table's routes as `route` blocks, but the VPC's local route, which exists in every table
/// and cannot be managed.
fn routes_of(t: &AwsRouteTable) -> Vec<Value> {
    let route = |r: &Route| {
        Some(Value::Map(attrs(vec![
            ("cidr_block", Value::string(r.destination_cidr_block()?)),
            ("gateway_id", vstr(r.gateway_id())),
            ("nat_gateway_id", vstr(r.nat_gateway_id())),
            ("network_interface_id", vstr(r.network_interface_id())),
            ("vpc_peering_connection_id", vstr(r.vpc_peering_connection_id())),
        ])))
    };
    t.routes().iter().filter(|r| r.gateway_id() != Some("local")).filter_map(route).collect()
}

pub(super) struct RouteTable;

impl RouteTable {
    fn shape() -> Vec<Field<AwsRouteTable, NewTable>> {
        type F = Field<AwsRouteTable, NewTable>;
        vec![
            F::attr("vpc_id", A::required(Type::String).force_new())
                .read_str(AwsRouteTable::vpc_id)
                .write(|b, v| b.set_vpc_id(text(v))),
            F::attr("arn", A::computed(Type::String))
                .read_cx(|cx, t| ec2_arn(cx, t.owner_id(), "route-table", t.route_table_id())),
            F::computed("owner_id", AwsRouteTable::owner_id),
            F::block("route", BlockNesting::List, route_schema())
                .by(updater!("ec2:CreateRoute", RouteTable::update_routes))
                .read(|t| canonical_routes(&routes_of(t))),
        ]
    }

    async fn update_routes(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        let new = blocks_attr(planned, "route");
        if new.is_empty() {
            return Ok(()); // unmanaged
        }
        Self::sync_routes(cx, id, &blocks_attr(prior, "route"), &new).await
    }

    async fn sync_routes(cx: &Ctx, id: &str, prior: &[Value], planned: &[Value]) -> Result<()> {
        let key = |r: &Value| str_attr(r, "cidr_block").unwrap_or_default();
        for old in prior.iter().filter(|o| !planned.iter().any(|n| key(n) == key(o))) {
            let req = cx.clients.ec2.delete_route().route_table_id(id);
            let req = req.destination_cidr_block(key(old));
            delete_call(cx, "ec2:DeleteRoute", None, || req.clone().send()).await?;
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

    /// Creates route `r`, or replaces the route to its destination: the two calls take the
    /// same fields.
    async fn put_route(cx: &Ctx, id: &str, r: &Value, replace: bool) -> Result<()> {
        let s = |k| str_attr(r, k);
        macro_rules! route {
            ($op:ident) => {
                cx.clients
                    .ec2
                    .$op()
                    .route_table_id(id)
                    .set_destination_cidr_block(s("cidr_block"))
                    .set_gateway_id(s("gateway_id"))
                    .set_nat_gateway_id(s("nat_gateway_id"))
                    .set_network_interface_id(s("network_interface_id"))
                    .set_vpc_peering_connection_id(s("vpc_peering_connection_id"))
            };
        }
        if replace {
            let req = route!(replace_route);
            cx.clients.run("ec2:ReplaceRoute", || req.clone().send()).await?;
        } else {
            let req = route!(create_route);
            cx.clients.run("ec2:CreateRoute", || req.clone().send()).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for RouteTable {
    declared!(
        "aws_route_table",
        "A route table with its routes (inline `route` blocks; the local route is implicit).",
        RouteTable::shape()
    );
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
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let shape = RouteTable::shape();
        let obs = |t: &AwsRouteTable| ec2_observed(cx, &shape, t, t.route_table_id(), t.tags());
        Ok(route_tables(cx, q, "route-table-id").await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let (api, spec) = ("ec2:CreateRouteTable", ec2_tag_spec(Rt::RouteTable, c.tags));
        let new = cx.clients.ec2.create_route_table().tag_specifications(spec);
        let req = build(&Self::shape(), new.client_token(c.token), c.planned);
        let id = create_call(cx, api, || req.clone().send(), |o| o.route_table()?.route_table_id());
        let id = id.await?;
        Self::sync_routes(cx, &id, &[], &blocks_attr(c.planned, "route")).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.delete_route_table().route_table_id(id);
        let busy = Some("DependencyViolation");
        delete_call(cx, "ec2:DeleteRouteTable", busy, || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

/// Route tables as AWS lists them. The stack's are read once per refresh: the tables' routes
/// and their associations come from the same answer.
async fn route_tables(cx: &Ctx, q: Query<'_>, id_filter: &str) -> Result<Arc<Vec<AwsRouteTable>>> {
    cx.shared_if_stack("ec2:DescribeRouteTables", q, || async {
        let filters = ec2_filters(cx, q, id_filter);
        let list = cx.clients.ec2.describe_route_tables().set_filters(Some(filters));
        Ok(paginate!(cx, "ec2:DescribeRouteTables", list.clone(), route_tables))
    })
    .await
}

/// The associations of `tables`.
fn associations(tables: &[AwsRouteTable]) -> Vec<AwsAssociation> {
    tables.iter().flat_map(|t| t.associations()).cloned().collect()
}

/// No tags in AWS: found through its route table, adopted by (subnet, route table) identity.
pub(super) struct RouteTableAssociation;

impl RouteTableAssociation {
    fn shape() -> Vec<Field<AwsAssociation, NewAssociation>> {
        type F = Field<AwsAssociation, NewAssociation>;
        vec![
            F::attr("subnet_id", A::required(Type::String).force_new())
                .read_str(AwsAssociation::subnet_id)
                .write(|b, v| b.set_subnet_id(text(v))),
            F::attr("route_table_id", A::required(Type::String).force_new())
                .read_str(AwsAssociation::route_table_id)
                .write(|b, v| b.set_route_table_id(text(v))),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for RouteTableAssociation {
    declared!(
        "aws_route_table_association",
        "Associates a subnet with a route table.",
        RouteTableAssociation::shape(),
        tags: TagApi::None,
        identity: Identity::UniqueKey,
    );
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        // Associations carry no tags: they are read by id (adoption goes through
        // `find_existing`). In a refresh of the route tables too, those of the stack's tables
        // come from the tables' own answer.
        let Query::Ids(ids) = q else {
            return Ok(Vec::new());
        };
        let id_of = AwsAssociation::route_table_association_id;
        let (mut found, missing) = if cx.refreshing("aws_route_table") {
            let stack = route_tables(cx, Query::Stack, "route-table-id").await?;
            take_listed(&associations(&stack), ids.to_vec(), id_of)
        } else {
            (Vec::new(), ids.to_vec())
        };
        if !missing.is_empty() {
            let by_id = "association.route-table-association-id";
            let tables = route_tables(cx, Query::Ids(&missing), by_id).await?;
            found.extend(take_listed(&associations(&tables), missing, id_of).0);
        }
        let shape = Self::shape();
        Ok(found.iter().filter_map(|a| observed(cx, &shape, a, id_of(a), None)).collect())
    }
    async fn find_existing(&self, cx: &Ctx, c: Create<'_>) -> Result<Option<String>> {
        let (Some(rt), Some(subnet)) =
            (str_attr(c.planned, "route_table_id"), str_attr(c.planned, "subnet_id"))
        else {
            return Ok(None);
        };
        let req = cx.clients.ec2.describe_route_tables().route_table_ids(rt);
        let out = cx.clients.run("ec2:DescribeRouteTables", || req.clone().send()).await?;
        let mut listed = out.route_tables().iter().flat_map(|t| t.associations());
        let mine = listed.find(|a| a.subnet_id() == Some(subnet.as_str()));
        Ok(mine.and_then(|a| a.route_table_association_id()).map(str::to_string))
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let req = build(&Self::shape(), cx.clients.ec2.associate_route_table(), c.planned);
        create_call(cx, "ec2:AssociateRouteTable", || req.clone().send(), |o| o.association_id())
            .await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.disassociate_route_table().association_id(id);
        delete_call(cx, "ec2:DisassociateRouteTable", None, || req.clone().send()).await
    }
}
