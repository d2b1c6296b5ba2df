//! S3: aws_s3_bucket, aws_s3_object.
//!
//! Bucket names are global: a bucket is adopted by name when its ownership tags say it is
//! ours. Refresh cost: buckets from one ListBuckets plus one GetBucketTagging per bucket in
//! state (S3 has no batched tag read — buckets are few); objects from one ListObjectsV2 per
//! bucket.
//!
//! `content` of aws_s3_object keeps its sensitive mark in state (it is never overwritten by a
//! read); its `etag` (MD5 of the content, as S3 reports for single-part uploads without KMS) is
//! marked sensitive too when the content is, since a hash of a short secret can be guessed.
//!
//! Delete ordering AWS enforces and moto may not: a bucket must be empty (BucketNotEmpty;
//! `force_destroy` empties it first).

use std::collections::BTreeMap;

use aws_sdk_s3::operation::create_bucket::builders::CreateBucketFluentBuilder as NewBucket;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Bucket as AwsBucket, BucketLocationConstraint, CreateBucketConfiguration};

use super::client::to_provider_error;
use super::declare::{
    Field, Identity, TagApi, build, declared, delete_call, observed, put_s3_bucket_tags,
    s3_bucket_tags, updater,
};
use super::iam::owned_by;
use super::resource::{
    Attrs, Create, Ctx, Observed, ResourceType, Result, bool_attr, distinct_attr, observe_ids_with,
    str_attr, text,
};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(Bucket), Box::new(Object)]
}

/// One page of a bucket's objects (from `token`, the first without); None when the bucket is
/// gone.
async fn objects_page(
    cx: &Ctx,
    bucket: &str,
    token: Option<String>,
) -> Result<Option<ListObjectsV2Output>> {
    let req = cx.clients.s3.list_objects_v2().bucket(bucket).set_continuation_token(token);
    match cx.clients.call("s3:ListObjectsV2", || req.clone().send()).await {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(to_provider_error("s3:ListObjectsV2", e)),
    }
}

pub struct Bucket;

