//! The language's blocks: each top-level block (`slipway`, `variable`, `locals`, `output`,
//! `module`, `resource`, `data`, `provider`, `moved`) read into its model type, with the
//! meta-arguments (`count`, `for_each`, `depends_on`, `lifecycle`, `provider`) taken out of the
//! body and checked here.

use super::*;

impl Loader<'_> {
    pub(super) fn read_block(
        &mut self,
        file: FileId,
        b: &Block,
        module: &mut Module,
        is_root: bool,
    ) {
        let span = span_of(file, b);
        let kind = b.ident.as_str();
        match kind {
            "variable" => {
                let Some(l) = self.expect_labels(file, b, 1, "\"name\"") else {
                    return;
                };
                let v = self.read_variable(file, &l[0], b, span.clone());
                if let Some(first) = module.variables.get(&l[0]) {
                    self.duplicate("variable", &l[0], span, first.span.clone());
                } else {
                    module.variables.insert(l[0].clone(), v);
                }
            }
            "locals" => {
                let body = self.read_body(file, &b.body);
                for nb in &body.blocks {
                    self.err(
                        Diagnostic::error("blocks are not allowed in `locals`").at(nb.span.clone()),
                    );
                }
                for (name, attr) in body.attrs {
                    if let Some(first) = module.locals.get(&name) {
                        self.duplicate(
                            "local value",
                            &name,
                            attr.name_span.clone(),
                            first.span.clone(),
                        );
                        continue;
                    }
                    let span = attr.name_span.clone();
                    module.locals.insert(name.clone(), Local { name, expr: attr.expr, span });
                }
            }
            "output" => {
                let Some(l) = self.expect_labels(file, b, 1, "\"name\"") else {
                    return;
                };
                let mut body = self.read_body(file, &b.body);
                self.no_blocks(&body, "output");
                let Some(value) = body.attrs.shift_remove("value") else {
                    self.err(
                        Diagnostic::error(format!("output \"{}\" has no `value`", l[0]))
                            .at(span)
                            .hint("add `value = <expression>`"),
                    );
                    return;
                };
                let description = self.take_literal_string(&mut body, "description");
                let sensitive = self.take_literal_bool(&mut body, "sensitive").unwrap_or(false);
                let depends_on = self.take_depends_on(&mut body);
                self.no_other_attrs(
                    &body,
                    "output",
                    &["value", "description", "sensitive", "depends_on"],
                );
                if let Some(first) = module.outputs.get(&l[0]) {
                    self.duplicate("output", &l[0], span, first.span.clone());
                } else {
                    module.outputs.insert(
                        l[0].clone(),
                        Output {
                            name: l[0].clone(),
                            expr: value.expr,
                            description,
                            sensitive,
                            depends_on,
                            span,
                        },
                    );
                }
            }
            "module" => {
                let Some(l) = self.expect_labels(file, b, 1, "\"name\"") else {
                    return;
                };
                let mut body = self.read_body(file, &b.body);
                self.no_blocks(&body, "module");
                let Some(source_attr) = body.attrs.shift_remove("source") else {
                    self.err(
                        Diagnostic::error(format!("module \"{}\" has no `source`", l[0]))
                            .at(span)
                            .hint("add `source = \"../../modules/<name>\"`"),
                    );
                    return;
                };
                let source = match literal_string(&source_attr.expr.expr) {
                    Some(s) => s,
                    None => {
                        self.err(
                            Diagnostic::error("a module source must be a literal string")
                                .at_opt(source_attr.expr.span())
                                .hint("sources are resolved before any expression is evaluated"),
                        );
                        return;
                    }
                };
                let repetition = self.take_repetition(&mut body, span.clone());
                let depends_on = self.take_depends_on(&mut body);
                for meta in ["providers", "version"] {
                    body.attrs.shift_remove(meta);
                }
                if let Some(first) = module.module_calls.get(&l[0]) {
                    self.duplicate("module", &l[0], span, first.span.clone());
                    return;
                }
                module.module_calls.insert(
                    l[0].clone(),
                    ModuleCall {
                        name: l[0].clone(),
                        source,
                        source_span: source_attr.expr.span().unwrap_or(span.clone()),
                        args: body.attrs,
                        repetition,
                        depends_on,
                        child: None,
                        span,
                    },
                );
            }
            "resource" | "data" => {
                let mode =
                    if kind == "resource" { ResourceMode::Managed } else { ResourceMode::Data };
                let Some(l) = self.expect_labels(file, b, 2, "\"type\" \"name\"") else {
                    return;
                };
                let r = self.read_resource(file, mode, &l[0], &l[1], b, span.clone());
                let key = r.local_name();
                if let Some(first) = module.resources.get(&key) {
                    self.duplicate(kind, &key, span, first.span.clone());
                } else {
                    module.resources.insert(key, r);
                }
            }
            "provider" => {
                let Some(l) = self.expect_labels(file, b, 1, "\"name\"") else {
                    return;
                };
                let mut body = self.read_body(file, &b.body);
                let alias = self.take_literal_string(&mut body, "alias");
                module.providers.push(ProviderBlock { name: l[0].clone(), alias, body, span });
            }
            "moved" => {
                let mut body = self.read_body(file, &b.body);
                let from = self.take_address(&mut body, "from", &span);
                let to = self.take_address(&mut body, "to", &span);
                self.no_other_attrs(&body, "moved", &["from", "to"]);
                if let (Some(from), Some(to)) = (from, to) {
                    module.moved.push(Moved { from, to, span });
                }
            }
            "slipway" if is_root => self.read_settings(file, b, &mut module.settings),
            "slipway" => self.slipway_in_child_module(file, b, span),
            other => {
                let mut d = Diagnostic::error(format!("unknown block type `{other}`"))
                    .at(span_of(file, &b.ident));
                if let Some(c) = closest(other, TOP_LEVEL_BLOCKS.iter().copied()) {
                    d = d.hint(format!("did you mean `{c}`?"));
                } else {
                    d = d.hint(format!("top-level blocks are: {}", TOP_LEVEL_BLOCKS.join(", ")));
                }
                self.err(d);
            }
        }
    }

    /// A name declared twice in one module. Both places are named: with a base (`extends`) the
    /// first may be in another directory, where a user would not think to look.
    pub(super) fn duplicate(&mut self, what: &str, name: &str, span: Span, first: Span) {
        self.err(
            Diagnostic::error(format!("duplicate {what} \"{name}\""))
                .at(span)
                .label(first, "first declared here")
                .hint("each name may be declared once per module (an environment and the base it extends are one module); rename or remove one of them"),
        );
    }

    /// A `slipway { … }` block of the root module (an environment's own files or its base's).
    /// Several blocks may share the settings, as Terraform's `terraform` blocks do: every
    /// `required_version` must hold, and `backend`, `encryption` and `extends` are set once.
    pub(super) fn read_settings(&mut self, file: FileId, b: &Block, settings: &mut Settings) {
        let mut body = self.read_body(file, &b.body);
        if let Some(attr) = body.attrs.shift_remove("required_version") {
            match literal_string(&attr.expr.expr) {
                Some(s) => {
                    settings.required_version.push((s, attr.expr.span().unwrap_or(attr.name_span)))
                }
                None => self.err(
                    Diagnostic::error("required_version must be a literal string")
                        .at(attr.name_span),
                ),
            }
        }
        if let Some(attr) = body.attrs.shift_remove("extends") {
            self.read_extends(attr, settings);
        }
        self.no_other_attrs(&body, "slipway", &["required_version", "extends"]);
        for nb in std::mem::take(&mut body.blocks) {
            match nb.kind.as_str() {
                "backend" if nb.labels.len() == 1 => {
                    if let Some(first) = &settings.backend {
                        let first = first.span.clone();
                        self.duplicate_setting("backend", nb.span, first);
                        continue;
                    }
                    settings.backend = Some(BackendBlock {
                        kind: nb.labels[0].clone(),
                        body: nb.body,
                        span: nb.span,
                    });
                }
                "encryption" if nb.labels.is_empty() => {
                    if let Some(first) = &settings.encryption {
                        let first = first.span.clone();
                        self.duplicate_setting("encryption", nb.span, first);
                        continue;
                    }
                    settings.encryption = Some(EncryptionBlock {
                        body: nb.body,
                        span: nb.span,
                    });
                }
                "backend" => self.err(
                    Diagnostic::error("a backend block takes one label")
                        .at(nb.span)
                        .hint("write `backend \"local\" { … }` or `backend \"s3\" { … }`"),
                ),
                other => self.err(
                    Diagnostic::error(format!("unknown block `{other}` in `slipway`"))
                        .at(nb.span)
                        .hint("the slipway block holds `required_version`, `extends`, a `backend` block and an `encryption` block"),
                ),
            }
        }
    }

    pub(super) fn duplicate_setting(&mut self, what: &str, span: Span, first: Span) {
        self.err(
            Diagnostic::error(format!("`{what}` is set twice in the slipway settings"))
                .at(span)
                .label(first, "first set here")
                .hint("an environment and the base it extends share one set of settings; keep one of the two"),
        );
    }

    pub(super) fn read_variable(
        &mut self,
        file: FileId,
        name: &str,
        b: &Block,
        span: Span,
    ) -> Variable {
        let mut body = self.read_body(file, &b.body);
        let ty = match body.attrs.shift_remove("type") {
            Some(attr) => match parse_type(&attr.expr.expr, false) {
                Ok((t, _)) => t,
                Err(msg) => {
                    self.err(
                        Diagnostic::error(format!("invalid type constraint: {msg}"))
                            .at_opt(attr.expr.span())
                            .hint("types are string, number, bool, any, list(T), set(T), map(T), tuple([…]), object({…})"),
                    );
                    Type::Any
                }
            },
            None => Type::Any,
        };
        let default = body.attrs.shift_remove("default").map(|a| a.expr);
        let description = self.take_literal_string(&mut body, "description");
        let sensitive = self.take_literal_bool(&mut body, "sensitive").unwrap_or(false);
        let nullable = self.take_literal_bool(&mut body, "nullable").unwrap_or(true);
        self.no_other_attrs(
            &body,
            "variable",
            &["type", "default", "description", "sensitive", "nullable"],
        );
        let mut validations = Vec::new();
        for nb in body.blocks {
            if nb.kind != "validation" {
                self.err(
                    Diagnostic::error(format!("unknown block `{}` in a variable", nb.kind))
                        .at(nb.span)
                        .hint("a variable may contain `validation { condition = …, error_message = … }` blocks"),
                );
                continue;
            }
            let mut vb = nb.body;
            let condition = vb.attrs.shift_remove("condition");
            let error_message = vb.attrs.shift_remove("error_message");
            match (condition, error_message) {
                (Some(c), Some(m)) => {
                    validations.push(Validation { condition: c.expr, error_message: m.expr })
                }
                _ => self.err(
                    Diagnostic::error("a validation block needs `condition` and `error_message`")
                        .at(nb.span),
                ),
            }
        }
        Variable {
            name: name.to_string(),
            ty,
            default,
            description,
            sensitive,
            nullable,
            validations,
            span,
        }
    }

    pub(super) fn read_resource(
        &mut self,
        file: FileId,
        mode: ResourceMode,
        rtype: &str,
        name: &str,
        b: &Block,
        span: Span,
    ) -> Resource {
        let mut body = self.read_body(file, &b.body);
        let repetition = self.take_repetition(&mut body, span.clone());
        let depends_on = self.take_depends_on(&mut body);
        let provider = body.attrs.shift_remove("provider").and_then(|a| {
            match traversal_string(&a.expr.expr) {
                Some(p) => Some(p),
                None => {
                    self.err(
                        Diagnostic::error(
                            "`provider` must name a provider, like `aws` or `aws.west`",
                        )
                        .at_opt(a.expr.span()),
                    );
                    None
                }
            }
        });
        let mut lifecycle = Lifecycle::default();
        let mut kept = Vec::new();
        for nb in std::mem::take(&mut body.blocks) {
            match nb.kind.as_str() {
                "lifecycle" if mode == ResourceMode::Managed => self.read_lifecycle(nb, &mut lifecycle),
                "provisioner" | "connection" => self.err(
                    Diagnostic::error(format!("`{}` blocks are not supported", nb.kind))
                        .at(nb.span)
                        .hint("slipway bootstraps nodes with cloud-init user-data; see modules/node-bootstrap"),
                ),
                _ => kept.push(nb),
            }
        }
        body.blocks = kept;
        Resource {
            mode,
            rtype: rtype.to_string(),
            name: name.to_string(),
            body,
            repetition,
            depends_on,
            provider,
            lifecycle,
            span,
        }
    }

    pub(super) fn read_lifecycle(&mut self, nb: NestedBlock, lc: &mut Lifecycle) {
        let mut body = nb.body;
        lc.create_before_destroy =
            self.take_literal_bool(&mut body, "create_before_destroy").unwrap_or(false);
        lc.prevent_destroy = self.take_literal_bool(&mut body, "prevent_destroy").unwrap_or(false);
        if let Some(attr) = body.attrs.shift_remove("ignore_changes") {
            match &attr.expr.expr {
                Expression::Variable(v) if v.as_str() == "all" => lc.ignore_all = true,
                Expression::Array(items) => {
                    for item in items.iter() {
                        match traversal_string(item).or_else(|| literal_string(item)) {
                            Some(s) => lc.ignore_changes.push(s),
                            None => self.err(
                                Diagnostic::error("ignore_changes lists attribute names")
                                    .at_opt(item.span().map(|r| Span::new(attr.expr.file, r)))
                                    .hint("write `ignore_changes = [tags, user_data]` or `ignore_changes = all`"),
                            ),
                        }
                    }
                }
                _ => self.err(
                    Diagnostic::error("ignore_changes must be a list of attribute names or `all`")
                        .at_opt(attr.expr.span()),
                ),
            }
        }
        self.no_other_attrs(
            &body,
            "lifecycle",
            &["create_before_destroy", "prevent_destroy", "ignore_changes"],
        );
        for b in body.blocks {
            self.err(
                Diagnostic::error(format!("unknown block `{}` in lifecycle", b.kind)).at(b.span),
            );
        }
    }

    pub(super) fn take_repetition(&mut self, body: &mut Body, span: Span) -> Repetition {
        let count = body.attrs.shift_remove("count");
        let for_each = body.attrs.shift_remove("for_each");
        match (count, for_each) {
            (Some(c), Some(_)) => {
                self.err(
                    Diagnostic::error("`count` and `for_each` cannot both be set")
                        .at(c.name_span)
                        .hint("use `for_each` with a map when instances need names, `count` for numbered copies"),
                );
                Repetition::Single
            }
            (Some(c), None) => Repetition::Count(c.expr),
            (None, Some(f)) => Repetition::ForEach(f.expr),
            (None, None) => {
                let _ = span;
                Repetition::Single
            }
        }
    }

    pub(super) fn take_depends_on(&mut self, body: &mut Body) -> Vec<Expr> {
        let Some(attr) = body.attrs.shift_remove("depends_on") else {
            return Vec::new();
        };
        match &attr.expr.expr {
            Expression::Array(items) => items
                .iter()
                .map(|e| Expr { file: attr.expr.file, expr: e.clone() })
                .filter(|e| {
                    let ok = matches!(e.expr, Expression::Traversal(_));
                    if !ok {
                        self.err(
                            Diagnostic::error("depends_on entries must be references like `aws_vpc.main` or `module.net`")
                                .at_opt(e.span()),
                        );
                    }
                    ok
                })
                .collect(),
            _ => {
                self.err(
                    Diagnostic::error("depends_on must be a list of references")
                        .at_opt(attr.expr.span())
                        .hint("write `depends_on = [aws_vpc.main]`"),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn take_address(
        &mut self,
        body: &mut Body,
        key: &str,
        span: &Span,
    ) -> Option<String> {
        match body.attrs.shift_remove(key) {
            Some(a) => match traversal_string(&a.expr.expr) {
                Some(s) => Some(s),
                None => {
                    self.err(
                        Diagnostic::error(format!(
                            "`{key}` must be a resource address like aws_instance.web"
                        ))
                        .at_opt(a.expr.span()),
                    );
                    None
                }
            },
            None => {
                self.err(Diagnostic::error(format!("moved block needs `{key}`")).at(span.clone()));
                None
            }
        }
    }

    pub(super) fn take_literal_string(&mut self, body: &mut Body, key: &str) -> Option<String> {
        let attr = body.attrs.shift_remove(key)?;
        match literal_string(&attr.expr.expr) {
            Some(s) => Some(s),
            None => {
                self.err(
                    Diagnostic::error(format!("`{key}` must be a literal string"))
                        .at_opt(attr.expr.span()),
                );
                None
            }
        }
    }

    pub(super) fn take_literal_bool(&mut self, body: &mut Body, key: &str) -> Option<bool> {
        let attr = body.attrs.shift_remove(key)?;
        match &attr.expr.expr {
            Expression::Bool(b) => Some(*b.value()),
            _ => {
                self.err(
                    Diagnostic::error(format!("`{key}` must be `true` or `false`"))
                        .at_opt(attr.expr.span())
                        .hint(
                            "this setting is read before evaluation, so it cannot be an expression",
                        ),
                );
                None
            }
        }
    }

    pub(super) fn no_other_attrs(&mut self, body: &Body, block: &str, allowed: &[&str]) {
        for (name, attr) in &body.attrs {
            let mut d =
                Diagnostic::error(format!("unsupported argument `{name}` in {block} block"))
                    .at(attr.name_span.clone());
            if let Some(c) = closest(name, allowed.iter().copied()) {
                d = d.hint(format!("did you mean `{c}`?"));
            } else {
                d = d.hint(format!("a {block} block takes: {}", allowed.join(", ")));
            }
            self.err(d);
        }
    }

    pub(super) fn no_blocks(&mut self, body: &Body, block: &str) {
        for nb in &body.blocks {
            self.err(
                Diagnostic::error(format!("unexpected block `{}` in {block} block", nb.kind))
                    .at(nb.span.clone()),
            );
        }
    }

    pub(super) fn read_body(&mut self, file: FileId, body: &HclBody) -> Body {
        let mut out = Body::default();
        for st in body.iter() {
            match st {
                Structure::Attribute(a) => {
                    let name = a.key.as_str().to_string();
                    let name_span = span_of(file, &a.key);
                    if out.attrs.contains_key(&name) {
                        self.err(
                            Diagnostic::error(format!("attribute `{name}` is set twice"))
                                .at(name_span)
                                .hint("remove one of the two assignments"),
                        );
                        continue;
                    }
                    out.attrs.insert(
                        name.clone(),
                        Attr { name, name_span, expr: Expr { file, expr: a.value.clone() } },
                    );
                }
                Structure::Block(b) => out.blocks.push(NestedBlock {
                    kind: b.ident.as_str().to_string(),
                    labels: b.labels.iter().map(|l| label_str(l).to_string()).collect(),
                    body: self.read_body(file, &b.body),
                    span: span_of(file, b),
                }),
            }
        }
        out
    }
}
