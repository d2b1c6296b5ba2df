//! The built-in function library of the configuration language (Terraform semantics).
//!
//! Promises:
//! - [`call_function`] never panics, whatever the arguments: sizes are capped, numbers are
//!   range-checked before use, and every failure is a [`FunctionError`] naming the bad argument.
//! - A function never leaks a secret. Structural functions (those that move elements without
//!   reading them, e.g. `concat`, `lookup`, `element`) keep each element's own marks and mark the
//!   result when an argument is itself sensitive. Every other function computes on the
//!   deep-unmarked arguments and marks its result when any argument contains a sensitive mark.
//!   Error messages never quote a sensitive value.
//! - An unknown argument the result depends on makes the result unknown (still marked when it
//!   should be); `length` of a list of unknowns, and unknown elements merely passed through by
//!   `concat`/`merge`/`element`… stay known.
//!
//! `try`, `can` and `templatefile` are not here: they need lazy evaluation, so the evaluator
//! implements them.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::OnceLock;

use base64::Engine as _;
use sha2::Digest as _;

mod collections;
mod dates;
mod encoding;
mod files;
mod format;
mod hashes;
mod network;
mod numbers;
mod strings;
mod structural;
mod yaml;

use collections::*;
use dates::*;
use encoding::*;
use files::*;
use format::*;
use hashes::*;
use network::*;
use numbers::*;
use strings::*;
use structural::*;

pub(crate) use encoding::csv_header;
pub use encoding::json_text;

use super::convert::{self, cmp_values, make_set, parse_number};
use crate::value::{Type, Value, format_number};

/// What functions may need from their surroundings.
#[derive(Debug, Clone, Copy)]
pub struct FunctionContext<'a> {
    /// Relative paths given to `file()` resolve against this directory (the module's directory).
    pub base_dir: &'a Path,
}

/// A function call failed; `arg_index` is the 0-based argument at fault, when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionError {
    pub message: String,
    pub arg_index: Option<usize>,
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.arg_index {
            Some(i) => write!(f, "argument {}: {}", i + 1, self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FunctionError {}

type R = Result<Value, FunctionError>;

/// Largest list a function may build; beyond it a typo like `range(1e18)` would exhaust memory.
const MAX_ELEMENTS: usize = 1024 * 1024;

/// Largest string a function may build, for the same reason (`replace`, `indent`, `format`).
const MAX_STRING: usize = 16 * 1024 * 1024;

/// Largest `format` width/precision and `indent` count.
const MAX_WIDTH: i64 = 10_000;

fn err(message: impl Into<String>) -> FunctionError {
    FunctionError { message: message.into(), arg_index: None }
}

fn arg_err(i: usize, message: impl Into<String>) -> FunctionError {
    FunctionError { message: message.into(), arg_index: Some(i) }
}

/// Per-call context for implementations; `redact` is set when any argument is sensitive, so that
/// error messages describe values instead of quoting them.
struct Cx<'a> {
    base_dir: &'a Path,
    redact: bool,
}

impl Cx<'_> {
    fn quote(&self, s: &str) -> String {
        if self.redact {
            return "(sensitive value)".to_string();
        }
        let shown: String = s.chars().take(60).collect();
        let more = if shown.len() < s.len() { "…" } else { "" };
        format!("{}{more}", serde_json::to_string(&shown).unwrap_or_default())
    }

    fn describe(&self, v: &Value) -> String {
        convert::describe(v, self.redact)
    }
}

type PureFn = fn(&[Value], &Cx) -> R;

type RawFn = fn(Vec<Value>) -> R;

enum Imp {
    /// Receives deep-unmarked, fully known arguments; the caller handles marks and unknowns.
    Pure(PureFn),
    /// Receives the arguments as given and handles marks and unknowns itself.
    Raw(RawFn),
}

struct Def {
    name: &'static str,
    min: usize,
    max: Option<usize>,
    imp: Imp,
}

const fn pure(name: &'static str, min: usize, max: Option<usize>, f: PureFn) -> Def {
    Def { name, min, max, imp: Imp::Pure(f) }
}

const fn raw(name: &'static str, min: usize, max: Option<usize>, f: RawFn) -> Def {
    Def { name, min, max, imp: Imp::Raw(f) }
}

const ONE: Option<usize> = Some(1);

const TWO: Option<usize> = Some(2);

