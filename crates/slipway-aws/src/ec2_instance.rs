//! EC2 compute and storage: aws_instance, aws_ebs_volume, aws_volume_attachment.
//!
//! **user_data** is stored in state verbatim (not as a hash as Terraform does): the plan must
//! compare it with the configuration, and design invariant 5 already keeps secrets out of
//! user-data. It is force-new (cloud-init runs it on first boot only, and changing it needs a
//! stopped instance) and not refreshed (DescribeInstances does not return it; reading it costs
//! one DescribeInstanceAttribute per instance). `user_data_sha256` is there for quick
//! comparison in plans and logs.
//!
//! **root_block_device** is applied at launch and force-new; it is not refreshed (that would
//! need a DescribeVolumes per refresh).
//!
//! Terminated instances count as gone: every query filters on the live states, since
//! terminated instances stay visible (with their tags) for about an hour.
//!
//! Delete ordering AWS enforces and moto does not: an instance must be fully terminated before
//! its security groups and subnet can go — so delete here waits for `terminated`. (Volumes and
//! their attachments are in `ebs.rs`.)

use aws_sdk_ec2::types::{
    AttributeValue, BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState,
    IamInstanceProfileSpecification, Instance as AwsInstance, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceMetadataOptionsResponse, InstanceType,
    ResourceType as Rt, VolumeType,
};
use base64::Engine as _;
use sha2::Digest;

use super::declare::{Field, delete_call, erase, returned_id, updater, wait_for};
use super::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, attrs, block_attr, changed, default_attr,
    ec2_filters, ec2_observed, ec2_tag_spec, int_attr, normalize_set, str_attr, strs_attr, vnum,
    vset,
};
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError, Schema};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(Instance)]
}

const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped", "shutting-down"];

// ---------------------------------------------------------------------------------------------

pub struct Instance;

/// An instance as DescribeInstances lists it, with its reservation's owner (for the ARN).
struct Listed {
    owner: Option<String>,
    instance: AwsInstance,
}

impl Instance {
    /// Updaters run in this order: groups, metadata, then the type (stop, modify, start).
    fn shape() -> Vec<Field<Listed>> {
        type F = Field<Listed>;
        let string = || A::optional(Type::String).force_new();
        vec![
            F::attr("ami", A::required(Type::String).force_new())
                .read_str(|l| l.instance.image_id()),
            F::attr("subnet_id", A::optional_computed(Type::String).force_new())
                .read_str(|l| l.instance.subnet_id()),
            F::attr("private_ip", A::optional_computed(Type::String).force_new())
                .read_str(|l| l.instance.private_ip_address()),
            F::attr(
                "vpc_security_group_ids",
                A::optional_computed(Type::List(Box::new(Type::String))),
            )
            .by(updater!("ec2:ModifyInstanceAttribute(groups)", Instance::modify_groups))
            .read(|l| {
                let groups = l.instance.security_groups().iter();
                vset(groups.filter_map(|g| g.group_id().map(str::to_string)))
            }),
            // Not reported by DescribeInstances (see the module comment).
            F::attr("user_data", string()),
            F::attr("user_data_sha256", A::computed(Type::String)),
            F::attr("iam_instance_profile", string()),
            F::attr("key_name", string()).read_str(|l| l.instance.key_name()),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, l| {
                Value::string(format!(
                    "arn:aws:ec2:{}:{}:instance/{}",
                    cx.clients.region,
                    l.owner.as_deref().unwrap_or(""),
                    l.instance.instance_id().unwrap_or("")
                ))
            }),
            F::computed("public_ip", |l| l.instance.public_ip_address()),
            F::computed("private_dns", |l| l.instance.private_dns_name()),
            F::computed("availability_zone", |l| l.instance.placement()?.availability_zone()),
            F::computed("instance_state", |l| Some(l.instance.state()?.name()?.as_str())),
            F::block(
                "root_block_device",
                BlockNesting::Single,
                Schema::new()
                    .attr("volume_size", A::optional(Type::Number))
                    .attr("volume_type", A::optional(Type::String)),
            )
            .force_new(),
            F::block(
                "metadata_options",
                BlockNesting::Single,
                Schema::new()
                    .attr(
                        "http_tokens",
                        A::optional(Type::String).default(Value::string("required")),
                    )
                    .attr(
                        "http_endpoint",
                        A::optional(Type::String).default(Value::string("enabled")),
                    )
                    .attr(
                        "http_put_response_hop_limit",
                        A::optional(Type::Number)
                            .default(Value::Number(2.0))
                            .describe("2 so that pods reach IMDSv2 through the node"),
                    ),
            )
            .by(updater!("ec2:ModifyInstanceMetadataOptions", Instance::modify_metadata))
            .read(|l| metadata_of(l.instance.metadata_options())),
            F::attr(
                "instance_type",
                A::required(Type::String).describe("Changed by stop, modify, start"),
            )
            .by(updater!("ec2:ModifyInstanceAttribute(type)", Instance::resize))
            .read_str(|l| l.instance.instance_type().map(InstanceType::as_str)),
        ]
    }
}

