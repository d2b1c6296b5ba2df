//! What a resource type declares instead of writing: its fields, its tag API, its identity.
//!
//! A type lists each field once ([`Field`]): name, value type, required/optional/computed,
//! default (all in its [`AttributeSchema`]), how a change to it is applied ([`Change`]):
//! force-new, or a named [`Updater`] — the narrow API call that changes it in place —, how
//! it is read from the SDK's shape of an object ([`Read`]) and how the create request carries
//! it ([`Field::write`]). The published schema ([`schema_of`]), the planned object's defaults
//! ([`fill_defaults`]), the plan's force-new decision (through the schema), the read mapping
//! ([`observed`]), the create request ([`build`]) and the update dispatch ([`run_updaters`])
//! all come from that list. A type names its shape and its create request once
//! (`type F = Field<aws_sdk_ec2::types::Vpc, CreateVpcFluentBuilder>;`), so every reader and
//! writer is checked against the SDK types by the compiler; the provider table publishes the
//! fields without them ([`erase`]).
//!
//! Tags go through one of five tag APIs ([`TagApi`]); how an earlier attempt's object is found
//! again is one of four rules ([`Identity`]); a refresh reads by tag or by id ([`Refresh`]); a
//! default name is derived by one of three rules ([`Naming`]). `declared!` states a type's
//! name, description, fields, tag API, identity and refresh in one place. A create is one call ([`create_call`]); deletes
//! that AWS refuses while a dependency is released are retried by one loop ([`delete_call`],
//! [`remove_call`]); a wait for a state is a [`Goal`] ([`wait_status`]).
//!
//! **Invariants:** every settable field of every type is force-new or has an updater (tested
//! over the whole table in `tests.rs`, and each type's create, no-op plan, in-place change,
//! refresh and delete against the emulator in `lifecycle_table.rs`); updaters run in the order
//! their first field is declared, each at most once per update, and decide themselves whether a
//! call is needed (so the calls an update makes are those its updaters make, no more). A field
//! AWS does not report is [`Read::Unread`] and keeps the value state holds.

use std::pin::Pin;
use std::time::Instant;

use aws_sdk_ec2::types::Tag;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::client::to_provider_error;
use super::resource::{Attrs, Create, Ctx, Observed, gone_ok, str_attr, vstr};
use super::tags::{NAME_TAG, Tags};
use crate::provider::{AttributeSchema, BlockNesting, ProviderError, Schema};
use crate::value::Value;

/// A future an updater returns (Send: the provider runs on a multi-threaded runtime).
pub type UpdateFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ProviderError>> + Send + 'a>>;

/// Applies a change in place: `(cx, id, prior, planned)`. `prior` is `Value::Null` when a
/// create applies what its create call cannot set.
pub type UpdateFn = for<'a> fn(&'a Ctx, &'a str, &'a Value, &'a Value) -> UpdateFuture<'a>;

/// One narrow update: the API it calls (for reading and for the table test) and the function.
#[derive(Clone, Copy)]
pub struct Updater {
    pub api: &'static str,
    pub run: UpdateFn,
}

/// Names an async `fn(&Ctx, &str, &Value, &Value) -> Result<(), ProviderError>` as an updater.
macro_rules! updater {
    ($api:literal, $f:path) => {
        $crate::declare::Updater {
            api: $api,
            run: |cx, id, prior, planned| Box::pin($f(cx, id, prior, planned)),
        }
    };
}
pub(crate) use updater;

/// How a change to a field is applied.
#[derive(Clone, Copy)]
pub enum Change {
    /// Set by AWS only.
    Computed,
    /// A change replaces the object.
    ForceNew,
    /// A change is applied in place by this updater.
    Update(Updater),
    /// Read by slipway only (`force_destroy`): a change is recorded in state, AWS is not asked.
    StateOnly,
    /// Settable but neither: a declaration error the table test reports.
    Undeclared,
}

#[derive(Clone)]
pub enum FieldKind {
    Attr(AttributeSchema),
    Block { nesting: BlockNesting, block: Schema },
}