const THREE: Option<usize> = Some(3);

const ANY: Option<usize> = None;

const ZERO: Option<usize> = Some(0);

/// Sorted by name (a unit test checks), so lookup is a binary search.
static DEFS: &[Def] = &[
    pure("abs", 1, ONE, f_abs),
    pure("abspath", 1, ONE, f_abspath),
    pure("alltrue", 1, ONE, f_alltrue),
    pure("anytrue", 1, ONE, f_anytrue),
    pure("base64decode", 1, ONE, f_base64decode),
    pure("base64encode", 1, ONE, f_base64encode),
    pure("base64gzip", 1, ONE, f_base64gzip),
    pure("base64sha256", 1, ONE, f_base64sha256),
    pure("base64sha512", 1, ONE, f_base64sha512),
    pure("basename", 1, ONE, f_basename),
    pure("bcrypt", 1, TWO, f_bcrypt),
    pure("ceil", 1, ONE, f_ceil),
    pure("chomp", 1, ONE, f_chomp),
    pure("chunklist", 2, TWO, f_chunklist),
    pure("cidrhost", 2, TWO, f_cidrhost),
    pure("cidrnetmask", 1, ONE, f_cidrnetmask),
    pure("cidrsubnet", 3, THREE, f_cidrsubnet),
    pure("cidrsubnets", 2, ANY, f_cidrsubnets),
    raw("coalesce", 1, ANY, f_coalesce),
    raw("coalescelist", 1, ANY, f_coalescelist),
    raw("compact", 1, ONE, f_compact),
    raw("concat", 1, ANY, f_concat),
    pure("contains", 2, TWO, f_contains),
    pure("csvdecode", 1, ONE, f_csvdecode),
    pure("dirname", 1, ONE, f_dirname),
    raw("distinct", 1, ONE, f_distinct),
    raw("element", 2, TWO, f_element),
    pure("endswith", 2, TWO, f_endswith),
    pure("file", 1, ONE, f_file),
    pure("filebase64", 1, ONE, f_filebase64),
    pure("filebase64sha256", 1, ONE, f_filebase64sha256),
    pure("filebase64sha512", 1, ONE, f_filebase64sha512),
    pure("fileexists", 1, ONE, f_fileexists),
    pure("filemd5", 1, ONE, f_filemd5),
    pure("fileset", 2, TWO, f_fileset),
    pure("filesha1", 1, ONE, f_filesha1),
    pure("filesha256", 1, ONE, f_filesha256),
    pure("filesha512", 1, ONE, f_filesha512),
    raw("flatten", 1, ONE, f_flatten),
    pure("floor", 1, ONE, f_floor),
    pure("format", 1, ANY, f_format),
    pure("formatdate", 2, TWO, f_formatdate),
    pure("formatlist", 1, ANY, f_formatlist),
    pure("indent", 2, TWO, f_indent),
    pure("index", 2, TWO, f_index),
    pure("join", 2, ANY, f_join),
    pure("jsondecode", 1, ONE, f_jsondecode),
    pure("jsonencode", 1, ONE, f_jsonencode),
    raw("keys", 1, ONE, f_keys),
    raw("length", 1, ONE, f_length),
    pure("log", 2, TWO, f_log),
    raw("lookup", 2, THREE, f_lookup),
    pure("lower", 1, ONE, f_lower),
    pure("matchkeys", 3, THREE, f_matchkeys),
    pure("max", 1, ANY, f_max),
    pure("md5", 1, ONE, f_md5),
    raw("merge", 0, ANY, f_merge),
    pure("min", 1, ANY, f_min),
    raw("nonsensitive", 1, ONE, f_nonsensitive),
    raw("one", 1, ONE, f_one),
    pure("parseint", 2, TWO, f_parseint),
    pure("pathexpand", 1, ONE, f_pathexpand),
    pure("plantimestamp", 0, ZERO, f_plantimestamp),
    pure("pow", 2, TWO, f_pow),
    pure("range", 1, THREE, f_range),
    pure("regex", 2, TWO, f_regex),
    pure("regexall", 2, TWO, f_regexall),
    pure("replace", 3, THREE, f_replace),
    raw("reverse", 1, ONE, f_reverse),
    raw("sensitive", 1, ONE, f_sensitive),
    pure("setintersection", 1, ANY, f_setintersection),
    pure("setproduct", 1, ANY, f_setproduct),
    pure("setsubtract", 2, TWO, f_setsubtract),
    pure("setunion", 1, ANY, f_setunion),
    pure("sha1", 1, ONE, f_sha1),
    pure("sha256", 1, ONE, f_sha256),
    pure("sha512", 1, ONE, f_sha512),
    pure("signum", 1, ONE, f_signum),
    raw("slice", 3, THREE, f_slice),
    pure("sort", 1, ONE, f_sort),
    pure("split", 2, TWO, f_split),
    pure("startswith", 2, TWO, f_startswith),
    pure("strcontains", 2, TWO, f_strcontains),
    pure("strrev", 1, ONE, f_strrev),
    pure("substr", 3, THREE, f_substr),
    pure("sum", 1, ONE, f_sum),
    pure("textdecodebase64", 2, TWO, f_textdecodebase64),
    pure("textencodebase64", 2, TWO, f_textencodebase64),
    pure("timeadd", 2, TWO, f_timeadd),
    pure("timecmp", 2, TWO, f_timecmp),
    pure("timestamp", 0, ZERO, f_timestamp),
    pure("title", 1, ONE, f_title),
    raw("tobool", 1, ONE, f_tobool),
    raw("tolist", 1, ONE, f_tolist),
    raw("tomap", 1, ONE, f_tomap),
    raw("tonumber", 1, ONE, f_tonumber),
    raw("toset", 1, ONE, f_toset),
    raw("tostring", 1, ONE, f_tostring),
    pure("transpose", 1, ONE, f_transpose),
    pure("trim", 2, TWO, f_trim),
    pure("trimprefix", 2, TWO, f_trimprefix),
    pure("trimspace", 1, ONE, f_trimspace),
    pure("trimsuffix", 2, TWO, f_trimsuffix),
    pure("upper", 1, ONE, f_upper),
    pure("urlencode", 1, ONE, f_urlencode),
    pure("uuid", 0, ZERO, f_uuid),
    pure("uuidv5", 2, TWO, f_uuidv5),
    raw("values", 1, ONE, f_values),
    pure("yamldecode", 1, ONE, f_yamldecode),
    pure("yamlencode", 1, ONE, f_yamlencode),
    raw("zipmap", 2, TWO, f_zipmap),
];

