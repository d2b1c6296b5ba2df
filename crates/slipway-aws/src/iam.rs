//! IAM: aws_iam_role, aws_iam_role_policy, aws_iam_instance_profile.
//!
//! IAM names are unique per account: these types adopt by name (checking the ownership tags
//! where the object has them) rather than by tag search.
//!
//! Refresh cost: roles and their inline policies come from one paginated
//! GetAccountAuthorizationDetails(Filter=Role), shared by both types; instance profiles from one
//! paginated ListInstanceProfiles. Policy documents are compared as canonical JSON (keys sorted,
//! no whitespace; `canonical_json`, which the S3 and VPC endpoint policies use too).
//!
//! Delete ordering AWS enforces and moto may not: a role cannot be deleted while it has inline
//! policies or sits in an instance profile (DeleteConflict).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::create_instance_profile::builders::CreateInstanceProfileFluentBuilder as NewProfile;
use aws_sdk_iam::operation::create_role::builders::CreateRoleFluentBuilder as NewRole;
use aws_sdk_iam::operation::get_instance_profile::GetInstanceProfileOutput;
use aws_sdk_iam::operation::get_role::GetRoleOutput;
use aws_sdk_iam::types::{InstanceProfile as AwsProfile, PolicyDetail, RoleDetail};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::client::to_provider_error;
use super::declare::{
    Field, Identity, Naming, Refresh, TagApi, build, create_call, declared, delete_call, iam_tags,
    observed, updater,
};
use super::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, Result, changed, str_attr, text, vstr,
    wanted,
};
use super::tags::{ADDRESS_TAG, STACK_TAG, Tags};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(Role), Box::new(RolePolicy), Box::new(InstanceProfile)]
}

/// JSON with sorted keys and no whitespace; the input unchanged when it is not JSON.
pub(crate) fn canonical_json(s: &str) -> String {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) => sort(v).to_string(),
        Err(_) => s.to_string(),
    }
}

/// IAM returns policy documents URL-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A policy document as IAM lists it, in canonical form.
fn policy_document(d: Option<&str>) -> Value {
    vstr(d.map(|d| canonical_json(&percent_decode(d))).as_deref())
}

fn canonical_attr(a: &mut Attrs, k: &str) {
    if let Some(s) = a.get(k).and_then(|v| v.as_str().map(canonical_json)) {
        let sensitive = a.get(k).is_some_and(Value::is_sensitive);
        a.insert(k.to_string(), Value::string(s).mark_if(sensitive));
    }
}

fn iam_tag_map(tags: &[aws_sdk_iam::types::Tag]) -> Tags {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// An IAM path: set at creation only.
fn iam_path() -> A {
    A::optional(Type::String).force_new().default(Value::string("/"))
}

/// Whether tags found on an object say it is this stack's object at the wanted address.
pub(crate) fn owned_by(cx: &Ctx, found: &Tags, wanted: &Tags) -> bool {
    found.get(STACK_TAG) == Some(&cx.stack_id) && found.get(ADDRESS_TAG) == wanted.get(ADDRESS_TAG)
}

/// Adoption by name (IAM names are unique per account): `name` when IAM holds an object under
/// it (read by `get`, its tags taken from the answer by `tags_of`) whose tags say it is this
/// stack's object at this address; None when IAM holds none; an error when it is another's.
async fn adopt_by_name<T, E, F, Fut>(
    cx: &Ctx,
    api: &str,
    kind: &str,
    name: &str,
    tags: &Tags,
    get: F,
    tags_of: fn(&T) -> Tags,
) -> Result<Option<String>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let found = match cx.clients.call(api, get).await {
        Ok(r) => tags_of(&r),
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(to_provider_error(api, e)),
    };
    if owned_by(cx, &found, tags) {
        Ok(Some(name.to_string()))
    } else {
        Err(ProviderError::fatal(format!(
            "IAM {kind} {name} exists and is not this stack's {} (tags {found:?})",
            tags.get(ADDRESS_TAG).cloned().unwrap_or_default()
        )))
    }
}

/// Collects every page of an IAM list (marker-paginated: `IsTruncated` says more follow).
macro_rules! iam_pages {
    ($cx:expr, $api:literal, $build:expr, $items:ident) => {{
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = $cx.clients.run($api, || $build.set_marker(marker.clone()).send()).await?;
            out.extend(resp.$items().iter().cloned());
            match (resp.is_truncated(), resp.marker()) {
                (true, Some(m)) => marker = Some(m.to_string()),
                _ => break,
            }
        }
        out
    }};
}

/// Every role with inline policies and tags: one paginated call, shared in a refresh by roles
/// and role policies.
async fn role_details(cx: &Ctx) -> Result<Arc<Vec<RoleDetail>>> {
    cx.shared("iam:GetAccountAuthorizationDetails", || async {
        let iam = &cx.clients.iam;
        Ok(iam_pages!(
            cx,
            "iam:GetAccountAuthorizationDetails",
            iam.get_account_authorization_details().filter(aws_sdk_iam::types::EntityType::Role),
            role_detail_list
        ))
    })
    .await
}