/// How a field is read from `S`, the SDK's shape of one object (`aws_sdk_ec2::types::Vpc`).
pub enum Read<S> {
    /// AWS does not report it in a batched read (user data, a VPC's DNS attributes): the
    /// value state holds stays.
    Unread,
    Shape(fn(&S) -> Value),
    /// A string (`None` and "" read as null).
    Str(fn(&S) -> Option<&str>),
    /// Needs the context too (an ARN built from the region).
    WithCtx(fn(&Ctx, &S) -> Value),
}

impl<S> Clone for Read<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for Read<S> {}

/// Sets a field's planned value on `B`, the SDK's create request (`|b, v| b.set_cidr_block(text(v))`).
pub type Write<B> = fn(B, &Value) -> B;

/// One field of a resource type. `S` is the SDK shape its value is read from and `B` the
/// create request it is written to (`()` where the type reads or creates by hand, and in the
/// erased form the provider table publishes).
pub struct Field<S = (), B = ()> {
    pub name: &'static str,
    pub kind: FieldKind,
    pub change: Change,
    pub read: Read<S>,
    /// How the create request carries it; None when create cannot set it (an updater applies
    /// it after the create call) or AWS sets it.
    pub write: Option<Write<B>>,
    /// A change AWS refuses to apply in place in some direction (a volume shrinking): when
    /// this holds for (prior, planned) the plan replaces the object instead ([`replacing`]).
    pub replace_if: Option<fn(&Value, &Value) -> bool>,
}

impl<S, B> Clone for Field<S, B> {
    fn clone(&self) -> Self {
        Field {
            name: self.name,
            kind: self.kind.clone(),
            change: self.change,
            read: self.read,
            write: self.write,
            replace_if: self.replace_if,
        }
    }
}

/// The trait items every type spells alike, as one declaration (used inside `impl
/// ResourceType`): `name`, `description`, and `fields`, the erased form of the declaration
/// `shape`; then, where they differ from the defaults, `tags:` its [`TagApi`] (default EC2),
/// `identity:` its [`Identity`] (default: found again by its tags) and `refresh:` its
/// [`Refresh`] (default: by the stack tag, then by id).
macro_rules! declared {
    ($name:literal, $description:literal, $shape:expr $(, $key:ident: $value:expr)* $(,)?) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn description(&self) -> &'static str {
            $description
        }
        fn fields(&self) -> Vec<$crate::declare::Field> {
            $crate::declare::erase(&$shape)
        }
        $($crate::declare::declared!(@$key $value);)*
    };
    (@tags $v:expr) => {
        fn tag_api(&self) -> $crate::declare::TagApi {
            $v
        }
    };
    (@identity $v:expr) => {
        fn identity(&self) -> $crate::declare::Identity {
            $v
        }
    };
    (@refresh $v:expr) => {
        fn refresh(&self) -> $crate::declare::Refresh {
            $v
        }
    };
}
pub(crate) use declared;

/// An attribute; its change follows from the schema (computed only, or `force_new`) unless
/// [`Field::by`] names an updater.
pub fn attr(name: &'static str, a: AttributeSchema) -> Field {
    Field::attr(name, a)
}

/// A nested block applied in place (by the updater [`Field::by`] names).
pub fn block(name: &'static str, nesting: BlockNesting, block: Schema) -> Field {
    Field::block(name, nesting, block)
}

/// A nested block whose change replaces the object.
pub fn block_force_new(name: &'static str, nesting: BlockNesting, b: Schema) -> Field {
    Field::block(name, nesting, b).force_new()
}

/// The constructors, for a type that names its shape once (`type F = Field<Vpc>;`) so that
/// every reader's argument has that type.
impl<S, B> Field<S, B> {
    /// An attribute; its change follows from the schema (computed only, or `force_new`)
    /// unless [`Field::by`] names an updater.
    pub fn attr(name: &'static str, a: AttributeSchema) -> Self {
        let change = if a.force_new {
            Change::ForceNew
        } else if a.computed && !a.optional && !a.required {
            Change::Computed
        } else {
            Change::Undeclared
        };
        let (read, write, replace_if) = (Read::Unread, None, None);
        Field { name, kind: FieldKind::Attr(a), change, read, write, replace_if }
    }