impl Bucket {
    /// Read from the bucket as ListBuckets lists it.
    fn shape() -> Vec<Field<AwsBucket, NewBucket>> {
        type F = Field<AwsBucket, NewBucket>;
        vec![
            F::attr("bucket", A::required(Type::String).force_new())
                .read_str(AwsBucket::name)
                .write(|b, v| b.set_bucket(text(v))),
            F::attr("force_destroy", A::optional(Type::Bool).default(Value::Bool(false)))
                .state_only(),
            F::attr("arn", A::computed(Type::String))
                .read(|b| Value::string(format!("arn:aws:s3:::{}", b.name().unwrap_or("")))),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for Bucket {
    declared!(
        "aws_s3_bucket",
        "An S3 bucket (e.g. per-node key bundles).",
        Bucket::shape(),
        tags: TagApi::S3Bucket,
        identity: Identity::UniqueKey,
    );
    async fn observe(&self, cx: &Ctx, priors: &[Value]) -> Result<Vec<Option<Observed>>> {
        observe_ids_with(priors, |ids| async move {
            let req = cx.clients.s3.list_buckets();
            let listed = cx.clients.run("s3:ListBuckets", || req.clone().send()).await?;
            let (shape, mut out) = (Bucket::shape(), Vec::new());
            let find = |id: &str| listed.buckets().iter().find(|b| b.name() == Some(id));
            for id in ids {
                if let Some(b) = find(&id)
                    && let Some(tags) = s3_bucket_tags(cx, &id).await?
                {
                    out.extend(observed(cx, &shape, b, Some(&id), Some(tags)));
                }
            }
            Ok(out)
        })
        .await
    }
    async fn find_existing(&self, cx: &Ctx, c: Create<'_>) -> Result<Option<String>> {
        let Some(name) = str_attr(c.planned, "bucket") else {
            return Ok(None);
        };
        match s3_bucket_tags(cx, &name).await? {
            None => Ok(None),
            Some(found) if owned_by(cx, &found, c.tags) => Ok(Some(name)),
            // Ours but untagged (killed between CreateBucket and PutBucketTagging) looks the
            // same as someone else's; CreateBucket answers BucketAlreadyOwnedByYou for the
            // former, which `create` treats as success.
            Some(_) => Ok(None),
        }
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let name = str_attr(c.planned, "bucket");
        let name = name.ok_or_else(|| ProviderError::fatal("bucket is required"))?;
        let mut req = build(&Bucket::shape(), cx.clients.s3.create_bucket(), c.planned);
        let region = cx.clients.region.as_str();
        // us-east-1 is the one region that refuses an explicit location constraint.
        if region != "us-east-1" {
            let at = CreateBucketConfiguration::builder();
            let at = at.location_constraint(BucketLocationConstraint::from(region)).build();
            req = req.create_bucket_configuration(at);
        }
        let made = cx.clients.call("s3:CreateBucket", || req.clone().send()).await;
        if let Err(e) = made
            && e.code != "BucketAlreadyOwnedByYou"
        {
            return Err(to_provider_error("s3:CreateBucket", e));
        }
        put_s3_bucket_tags(cx, &name, c.tags).await?;
        Ok(name)
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<()> {
        let s3 = &cx.clients.s3;
        if bool_attr(prior, "force_destroy").unwrap_or(false) {
            loop {
                let Some(listed) = objects_page(cx, id, None).await? else {
                    return Ok(());
                };
                let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
                if keys.is_empty() {
                    break;
                }
                for k in keys {
                    let req = s3.delete_object().bucket(id).key(k);
                    delete_call(cx, "s3:DeleteObject", None, || req.clone().send()).await?;
                }
            }
        }
        let req = s3.delete_bucket().bucket(id);
        delete_call(cx, "s3:DeleteBucket", None, || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

/// An object; id `bucket/key`. Drift is detected by ETag (content changed outside).
pub struct Object;

/// An object's ETag as ListObjectsV2 lists it, with whether the prior object's content is
/// sensitive (its hash is then marked too).
struct Listed {
    etag: String,
    sensitive: bool,
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

impl Object {
    fn shape() -> Vec<Field<Listed>> {
        type F = Field<Listed>;
        // PutObject overwrites: it is both create and update.
        let put = updater!("s3:PutObject", Object::put_object);
        vec![
            F::attr("bucket", A::required(Type::String).force_new()),
            F::attr("key", A::required(Type::String).force_new()),
            F::attr("content", A::required(Type::String)).by(put),
            F::attr("content_type", A::optional(Type::String)).by(put),
            F::attr("etag", A::computed(Type::String))
                .read(|l| Value::string(&l.etag).mark_if(l.sensitive)),
        ]
    }

    /// The bucket and key of a planned or prior object.
    fn located(v: &Value) -> Result<(String, String)> {
        match (str_attr(v, "bucket"), str_attr(v, "key")) {
            (Some(b), Some(k)) => Ok((b, k)),
            _ => Err(ProviderError::fatal("bucket and key are required")),
        }
    }

    async fn put_object(cx: &Ctx, _id: &str, _prior: &Value, planned: &Value) -> Result<()> {
        let (b, k) = Object::located(planned)?;
        // Read the content through the mark: `as_str` peels it; never log it.
        let content = planned.get_attr("content").and_then(|c| c.as_str().map(str::to_string));
        let (body, s3) = (content.unwrap_or_default().into_bytes(), &cx.clients.s3);
        // The request owns its body stream, which cannot be cloned: each attempt builds its own.
        let req = || s3.put_object().bucket(&b).key(&k).body(ByteStream::from(body.clone()));
        let kind = str_attr(planned, "content_type");
        cx.clients.run("s3:PutObject", || req().set_content_type(kind.clone()).send()).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for Object {
    declared!(
        "aws_s3_object",
        "An S3 object with inline content (sensitive when the value is).",
        Object::shape(),
        tags: TagApi::None,
        // PutObject replaces whatever is there.
        identity: Identity::Overwrite,
    );
    fn normalize(&self, a: &mut Attrs) {
        if let Some(c) = a.get("content").cloned()
            && let Some(s) = c.as_str()
        {
            a.insert("etag".into(), Value::string(md5_hex(s.as_bytes())).mark_if(c.is_sensitive()));
        }
    }
    /// One ListObjectsV2 per bucket (paged), not one HeadObject per object.
    async fn observe(&self, cx: &Ctx, priors: &[Value]) -> Result<Vec<Option<Observed>>> {
        let mut etags: BTreeMap<(String, String), String> = BTreeMap::new();
        for b in &distinct_attr(priors, "bucket") {
            let mut token: Option<String> = None;
            while let Some(listed) = objects_page(cx, b, token.take()).await? {
                for o in listed.contents() {
                    if let (Some(k), Some(e)) = (o.key(), o.e_tag()) {
                        etags.insert((b.clone(), k.to_string()), e.trim_matches('"').to_string());
                    }
                }
                match listed.next_continuation_token() {
                    Some(t) if listed.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        let shape = Object::shape();
        let obs = |p: &Value| {
            let (b, k) = Object::located(p).ok()?;
            let etag = etags.get(&(b.clone(), k.clone()))?.clone();
            let sensitive = p.get_attr("content").is_some_and(|c| c.is_sensitive());
            observed(cx, &shape, &Listed { etag, sensitive }, Some(&format!("{b}/{k}")), None)
        };
        Ok(priors.iter().map(obs).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let (b, k) = Object::located(c.planned)?;
        let id = format!("{b}/{k}");
        self.update(cx, &id, &Value::Null, c.planned).await?;
        Ok(id)
    }
    /// PutObject overwrites: it is both create and update (and so its own adoption).
    async fn delete(&self, cx: &Ctx, _id: &str, prior: &Value) -> Result<()> {
        let Ok((b, k)) = Object::located(prior) else {
            return Ok(());
        };
        let req = cx.clients.s3.delete_object().bucket(b).key(k);
        delete_call(cx, "s3:DeleteObject", None, || req.clone().send()).await
    }
}