// ---------------------------------------------------------------------------------------------

pub struct Role;

impl Role {
    fn shape() -> Vec<Field<RoleDetail, NewRole>> {
        type F = Field<RoleDetail, NewRole>;
        vec![
            F::attr("name", A::optional_computed(Type::String).force_new())
                .read_str(RoleDetail::role_name),
            F::attr("path", iam_path())
                .read_str(RoleDetail::path)
                .write(|b, v| b.set_path(text(v))),
            F::attr("assume_role_policy", A::required(Type::String))
                .by(updater!("iam:UpdateAssumeRolePolicy", Role::update_trust))
                .read(|r| policy_document(r.assume_role_policy_document()))
                .write(|b, v| b.set_assume_role_policy_document(text(v))),
            // Not in GetAccountAuthorizationDetails' answer.
            F::attr("description", A::optional(Type::String).force_new())
                .write(|b, v| b.set_description(text(v))),
            F::computed("arn", RoleDetail::arn),
            F::computed("unique_id", RoleDetail::role_id),
        ]
    }

    async fn update_trust(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        if changed(prior, planned, "assume_role_policy")
            && let Some(doc) = str_attr(planned, "assume_role_policy")
        {
            let req = cx.clients.iam.update_assume_role_policy().role_name(id).policy_document(doc);
            cx.clients.run("iam:UpdateAssumeRolePolicy", || req.clone().send()).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for Role {
    declared!(
        "aws_iam_role",
        "An IAM role (e.g. a node's instance role).",
        Role::shape(),
        tags: TagApi::IamRole,
        identity: Identity::UniqueKey,
        refresh: Refresh::ByIds,
    );
    fn normalize(&self, a: &mut Attrs) {
        canonical_attr(a, "assume_role_policy");
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let shape = Role::shape();
        let obs = |r: &RoleDetail| {
            let name = r.role_name()?;
            let tags = iam_tag_map(r.tags());
            if !wanted(cx, q, name, &tags) {
                return None;
            }
            observed(cx, &shape, r, Some(name), Some(tags))
        };
        Ok(role_details(cx).await?.iter().filter_map(obs).collect())
    }
    async fn find_existing(&self, cx: &Ctx, c: Create<'_>) -> Result<Option<String>> {
        let name = Naming::Iam.name(&c);
        let req = cx.clients.iam.get_role().role_name(&name);
        let tags_of =
            |r: &GetRoleOutput| r.role().map(|r| iam_tag_map(r.tags())).unwrap_or_default();
        adopt_by_name(cx, "iam:GetRole", "role", &name, c.tags, || req.clone().send(), tags_of)
            .await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let name = Naming::Iam.name(&c);
        let new = cx.clients.iam.create_role().role_name(name).set_tags(Some(iam_tags(c.tags)));
        let req = build(&Role::shape(), new, c.planned);
        create_call(cx, "iam:CreateRole", || req.clone().send(), |o| Some(o.role()?.role_name()))
            .await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.iam.delete_role().role_name(id);
        delete_call(cx, "iam:DeleteRole", None, || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

/// An inline policy; id `role:name`. Untagged (IAM inline policies have no tags).
pub struct RolePolicy;

/// An inline policy as GetAccountAuthorizationDetails lists it, under its role.
struct Inline {
    role: String,
    policy: PolicyDetail,
}

impl RolePolicy {
    fn shape() -> Vec<Field<Inline>> {
        type F = Field<Inline>;
        vec![
            F::attr("role", A::required(Type::String).force_new()).read(|i| Value::string(&i.role)),
            F::attr("name", A::required(Type::String).force_new())
                .read(|i| Value::string(i.policy.policy_name().unwrap_or(""))),
            F::attr("policy", A::required(Type::String))
                .by(updater!("iam:PutRolePolicy", RolePolicy::put_policy))
                .read(|i| policy_document(i.policy.policy_document())),
        ]
    }

    /// `role:name`, from a planned or prior value; None while either is unset.
    fn id_of(v: &Value) -> Option<String> {
        Some(format!("{}:{}", str_attr(v, "role")?, str_attr(v, "name")?))
    }

    async fn put_policy(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        // Adopting a policy AWS already holds as planned (a resumed create) changes nothing.
        if !changed(prior, planned, "policy") {
            return Ok(());
        }
        let (role, name) = id.split_once(':').unwrap_or((id, ""));
        let doc = str_attr(planned, "policy").unwrap_or_default();
        let req = cx.clients.iam.put_role_policy().role_name(role).policy_name(name);
        let req = req.policy_document(doc);
        cx.clients.run("iam:PutRolePolicy", || req.clone().send()).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for RolePolicy {
    declared!(
        "aws_iam_role_policy",
        "An inline policy of a role.",
        RolePolicy::shape(),
        tags: TagApi::None,
        // The policy the role already has under this name (its id is derived from both). For
        // creates, adopting it and updating is the same PutRolePolicy as creating again; for
        // `state recover` it is how the policy is found at all.
        identity: Identity::Derived(RolePolicy::id_of),
    );
    fn normalize(&self, a: &mut Attrs) {
        canonical_attr(a, "policy");
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let Query::Ids(ids) = q else {
            return Ok(Vec::new());
        };
        let shape = RolePolicy::shape();
        let mut out = Vec::new();
        for r in role_details(cx).await?.iter() {
            let Some(role) = r.role_name() else { continue };
            for p in r.role_policy_list() {
                let Some(name) = p.policy_name() else { continue };
                let id = format!("{role}:{name}");
                if ids.contains(&id) {
                    let inline = Inline { role: role.to_string(), policy: p.clone() };
                    out.extend(observed(cx, &shape, &inline, Some(&id), None));
                }
            }
        }
        Ok(out)
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let id = RolePolicy::id_of(c.planned);
        let id = id.ok_or_else(|| ProviderError::fatal("role and name are required"))?;
        self.update(cx, &id, &Value::Null, c.planned).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let (role, name) = id.split_once(':').unwrap_or((id, ""));
        let req = cx.clients.iam.delete_role_policy().role_name(role).policy_name(name);
        delete_call(cx, "iam:DeleteRolePolicy", None, || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

pub struct InstanceProfile;

impl InstanceProfile {
    fn shape() -> Vec<Field<AwsProfile, NewProfile>> {
        type F = Field<AwsProfile, NewProfile>;
        vec![
            F::attr("name", A::optional_computed(Type::String).force_new())
                .read_str(|p| Some(p.instance_profile_name())),
            F::attr("path", iam_path())
                .read(|p| Value::string(p.path()))
                .write(|b, v| b.set_path(text(v))),
            F::attr("role", A::optional(Type::String))
                .by(updater!("iam:AddRoleToInstanceProfile", InstanceProfile::set_role))
                .read_str(|p| p.roles().first().map(|r| r.role_name())),
            F::attr("arn", A::computed(Type::String)).read(|p| Value::string(p.arn())),
        ]
    }

    async fn set_role(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        let (old, new) = (str_attr(prior, "role"), str_attr(planned, "role"));
        if old == new {
            return Ok(());
        }
        let iam = &cx.clients.iam;
        if let Some(old) = old {
            let req = iam.remove_role_from_instance_profile().instance_profile_name(id);
            let req = req.role_name(old);
            delete_call(cx, "iam:RemoveRoleFromInstanceProfile", None, || req.clone().send())
                .await?;
        }
        if let Some(new) = new {
            let req = iam.add_role_to_instance_profile().instance_profile_name(id).role_name(new);
            cx.clients.run("iam:AddRoleToInstanceProfile", || req.clone().send()).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for InstanceProfile {
    declared!(
        "aws_iam_instance_profile",
        "An instance profile carrying one role.",
        InstanceProfile::shape(),
        tags: TagApi::IamInstanceProfile,
        identity: Identity::UniqueKey,
        refresh: Refresh::ByIdsTagsUnlisted,
    );
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let Query::Ids(ids) = q else {
            return Ok(Vec::new());
        };
        let list = cx.clients.iam.list_instance_profiles();
        let listed = iam_pages!(cx, "iam:ListInstanceProfiles", list.clone(), instance_profiles);
        let shape = InstanceProfile::shape();
        let obs = |p: &AwsProfile| {
            let name = p.instance_profile_name();
            let asked = ids.iter().any(|i| i == name);
            // ListInstanceProfiles does not return tags (Refresh::ByIdsTagsUnlisted).
            asked.then(|| observed(cx, &shape, p, Some(name), None))?
        };
        Ok(listed.iter().filter_map(obs).collect())
    }
    async fn find_existing(&self, cx: &Ctx, c: Create<'_>) -> Result<Option<String>> {
        let name = Naming::Iam.name(&c);
        let req = cx.clients.iam.get_instance_profile().instance_profile_name(&name);
        let tags_of = |r: &GetInstanceProfileOutput| {
            r.instance_profile().map(|p| iam_tag_map(p.tags())).unwrap_or_default()
        };
        let (api, get) = ("iam:GetInstanceProfile", || req.clone().send());
        adopt_by_name(cx, api, "instance profile", &name, c.tags, get, tags_of).await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let name = Naming::Iam.name(&c);
        let new = cx.clients.iam.create_instance_profile().instance_profile_name(name);
        let req = build(&Self::shape(), new.set_tags(Some(iam_tags(c.tags))), c.planned);
        let id = create_call(
            cx,
            "iam:CreateInstanceProfile",
            || req.clone().send(),
            |o| Some(o.instance_profile()?.instance_profile_name()),
        );
        let id = id.await?;
        self.update(cx, &id, &Value::Null, c.planned).await?;
        Ok(id)
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<()> {
        // AWS refuses to delete a profile that still holds a role (DeleteConflict).
        self.update(cx, id, prior, &Value::Null).await?;
        let req = cx.clients.iam.delete_instance_profile().instance_profile_name(id);
        delete_call(cx, "iam:DeleteInstanceProfile", None, || req.clone().send()).await
    }
}