    /// A computed string AWS reports, read by `f`: the commonest field of all.
    pub fn computed(name: &'static str, f: fn(&S) -> Option<&str>) -> Self {
        Self::attr(name, AttributeSchema::computed(crate::value::Type::String)).read_str(f)
    }

    /// A nested block applied in place (by the updater [`Field::by`] names).
    pub fn block(name: &'static str, nesting: BlockNesting, block: Schema) -> Self {
        Field {
            name,
            kind: FieldKind::Block { nesting, block },
            change: Change::Undeclared,
            read: Read::Unread,
            write: None,
            replace_if: None,
        }
    }

    /// A change to it replaces the object (for blocks; attributes say so in their schema).
    pub fn force_new(mut self) -> Self {
        self.change = Change::ForceNew;
        self
    }
}

impl<S, B> Field<S, B> {
    /// Changed in place by `u`.
    pub fn by(mut self, u: Updater) -> Self {
        self.change = Change::Update(u);
        self
    }

    /// Changed in state only: AWS does not hold it.
    pub fn state_only(mut self) -> Self {
        self.change = Change::StateOnly;
        self
    }

    /// Read from the object's SDK shape by `f`.
    pub fn read(mut self, f: fn(&S) -> Value) -> Self {
        self.read = Read::Shape(f);
        self
    }

    /// Read by `f`, which needs the context.
    pub fn read_cx(mut self, f: fn(&Ctx, &S) -> Value) -> Self {
        self.read = Read::WithCtx(f);
        self
    }

    /// Changed in place, except where `f(prior, planned)` holds: then replaced (what AWS
    /// refuses in place, such as a smaller volume, is planned as the replacement it needs
    /// rather than failing at apply).
    pub fn replaces_if(mut self, f: fn(&Value, &Value) -> bool) -> Self {
        self.replace_if = Some(f);
        self
    }

    /// Read as a string (`None` and "" read as null) by `f`.
    pub fn read_str(mut self, f: fn(&S) -> Option<&str>) -> Self {
        self.read = Read::Str(f);
        self
    }

    /// Set on the create request by `f`, from the planned value (null when unset).
    pub fn write(mut self, f: Write<B>) -> Self {
        self.write = Some(f);
        self
    }

    /// The field without its reader and writer: the form the provider table publishes.
    pub fn erase(&self) -> Field {
        Field {
            name: self.name,
            kind: self.kind.clone(),
            change: self.change,
            read: Read::Unread,
            write: None,
            replace_if: self.replace_if,
        }
    }
}

/// The create request `b` with every field that has a writer set from `planned`.
pub fn build<S, B>(fields: &[Field<S, B>], b: B, planned: &Value) -> B {
    fields.iter().fold(b, |b, f| match f.write {
        Some(w) => w(b, &planned.get_attr(f.name).unwrap_or(Value::Null)),
        None => b,
    })
}
/// The schema the fields describe.
pub fn schema_of(fields: &[Field]) -> Schema {
    fields.iter().fold(Schema::new(), |s, f| match &f.kind {
        FieldKind::Attr(a) => s.attr(f.name, a.clone()),
        FieldKind::Block { nesting, block } => match f.change {
            Change::ForceNew => s.block_force_new(f.name, *nesting, block.clone()),
            _ => s.block(f.name, *nesting, block.clone()),
        },
    })
}

/// Fills every field the plan leaves null with its declared default.
pub fn fill_defaults(fields: &[Field], a: &mut Attrs) {
    for f in fields {
        if let FieldKind::Attr(s) = &f.kind
            && let Some(d) = &s.default
            && a.get(f.name).is_none_or(Value::is_null)
        {
            a.insert(f.name.to_string(), d.clone());
        }
    }
}

