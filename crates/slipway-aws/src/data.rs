//! Data sources: aws_ami and aws_availability_zones (each one Describe call), and aws_region
//! (the configured region: no call).

use aws_sdk_ec2::types::Filter;

use super::DataSource;
use super::resource::{Ctx, attrs, blocks_attr, bool_attr, str_attr, strs_attr, vlist, vstr};
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError, Schema};
use crate::value::{Type, Value};

pub fn sources() -> Vec<Box<dyn DataSource>> {
    vec![Box::new(Ami), Box::new(AvailabilityZones), Box::new(Region)]
}

fn strings() -> Type {
    Type::List(Box::new(Type::String))
}

pub struct Ami;

#[async_trait::async_trait]
impl DataSource for Ami {
    fn name(&self) -> &'static str {
        "aws_ami"
    }
    fn description(&self) -> &'static str {
        "Finds an AMI by owners and filters."
    }
    fn schema(&self) -> Schema {
        Schema::new()
            .attr("owners", A::required(strings()))
            .attr("most_recent", A::optional(Type::Bool).default(Value::Bool(false)))
            .attr("name_regex", A::optional(Type::String).describe("Not supported yet"))
            .block(
                "filter",
                BlockNesting::List,
                Schema::new()
                    .attr("name", A::required(Type::String))
                    .attr("values", A::required(strings())),
            )
            .attr("id", A::computed(Type::String))
            .attr("image_id", A::computed(Type::String))
            .attr("name", A::computed(Type::String))
            .attr("architecture", A::computed(Type::String))
            .attr("creation_date", A::computed(Type::String))
            .attr("root_device_name", A::computed(Type::String))
            .attr("owner_id", A::computed(Type::String))
    }
    async fn read(&self, cx: &Ctx, config: &Value) -> Result<Value, ProviderError> {
        if str_attr(config, "name_regex").is_some() {
            return Err(ProviderError::fatal(
                "aws_ami: name_regex is not supported; use a `name` filter",
            ));
        }
        let owners = strs_attr(config, "owners");
        let filters: Vec<Filter> = blocks_attr(config, "filter")
            .iter()
            .map(|f| {
                Filter::builder()
                    .set_name(str_attr(f, "name"))
                    .set_values(Some(strs_attr(f, "values")))
                    .build()
            })
            .collect();
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:DescribeImages", || {
                ec2.describe_images()
                    .set_owners((!owners.is_empty()).then(|| owners.clone()))
                    .set_filters((!filters.is_empty()).then(|| filters.clone()))
                    .send()
            })
            .await?;
        let mut images: Vec<_> = out.images().to_vec();
        // ISO 8601 timestamps sort as strings.
        images.sort_by(|a, b| b.creation_date().cmp(&a.creation_date()));
        let most_recent = bool_attr(config, "most_recent").unwrap_or(false);
        let image = match images.len() {
            0 => {
                return Err(ProviderError::fatal("aws_ami: no AMI matches the owners and filters"));
            }
            1 => &images[0],
            n if most_recent => {
                tracing::debug!(matches = n, "aws_ami: picking the most recent");
                &images[0]
            }
            n => {
                return Err(ProviderError::fatal(format!(
                    "aws_ami: {n} AMIs match; narrow the filters or set most_recent = true"
                )));
            }
        };
        let mut out = config.as_map().cloned().unwrap_or_default();
        out.extend(attrs(vec![
            ("id", vstr(image.image_id())),
            ("image_id", vstr(image.image_id())),
            ("name", vstr(image.name())),
            ("architecture", vstr(image.architecture().map(|a| a.as_str()))),
            ("creation_date", vstr(image.creation_date())),
            ("root_device_name", vstr(image.root_device_name())),
            ("owner_id", vstr(image.owner_id())),
        ]));
        Ok(Value::Map(out))
    }
}

pub struct AvailabilityZones;

#[async_trait::async_trait]
impl DataSource for AvailabilityZones {
    fn name(&self) -> &'static str {
        "aws_availability_zones"
    }
    fn description(&self) -> &'static str {
        "The region's availability zones, sorted by name."
    }
    fn schema(&self) -> Schema {
        Schema::new()
            .attr(
                "state",
                A::optional(Type::String).describe("available, information, impaired, unavailable"),
            )
            .attr("id", A::computed(Type::String))
            .attr("names", A::computed(strings()))
            .attr("zone_ids", A::computed(strings()))
    }
    async fn read(&self, cx: &Ctx, config: &Value) -> Result<Value, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let state = str_attr(config, "state");
        let out = cx
            .clients
            .run("ec2:DescribeAvailabilityZones", || {
                ec2.describe_availability_zones()
                    .set_filters(
                        state
                            .as_ref()
                            .map(|s| vec![Filter::builder().name("state").values(s).build()]),
                    )
                    .send()
            })
            .await?;
        let mut zones: Vec<(String, String)> = out
            .availability_zones()
            .iter()
            .filter_map(|z| {
                Some((z.zone_name()?.to_string(), z.zone_id().unwrap_or("").to_string()))
            })
            .collect();
        zones.sort();
        let mut result = config.as_map().cloned().unwrap_or_default();
        result.insert("id".into(), Value::string(cx.clients.region.clone()));
        result.insert("names".into(), vlist(zones.iter().map(|z| z.0.clone())));
        result.insert("zone_ids".into(), vlist(zones.iter().map(|z| z.1.clone())));
        Ok(Value::Map(result))
    }
}

/// The region the provider is configured for (modules name regional services with it:
/// `com.amazonaws.${region}.s3`).
pub struct Region;

#[async_trait::async_trait]
impl DataSource for Region {
    fn name(&self) -> &'static str {
        "aws_region"
    }
    fn description(&self) -> &'static str {
        "The configured region (no API call)."
    }
    fn schema(&self) -> Schema {
        Schema::new()
            .attr("id", A::computed(Type::String))
            .attr("name", A::computed(Type::String))
            .attr("region", A::computed(Type::String))
    }
    async fn read(&self, cx: &Ctx, _config: &Value) -> Result<Value, ProviderError> {
        let r = Value::string(cx.clients.region.clone());
        Ok(Value::Map(attrs(vec![("id", r.clone()), ("name", r.clone()), ("region", r)])))
    }
}