/// The metadata options as AWS reports them (its defaults where it says nothing).
fn metadata_of(md: Option<&InstanceMetadataOptionsResponse>) -> Value {
    let tokens = md.and_then(|m| m.http_tokens()).map(|t| t.as_str());
    let endpoint = md.and_then(|m| m.http_endpoint()).map(|t| t.as_str());
    let hops = md.and_then(|m| m.http_put_response_hop_limit()).unwrap_or(1);
    Value::Map(attrs(vec![
        ("http_tokens", Value::string(tokens.unwrap_or("optional"))),
        ("http_endpoint", Value::string(endpoint.unwrap_or("enabled"))),
        ("http_put_response_hop_limit", vnum(Some(i64::from(hops)))),
    ]))
}

fn metadata_defaults(a: &mut Attrs) {
    default_attr(a, "http_tokens", Value::string("required"));
    default_attr(a, "http_endpoint", Value::string("enabled"));
    default_attr(a, "http_put_response_hop_limit", Value::Number(2.0));
}

impl Instance {
    async fn states(cx: &Ctx, id: &str) -> Result<Option<String>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:DescribeInstances", || {
                ec2.describe_instances()
                    .filters(Filter::builder().name("instance-id").values(id).build())
                    .send()
            })
            .await?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.state()?.name().map(|n| n.as_str().to_string())))
    }

    async fn wait_state(cx: &Ctx, id: &str, want: &str) -> Result<(), ProviderError> {
        wait_for(cx, &format!("instance {id} to be {want}"), move || async move {
            let s = Self::states(cx, id).await?;
            match s.as_deref() {
                Some(s) if s == want => Ok(Some(())),
                Some("terminated") | Some("shutting-down") if want != "terminated" => {
                    Err(ProviderError::fatal(format!(
                        "instance {id} terminated while waiting for {want}"
                    )))
                }
                None if want == "terminated" => Ok(Some(())),
                _ => Ok(None),
            }
        })
        .await
    }

    fn metadata_request(planned: &Value) -> InstanceMetadataOptionsRequest {
        let m = block_attr(planned, "metadata_options").unwrap_or(Value::Null);
        InstanceMetadataOptionsRequest::builder()
            .http_tokens(HttpTokensState::from(
                str_attr(&m, "http_tokens").as_deref().unwrap_or("required"),
            ))
            .http_endpoint(InstanceMetadataEndpointState::from(
                str_attr(&m, "http_endpoint").as_deref().unwrap_or("enabled"),
            ))
            .http_put_response_hop_limit(
                int_attr(&m, "http_put_response_hop_limit").unwrap_or(2) as i32
            )
            .build()
    }
}

