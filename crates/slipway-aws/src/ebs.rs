//! EBS: aws_ebs_volume and aws_volume_attachment.
//!
//! Refresh reads the stack's volumes once (`volumes`): the volumes and their attachments come
//! from the same answer. An attachment has no AWS object of its own: it exists while the volume
//! reports it, and its id is derived from (device, volume, instance).
//!
//! Delete ordering AWS enforces and moto does not: a volume must be detached before
//! DeleteVolume (VolumeInUse).

use std::sync::Arc;

use aws_sdk_ec2::operation::attach_volume::builders::AttachVolumeFluentBuilder as NewAttachment;
use aws_sdk_ec2::operation::create_volume::builders::CreateVolumeFluentBuilder as NewVolume;
use aws_sdk_ec2::types::{
    Filter, ResourceType as Rt, Volume as AwsVolume, VolumeAttachment as AwsAttachment, VolumeType,
};

use super::declare::{
    Field, GONE, Goal, Identity, TagApi, build, create_call, declared, delete_call, derived_id,
    observed, remove_call, updater, wait_status,
};
use super::resource::{
    Create, Ctx, Observed, Query, ResourceType, Result, changed, ec2_arn, ec2_filters,
    ec2_observed, ec2_tag_spec, flag, int, int_attr, str_attr, text, vnum,
};
use crate::provider::AttributeSchema as A;
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(EbsVolume), Box::new(VolumeAttachment)]
}

/// EBS volumes as AWS lists them. The stack's are read once per refresh: the volumes and their
/// attachments come from the same answer.
async fn volumes(cx: &Ctx, q: Query<'_>) -> Result<Arc<Vec<AwsVolume>>> {
    cx.shared_if_stack("ec2:DescribeVolumes", q, || async {
        let filters = ec2_filters(cx, q, "volume-id");
        let req = cx.clients.ec2.describe_volumes().set_filters(Some(filters));
        Ok(paginate!(cx, "ec2:DescribeVolumes", req.clone(), volumes))
    })
    .await
}

pub struct EbsVolume;

impl EbsVolume {
    fn shape() -> Vec<Field<AwsVolume, NewVolume>> {
        type F = Field<AwsVolume, NewVolume>;
        // One ModifyVolume carries every changed size/type/performance field.
        let modify = updater!("ec2:ModifyVolume", EbsVolume::modify_volume);
        let size =
            A::optional_computed(Type::Number).describe("Grows in place; shrinking replaces");
        let encrypted = A::optional(Type::Bool).force_new().default(Value::Bool(true));
        let kind = A::optional(Type::String).default(Value::string("gp3"));
        let kind = kind.one_of(&["gp3", "gp2", "io2", "io1", "st1", "sc1", "standard"]);
        vec![
            F::attr("availability_zone", A::required(Type::String).force_new())
                .read_str(AwsVolume::availability_zone)
                .write(|b, v| b.set_availability_zone(text(v))),
            // AWS grows a volume in place and never shrinks one (Terraform replaces too).
            F::attr("size", size)
                .by(modify)
                .replaces_if(
                    |old, new| matches!((old.as_f64(), new.as_f64()), (Some(o), Some(n)) if n < o),
                )
                .read(|v| vnum(v.size().map(i64::from)))
                .write(|b, v| b.set_size(int(v))),
            F::attr("type", kind)
                .by(modify)
                .read_str(|v| v.volume_type().map(VolumeType::as_str))
                .write(|b, v| b.set_volume_type(text(v).map(|t| t.as_str().into()))),
            F::attr("iops", A::optional_computed(Type::Number))
                .by(modify)
                .read(|v| vnum(v.iops().map(i64::from)))
                .write(|b, v| b.set_iops(int(v))),
            F::attr("throughput", A::optional_computed(Type::Number))
                .by(modify)
                .read(|v| vnum(v.throughput().map(i64::from)))
                .write(|b, v| b.set_throughput(int(v))),
            F::attr("encrypted", encrypted)
                .read(|v| Value::Bool(v.encrypted().unwrap_or(false)))
                .write(|b, v| b.set_encrypted(flag(v))),
            F::attr("snapshot_id", A::optional(Type::String).force_new())
                .read_str(AwsVolume::snapshot_id)
                .write(|b, v| b.set_snapshot_id(text(v))),
            // A volume's shape names no owner.
            F::attr("arn", A::computed(Type::String))
                .read_cx(|cx, v| ec2_arn(cx, None, "volume", v.volume_id())),
        ]
    }

