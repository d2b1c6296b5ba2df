//! EBS: aws_ebs_volume and aws_volume_attachment.
//!
//! Refresh reads the stack's volumes once (`volumes`): the volumes and their attachments come
//! from the same answer. An attachment has no AWS object of its own: it exists while the volume
//! reports it, and its id is derived from (device, volume, instance).
//!
//! Delete ordering AWS enforces and moto does not: a volume must be detached before
//! DeleteVolume (VolumeInUse).

use std::sync::Arc;

use aws_sdk_ec2::types::{
    Filter, ResourceType as Rt, Volume as AwsVolume, VolumeAttachment as AwsAttachment, VolumeType,
};
use sha2::Digest;

use super::declare::{
    Field, Identity, TagApi, delete_call, erase, observed, returned_id, updater, wait_for,
};
use super::resource::{
    Create, Ctx, Observed, Query, ResourceType, changed, distinct_attr, ec2_filters, ec2_observed,
    ec2_tag_spec, gone_ok, int_attr, str_attr, take_listed, vnum,
};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(EbsVolume), Box::new(VolumeAttachment)]
}

/// EBS volumes as AWS lists them. The stack's are read once per refresh: the volumes and their
/// attachments come from the same answer.
async fn volumes(cx: &Ctx, q: Query<'_>) -> Result<Arc<Vec<AwsVolume>>, ProviderError> {
    cx.shared_if_stack("ec2:DescribeVolumes", q, || async {
        let ec2 = &cx.clients.ec2;
        let filters = ec2_filters(cx, q, "volume-id");
        Ok(paginate!(
            cx,
            "ec2:DescribeVolumes",
            ec2.describe_volumes().set_filters(Some(filters.clone())),
            volumes
        ))
    })
    .await
}

pub struct EbsVolume;

impl EbsVolume {
    fn shape() -> Vec<Field<AwsVolume>> {
        type F = Field<AwsVolume>;
        // One ModifyVolume carries every changed size/type/performance field.
        let modify = updater!("ec2:ModifyVolume", EbsVolume::modify_volume);
        vec![
            F::attr("availability_zone", A::required(Type::String).force_new())
                .read_str(AwsVolume::availability_zone),
            F::attr(
                "size",
                A::optional_computed(Type::Number).describe("Grows in place (ModifyVolume)"),
            )
            .by(modify)
            .read(|v| vnum(v.size().map(i64::from))),
            F::attr("type", A::optional(Type::String).default(Value::string("gp3")))
                .by(modify)
                .read_str(|v| v.volume_type().map(VolumeType::as_str)),
            F::attr("iops", A::optional_computed(Type::Number))
                .by(modify)
                .read(|v| vnum(v.iops().map(i64::from))),
            F::attr("throughput", A::optional_computed(Type::Number))
                .by(modify)
                .read(|v| vnum(v.throughput().map(i64::from))),
            F::attr("encrypted", A::optional(Type::Bool).force_new().default(Value::Bool(true)))
                .read(|v| Value::Bool(v.encrypted().unwrap_or(false))),
            F::attr("snapshot_id", A::optional(Type::String).force_new())
                .read_str(AwsVolume::snapshot_id),
            F::attr("arn", A::computed(Type::String)).read_cx(|cx, v| {
                Value::string(format!(
                    "arn:aws:ec2:{}::volume/{}",
                    cx.clients.region,
                    v.volume_id().unwrap_or("")
                ))
            }),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for EbsVolume {
    fn name(&self) -> &'static str {
        "aws_ebs_volume"
    }
    fn description(&self) -> &'static str {
        "An EBS volume (etcd data, for instance)."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&EbsVolume::shape())
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let shape = EbsVolume::shape();
        let obs = |v: &AwsVolume| ec2_observed(cx, &shape, v, v.volume_id(), v.tags());
        Ok(volumes(cx, q).await?.iter().filter_map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:CreateVolume", || {
                ec2.create_volume()
                    .set_availability_zone(str_attr(planned, "availability_zone"))
                    .set_size(int_attr(planned, "size").map(|n| n as i32))
                    .set_volume_type(
                        str_attr(planned, "type").map(|t| VolumeType::from(t.as_str())),
                    )
                    .set_iops(int_attr(planned, "iops").map(|n| n as i32))
                    .set_throughput(int_attr(planned, "throughput").map(|n| n as i32))
                    .set_encrypted(planned.get_attr("encrypted").and_then(|v| v.as_bool()))
                    .set_snapshot_id(str_attr(planned, "snapshot_id"))
                    .client_token(client_token)
                    .tag_specifications(ec2_tag_spec(Rt::Volume, tags))
                    .send()
            })
            .await?;
        returned_id("ec2:CreateVolume", out.volume_id())
    }
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        wait_for(cx, &format!("volume {id} to be available"), move || async move {
            let out = cx
                .clients
                .run("ec2:DescribeVolumes", || ec2.describe_volumes().volume_ids(id).send())
                .await?;
            let state =
                out.volumes().first().and_then(|v| v.state()).map(|s| s.as_str().to_string());
            match state.as_deref() {
                Some("available") | Some("in-use") => Ok(Some(())),
                Some("error") => {
                    Err(ProviderError::fatal(format!("volume {id} is in state error")))
                }
                _ => Ok(None),
            }
        })
        .await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let ec2 = &cx.clients.ec2;
        // Detaching completes asynchronously after DetachVolume.
        delete_call(cx, "ec2:DeleteVolume", Some("VolumeInUse"), || {
            ec2.delete_volume().volume_id(id).send()
        })
        .await
    }
}