fn find(name: &str) -> Option<&'static Def> {
    DEFS.binary_search_by(|d| d.name.cmp(name)).ok().and_then(|i| DEFS.get(i))
}

/// Every function name, sorted (for "did you mean" hints).
pub fn function_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| DEFS.iter().map(|d| d.name).collect())
}

/// The number of arguments a function accepts: (min, max), `None` for variadic.
pub fn arity(name: &str) -> Option<(usize, Option<usize>)> {
    find(name).map(|d| (d.min, d.max))
}

/// Calls a built-in function. Unknown names, wrong argument counts and bad arguments are errors.
pub fn call_function(name: &str, args: Vec<Value>, ctx: &FunctionContext) -> R {
    let Some(def) = find(name) else {
        let hint = function_names()
            .iter()
            .filter(|n| strsim::levenshtein(n, name) <= 2)
            .min_by_key(|n| strsim::levenshtein(n, name))
            .map(|n| format!("; did you mean \"{n}\"?"))
            .unwrap_or_default();
        return Err(err(format!("unknown function \"{name}\"{hint}")));
    };
    let n = args.len();
    if n < def.min || def.max.is_some_and(|max| n > max) {
        let expected = match def.max {
            Some(max) if max == def.min => format!("{max}"),
            Some(max) => format!("{} to {max}", def.min),
            None => format!("at least {}", def.min),
        };
        let plural = if expected == "1" { "" } else { "s" };
        return Err(err(format!("{name}() takes {expected} argument{plural}, got {n}")));
    }
    match def.imp {
        Imp::Raw(f) => f(args),
        Imp::Pure(f) => {
            let sensitive = args.iter().any(Value::contains_sensitive);
            if args.iter().any(Value::contains_unknown) {
                return Ok(Value::Unknown.mark_if(sensitive));
            }
            let args: Vec<Value> = args.into_iter().map(|a| a.unmark_deep().0).collect();
            let cx = Cx { base_dir: ctx.base_dir, redact: sensitive };
            f(&args, &cx).map(|v| v.mark_if(sensitive))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Argument helpers (for pure functions: values are unmarked and known).

static NULL: Value = Value::Null;

fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&NULL)
}

fn take(args: &mut [Value], i: usize) -> Value {
    args.get_mut(i).map(std::mem::take).unwrap_or_default()
}

fn not_null(i: usize) -> FunctionError {
    arg_err(i, "argument must not be null")
}

fn want_str(v: &Value, i: usize, cx: &Cx) -> Result<String, FunctionError> {
    match v.peel() {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(format_number(*n)),
        Value::BigNumber(b) => Ok(b.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(not_null(i)),
        other => Err(arg_err(i, format!("expected string, got {}", cx.describe(other)))),
    }
}

fn want_num(v: &Value, i: usize, cx: &Cx) -> Result<f64, FunctionError> {
    match v.peel() {
        Value::Number(n) => Ok(*n),
        Value::BigNumber(b) => Ok(b.to_f64()),
        Value::String(s) => parse_number(s)
            .ok_or_else(|| arg_err(i, format!("expected number, got {}", cx.describe(v.peel())))),
        Value::Null => Err(not_null(i)),
        other => Err(arg_err(i, format!("expected number, got {}", cx.describe(other)))),
    }
}

/// A whole number small enough to be exact in an f64.
fn want_int(v: &Value, i: usize, cx: &Cx) -> Result<i64, FunctionError> {
    let n = want_num(v, i, cx)?;
    if !n.is_finite() || n.fract() != 0.0 {
        return Err(arg_err(i, format!("expected a whole number, got {}", cx.describe(v.peel()))));
    }
    if n.abs() > 9.0e15 {
        return Err(arg_err(i, format!("{} is out of range", cx.describe(v.peel()))));
    }
    Ok(n as i64)
}

fn want_bool(v: &Value, i: usize, cx: &Cx) -> Result<bool, FunctionError> {
    match v.peel() {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        Value::Null => Err(not_null(i)),
        other => Err(arg_err(i, format!("expected bool, got {}", cx.describe(other)))),
    }
}

fn want_list<'v>(v: &'v Value, i: usize, cx: &Cx) -> Result<&'v [Value], FunctionError> {
    match v.peel() {
        Value::List(items) => Ok(items),
        Value::Null => Err(not_null(i)),
        other => Err(arg_err(i, format!("expected list, got {}", cx.describe(other)))),
    }
}