/// The published form of typed fields.
pub fn erase<S, B>(fields: &[Field<S, B>]) -> Vec<Field> {
    fields.iter().map(Field::erase).collect()
}

/// The attributes `fields` read from `s` (unread fields are left out: state keeps them).
pub fn read_fields<S, B>(cx: &Ctx, fields: &[Field<S, B>], s: &S) -> Attrs {
    fields
        .iter()
        .filter_map(|f| {
            let v = match f.read {
                Read::Unread => return None,
                Read::Shape(r) => r(s),
                Read::Str(r) => vstr(r(s)),
                Read::WithCtx(r) => r(cx, s),
            };
            Some((f.name.to_string(), v))
        })
        .collect()
}

/// One object as observed: what `fields` read from it, under `id` (None: AWS listed an object
/// without one, which is skipped), with its tags (None for types that carry none).
pub fn observed<S, B>(
    cx: &Ctx,
    fields: &[Field<S, B>],
    s: &S,
    id: Option<&str>,
    tags: Option<Tags>,
) -> Option<Observed> {
    Some(Observed {
        id: id.filter(|i| !i.is_empty())?.to_string(),
        attrs: read_fields(cx, fields, s),
        tags,
    })
}

/// One create call: `f` builds and sends the request (afresh for each attempt) and `id` finds
/// the new object's id in the answer, whose absence is AWS breaking its own contract.
pub async fn create_call<T, E, F, Fut>(
    cx: &Ctx,
    api: &str,
    f: F,
    id: impl FnOnce(&T) -> Option<&str>,
) -> Result<String, ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let out = cx.clients.run(api, f).await?;
    returned_id(api, id(&out))
}

/// The id a create call returned; its absence is AWS breaking its own contract.
pub fn returned_id(api: &str, id: Option<&str>) -> Result<String, ProviderError> {
    id.filter(|i| !i.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ProviderError::fatal(format!("{api} returned no id")))
}

/// The fields whose change from `prior` to `planned` needs a replacement although they are
/// changed in place otherwise ([`Field::replaces_if`]); values not yet known count as no change.
pub fn replacing(fields: &[Field], prior: &Value, planned: &Value) -> Vec<String> {
    let known = |v: Option<Value>| v.filter(|v| !v.is_null() && !v.contains_unknown());
    let replaces = |f: &&Field| match (f.replace_if, known(prior.get_attr(f.name))) {
        (Some(r), Some(old)) => known(planned.get_attr(f.name)).is_some_and(|new| r(&old, &new)),
        _ => false,
    };
    fields.iter().filter(replaces).map(|f| f.name.to_string()).collect()
}

/// The updaters of `fields`, each once, in the order of their first field.
pub fn updaters(fields: &[Field]) -> Vec<Updater> {
    let mut out: Vec<Updater> = Vec::new();
    for f in fields {
        if let Change::Update(u) = f.change
            && !out.iter().any(|o| o.api == u.api)
        {
            out.push(u);
        }
    }
    out
}

/// Runs every updater of `fields`; each decides from prior and planned whether to call.
pub async fn run_updaters(
    fields: &[Field],
    cx: &Ctx,
    id: &str,
    prior: &Value,
    planned: &Value,
) -> Result<(), ProviderError> {
    for u in updaters(fields) {
        (u.run)(cx, id, prior, planned).await?;
    }
    Ok(())
}

/// Which API carries a type's tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagApi {
    /// The type has no tags (associations, rules, attachments, inline policies, S3 objects).
    None,
    /// EC2 CreateTags/DeleteTags on the id.
    Ec2,
    /// ELBv2 AddTags/RemoveTags on the ARN.
    Elbv2,
    /// IAM TagRole/UntagRole on the role name.
    IamRole,
    /// IAM TagInstanceProfile/UntagInstanceProfile on the profile name.
    IamInstanceProfile,
    /// S3 PutBucketTagging, which replaces the whole set (so it reads the set first).
    S3Bucket,
}

