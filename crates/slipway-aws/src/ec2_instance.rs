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
//! need a DescribeVolumes per refresh). It is the one RunInstances input create writes by hand:
//! the root device's name comes from the AMI (one DescribeImages, only when the block is set).
//!
//! Terminated instances count as gone: every query filters on the live states, since
//! terminated instances stay visible (with their tags) for about an hour.
//!
//! Delete ordering AWS enforces and moto does not: an instance must be fully terminated before
//! its security groups and subnet can go — so delete here waits for `terminated`. (Volumes and
//! their attachments are in `ebs.rs`.)

use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder as NewInstance;
use aws_sdk_ec2::types::{
    AttributeValue, BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState,
    IamInstanceProfileSpecification as Profile, Instance as AwsInstance,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceMetadataOptionsResponse,
    InstanceType, ResourceType as Rt,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::Digest;

use super::declare::{
    Field, GONE, Goal, build, declared, delete_call, fill_defaults, returned_id, schema_of,
    updater, wait_status,
};
use super::private_ip;
use super::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, Result, attrs, block_attr, changed, ec2_arn,
    ec2_filters, ec2_observed, ec2_tag_spec, int_attr, normalize_set, str_attr, strs_attr, text,
    texts, vnum, vset,
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
    // An instance shutting down or terminated never runs (or stops) again.
    const RUNNING: Goal =
        Goal { name: "running", done: &["running"], fail: &["shutting-down", "terminated"] };
    const STOPPED: Goal =
        Goal { name: "stopped", done: &["stopped"], fail: &["shutting-down", "terminated"] };
    const TERMINATED: Goal = Goal { name: "terminated", done: &["terminated", GONE], fail: &[] };

    /// Updaters run in this order: groups, metadata, then the type (stop, modify, start).
    fn shape() -> Vec<Field<Listed, NewInstance>> {
        type F = Field<Listed, NewInstance>;
        let string = || A::optional(Type::String).force_new();
        let strings = A::optional_computed(Type::List(Box::new(Type::String)));
        let resized = A::required(Type::String).describe("Changed by stop, modify, start");
        let (size, kind) = (A::optional(Type::Number), A::optional(Type::String));
        let root = Schema::new().attr("volume_size", size).attr("volume_type", kind);
        vec![
            F::attr("ami", A::required(Type::String).force_new())
                .read_str(|l| l.instance.image_id())
                .write(|b, v| b.set_image_id(text(v))),
            F::attr("subnet_id", A::optional_computed(Type::String).force_new())
                .read_str(|l| l.instance.subnet_id())
                .write(|b, v| b.set_subnet_id(text(v))),
            F::attr("private_ip", A::optional_computed(Type::String).force_new())
                .read_str(|l| l.instance.private_ip_address())
                .write(|b, v| b.set_private_ip_address(text(v))),
            F::attr("vpc_security_group_ids", strings)
                .by(updater!("ec2:ModifyInstanceAttribute(groups)", Instance::modify_groups))
                .read(|l| {
                    let groups = l.instance.security_groups().iter().filter_map(|g| g.group_id());
                    vset(groups.map(Into::into))
                })
                .write(|b, v| b.set_security_group_ids(texts(v))),
            // Not reported by DescribeInstances (see the module comment).
            F::attr("user_data", string())
                .write(|b, v| b.set_user_data(text(v).map(|u| B64.encode(u)))),
            F::attr("user_data_sha256", A::computed(Type::String)),
            F::attr("iam_instance_profile", string()).write(|b, v| {
                b.set_iam_instance_profile(text(v).map(|n| Profile::builder().name(n).build()))
            }),
            F::attr("key_name", string())
                .read_str(|l| l.instance.key_name())
                .write(|b, v| b.set_key_name(text(v))),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, l| {
                ec2_arn(cx, l.owner.as_deref(), "instance", l.instance.instance_id())
            }),
            F::computed("public_ip", |l| l.instance.public_ip_address()),
            F::computed("private_dns", |l| l.instance.private_dns_name()),
            F::computed("availability_zone", |l| l.instance.placement()?.availability_zone()),
            F::computed("instance_state", |l| Some(l.instance.state()?.name()?.as_str())),
            // Written by create: its device name comes from the AMI.
            F::block("root_block_device", BlockNesting::Single, root).force_new(),
            F::block("metadata_options", BlockNesting::Single, schema_of(&metadata_fields()))
                .by(updater!("ec2:ModifyInstanceMetadataOptions", Instance::modify_metadata))
                .read(|l| metadata_of(l.instance.metadata_options()))
                .write(|b, v| b.metadata_options(metadata_request(v))),
            F::attr("instance_type", resized)
                .by(updater!("ec2:ModifyInstanceAttribute(type)", Instance::resize))
                .read_str(|l| l.instance.instance_type().map(InstanceType::as_str))
                .write(|b, v| b.set_instance_type(text(v).map(|t| t.as_str().into()))),
        ]
    }

    /// Polls DescribeInstances until the instance is `goal`.
    async fn wait_state(cx: &Ctx, id: &str, goal: Goal) -> Result<()> {
        let filter = Filter::builder().name("instance-id").values(id).build();
        let req = &cx.clients.ec2.describe_instances().filters(filter);
        let status = || async {
            let out = cx.clients.run("ec2:DescribeInstances", || req.clone().send()).await?;
            let mut listed = out.reservations().iter().flat_map(|r| r.instances());
            let why = |i: &AwsInstance| i.state_reason()?.message().map(str::to_string);
            Ok(listed.find_map(|i| Some((i.state()?.name()?.as_str().to_string(), why(i)))))
        };
        wait_status(cx, &format!("instance {id}"), goal, status).await
    }

    async fn modify_groups(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        let groups = strs_attr(planned, "vpc_security_group_ids");
        if changed(prior, planned, "vpc_security_group_ids") && !groups.is_empty() {
            let req =
                cx.clients.ec2.modify_instance_attribute().instance_id(id).set_groups(Some(groups));
            cx.clients.run("ec2:ModifyInstanceAttribute", || req.clone().send()).await?;
        }
        Ok(())
    }

    async fn modify_metadata(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        if changed(prior, planned, "metadata_options") {
            let m = metadata_request(&planned.get_attr("metadata_options").unwrap_or_default());
            let req = cx.clients.ec2.modify_instance_metadata_options().instance_id(id);
            let req = req
                .set_http_tokens(m.http_tokens().cloned())
                .set_http_endpoint(m.http_endpoint().cloned())
                .set_http_put_response_hop_limit(m.http_put_response_hop_limit());
            cx.clients.run("ec2:ModifyInstanceMetadataOptions", || req.clone().send()).await?;
        }
        Ok(())
    }

    async fn resize(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        let (c, ec2) = (&cx.clients, &cx.clients.ec2);
        if changed(prior, planned, "instance_type")
            && let Some(t) = str_attr(planned, "instance_type")
        {
            // AWS changes the type of a stopped instance only.
            let stop = ec2.stop_instances().instance_ids(id);
            c.run("ec2:StopInstances", || stop.clone().send()).await?;
            Self::wait_state(cx, id, Self::STOPPED).await?;
            let t = AttributeValue::builder().value(t).build();
            let modify = ec2.modify_instance_attribute().instance_id(id).instance_type(t);
            c.run("ec2:ModifyInstanceAttribute", || modify.clone().send()).await?;
            let start = ec2.start_instances().instance_ids(id);
            c.run("ec2:StartInstances", || start.clone().send()).await?;
            Self::wait_state(cx, id, Self::RUNNING).await?;
        }
        Ok(())
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

/// The metadata options block's attributes; `normalize` fills in their defaults.
fn metadata_fields() -> [Field; 3] {
    let string = |d, of| A::optional(Type::String).default(Value::string(d)).one_of(of);
    let hops = A::optional(Type::Number).default(Value::Number(2.0));
    [
        Field::attr("http_tokens", string("required", &["required", "optional"])),
        Field::attr("http_endpoint", string("enabled", &["enabled", "disabled"])),
        Field::attr(
            "http_put_response_hop_limit",
            hops.describe("2 so that pods reach IMDSv2 through the node"),
        ),
    ]
}

/// The metadata options block `m` as RunInstances and ModifyInstanceMetadataOptions take it.
fn metadata_request(m: &Value) -> InstanceMetadataOptionsRequest {
    InstanceMetadataOptionsRequest::builder()
        .http_tokens(HttpTokensState::from(
            str_attr(m, "http_tokens").as_deref().unwrap_or("required"),
        ))
        .http_endpoint(InstanceMetadataEndpointState::from(
            str_attr(m, "http_endpoint").as_deref().unwrap_or("enabled"),
        ))
        .http_put_response_hop_limit(int_attr(m, "http_put_response_hop_limit").unwrap_or(2) as i32)
        .build()
}

#[async_trait::async_trait]
impl ResourceType for Instance {
    declared!("aws_instance", "An EC2 instance.", Instance::shape());
    fn normalize(&self, a: &mut Attrs) {
        let mut m = a.get("metadata_options").and_then(Value::as_map).cloned().unwrap_or_default();
        fill_defaults(&metadata_fields(), &mut m);
        a.insert("metadata_options".into(), Value::Map(m));
        normalize_set(a, "vpc_security_group_ids");
        let user_data = a.get("user_data").and_then(Value::as_str);
        if let Some(sha) = user_data.map(|u| hex::encode(sha2::Sha256::digest(u.as_bytes()))) {
            a.insert("user_data_sha256".into(), Value::string(sha));
        }
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let mut filters = ec2_filters(cx, q, "instance-id");
        let live = LIVE_STATES.iter().map(|s| s.to_string()).collect();
        filters.push(Filter::builder().name("instance-state-name").set_values(Some(live)).build());
        let req = cx.clients.ec2.describe_instances().set_filters(Some(filters));
        // DescribeInstances pages by reservation; each holds this stack's one-instance launches.
        let reservations = paginate!(cx, "ec2:DescribeInstances", req.clone(), reservations);
        let listed = reservations.iter().flat_map(|r| {
            let owner = r.owner_id().map(str::to_string);
            r.instances().iter().map(move |i| Listed { owner: owner.clone(), instance: i.clone() })
        });
        let shape = Instance::shape();
        let obs =
            |l: Listed| ec2_observed(cx, &shape, &l, l.instance.instance_id(), l.instance.tags());
        Ok(listed.filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let ec2 = &cx.clients.ec2;
        let ami =
            str_attr(c.planned, "ami").ok_or_else(|| ProviderError::fatal("ami is required"))?;
        let new = ec2.run_instances().min_count(1).max_count(1).client_token(c.token);
        let new = new.tag_specifications(ec2_tag_spec(Rt::Instance, c.tags));
        let new = new.tag_specifications(ec2_tag_spec(Rt::Volume, c.tags));
        let mut req = build(&Instance::shape(), new, c.planned);
        // The root volume's device name comes from the AMI (/dev/xvda, /dev/sda1, …).
        if let Some(root) = block_attr(c.planned, "root_block_device") {
            let images = ec2.describe_images().image_ids(&ami);
            let images = cx.clients.run("ec2:DescribeImages", || images.clone().send()).await?;
            let image = images.images().first();
            let device = image.and_then(|i| i.root_device_name()).unwrap_or("/dev/xvda");
            let ebs = EbsBlockDevice::builder()
                .set_volume_size(int_attr(&root, "volume_size").map(|n| n as i32))
                .set_volume_type(str_attr(&root, "volume_type").map(|t| t.as_str().into()))
                .delete_on_termination(true)
                .build();
            let root = BlockDeviceMapping::builder().device_name(device).ebs(ebs).build();
            req = req.block_device_mappings(root);
        }
        // A replacement on the same static address waits while the old interface releases it.
        let ip = str_attr(c.planned, "private_ip");
        let out = private_ip::run_instances(cx, ip.as_deref(), || req.clone().send()).await?;
        returned_id("ec2:RunInstances", out.instances().first().and_then(|i| i.instance_id()))
    }
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<()> {
        Self::wait_state(cx, id, Self::RUNNING).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.terminate_instances().instance_ids(id);
        delete_call(cx, "ec2:TerminateInstances", None, || req.clone().send()).await?;
        Self::wait_state(cx, id, Self::TERMINATED).await?;
        // Its replacement may ask for the same address before AWS has released it.
        if let Some(ip) = str_attr(prior, "private_ip") {
            cx.clients.note_released(&ip);
        }
        Ok(())
    }
}
