//! aws_route_table (routes inline) and aws_route_table_association.
//!
//! **Invariants:** routes have one canonical form, from configuration (`normalize`) and from
//! AWS (`describe`) alike: sorted by destination, every target key present (null when unset),
//! the VPC's implicit local route left out. Inline `route` blocks are authoritative when
//! present and unmanaged when absent. Within one refresh the stack's tables are read once:
//! associations come from the tables' answer (`route_tables`).

use std::sync::Arc;

use aws_sdk_ec2::types::{
    ResourceType as Rt, Route, RouteTable as AwsRouteTable, RouteTableAssociation as AwsAssociation,
};

use super::arn;
use crate::declare::{Field, Identity, TagApi, delete_call, erase, observed, returned_id, updater};
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError, Schema};
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, attrs, blocks_attr, ec2_filters,
    ec2_observed, ec2_tag_spec, str_attr, vstr,
};
use crate::value::{Type, Value};

pub(super) struct RouteTable;

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
                    ec2.delete_route().route_table_id(id).destination_cidr_block(&cidr).send()
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

impl RouteTable {
    fn shape() -> Vec<Field<AwsRouteTable>> {
        type F = Field<AwsRouteTable>;
        vec![
            F::attr("vpc_id", A::required(Type::String).force_new())
                .read_str(AwsRouteTable::vpc_id),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, t| {
                let id = t.route_table_id().unwrap_or("");
                arn(cx, t.owner_id(), "route-table", id)
            }),
            F::computed("owner_id", AwsRouteTable::owner_id),
            F::block("route", BlockNesting::List, route_schema())
                .by(updater!("ec2:CreateRoute", RouteTable::update_routes))
                .read(|t| canonical_routes(&routes_of(t))),
        ]
    }
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

#[async_trait::async_trait]
impl ResourceType for RouteTable {
    fn name(&self) -> &'static str {
        "aws_route_table"
    }
    fn description(&self) -> &'static str {
        "A route table with its routes (inline `route` blocks; the local route is implicit)."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&RouteTable::shape())
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
        let shape = RouteTable::shape();
        let obs = |t: &AwsRouteTable| ec2_observed(cx, &shape, t, t.route_table_id(), t.tags());
        Ok(route_tables(cx, q, "route-table-id").await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
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
        let table = out.route_table();
        let id = returned_id("ec2:CreateRouteTable", table.and_then(|t| t.route_table_id()))?;
        Self::sync_routes(cx, &id, &[], &blocks_attr(planned, "route")).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(cx, "ec2:DeleteRouteTable", Some("DependencyViolation"), || {
            ec2.delete_route_table().route_table_id(id).send()
        })
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
            ec2.describe_route_tables().set_filters(Some(filters.clone())),
            route_tables
        ))
    })
    .await
}

/// No tags in AWS: found through its route table, adopted by (subnet, route table) identity.
pub(super) struct RouteTableAssociation;

impl RouteTableAssociation {
    fn shape() -> Vec<Field<AwsAssociation>> {
        type F = Field<AwsAssociation>;
        vec![
            F::attr("subnet_id", A::required(Type::String).force_new())
                .read_str(AwsAssociation::subnet_id),
            F::attr("route_table_id", A::required(Type::String).force_new())
                .read_str(AwsAssociation::route_table_id),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for RouteTableAssociation {
    fn name(&self) -> &'static str {
        "aws_route_table_association"
    }
    fn description(&self) -> &'static str {
        "Associates a subnet with a route table."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&RouteTableAssociation::shape())
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
        let shape = Self::shape();
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
            let by_id =
                route_tables(cx, Query::Ids(&missing), "association.route-table-association-id")
                    .await?;
            tables.extend(by_id.iter().cloned());
        }
        Ok(tables
            .iter()
            .flat_map(|t| t.associations())
            .filter(|a| {
                a.route_table_association_id().is_some_and(|id| ids.iter().any(|w| w == id))
            })
            .filter_map(|a| observed(cx, &shape, a, a.route_table_association_id(), None))
            .collect())
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        c: Create<'_>,
    ) -> Result<Option<String>, ProviderError> {
        let planned = c.planned;
        let (Some(rt), Some(subnet)) =
            (str_attr(planned, "route_table_id"), str_attr(planned, "subnet_id"))
        else {
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
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let planned = c.planned;
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
        returned_id("ec2:AssociateRouteTable", out.association_id())
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(cx, "ec2:DisassociateRouteTable", None, || {
            ec2.disassociate_route_table().association_id(id).send()
        })
        .await
    }
}