impl TagApi {
    /// Sets `set` and removes `delete` on object `id`.
    // Long because it is one `match` over every tag API, each arm the same two calls (remove,
    // then set) in that API's own shape.
    pub async fn update(
        self,
        cx: &Ctx,
        id: &str,
        set: &Tags,
        delete: &[String],
    ) -> Result<(), ProviderError> {
        let c = &cx.clients;
        // Removal first: a key both removed and set (never produced by `tag_diff`) ends set.
        match self {
            TagApi::None => {}
            TagApi::Ec2 => {
                let tag = |k: &String, v: Option<&String>| {
                    Tag::builder().key(k).set_value(v.cloned()).build()
                };
                if !delete.is_empty() {
                    let keys: Vec<Tag> = delete.iter().map(|k| tag(k, None)).collect();
                    c.run("ec2:DeleteTags", || {
                        c.ec2.delete_tags().resources(id).set_tags(Some(keys.clone())).send()
                    })
                    .await?;
                }
                if !set.is_empty() {
                    let tags: Vec<Tag> = set.iter().map(|(k, v)| tag(k, Some(v))).collect();
                    c.run("ec2:CreateTags", || {
                        c.ec2.create_tags().resources(id).set_tags(Some(tags.clone())).send()
                    })
                    .await?;
                }
            }
            TagApi::Elbv2 => {
                if !delete.is_empty() {
                    c.run("elbv2:RemoveTags", || {
                        c.elb
                            .remove_tags()
                            .resource_arns(id)
                            .set_tag_keys(Some(delete.to_vec()))
                            .send()
                    })
                    .await?;
                }
                if !set.is_empty() {
                    c.run("elbv2:AddTags", || {
                        c.elb.add_tags().resource_arns(id).set_tags(Some(elb_tags(set))).send()
                    })
                    .await?;
                }
            }
            TagApi::IamRole => {
                if !delete.is_empty() {
                    c.run("iam:UntagRole", || {
                        c.iam.untag_role().role_name(id).set_tag_keys(Some(delete.to_vec())).send()
                    })
                    .await?;
                }
                if !set.is_empty() {
                    c.run("iam:TagRole", || {
                        c.iam.tag_role().role_name(id).set_tags(Some(iam_tags(set))).send()
                    })
                    .await?;
                }
            }
            TagApi::IamInstanceProfile => {
                if !delete.is_empty() {
                    c.run("iam:UntagInstanceProfile", || {
                        c.iam
                            .untag_instance_profile()
                            .instance_profile_name(id)
                            .set_tag_keys(Some(delete.to_vec()))
                            .send()
                    })
                    .await?;
                }
                if !set.is_empty() {
                    c.run("iam:TagInstanceProfile", || {
                        c.iam
                            .tag_instance_profile()
                            .instance_profile_name(id)
                            .set_tags(Some(iam_tags(set)))
                            .send()
                    })
                    .await?;
                }
            }
            TagApi::S3Bucket => {
                let mut all = s3_bucket_tags(cx, id).await?.unwrap_or_default();
                for k in delete {
                    all.remove(k);
                }
                all.extend(set.clone());
                put_s3_bucket_tags(cx, id, &all).await?;
            }
        }
        Ok(())
    }
}

pub fn elb_tags(tags: &Tags) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_elasticloadbalancingv2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub fn iam_tags(tags: &Tags) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .filter_map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().ok())
        .collect()
}