impl EbsVolume {
    async fn modify_volume(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        // Only what the plan sets counts: an attribute it leaves unset (iops and throughput
        // when adopting a gp3 volume AWS reports 3000/125 for) is AWS's to choose, and a
        // ModifyVolume without any value is refused.
        let keys = ["size", "type", "iops", "throughput"];
        if !keys.iter().any(|k| {
            changed(prior, planned, k)
                && planned.get_attr(k).is_some_and(|v| !v.is_null() && !v.is_unknown())
        }) {
            return Ok(());
        }
        let ec2 = &cx.clients.ec2;
        let pick = |k: &str| {
            if changed(prior, planned, k) { int_attr(planned, k).map(|n| n as i32) } else { None }
        };
        cx.clients
            .run("ec2:ModifyVolume", || {
                ec2.modify_volume()
                    .volume_id(id)
                    .set_size(pick("size"))
                    .set_iops(pick("iops"))
                    .set_throughput(pick("throughput"))
                    .set_volume_type(
                        changed(prior, planned, "type")
                            .then(|| str_attr(planned, "type"))
                            .flatten()
                            .map(|t| VolumeType::from(t.as_str())),
                    )
                    .send()
            })
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// No AWS object of its own: it exists while the volume reports the attachment. The id is
/// derived from (device, volume, instance) like Terraform's `vai-…`.
pub struct VolumeAttachment;

impl VolumeAttachment {
    /// Its fields, read from the volume's attachment AWS lists (the configuration carries the
    /// volume and instance it was found by).
    fn shape() -> Vec<Field<AwsAttachment>> {
        type F = Field<AwsAttachment>;
        vec![
            F::attr("device_name", A::required(Type::String).force_new())
                .read_str(AwsAttachment::device),
            F::attr("volume_id", A::required(Type::String).force_new()),
            F::attr("instance_id", A::required(Type::String).force_new()),
        ]
    }

    fn attachment_id(v: &Value) -> String {
        let key = format!(
            "{}|{}|{}",
            str_attr(v, "device_name").unwrap_or_default(),
            str_attr(v, "volume_id").unwrap_or_default(),
            str_attr(v, "instance_id").unwrap_or_default()
        );
        format!("vai-{}", &hex::encode(sha2::Sha256::digest(key.as_bytes()))[..16])
    }

    async fn attachment_state(
        cx: &Ctx,
        volume: &str,
        instance: &str,
    ) -> Result<Option<String>, ProviderError> {
        let ec2 = &cx.clients.ec2;
        let out = cx
            .clients
            .run("ec2:DescribeVolumes", || {
                ec2.describe_volumes()
                    .filters(Filter::builder().name("volume-id").values(volume).build())
                    .send()
            })
            .await?;
        Ok(out
            .volumes()
            .iter()
            .flat_map(|v| v.attachments())
            .find(|a| a.instance_id() == Some(instance))
            .and_then(|a| a.state())
            .map(|s| s.as_str().to_string()))
    }
}

#[async_trait::async_trait]
impl ResourceType for VolumeAttachment {
    fn name(&self) -> &'static str {
        "aws_volume_attachment"
    }
    fn description(&self) -> &'static str {
        "Attaches an EBS volume to an instance."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&VolumeAttachment::shape())
    }
    fn tag_api(&self) -> TagApi {
        TagApi::None
    }
    fn identity(&self) -> Identity {
        Identity::Derived(|v| Some(Self::attachment_id(v)))
    }
    /// One DescribeVolumes for all attachments' volumes.
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        let ids = distinct_attr(priors, "volume_id");
        if ids.is_empty() {
            return Ok(priors.iter().map(|_| None).collect());
        }
        // In a refresh of the volumes too, attachments come from the volumes' own answer.
        let (mut volumes, missing) = if cx.refreshing("aws_ebs_volume") {
            let stack = self::volumes(cx, Query::Stack).await?;
            take_listed(&stack, ids, |v| v.volume_id())
        } else {
            (Vec::new(), ids)
        };
        if !missing.is_empty() {
            volumes.extend(self::volumes(cx, Query::Ids(&missing)).await?.iter().cloned());
        }
        let shape = Self::shape();
        Ok(priors
            .iter()
            .map(|p| {
                let vol = str_attr(p, "volume_id")?;
                let inst = str_attr(p, "instance_id")?;
                let v = volumes.iter().find(|v| v.volume_id() == Some(vol.as_str()))?;
                let a = v.attachments().iter().find(|a| {
                    a.instance_id() == Some(inst.as_str())
                        && matches!(
                            a.state().map(|s| s.as_str()),
                            Some("attached") | Some("attaching")
                        )
                })?;
                observed(cx, &shape, a, Some(&Self::attachment_id(p)), None)
            })
            .collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let planned = c.planned;
        let ec2 = &cx.clients.ec2;
        cx.clients
            .run("ec2:AttachVolume", || {
                ec2.attach_volume()
                    .set_device(str_attr(planned, "device_name"))
                    .set_volume_id(str_attr(planned, "volume_id"))
                    .set_instance_id(str_attr(planned, "instance_id"))
                    .send()
            })
            .await?;
        Ok(Self::attachment_id(planned))
    }
    async fn wait_ready(&self, _cx: &Ctx, _id: &str) -> Result<(), ProviderError> {
        // Waiting needs the volume and instance, not the synthetic id: see `delete` and the
        // `attached` check in `observe` (an `attaching` volume counts as present).
        Ok(())
    }
    async fn delete(&self, cx: &Ctx, _id: &str, prior: &Value) -> Result<(), ProviderError> {
        let (Some(vol), Some(inst)) =
            (str_attr(prior, "volume_id"), str_attr(prior, "instance_id"))
        else {
            return Ok(());
        };
        let ec2 = &cx.clients.ec2;
        // InstanceId and Device always given: moto answers an HTML 500 without InstanceId.
        let r = cx
            .clients
            .call("ec2:DetachVolume", || {
                ec2.detach_volume()
                    .volume_id(&vol)
                    .instance_id(&inst)
                    .set_device(str_attr(prior, "device_name"))
                    .send()
            })
            .await
            .map(|_| ());
        match r {
            Err(e) if e.code == "IncorrectState" || e.code == "InvalidAttachment.NotFound" => {}
            other => gone_ok("ec2:DetachVolume", other)?,
        }
        let (vol, inst) = (vol.as_str(), inst.as_str());
        wait_for(cx, &format!("volume {vol} to detach from {inst}"), move || async move {
            Ok(Self::attachment_state(cx, vol, inst).await?.is_none().then_some(()))
        })
        .await
    }
}