    async fn modify_volume(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        // Only what the plan sets counts: an attribute it leaves unset (iops and throughput
        // when adopting a gp3 volume AWS reports 3000/125 for) is AWS's to choose, and a
        // ModifyVolume without any value is refused.
        let set = |k: &str| planned.get_attr(k).is_some_and(|v| !v.is_null() && !v.is_unknown());
        let keys = ["size", "type", "iops", "throughput"];
        if !keys.iter().any(|k| changed(prior, planned, k) && set(k)) {
            return Ok(());
        }
        let pick = |k: &str| {
            if changed(prior, planned, k) { int_attr(planned, k).map(|n| n as i32) } else { None }
        };
        let kind = changed(prior, planned, "type").then(|| str_attr(planned, "type")).flatten();
        let req = cx.clients.ec2.modify_volume().volume_id(id).set_size(pick("size"));
        let req = req.set_iops(pick("iops")).set_throughput(pick("throughput"));
        let req = req.set_volume_type(kind.map(|t| t.as_str().into()));
        cx.clients.run("ec2:ModifyVolume", || req.clone().send()).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for EbsVolume {
    declared!("aws_ebs_volume", "An EBS volume (etcd data, for instance).", EbsVolume::shape());
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let shape = EbsVolume::shape();
        let obs = |v: &AwsVolume| ec2_observed(cx, &shape, v, v.volume_id(), v.tags());
        Ok(volumes(cx, q).await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let new = cx.clients.ec2.create_volume().client_token(c.token);
        let new = new.tag_specifications(ec2_tag_spec(Rt::Volume, c.tags));
        let req = build(&EbsVolume::shape(), new, c.planned);
        create_call(cx, "ec2:CreateVolume", || req.clone().send(), |o| o.volume_id()).await
    }
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<()> {
        let req = &cx.clients.ec2.describe_volumes().volume_ids(id);
        let status = || async {
            let out = cx.clients.run("ec2:DescribeVolumes", || req.clone().send()).await?;
            Ok(out.volumes().first().and_then(|v| v.state()).map(|s| (s.as_str().into(), None)))
        };
        let goal = Goal { name: "available", done: &["available", "in-use"], fail: &["error"] };
        wait_status(cx, &format!("volume {id}"), goal, status).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.ec2.delete_volume().volume_id(id);
        // Detaching completes asynchronously after DetachVolume.
        delete_call(cx, "ec2:DeleteVolume", Some("VolumeInUse"), || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

/// No AWS object of its own: it exists while the volume reports the attachment (`attaching`
/// counts, so it needs no readiness wait). The id is derived from (device, volume, instance)
/// like Terraform's `vai-…`.
pub struct VolumeAttachment;

impl VolumeAttachment {
    /// Its fields, read from the volume's attachment AWS lists (the configuration carries the
    /// volume and instance it was found by), and written to AttachVolume.
    fn shape() -> Vec<Field<AwsAttachment, NewAttachment>> {
        type F = Field<AwsAttachment, NewAttachment>;
        vec![
            F::attr("device_name", A::required(Type::String).force_new())
                .read_str(AwsAttachment::device)
                .write(|b, v| b.set_device(text(v))),
            F::attr("volume_id", A::required(Type::String).force_new())
                .write(|b, v| b.set_volume_id(text(v))),
            F::attr("instance_id", A::required(Type::String).force_new())
                .write(|b, v| b.set_instance_id(text(v))),
        ]
    }

    fn attachment_id(v: &Value) -> String {
        let s = |k| str_attr(v, k).unwrap_or_default();
        derived_id("vai", &[&s("device_name"), &s("volume_id"), &s("instance_id")])
    }
}

#[async_trait::async_trait]
impl ResourceType for VolumeAttachment {
    declared!(
        "aws_volume_attachment",
        "Attaches an EBS volume to an instance.",
        Self::shape(),
        tags: TagApi::None,
        identity: Identity::Derived(|v| Some(Self::attachment_id(v))),
    );
    /// One DescribeVolumes for all attachments' volumes.
    async fn observe(&self, cx: &Ctx, priors: &[Value]) -> Result<Vec<Option<Observed>>> {
        let volumes =
            parents_of!(cx, priors, "volume_id", "aws_ebs_volume", volumes, AwsVolume::volume_id);
        let shape = Self::shape();
        let live = |a: &AwsAttachment| {
            matches!(a.state().map(|s| s.as_str()), Some("attached" | "attaching"))
        };
        Ok(priors
            .iter()
            .map(|p| {
                let vol = str_attr(p, "volume_id")?;
                let inst = str_attr(p, "instance_id")?;
                let v = volumes.iter().find(|v| v.volume_id() == Some(vol.as_str()))?;
                let mut listed = v.attachments().iter();
                let a = listed.find(|a| a.instance_id() == Some(inst.as_str()) && live(a))?;
                observed(cx, &shape, a, Some(&Self::attachment_id(p)), None)
            })
            .collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let req = build(&Self::shape(), cx.clients.ec2.attach_volume(), c.planned);
        cx.clients.run("ec2:AttachVolume", || req.clone().send()).await?;
        Ok(Self::attachment_id(c.planned))
    }
    async fn delete(&self, cx: &Ctx, _id: &str, prior: &Value) -> Result<()> {
        let ids = str_attr(prior, "volume_id").zip(str_attr(prior, "instance_id"));
        let Some((vol, inst)) = ids else { return Ok(()) };
        let ec2 = &cx.clients.ec2;
        // InstanceId and Device always given: moto answers an HTML 500 without InstanceId.
        let req = ec2.detach_volume().volume_id(&vol).instance_id(&inst);
        let req = req.set_device(str_attr(prior, "device_name"));
        let detached = ["IncorrectState", "InvalidAttachment.NotFound"];
        remove_call(cx, "ec2:DetachVolume", None, &detached, || req.clone().send()).await?;
        let filter = Filter::builder().name("volume-id").values(&vol).build();
        let req = &ec2.describe_volumes().filters(filter);
        let status = || async {
            let out = cx.clients.run("ec2:DescribeVolumes", || req.clone().send()).await?;
            let mut listed = out.volumes().iter().flat_map(|v| v.attachments());
            let a = listed.find(|a| a.instance_id() == Some(inst.as_str()));
            Ok(a.and_then(|a| a.state()).map(|s| (s.as_str().to_string(), None)))
        };
        let goal = Goal { name: "detached", done: &[GONE, "detached"], fail: &[] };
        wait_status(cx, &format!("volume {vol} on {inst}"), goal, status).await
    }
}