/// A bucket's tags; None when the bucket is gone.
pub async fn s3_bucket_tags(cx: &Ctx, bucket: &str) -> Result<Option<Tags>, ProviderError> {
    let s3 = &cx.clients.s3;
    match cx
        .clients
        .call("s3:GetBucketTagging", || s3.get_bucket_tagging().bucket(bucket).send())
        .await
    {
        Ok(r) => Ok(Some(
            r.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
        )),
        Err(e) if e.code == "NoSuchTagSet" => Ok(Some(Tags::new())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(to_provider_error("s3:GetBucketTagging", e)),
    }
}

/// Replaces a bucket's whole tag set.
pub async fn put_s3_bucket_tags(cx: &Ctx, bucket: &str, tags: &Tags) -> Result<(), ProviderError> {
    let set: Vec<aws_sdk_s3::types::Tag> = tags
        .iter()
        .filter_map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build().ok())
        .collect();
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .set_tag_set(Some(set))
        .build()
        .map_err(|e| ProviderError::fatal(e.to_string()))?;
    let s3 = &cx.clients.s3;
    cx.clients
        .run("s3:PutBucketTagging", || {
            s3.put_bucket_tagging().bucket(bucket).tagging(tagging.clone()).send()
        })
        .await?;
    Ok(())
}

/// The default name of an object whose configuration sets none: its Name tag, cut to what the
/// API accepts, and a suffix from the client token. The token is the same for every attempt of
/// one create and new for a replacement, so a retried create asks for the same name and a
/// replacement, which lives beside its predecessor for a while, does not collide with it.
#[derive(Clone, Copy, Debug)]
pub enum Naming {
    /// ELBv2 (unique per account and region, at most 32 characters): letters and digits, any
    /// other character as `-`, at most 23 of them, then 8 hex digits of the token's SHA-256.
    Elb,
    /// IAM (unique per account, at most 64): letters, digits and `+=,.@_-`, others left out,
    /// at most 50, then 8 hex digits of the token's SHA-256.
    Iam,
    /// EC2 security groups (unique per VPC): the Name tag as it is, then the token's first 8
    /// letters or digits.
    SecurityGroup,
}

impl Naming {
    /// The planned `name`, else the derived default.
    pub fn name(self, c: &Create<'_>) -> String {
        str_attr(c.planned, "name").unwrap_or_else(|| self.derive(c.tags, c.token))
    }

    pub fn derive(self, tags: &Tags, token: &str) -> String {
        use sha2::Digest;
        let tag = tags.get(NAME_TAG).map(String::as_str);
        let hash = || hex::encode(sha2::Sha256::digest(token.as_bytes()))[..8].to_string();
        match self {
            Naming::Elb => {
                let dash = |c: char| if c.is_ascii_alphanumeric() { c } else { '-' };
                let base: String = tag.unwrap_or("slipway").chars().map(dash).take(23).collect();
                let base = Some(base.trim_matches('-')).filter(|b| !b.is_empty());
                format!("{}-{}", base.unwrap_or("slipway"), hash())
            }
            Naming::Iam => {
                let ok = |c: &char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c);
                let base: String = tag.unwrap_or("slipway").chars().filter(ok).take(50).collect();
                format!("{base}-{}", hash())
            }
            Naming::SecurityGroup => {
                let suffix: String =
                    token.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
                format!("{}-{suffix}", tag.unwrap_or(""))
            }
        }
    }
}

/// How a refresh finds the objects in state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// One batched read by the stack tag, then by id those the tag did not find (untagged
    /// objects, adopted ones).
    ByTagThenId,
    /// One read by the ids in state: for types whose every Describe lists the whole account
    /// (load balancers, target groups, IAM), where the default would list it twice.
    ByIds,
    /// By ids, from a listing that reports no tags (ListInstanceProfiles): the tags state
    /// holds stand, so tag drift on these is not seen (a Get per object would see it).
    ByIdsTagsUnlisted,
}

/// How the object an earlier attempt made (this run's, or an interrupted run's) is found
/// again, so that a create never makes a second one.
#[derive(Clone, Copy)]
pub enum Identity {
    /// By the stack and address tags it was created with.
    Tags,
    /// By a key AWS keeps unique (a role's or bucket's name, a listener's port, a subnet's
    /// association): the type's `find_existing`.
    UniqueKey,
    /// Its id is derived from its configuration (attachments, rules, inline policies): the
    /// object under that id is observed like a prior one. None when the id cannot be derived.
    Derived(fn(&Value) -> Option<String>),
    /// Its create overwrites whatever is there (PutObject, PutBucketPolicy): nothing to find.
    Overwrite,
}