#[async_trait::async_trait]
impl ResourceType for Instance {
    fn name(&self) -> &'static str {
        "aws_instance"
    }
    fn description(&self) -> &'static str {
        "An EC2 instance."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&Instance::shape())
    }
    fn normalize(&self, a: &mut Attrs) {
        let mut m = a.get("metadata_options").and_then(Value::as_map).cloned().unwrap_or_default();
        metadata_defaults(&mut m);
        a.insert("metadata_options".into(), Value::Map(m));
        normalize_set(a, "vpc_security_group_ids");
        if let Some(ud) = a.get("user_data").and_then(|v| v.as_str().map(str::to_string)) {
            a.insert(
                "user_data_sha256".into(),
                Value::string(hex::encode(sha2::Sha256::digest(ud.as_bytes()))),
            );
        }
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let mut filters = ec2_filters(cx, q, "instance-id");
        filters.push(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(LIVE_STATES.iter().map(|s| s.to_string()).collect()))
                .build(),
        );
        // DescribeInstances pages by reservation; each holds this stack's one-instance launches.
        let reservations = paginate!(
            cx,
            "ec2:DescribeInstances",
            ec2.describe_instances().set_filters(Some(filters.clone())),
            reservations
        );
        let listed: Vec<Listed> = reservations
            .iter()
            .flat_map(|r| {
                r.instances().iter().map(|i| Listed {
                    owner: r.owner_id().map(str::to_string),
                    instance: i.clone(),
                })
            })
            .collect();
        let shape = Instance::shape();
        let obs = |l: &Listed| {
            let i = &l.instance;
            ec2_observed(cx, &shape, l, i.instance_id(), i.tags())
        };
        Ok(listed.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let ec2 = &cx.clients.ec2;
        let ami =
            str_attr(planned, "ami").ok_or_else(|| ProviderError::fatal("ami is required"))?;
        // The root volume's device name comes from the AMI (/dev/xvda, /dev/sda1, …).
        let root = block_attr(planned, "root_block_device");
        let mut mappings = Vec::new();
        if let Some(root) = &root {
            let images = cx
                .clients
                .run("ec2:DescribeImages", || ec2.describe_images().image_ids(&ami).send())
                .await?;
            let device = images
                .images()
                .first()
                .and_then(|i| i.root_device_name())
                .unwrap_or("/dev/xvda")
                .to_string();
            mappings.push(
                BlockDeviceMapping::builder()
                    .device_name(device)
                    .ebs(
                        EbsBlockDevice::builder()
                            .set_volume_size(int_attr(root, "volume_size").map(|n| n as i32))
                            .set_volume_type(
                                str_attr(root, "volume_type").map(|t| VolumeType::from(t.as_str())),
                            )
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            );
        }
        let user_data = str_attr(planned, "user_data")
            .map(|u| base64::engine::general_purpose::STANDARD.encode(u.as_bytes()));
        let groups = strs_attr(planned, "vpc_security_group_ids");
        let ip = str_attr(planned, "private_ip");
        // A replacement on the same static address waits while the old interface releases it.
        let out = super::private_ip::run_instances(cx, ip.as_deref(), || {
            ec2.run_instances()
                .image_id(&ami)
                .set_instance_type(
                    str_attr(planned, "instance_type").map(|t| InstanceType::from(t.as_str())),
                )
                .min_count(1)
                .max_count(1)
                .client_token(client_token)
                .set_subnet_id(str_attr(planned, "subnet_id"))
                .set_private_ip_address(ip.clone())
                .set_security_group_ids((!groups.is_empty()).then(|| groups.clone()))
                .set_user_data(user_data.clone())
                .set_key_name(str_attr(planned, "key_name"))
                .set_iam_instance_profile(
                    str_attr(planned, "iam_instance_profile")
                        .map(|n| IamInstanceProfileSpecification::builder().name(n).build()),
                )
                .set_block_device_mappings((!mappings.is_empty()).then(|| mappings.clone()))
                .metadata_options(Self::metadata_request(planned))
                .tag_specifications(ec2_tag_spec(Rt::Instance, tags))
                .tag_specifications(ec2_tag_spec(Rt::Volume, tags))
                .send()
        })
        .await?;
        returned_id("ec2:RunInstances", out.instances().first().and_then(|i| i.instance_id()))
    }
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<(), ProviderError> {
        Self::wait_state(cx, id, "running").await
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        delete_call(cx, "ec2:TerminateInstances", None, || {
            ec2.terminate_instances().instance_ids(id).send()
        })
        .await?;
        Self::wait_state(cx, id, "terminated").await?;
        // Its replacement may ask for the same address before AWS has released it.
        if let Some(ip) = str_attr(prior, "private_ip") {
            cx.clients.note_released(&ip);
        }
        Ok(())
    }
}

impl Instance {
    async fn modify_groups(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        if changed(prior, planned, "vpc_security_group_ids") {
            let groups = strs_attr(planned, "vpc_security_group_ids");
            if !groups.is_empty() {
                cx.clients
                    .run("ec2:ModifyInstanceAttribute", || {
                        ec2.modify_instance_attribute()
                            .instance_id(id)
                            .set_groups(Some(groups.clone()))
                            .send()
                    })
                    .await?;
            }
        }
        Ok(())
    }

    async fn modify_metadata(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        if changed(prior, planned, "metadata_options") {
            let m = Self::metadata_request(planned);
            cx.clients
                .run("ec2:ModifyInstanceMetadataOptions", || {
                    ec2.modify_instance_metadata_options()
                        .instance_id(id)
                        .set_http_tokens(m.http_tokens().cloned())
                        .set_http_endpoint(m.http_endpoint().cloned())
                        .set_http_put_response_hop_limit(m.http_put_response_hop_limit())
                        .send()
                })
                .await?;
        }
        Ok(())
    }

    async fn resize(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        if changed(prior, planned, "instance_type")
            && let Some(t) = str_attr(planned, "instance_type")
        {
            // AWS changes the type of a stopped instance only.
            cx.clients
                .run("ec2:StopInstances", || ec2.stop_instances().instance_ids(id).send())
                .await?;
            Self::wait_state(cx, id, "stopped").await?;
            cx.clients
                .run("ec2:ModifyInstanceAttribute", || {
                    ec2.modify_instance_attribute()
                        .instance_id(id)
                        .instance_type(AttributeValue::builder().value(&t).build())
                        .send()
                })
                .await?;
            cx.clients
                .run("ec2:StartInstances", || ec2.start_instances().instance_ids(id).send())
                .await?;
            Self::wait_state(cx, id, "running").await?;
        }
        Ok(())
    }
}