fn type_err(i: usize, expected: &str, got: &Value) -> FunctionError {
    // Raw functions only describe the kind of a value, never its content, so no redaction needed.
    arg_err(i, format!("expected {expected}, got {}", got.type_name()))
}

fn check_string_size(len: usize) -> Result<(), FunctionError> {
    if len > MAX_STRING {
        Err(err(format!("result would be {len} bytes long, more than the limit of {MAX_STRING}")))
    } else {
        Ok(())
    }
}

/// Grapheme clusters of a string (ASCII without CR: one per byte, the common fast case).
fn grapheme_count(s: &str) -> usize {
    if s.is_ascii() && !s.contains('\r') {
        return s.len();
    }
    unicode_segmentation::UnicodeSegmentation::graphemes(s, true).count()
}

fn num(n: usize) -> Value {
    Value::Number(n as f64)
}

fn str_list(items: impl IntoIterator<Item = String>) -> Value {
    Value::List(items.into_iter().map(Value::String).collect())
}

/// Terraform unifies a tuple of mixed primitives to strings when converting to a collection
/// (`toset(["a", 1])` is `["1", "a"]`); marks on each element are kept.
fn unify_primitives(items: Vec<Value>) -> Vec<Value> {
    let kind = |v: &Value| match v.peel() {
        Value::String(_) => 1u8,
        Value::Number(_) | Value::BigNumber(_) => 2,
        Value::Bool(_) => 3,
        Value::Null => 0,
        _ => 9,
    };
    let kinds: Vec<u8> = items.iter().map(kind).filter(|k| *k != 0).collect();
    let mixed = kinds.windows(2).any(|w| w.first() != w.get(1));
    if !mixed || kinds.contains(&9) {
        return items;
    }
    items
        .into_iter()
        .map(|v| {
            let (v, s) = v.unmark();
            let v = match v.to_template_string() {
                Some(text) => Value::String(text),
                None => v,
            };
            v.mark_if(s)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Structural functions: they see marks and unknowns and keep element marks in place.

#[cfg(test)]
mod tests;