/// Deletes with one call, `f` building and sending the request; an object already gone counts
/// as deleted. With `busy`, an answer with that code (a dependency still being released: ENIs
/// of terminated instances, a volume detaching, a target group a deleted listener still
/// references) is retried until the ready timeout. (moto never refuses.)
pub async fn delete_call<T, E, F, Fut>(
    cx: &Ctx,
    api: &str,
    busy: Option<&str>,
    f: F,
) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    remove_call(cx, api, busy, &[], f).await
}

/// A [`delete_call`] for a removal that is not a delete (a detach, a deregistration), where
/// AWS answers `done` codes ("Gateway.NotAttached", "InvalidTarget") when the goal is already
/// reached: those count as success too.
pub async fn remove_call<T, E, F, Fut>(
    cx: &Ctx,
    api: &str,
    busy: Option<&str>,
    done: &[&str],
    f: F,
) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let start = Instant::now();
    loop {
        match cx.clients.call(api, &f).await {
            Err(e)
                if Some(e.code.as_str()) == busy
                    && start.elapsed() < cx.clients.policy.ready_timeout =>
            {
                tracing::info!(api, code = %e.code, "dependency still in use; waiting before deleting again");
                tokio::time::sleep(cx.clients.policy.poll_interval).await;
            }
            Err(e) if done.contains(&e.code.as_str()) => return Ok(()),
            other => return gone_ok(api, other.map(|_| ())),
        }
    }
}

/// The id of an object AWS gives none (an attachment, a rule): `prefix-` and 16 hex digits of
/// the SHA-256 of `parts` joined by `|`. Stable: state holds these ids.
pub fn derived_id(prefix: &str, parts: &[&str]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(parts.join("|").as_bytes());
    format!("{prefix}-{}", &hex::encode(hash)[..16])
}

/// An object's state as AWS names it, with AWS's reason when it gives one; None when AWS lists
/// the object no more.
pub type Status = Option<(String, Option<String>)>;

/// What a wait ends on: the states that reach its goal, and those the goal cannot be reached
/// from. [`GONE`] stands for an object AWS lists no more.
pub struct Goal {
    /// The goal as messages name it ("available").
    pub name: &'static str,
    pub done: &'static [&'static str],
    /// The wait fails at once in these, with AWS's reason.
    pub fail: &'static [&'static str],
}

/// The state of an object AWS lists no more, in a [`Goal`].
pub const GONE: &str = "gone";

/// Polls `status` until the object reaches `goal`; `what` names it ("NAT gateway nat-1").
/// A state in `goal.fail` ends the wait with AWS's reason; the ready timeout ends it too.
pub async fn wait_status<F, Fut>(
    cx: &Ctx,
    what: &str,
    goal: Goal,
    status: F,
) -> Result<(), ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Status, ProviderError>>,
{
    wait_for(cx, &format!("{what} to be {}", goal.name), || async {
        let (state, why) = status().await?.unwrap_or_else(|| (GONE.to_string(), None));
        if goal.done.contains(&state.as_str()) {
            return Ok(Some(()));
        }
        if goal.fail.contains(&state.as_str()) {
            let why = why.unwrap_or_else(|| "AWS gives no reason".into());
            let goal = goal.name;
            return Err(ProviderError::fatal(format!(
                "{what} is {state} while waiting for it to be {goal}: {why}"
            )));
        }
        Ok(None)
    })
    .await
}

/// Polls `check` until it returns Some, or the ready timeout passes.
pub async fn wait_for<T, F, Fut>(cx: &Ctx, what: &str, check: F) -> Result<T, ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() >= cx.clients.policy.ready_timeout {
            return Err(ProviderError::fatal(format!(
                "timed out after {:?} waiting for {what}",
                cx.clients.policy.ready_timeout
            )));
        }
        tokio::time::sleep(cx.clients.policy.poll_interval).await;
    }
}
