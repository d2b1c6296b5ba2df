//! Configuration in source form: the blocks of an environment and the modules it calls.
//!
//! [`load`] reads every `*.hcl` file of a root directory (an environment), then, recursively, the
//! local modules its `module` blocks call, and returns a [`Config`]: a flat list of static
//! [`Module`]s (index = [`ModuleId`], the root is 0) holding unevaluated expressions with spans.
//!
//! **Architecture invariants:**
//! - `config` knows nothing about providers, AWS or state: it checks the *language* (which blocks
//!   and meta-arguments exist, duplicates, module sources), never the meaning of a resource.
//! - Loading never stops at the first error: it returns whatever it could load plus every
//!   diagnostic, each with file:line:column.
//! - Files named `*.vars.hcl` are variable-value files, not configuration (see [`vars`]).

mod base;
mod blocks;
pub mod heredoc;
mod load;
pub mod source;
mod syntax;
pub mod vars;

use load::{Loader, TOP_LEVEL_BLOCKS, label_str, span_of};
pub use load::{hcl_files, load, parse_file};
pub use syntax::{is_identifier, literal_string, parse_type, traversal_string};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::edit::Span as _;
use hcl::edit::expr::{Expression, TraversalOperator};
use hcl::edit::structure::{Block, BlockLabel, Body as HclBody, Structure};
use indexmap::IndexMap;

use crate::addr::ResourceMode;
use crate::diag::{Diagnostic, Diagnostics, FileId, Sources, Span, closest};
use crate::value::Type;

/// An expression and the file it came from.
#[derive(Clone, Debug)]
pub struct Expr {
    pub file: FileId,
    pub expr: Expression,
}

impl Expr {
    pub fn span(&self) -> Option<Span> {
        self.expr.span().map(|r| Span::new(self.file, r))
    }
}

/// A body of attributes and nested blocks (resource bodies, provider blocks, module arguments).
#[derive(Clone, Debug, Default)]
pub struct Body {
    pub attrs: IndexMap<String, Attr>,
    pub blocks: Vec<NestedBlock>,
}

#[derive(Clone, Debug)]
pub struct Attr {
    pub name: String,
    pub name_span: Span,
    pub expr: Expr,
}

#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub kind: String,
    pub labels: Vec<String>,
    pub body: Body,
    pub span: Span,
}

/// Index of a static module in [`Config::modules`].
pub type ModuleId = usize;

#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub ty: Type,
    pub default: Option<Expr>,
    pub description: Option<String>,
    pub sensitive: bool,
    pub nullable: bool,
    pub validations: Vec<Validation>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Validation {
    pub condition: Expr,
    pub error_message: Expr,
}

#[derive(Clone, Debug)]
pub struct Local {
    pub name: String,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Output {
    pub name: String,
    pub expr: Expr,
    pub description: Option<String>,
    pub sensitive: bool,
    pub depends_on: Vec<Expr>,
    pub span: Span,
}

/// Expansion of a resource or module call.
#[derive(Clone, Debug)]
pub enum Repetition {
    Single,
    Count(Expr),
    ForEach(Expr),
}

#[derive(Clone, Debug)]
pub struct ModuleCall {
    pub name: String,
    pub source: String,
    pub source_span: Span,
    /// Input variables of the child module.
    pub args: IndexMap<String, Attr>,
    pub repetition: Repetition,
    pub depends_on: Vec<Expr>,
    /// The called module (None when it failed to load).
    pub child: Option<ModuleId>,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    pub create_before_destroy: bool,
    pub prevent_destroy: bool,
    /// Attribute names whose drift or change is ignored; `ignore_all` for `ignore_changes = all`.
    pub ignore_changes: Vec<String>,
    pub ignore_all: bool,
}

#[derive(Clone, Debug)]
pub struct Resource {
    pub mode: ResourceMode,
    pub rtype: String,
    pub name: String,
    /// The body without meta-arguments.
    pub body: Body,
    pub repetition: Repetition,
    pub depends_on: Vec<Expr>,
    pub provider: Option<String>,
    pub lifecycle: Lifecycle,
    pub span: Span,
}

impl Resource {
    /// `type.name` or `data.type.name`.
    pub fn local_name(&self) -> String {
        match self.mode {
            ResourceMode::Managed => format!("{}.{}", self.rtype, self.name),
            ResourceMode::Data => format!("data.{}.{}", self.rtype, self.name),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProviderBlock {
    pub name: String,
    pub alias: Option<String>,
    pub body: Body,
    pub span: Span,
}

/// `moved { from = …, to = … }`: a rename that state follows instead of destroy + create.
#[derive(Clone, Debug)]
pub struct Moved {
    pub from: String,
    pub to: String,
    pub span: Span,
}

/// The `slipway { … }` blocks of the root module.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Every constraint must hold (one per `slipway` block that sets it).
    pub required_version: Vec<(String, Span)>,
    /// `extends = "<directory>"`: the base whose files are part of this root module.
    pub extends: Option<Extends>,
    pub backend: Option<BackendBlock>,
    /// `encryption { … }`: state encryption at rest (read by `backend::settings`).
    pub encryption: Option<EncryptionBlock>,
}

/// `extends = "<directory>"` in an environment's `slipway` block: the `*.hcl` files of that
/// directory (relative to the file that says it) are read as files of the environment.
#[derive(Clone, Debug)]
pub struct Extends {
    pub path: String,
    pub span: Span,
    /// The base directory, canonical; None until loaded, and when it could not be.
    pub dir: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct EncryptionBlock {
    pub body: Body,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct BackendBlock {
    pub kind: String,
    pub body: Body,
    pub span: Span,
}

/// One static module: a directory of `*.hcl` files.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// Call names from the root (empty for the root module).
    pub path: Vec<String>,
    pub dir: PathBuf,
    pub variables: IndexMap<String, Variable>,
    pub locals: IndexMap<String, Local>,
    pub outputs: IndexMap<String, Output>,
    pub module_calls: IndexMap<String, ModuleCall>,
    /// Keyed by [`Resource::local_name`].
    pub resources: IndexMap<String, Resource>,
    pub providers: Vec<ProviderBlock>,
    pub moved: Vec<Moved>,
    pub settings: Settings,
}

/// Every module of an environment, the root first.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub modules: Vec<Module>,
    /// Git module sources and the commit each resolved to (also in the lock file).
    pub git_sources: BTreeMap<String, String>,
}

impl Config {
    pub fn root(&self) -> &Module {
        &self.modules[0]
    }

    /// The module a call in `module` leads to.
    pub fn child(&self, module: ModuleId, call: &str) -> Option<ModuleId> {
        self.modules[module].module_calls.get(call)?.child
    }

    /// `module` and every module it calls, directly or not.
    pub fn subtree(&self, module: ModuleId) -> Vec<ModuleId> {
        let mut out = vec![module];
        let mut i = 0;
        while i < out.len() {
            let m = out[i];
            out.extend(self.modules[m].module_calls.values().filter_map(|c| c.child));
            i += 1;
        }
        out
    }
}
