//! Unit tests of the function library: each family's behaviour, marks, unknowns and errors.

use super::*;
use crate::value::render_hcl;

fn call_in(dir: &Path, name: &str, args: Vec<Value>) -> R {
    call_function(name, args, &FunctionContext { base_dir: dir })
}
fn call(name: &str, args: Vec<Value>) -> R {
    call_in(Path::new("."), name, args)
}
fn ok(name: &str, args: Vec<Value>) -> Value {
    call(name, args).unwrap_or_else(|e| panic!("{name}: {e}"))
}
fn bad(name: &str, args: Vec<Value>) -> FunctionError {
    match call(name, args) {
        Ok(v) => panic!("{name}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}
fn s(x: &str) -> Value {
    Value::string(x)
}
fn n(x: f64) -> Value {
    Value::Number(x)
}
fn b(x: bool) -> Value {
    Value::Bool(x)
}
fn l(items: Vec<Value>) -> Value {
    Value::List(items)
}
fn strs(items: &[&str]) -> Value {
    l(items.iter().map(|x| s(x)).collect())
}
fn nums(items: &[f64]) -> Value {
    l(items.iter().map(|x| n(*x)).collect())
}
fn m(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}
fn secret(x: &str) -> Value {
    s(x).mark_sensitive()
}
const U: Value = Value::Unknown;

// --- registry ---------------------------------------------------------------------------

#[test]
fn names_are_sorted_unique_and_resolvable() {
    let names = function_names();
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    for name in names {
        assert!(arity(name).is_some(), "{name}");
    }
    // Lazy functions are the evaluator's, not the library's.
    for absent in ["try", "can", "templatefile"] {
        assert!(arity(absent).is_none(), "{absent}");
    }
}

#[test]
fn unknown_function_and_wrong_arity_are_errors() {
    let e = bad("lenght", vec![s("x")]);
    assert!(e.message.contains("unknown function"), "{}", e.message);
    assert!(e.message.contains("did you mean \"length\""), "{}", e.message);
    let e = bad("length", vec![]);
    assert!(e.message.contains("takes 1 argument"), "{}", e.message);
    assert!(bad("lookup", vec![m(vec![]), s("a"), s("b"), s("c")]).message.contains("2 to 3"));
    assert_eq!(arity("merge"), Some((0, None)));
    assert_eq!(arity("range"), Some((1, Some(3))));
}

// --- collections ------------------------------------------------------------------------

#[test]
fn length_counts_chars_elements_and_keys() {
    assert_eq!(ok("length", vec![s("héllo")]), n(5.0));
    assert_eq!(ok("length", vec![nums(&[1.0, 2.0])]), n(2.0));
    assert_eq!(ok("length", vec![m(vec![("a", n(1.0))])]), n(1.0));
    let e = bad("length", vec![n(3.0)]);
    assert!(e.message.contains("got number"));
    assert_eq!(e.arg_index, Some(0));
    assert!(bad("length", vec![Value::Null]).message.contains("null"));
}

#[test]
fn length_marks() {
    assert_eq!(ok("length", vec![secret("abc")]), n(3.0).mark_sensitive());
    assert_eq!(ok("length", vec![l(vec![secret("a"), s("b")])]), n(2.0));
    assert_eq!(ok("length", vec![l(vec![U, U])]), n(2.0));
    assert_eq!(ok("length", vec![m(vec![("a", U)])]), n(1.0));
    assert_eq!(ok("length", vec![U]), U);
}

#[test]
fn keys_and_values() {
    let map = m(vec![("b", n(2.0)), ("a", secret("x")), ("c", U)]);
    assert_eq!(ok("keys", vec![map.clone()]), strs(&["a", "b", "c"]));
    assert_eq!(ok("values", vec![map.clone()]), l(vec![secret("x"), n(2.0), U]));
    assert_eq!(
        ok("keys", vec![map.clone().mark_sensitive()]),
        strs(&["a", "b", "c"]).mark_sensitive()
    );
    assert!(ok("values", vec![map.mark_sensitive()]).is_sensitive());
    assert_eq!(ok("keys", vec![U]), U);
    assert!(bad("keys", vec![strs(&["a"])]).message.contains("expected map, got list"));
}

#[test]
fn lookup_with_and_without_default() {
    let map = m(vec![("a", n(1.0)), ("p", secret("pw"))]);
    assert_eq!(ok("lookup", vec![map.clone(), s("a")]), n(1.0));
    assert_eq!(ok("lookup", vec![map.clone(), s("z"), s("dflt")]), s("dflt"));
    assert_eq!(ok("lookup", vec![map.clone(), s("p")]), secret("pw"));
    let e = bad("lookup", vec![map.clone(), s("z")]);
    assert!(e.message.contains("\"z\""));
    assert_eq!(e.arg_index, Some(1));
    // A secret key taints the result and is not quoted in errors.
    assert_eq!(ok("lookup", vec![map.clone(), secret("a")]), n(1.0).mark_sensitive());
    let e = bad("lookup", vec![map.clone(), secret("hunter2")]);
    assert!(!e.message.contains("hunter2"));
    assert_eq!(ok("lookup", vec![map.clone().mark_sensitive(), s("a")]), n(1.0).mark_sensitive());
    assert_eq!(ok("lookup", vec![U, s("a")]), U);
    assert_eq!(ok("lookup", vec![map, U]), U);
}

#[test]
fn merge_later_wins_and_keeps_marks() {
    let a = m(vec![("x", n(1.0)), ("y", secret("s"))]);
    let bb = m(vec![("x", n(2.0)), ("z", U)]);
    assert_eq!(
        ok("merge", vec![a.clone(), Value::Null, bb.clone()]),
        m(vec![("x", n(2.0)), ("y", secret("s")), ("z", U)])
    );
    assert!(ok("merge", vec![a.clone().mark_sensitive(), bb.clone()]).is_sensitive());
    assert_eq!(ok("merge", vec![a.clone(), U]), U);
    assert_eq!(ok("merge", vec![]), m(vec![]));
    let e = bad("merge", vec![a, strs(&["x"])]);
    assert_eq!(e.arg_index, Some(1));
}

#[test]
fn concat_keeps_unknown_and_sensitive_elements_in_place() {
    assert_eq!(
        ok("concat", vec![l(vec![s("a"), U]), l(vec![secret("b")])]),
        l(vec![s("a"), U, secret("b")])
    );
    assert_eq!(ok("concat", vec![strs(&["a"]), U]), U);
    assert!(ok("concat", vec![strs(&["a"]).mark_sensitive(), strs(&["b"])]).is_sensitive());
    assert_eq!(bad("concat", vec![strs(&["a"]), s("b")]).arg_index, Some(1));
}

#[test]
fn flatten_nested_lists() {
    let v = l(vec![s("a"), l(vec![s("b"), l(vec![secret("c")])]), l(vec![])]);
    assert_eq!(ok("flatten", vec![v]), l(vec![s("a"), s("b"), secret("c")]));
    // An untyped unknown might be a list, so the shape of the result is unknown.
    assert_eq!(ok("flatten", vec![l(vec![s("a"), U])]), U);
    // A secret nested list reveals its length through the result: the result is secret.
    let v = l(vec![s("a"), strs(&["b", "c"]).mark_sensitive()]);
    assert!(ok("flatten", vec![v]).is_sensitive());
}

#[test]
fn distinct_keeps_first_occurrences_in_order() {
    assert_eq!(ok("distinct", vec![strs(&["b", "a", "b", "c", "a"])]), strs(&["b", "a", "c"]));
    assert_eq!(ok("distinct", vec![l(vec![secret("x"), s("y")])]), l(vec![secret("x"), s("y")]));
    assert_eq!(ok("distinct", vec![l(vec![s("a"), U])]), U);
}

#[test]
fn contains_and_index() {
    assert_eq!(ok("contains", vec![strs(&["a", "b"]), s("b")]), b(true));
    assert_eq!(ok("contains", vec![nums(&[1.0]), s("1")]), b(false));
    assert_eq!(ok("index", vec![strs(&["a", "b"]), s("b")]), n(1.0));
    assert!(bad("index", vec![strs(&["a"]), s("z")]).message.contains("not found"));
    assert_eq!(ok("contains", vec![l(vec![secret("a")]), s("a")]), b(true).mark_sensitive());
    assert_eq!(ok("contains", vec![l(vec![U]), s("a")]), U);
}

#[test]
fn element_wraps_around() {
    let v = strs(&["a", "b", "c"]);
    assert_eq!(ok("element", vec![v.clone(), n(1.0)]), s("b"));
    assert_eq!(ok("element", vec![v.clone(), n(4.0)]), s("b"));
    assert_eq!(ok("element", vec![v.clone(), s("5")]), s("c"));
    assert!(bad("element", vec![v.clone(), n(-1.0)]).message.contains("negative"));
    assert!(bad("element", vec![v.clone(), n(1.5)]).message.contains("whole"));
    assert!(bad("element", vec![l(vec![]), n(0.0)]).message.contains("empty"));
    assert_eq!(ok("element", vec![l(vec![U, s("x")]), n(1.0)]), s("x"));
    assert_eq!(ok("element", vec![v.clone(), U]), U);
    assert_eq!(ok("element", vec![U, n(0.0).mark_sensitive()]), U.mark_sensitive());
    assert_eq!(ok("element", vec![v.clone(), n(0.0).mark_sensitive()]), secret("a"));
    assert_eq!(ok("element", vec![l(vec![secret("k")]), n(7.0)]), secret("k"));
    assert!(call("element", vec![v, n(1e300)]).is_err());
}

#[test]
fn slice_bounds() {
    let v = strs(&["a", "b", "c", "d"]);
    assert_eq!(ok("slice", vec![v.clone(), n(1.0), n(3.0)]), strs(&["b", "c"]));
    assert_eq!(ok("slice", vec![v.clone(), n(2.0), n(2.0)]), l(vec![]));
    assert!(bad("slice", vec![v.clone(), n(3.0), n(1.0)]).message.contains("greater"));
    assert_eq!(bad("slice", vec![v.clone(), n(0.0), n(9.0)]).arg_index, Some(2));
    assert_eq!(bad("slice", vec![v.clone(), n(-1.0), n(1.0)]).arg_index, Some(1));
    assert_eq!(ok("slice", vec![l(vec![secret("a"), U]), n(0.0), n(2.0)]), l(vec![secret("a"), U]));
    assert_eq!(ok("slice", vec![v, U, n(1.0)]), U);
}

#[test]
fn range_forms_and_limits() {
    assert_eq!(ok("range", vec![n(3.0)]), nums(&[0.0, 1.0, 2.0]));
    assert_eq!(ok("range", vec![n(1.0), n(4.0)]), nums(&[1.0, 2.0, 3.0]));
    assert_eq!(ok("range", vec![n(4.0), n(1.0)]), nums(&[4.0, 3.0, 2.0]));
    assert_eq!(ok("range", vec![n(1.0), n(8.0), n(2.0)]), nums(&[1.0, 3.0, 5.0, 7.0]));
    assert_eq!(ok("range", vec![n(0.0), n(1.0), n(0.25)]), nums(&[0.0, 0.25, 0.5, 0.75]));
    assert_eq!(ok("range", vec![n(0.0)]), l(vec![]));
    assert!(bad("range", vec![n(0.0), n(1e18)]).message.contains("more than"));
    assert!(call("range", vec![n(f64::NAN)]).is_err());
    assert!(call("range", vec![n(f64::INFINITY)]).is_err());
    assert!(bad("range", vec![n(1.0), n(5.0), n(0.0)]).message.contains("zero"));
    assert!(call("range", vec![n(1.0), n(5.0), n(-1.0)]).is_err());
    assert_eq!(ok("range", vec![n(-3.0)]), nums(&[0.0, -1.0, -2.0]));
}

#[test]
fn zipmap_pairs_keys_with_values() {
    assert_eq!(
        ok("zipmap", vec![strs(&["a", "b"]), l(vec![n(1.0), secret("x")])]),
        m(vec![("a", n(1.0)), ("b", secret("x"))])
    );
    assert!(ok("zipmap", vec![l(vec![secret("k")]), nums(&[1.0])]).is_sensitive());
    assert!(bad("zipmap", vec![strs(&["a"]), l(vec![])]).message.contains("does not match"));
    assert_eq!(ok("zipmap", vec![l(vec![U]), nums(&[1.0])]), U);
    assert_eq!(ok("zipmap", vec![strs(&["a"]).mark_sensitive(), U]), U.mark_sensitive());
    assert_eq!(ok("zipmap", vec![strs(&["a"]), l(vec![U])]), m(vec![("a", U)]));
}

#[test]
fn toset_sorts_and_deduplicates() {
    assert_eq!(ok("toset", vec![strs(&["b", "a", "b"])]), strs(&["a", "b"]));
    assert_eq!(ok("toset", vec![l(vec![s("a"), n(1.0)])]), strs(&["1", "a"]));
    assert_eq!(ok("toset", vec![Value::Null]), Value::Null);
    assert_eq!(ok("toset", vec![l(vec![U])]), U);
    assert_eq!(ok("toset", vec![l(vec![s("b"), secret("a")])]), l(vec![secret("a"), s("b")]));
    assert!(bad("toset", vec![m(vec![])]).message.contains("got map"));
}

#[test]
fn tolist_and_tomap() {
    assert_eq!(ok("tolist", vec![l(vec![s("a"), b(true)])]), strs(&["a", "true"]));
    assert_eq!(ok("tolist", vec![l(vec![U, s("a")])]), l(vec![U, s("a")]));
    assert_eq!(
        ok("tomap", vec![m(vec![("a", n(1.0)), ("b", s("x"))])]),
        m(vec![("a", s("1")), ("b", s("x"))])
    );
    assert!(bad("tomap", vec![strs(&[])]).message.contains("got list"));
    assert!(ok("tolist", vec![strs(&["a"]).mark_sensitive()]).is_sensitive());
}

#[test]
fn primitive_conversions() {
    assert_eq!(ok("tostring", vec![n(5.0)]), s("5"));
    assert_eq!(ok("tostring", vec![Value::Null]), Value::Null);
    assert_eq!(ok("tonumber", vec![s("1.5")]), n(1.5));
    assert_eq!(ok("tobool", vec![s("true")]), b(true));
    assert!(
        bad("tonumber", vec![s("big")]).message.contains("expected number, got string \"big\"")
    );
    assert!(bad("tostring", vec![l(vec![])]).message.contains("got list"));
    assert_eq!(ok("tonumber", vec![secret("2")]), n(2.0).mark_sensitive());
    let e = bad("tonumber", vec![secret("hunter2")]);
    assert!(!e.message.contains("hunter2"));
    assert_eq!(ok("tostring", vec![U]), U);
}

#[test]
fn coalesce_and_coalescelist() {
    assert_eq!(ok("coalesce", vec![Value::Null, s(""), s("a"), s("b")]), s("a"));
    assert_eq!(ok("coalesce", vec![s("a"), U]), s("a"));
    assert_eq!(ok("coalesce", vec![Value::Null, U, s("a")]), U);
    assert_eq!(ok("coalesce", vec![secret("k"), s("a")]), secret("k"));
    // Skipping an empty secret reveals something about it.
    assert_eq!(ok("coalesce", vec![secret(""), s("a")]), secret("a"));
    assert!(bad("coalesce", vec![Value::Null, s("")]).message.contains("no non-null"));
    assert_eq!(ok("coalescelist", vec![l(vec![]), strs(&["a"]), strs(&["b"])]), strs(&["a"]));
    assert_eq!(ok("coalescelist", vec![l(vec![]), U]), U);
    assert!(call("coalescelist", vec![l(vec![])]).is_err());
    assert_eq!(bad("coalescelist", vec![l(vec![]), s("x")]).arg_index, Some(1));
}

#[test]
fn compact_drops_null_and_empty() {
    assert_eq!(ok("compact", vec![l(vec![s("a"), s(""), Value::Null, s("b")])]), strs(&["a", "b"]));
    assert_eq!(ok("compact", vec![l(vec![secret("a")])]), l(vec![secret("a")]));
    assert!(ok("compact", vec![l(vec![secret(""), s("b")])]).is_sensitive());
    assert_eq!(ok("compact", vec![l(vec![U])]), U);
}

#[test]
fn reverse_and_one() {
    assert_eq!(
        ok("reverse", vec![l(vec![s("a"), U, secret("c")])]),
        l(vec![secret("c"), U, s("a")])
    );
    assert_eq!(ok("one", vec![l(vec![])]), Value::Null);
    assert_eq!(ok("one", vec![l(vec![secret("a")])]), secret("a"));
    assert_eq!(ok("one", vec![l(vec![U])]), U);
    assert!(bad("one", vec![strs(&["a", "b"])]).message.contains("no more than one"));
    assert_eq!(ok("one", vec![U]), U);
}

#[test]
fn sort_is_lexical() {
    assert_eq!(ok("sort", vec![l(vec![s("b"), n(10.0), n(9.0)])]), strs(&["10", "9", "b"]));
    assert!(call("sort", vec![l(vec![Value::Null])]).is_err());
}

#[test]
fn alltrue_anytrue() {
    assert_eq!(ok("alltrue", vec![l(vec![])]), b(true));
    assert_eq!(ok("alltrue", vec![l(vec![b(true), s("false")])]), b(false));
    assert_eq!(ok("anytrue", vec![l(vec![])]), b(false));
    assert_eq!(ok("anytrue", vec![l(vec![b(false), b(true)])]), b(true));
    assert!(call("alltrue", vec![strs(&["x"])]).is_err());
    assert_eq!(ok("anytrue", vec![l(vec![U])]), U);
}

#[test]
fn set_functions() {
    assert_eq!(ok("setunion", vec![strs(&["b", "a"]), strs(&["c", "a"])]), strs(&["a", "b", "c"]));
    assert_eq!(
        ok(
            "setintersection",
            vec![strs(&["a", "b", "c"]), strs(&["b", "c", "d"]), strs(&["c", "b"])]
        ),
        strs(&["b", "c"])
    );
    assert_eq!(ok("setsubtract", vec![strs(&["a", "b", "c"]), strs(&["b"])]), strs(&["a", "c"]));
    assert!(ok("setunion", vec![l(vec![secret("a")]), strs(&["b"])]).is_sensitive());
}

// --- strings ----------------------------------------------------------------------------

#[test]
fn join_and_split() {
    assert_eq!(ok("join", vec![s(","), strs(&["a", "b"]), l(vec![n(1.0)])]), s("a,b,1"));
    assert_eq!(ok("join", vec![s(","), l(vec![])]), s(""));
    assert!(call("join", vec![s(","), l(vec![Value::Null])]).is_err());
    assert_eq!(bad("join", vec![s(","), s("x")]).arg_index, Some(1));
    assert_eq!(ok("split", vec![s(","), s("a,,b")]), strs(&["a", "", "b"]));
    assert_eq!(ok("split", vec![s(","), s("")]), strs(&[""]));
    assert_eq!(ok("split", vec![s(""), s("ab")]), strs(&["a", "b"]));
    assert_eq!(ok("join", vec![s("-"), l(vec![secret("x"), s("y")])]), secret("x-y"));
}

#[test]
fn replace_substrings_and_slash_delimited_regexes() {
    assert_eq!(ok("replace", vec![s("a-b-c"), s("-"), s("+")]), s("a+b+c"));
    assert_eq!(ok("replace", vec![s("aaa"), s("a"), s("")]), s(""));
    // `/…/` is a regular expression, as in Terraform; `$1` expands a group.
    assert_eq!(ok("replace", vec![s("abc"), s("/a+/"), s("x")]), s("xbc"));
    assert_eq!(ok("replace", vec![s("hello"), s("/(h)(e)/"), s("$2$1")]), s("ehllo"));
    let e = bad("replace", vec![s("abc"), s("/[/"), s("x")]);
    assert!(e.message.contains("regular expression"), "{e}");
    assert_eq!(e.arg_index, Some(1));
    let big = "a".repeat(10_000);
    assert!(call("replace", vec![s(&big), s("a"), s(&big)]).is_err());
}

#[test]
fn case_and_trimming() {
    assert_eq!(ok("lower", vec![s("HeLLo")]), s("hello"));
    assert_eq!(ok("upper", vec![s("straße")]), s("STRASSE"));
    assert_eq!(ok("trimspace", vec![s(" \n a b \t")]), s("a b"));
    assert_eq!(ok("trim", vec![s("?!hello?!"), s("!?")]), s("hello"));
    assert_eq!(ok("trimprefix", vec![s("helloworld"), s("hello")]), s("world"));
    assert_eq!(ok("trimprefix", vec![s("hello"), s("x")]), s("hello"));
    assert_eq!(ok("trimsuffix", vec![s("helloworld"), s("world")]), s("hello"));
    assert_eq!(ok("startswith", vec![s("hello"), s("he")]), b(true));
    assert_eq!(ok("endswith", vec![s("hello"), s("he")]), b(false));
    assert_eq!(ok("chomp", vec![s("hello\r\n\n")]), s("hello"));
    assert_eq!(ok("chomp", vec![s("a\nb")]), s("a\nb"));
    assert_eq!(ok("title", vec![s("hello world-wide_web")]), s("Hello World-Wide_web"));
    assert_eq!(ok("indent", vec![n(2.0), s("a\nb\n")]), s("a\n  b\n  "));
    assert!(call("indent", vec![n(-1.0), s("a")]).is_err());
    assert!(call("indent", vec![n(1e9), s("a")]).is_err());
}

#[test]
fn substr_unicode_and_out_of_range() {
    assert_eq!(ok("substr", vec![s("hello world"), n(1.0), n(4.0)]), s("ello"));
    assert_eq!(ok("substr", vec![s("🤔🤷ab"), n(0.0), n(2.0)]), s("🤔🤷"));
    assert_eq!(ok("substr", vec![s("hello"), n(-3.0), n(-1.0)]), s("llo"));
    assert_eq!(ok("substr", vec![s("hello"), n(-30.0), n(2.0)]), s("he"));
    assert_eq!(ok("substr", vec![s("hello"), n(30.0), n(2.0)]), s(""));
    assert_eq!(ok("substr", vec![s("hello"), n(1.0), n(300.0)]), s("ello"));
    assert!(call("substr", vec![s("hello"), n(1e300), n(1.0)]).is_err());
}

#[test]
fn format_verbs() {
    let f = |spec: &str, args: Vec<Value>| {
        let mut all = vec![s(spec)];
        all.extend(args);
        ok("format", all)
    };
    assert_eq!(f("Hello, %s!", vec![s("Ander")]), s("Hello, Ander!"));
    assert_eq!(f("%d items", vec![n(3.0)]), s("3 items"));
    assert_eq!(f("%d", vec![s("42")]), s("42"));
    assert_eq!(f("%.2f", vec![n(1.23456)]), s("1.23"));
    assert_eq!(f("%f", vec![n(1.0)]), s("1.000000"));
    assert_eq!(f("%q", vec![s("a\"b")]), s("\"a\\\"b\""));
    assert_eq!(f("%v %v %v", vec![s("x"), n(1.5), b(true)]), s("x 1.5 true"));
    assert_eq!(f("%v", vec![strs(&["a"])]), s("[\"a\"]"));
    assert_eq!(f("100%%", vec![]), s("100%"));
    assert_eq!(f("%5d|%-5s|%05d", vec![n(42.0), s("ab"), n(-3.0)]), s("   42|ab   |-0003"));
    assert_eq!(f("%x %X %o %b", vec![n(255.0), n(255.0), n(8.0), n(5.0)]), s("ff FF 10 101"));
    assert_eq!(f("%+d %t", vec![n(5.0), b(false)]), s("+5 false"));
    assert_eq!(f("%e", vec![n(1234.5678)]), s("1.234568e+03"));
    assert_eq!(f("%[2]s %[1]s", vec![s("a"), s("b")]), s("b a"));
    assert_eq!(f("%.3s", vec![s("abcdef")]), s("abc"));
}

#[test]
fn format_g_follows_go() {
    let g = |spec: &str, x: f64| ok("format", vec![s(spec), n(x)]);
    assert_eq!(g("%g", 1234.5), s("1234.5"));
    assert_eq!(g("%g", 1e-7), s("1e-07"));
    assert_eq!(g("%g", 1e21), s("1e+21"));
    assert_eq!(g("%.3g", 2.46801357), s("2.47"));
    assert_eq!(g("%.2g", 1234.0), s("1.2e+03"));
    assert_eq!(g("%.3G", 0.00001234), s("1.23E-05"));
    assert_eq!(g("%g", -2.0), s("-2"));
}

#[test]
fn format_errors() {
    assert!(bad("format", vec![s("%d"), n(1.5)]).message.contains("whole number"));
    assert!(bad("format", vec![s("%s %s"), s("a")]).message.contains("not enough"));
    assert!(bad("format", vec![s("%s"), s("a"), s("b")]).message.contains("too many"));
    assert!(bad("format", vec![s("%y"), s("a")]).message.contains("unsupported"));
    assert!(call("format", vec![s("%")]).is_err());
    assert!(call("format", vec![s("%99999999999d"), n(1.0)]).is_err());
    assert!(call("format", vec![s("%s"), Value::Null]).is_err());
    assert!(call("format", vec![s("%d"), s("abc")]).is_err());
    let e = bad("format", vec![s("%d"), secret("hunter2")]);
    assert!(!e.message.contains("hunter2"), "{}", e.message);
    assert_eq!(ok("format", vec![s("%s"), secret("x")]), secret("x"));
    assert_eq!(ok("format", vec![s("%s"), U]), U);
}

#[test]
fn formatlist_iterates_lists() {
    assert_eq!(
        ok("formatlist", vec![s("%s=%s"), strs(&["a", "b"]), s("x")]),
        strs(&["a=x", "b=x"])
    );
    assert_eq!(
        ok("formatlist", vec![s("%s-%d"), strs(&["a", "b"]), nums(&[1.0, 2.0])]),
        strs(&["a-1", "b-2"])
    );
    assert_eq!(ok("formatlist", vec![s("%s"), s("x")]), strs(&["x"]));
    assert!(call("formatlist", vec![s("%s%s"), strs(&["a"]), strs(&["a", "b"])]).is_err());
}

// --- numbers ----------------------------------------------------------------------------

#[test]
fn numeric_functions() {
    assert_eq!(ok("min", vec![n(3.0), n(1.0), s("2")]), n(1.0));
    assert_eq!(ok("max", vec![n(3.0), n(1.0)]), n(3.0));
    assert_eq!(ok("abs", vec![n(-2.5)]), n(2.5));
    assert_eq!(ok("ceil", vec![n(1.2)]), n(2.0));
    assert_eq!(ok("floor", vec![n(-1.2)]), n(-2.0));
    assert_eq!(ok("pow", vec![n(2.0), n(10.0)]), n(1024.0));
    assert_eq!(ok("signum", vec![n(-7.0)]), n(-1.0));
    assert_eq!(ok("signum", vec![n(0.0)]), n(0.0));
    assert_eq!(ok("signum", vec![n(3.0)]), n(1.0));
    assert_eq!(ok("sum", vec![nums(&[1.0, 2.5])]), n(3.5));
    assert!(bad("sum", vec![l(vec![])]).message.contains("empty"));
    assert!(bad("abs", vec![s("x")]).message.contains("expected number, got string \"x\""));
    assert_eq!(ok("abs", vec![n(-1.0).mark_sensitive()]), n(1.0).mark_sensitive());
    assert_eq!(ok("max", vec![n(1.0), U]), U);
    assert_eq!(ok("pow", vec![n(1e308), n(1e308)]), n(f64::INFINITY));
}

// --- cidr -------------------------------------------------------------------------------

#[test]
fn cidrsubnet_v4_and_v6() {
    assert_eq!(ok("cidrsubnet", vec![s("172.16.0.0/12"), n(4.0), n(2.0)]), s("172.18.0.0/16"));
    assert_eq!(ok("cidrsubnet", vec![s("10.1.2.0/24"), n(4.0), n(15.0)]), s("10.1.2.240/28"));
    assert_eq!(ok("cidrsubnet", vec![s("10.0.0.0/8"), n(0.0), n(0.0)]), s("10.0.0.0/8"));
    assert_eq!(
        ok("cidrsubnet", vec![s("fd00:fd12:3456:7890::/56"), n(16.0), n(162.0)]),
        s("fd00:fd12:3456:7800:a200::/72")
    );
    assert_eq!(ok("cidrsubnet", vec![s("::/0"), n(128.0), n(1.0)]), s("::1/128"));
    assert!(
        bad("cidrsubnet", vec![s("10.0.0.0/24"), n(4.0), n(16.0)]).message.contains("accommodate")
    );
    assert!(
        bad("cidrsubnet", vec![s("10.0.0.0/24"), n(9.0), n(0.0)]).message.contains("insufficient")
    );
    assert!(call("cidrsubnet", vec![s("10.0.0.0/24"), n(-1.0), n(0.0)]).is_err());
    assert!(call("cidrsubnet", vec![s("10.0.0.0/24"), n(1.0), n(-1.0)]).is_err());
    assert!(
        bad("cidrsubnet", vec![s("not-a-cidr"), n(1.0), n(0.0)]).message.contains("invalid CIDR")
    );
}

#[test]
fn cidrhost_and_netmask() {
    assert_eq!(ok("cidrhost", vec![s("10.12.112.0/20"), n(16.0)]), s("10.12.112.16"));
    assert_eq!(ok("cidrhost", vec![s("10.12.112.0/20"), n(268.0)]), s("10.12.113.12"));
    assert_eq!(ok("cidrhost", vec![s("10.0.0.0/24"), n(-1.0)]), s("10.0.0.255"));
    assert_eq!(ok("cidrhost", vec![s("10.0.0.5/24"), n(0.0)]), s("10.0.0.0"));
    assert_eq!(
        ok("cidrhost", vec![s("fd00:fd12:3456:7890:00a2::/72"), n(34.0)]),
        s("fd00:fd12:3456:7890::22")
    );
    assert_eq!(
        ok("cidrhost", vec![s("::/0"), n(-1.0)]),
        s("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
    );
    assert!(bad("cidrhost", vec![s("10.0.0.0/24"), n(256.0)]).message.contains("accommodate"));
    assert!(call("cidrhost", vec![s("10.0.0.0/24"), n(-257.0)]).is_err());
    assert!(call("cidrhost", vec![s("10.0.0.0/33"), n(1.0)]).is_err());
    assert!(call("cidrhost", vec![s("010.0.0.0/8"), n(1.0)]).is_err());
    assert_eq!(ok("cidrnetmask", vec![s("172.16.0.0/12")]), s("255.240.0.0"));
    assert_eq!(ok("cidrnetmask", vec![s("0.0.0.0/0")]), s("0.0.0.0"));
    assert_eq!(ok("cidrnetmask", vec![s("1.2.3.4/32")]), s("255.255.255.255"));
    assert!(bad("cidrnetmask", vec![s("::/64")]).message.contains("IPv4"));
}

// --- encoding, files --------------------------------------------------------------------

#[test]
fn base64_and_hashes() {
    assert_eq!(ok("base64encode", vec![s("Hello World")]), s("SGVsbG8gV29ybGQ="));
    assert_eq!(ok("base64decode", vec![s("SGVsbG8gV29ybGQ=")]), s("Hello World"));
    assert!(bad("base64decode", vec![s("!!!")]).message.contains("base64"));
    assert!(bad("base64decode", vec![s("/w==")]).message.contains("UTF-8"));
    assert_eq!(
        ok("sha256", vec![s("hello world")]),
        s("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
    );
    assert_eq!(
        ok("base64sha256", vec![s("hello world")]),
        s("uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=")
    );
    assert!(ok("sha512", vec![s("")]).as_str().is_some_and(|h| h.starts_with("cf83e135")));
    assert!(ok("base64sha512", vec![s("x")]).as_str().is_some());
    assert!(ok("sha256", vec![secret("pw")]).is_sensitive());
}

#[test]
fn json_round_trip_and_limits() {
    let v = m(vec![("a", l(vec![n(1.0), b(true), Value::Null])), ("b", s("x"))]);
    let text = ok("jsonencode", vec![v.clone()]);
    assert_eq!(text, s(r#"{"a":[1,true,null],"b":"x"}"#));
    assert_eq!(ok("jsondecode", vec![text]), v);
    assert_eq!(ok("jsonencode", vec![n(f64::NAN)]), s("null"));
    assert!(bad("jsondecode", vec![s("{nope")]).message.contains("invalid JSON"));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(call("jsondecode", vec![s(&deep)]).is_err());
    // Beyond an f64 but not beyond Terraform's 512-bit floats: a number, as in Terraform.
    assert_eq!(
        ok("jsondecode", vec![s("1e400")]),
        Value::from_bignum(crate::value::bignum::BigNum::parse("1e400").unwrap())
    );
    assert_eq!(
        ok("jsonencode", vec![m(vec![("pw", secret("x"))])]),
        s(r#"{"pw":"x"}"#).mark_sensitive()
    );
    assert_eq!(ok("jsonencode", vec![l(vec![U])]), U);
}

#[test]
fn file_reads_relative_to_base_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hello.txt"), "hi\n").expect("write");
    std::fs::write(dir.path().join("bin"), [0xff, 0xfe]).expect("write");
    assert_eq!(call_in(dir.path(), "file", vec![s("hello.txt")]), Ok(s("hi\n")));
    let e = call_in(dir.path(), "file", vec![s("missing.txt")]).unwrap_err();
    assert!(e.message.contains("missing.txt"));
    let e = call_in(dir.path(), "file", vec![s("bin")]).unwrap_err();
    assert!(e.message.contains("UTF-8"));
    let e = call_in(dir.path(), "file", vec![s(".")]).unwrap_err();
    assert!(e.message.contains("cannot read"));
    // No end and no size: the read limit turns it into an error instead of exhausting memory.
    if Path::new("/dev/zero").exists() {
        assert!(call_in(dir.path(), "file", vec![s("/dev/zero")]).is_err());
    }
}

/// Expected bytes are Terraform 1.0.3's (`terraform output -json` of each call).
#[test]
fn yamlencode_writes_terraform_1_0_3_bytes() {
    let y = |v: Value| ok("yamlencode", vec![v]).as_str().unwrap_or_default().to_string();
    assert_eq!(y(s("plain")), "\"plain\"\n");
    assert_eq!(y(n(1.0)), "1\n...\n");
    assert_eq!(y(b(true)), "true\n...\n");
    assert_eq!(y(Value::Null), "null\n...\n");
    assert_eq!(y(l(vec![])), "[]\n");
    assert_eq!(y(m(vec![])), "{}\n");
    assert_eq!(y(s("a\nb")), "|-\n  a\n  b\n");
    assert_eq!(y(s("a\n\n")), "|+\n  a\n\n");
    assert_eq!(y(s("\n")), "|2+\n\n");
    assert_eq!(y(s(" x\ny")), "|2-\n   x\n  y\n");
    assert_eq!(y(s("\u{feff}ab")), "\"\\uFEFF\\x61\\x62\"\n");
    assert_eq!(
        y(m(vec![("a", l(vec![n(1.0), n(2.0)])), ("b", m(vec![("c", s("d"))]))])),
        "\"a\":\n- 1\n- 2\n\"b\":\n  \"c\": \"d\"\n"
    );
    assert_eq!(
        y(l(vec![s("a\nb\n"), m(vec![("x", s("y\n"))])])),
        "- |\n  a\n  b\n- \"x\": |\n    y\n"
    );
    let words = ["word"; 40].join(" ");
    assert_eq!(
        y(s(&words)),
        format!(
            "\"{}\n  {}\n  {}\"\n",
            ["word"; 17].join(" "),
            ["word"; 16].join(" "),
            ["word"; 7].join(" ")
        )
    );
    let long_key = format!("long key {}", "k".repeat(130));
    let v = m(vec![
        ("", n(3.0)),
        ("k", s("a\n\n")),
        ("l", s("  x\ny")),
        (long_key.as_str(), n(1.0)),
        ("m", s("a \nb")),
        ("n", s("\ta\nb")),
        ("o", s("\u{1F600}")),
        ("p", s("\u{e9}\u{85}")),
        ("r", l(vec![l(vec![]), m(vec![]), l(vec![n(1.0), l(vec![n(2.0)])])])),
        ("s", s(" lead")),
        ("t", s("")),
        ("x\ny", n(2.0)),
    ]);
    let expected = format!(
        "\"\": 3\n\"k\": |+\n  a\n\n\"l\": |2-\n    x\n  y\n? \"{long_key}\"\n: 1\n\
         \"m\": \"a \\nb\"\n\"n\": \"\\ta\\nb\"\n\"o\": \"\\U0001F600\"\n\"p\": \"\u{e9}\\N\"\n\
         \"r\":\n- []\n- {{}}\n- - 1\n  - - 2\n\"s\": \" lead\"\n\"t\": \"\"\n? |-\n  x\n  y\n: 2\n"
    );
    assert_eq!(y(v), expected);
}

// --- marks ------------------------------------------------------------------------------

#[test]
fn sensitive_and_nonsensitive() {
    assert_eq!(ok("sensitive", vec![s("a")]), secret("a"));
    assert_eq!(ok("sensitive", vec![secret("a")]), secret("a"));
    assert_eq!(ok("sensitive", vec![U]), U.mark_sensitive());
    assert_eq!(ok("nonsensitive", vec![secret("a")]), s("a"));
    // As in Terraform, a value that is not sensitive is an error (the call is a mistake).
    assert!(bad("nonsensitive", vec![s("a")]).message.contains("not sensitive"));
    assert_eq!(ok("nonsensitive", vec![U]), U);
    // Only the top-level mark goes.
    let nested = l(vec![secret("a")]).mark_sensitive();
    assert_eq!(ok("nonsensitive", vec![nested]), l(vec![secret("a")]));
}

#[test]
fn reading_functions_mark_results_of_any_nested_secret() {
    assert_eq!(ok("upper", vec![secret("a")]), secret("A"));
    assert_eq!(ok("join", vec![s(","), l(vec![s("a"), secret("b")])]), secret("a,b"));
    assert!(ok("yamlencode", vec![m(vec![("k", secret("v"))])]).is_sensitive());
    assert!(ok("cidrhost", vec![secret("10.0.0.0/8"), n(1.0)]).is_sensitive());
    // Unknown wins over the computation but keeps the mark.
    assert_eq!(ok("upper", vec![U.mark_sensitive()]), U.mark_sensitive());
    assert_eq!(ok("join", vec![s(","), l(vec![secret("a"), U])]), U.mark_sensitive());
}

#[test]
fn reading_functions_propagate_unknown_and_secret_arguments() {
    // (Functions of no arguments — timestamp, uuid — have no argument to propagate.)
    for def in DEFS.iter().filter(|d| matches!(d.imp, Imp::Pure(_)) && d.max != Some(0)) {
        let count = def.min.max(1);
        let mut args = vec![s("x"); count];
        args[0] = U;
        assert_eq!(call(def.name, args.clone()), Ok(U), "{}", def.name);
        args[0] = U.mark_sensitive();
        assert_eq!(call(def.name, args), Ok(U.mark_sensitive()), "{}", def.name);
        // A secret anywhere, even nested, marks whatever comes out.
        let mut args = vec![l(vec![secret("10.0.0.0/8")]); count];
        args[0] = secret("10.0.0.0/8");
        if let Ok(v) = call(def.name, args) {
            assert!(v.is_sensitive(), "{}: {v:?}", def.name);
        }
    }
}

// --- no panics, no leaks ----------------------------------------------------------------

fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        U,
        n(1e308),
        n(-1.0),
        n(f64::NAN),
        s(""),
        s("not-a-cidr"),
        s("%v %d %q %5.2f %% %[9]s"),
        s("10.0.0.0/8"),
        l(vec![n(1.0), l(vec![s("a"), l(vec![])]), m(vec![("k", U)])]),
        m(vec![("a", n(1.0)), ("plain-key", secret("s3cret"))]),
        secret("s3cret"),
    ]
}

fn check_no_leak(name: &str, args: &[Value], result: &R) {
    if name == "nonsensitive" {
        return;
    }
    match result {
        Ok(v) => assert!(!render_hcl(v).contains("s3cret"), "{name}({args:?}) leaked: {v:?}"),
        Err(e) => assert!(
            !e.message.contains("s3cret"),
            "{name}({args:?}) leaked in error: {}",
            e.message
        ),
    }
}

#[test]
fn every_function_survives_odd_arguments() {
    let grid = odd_values();
    for &name in function_names() {
        let (min, declared_max) = arity(name).unwrap_or((0, None));
        // All combinations of up to three arguments.
        let mut combos: Vec<Vec<usize>> = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<usize>> = combos
                .iter()
                .filter(|c| c.len() < 3)
                .flat_map(|c| {
                    (0..grid.len()).map(move |i| {
                        let mut c = c.clone();
                        c.push(i);
                        c
                    })
                })
                .collect();
            combos.extend(longer);
        }
        combos.sort();
        combos.dedup();
        // A deterministic sample of four-argument calls.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            let mut c = Vec::new();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                c.push((seed % grid.len() as u64) as usize);
            }
            combos.push(c);
        }
        for combo in combos {
            let args: Vec<Value> = combo.iter().filter_map(|&i| grid.get(i).cloned()).collect();
            let result = call(name, args.clone());
            if args.len() < min || declared_max.is_some_and(|m| args.len() > m) {
                assert!(result.is_err(), "{name} accepted {} args", args.len());
            }
            check_no_leak(name, &args, &result);
        }
    }
}

#[test]
fn every_function_survives_a_huge_list() {
    let big = l((0..10_000).map(|i| n(f64::from(i))).collect());
    let big_strs = l((0..10_000).map(|i| s(&format!("x{}", i % 97))).collect());
    let others = [s("a"), n(2.0), Value::Null, s("%s")];
    for &name in function_names() {
        let (min, max) = arity(name).unwrap_or((0, None));
        let max = max.unwrap_or(3).min(3);
        for count in min.max(1)..=max {
            for pos in 0..count {
                for other in &others {
                    for list in [&big, &big_strs] {
                        let args: Vec<Value> = (0..count)
                            .map(|i| if i == pos { list.clone() } else { other.clone() })
                            .collect();
                        let _ = call(name, args);
                    }
                }
            }
        }
    }
}

/// Functions Terraform added after 1.0.3, by their documented examples.
mod later {
    use super::super::{FunctionContext, call_function};
    use crate::value::Value;

    fn call(name: &str, args: Vec<Value>) -> Value {
        let cx = FunctionContext { base_dir: std::path::Path::new(".") };
        call_function(name, args, &cx).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    fn s(x: &str) -> Value {
        Value::string(x)
    }

    /// The examples of Terraform's documentation of functions added after 1.0.
    #[test]
    fn later_terraform_functions_match_their_documented_examples() {
        assert_eq!(call("startswith", vec![s("hello world"), s("hello")]), Value::Bool(true));
        assert_eq!(call("startswith", vec![s("hello world"), s("world")]), Value::Bool(false));
        assert_eq!(call("endswith", vec![s("hello world"), s("world")]), Value::Bool(true));
        assert_eq!(call("endswith", vec![s("hello world"), s("hello")]), Value::Bool(false));
        assert_eq!(call("strcontains", vec![s("hello world"), s("wor")]), Value::Bool(true));
        assert_eq!(call("strcontains", vec![s("hello world"), s("wod")]), Value::Bool(false));
        let ts = |a: &str, b: &str| call("timecmp", vec![s(a), s(b)]);
        assert_eq!(ts("2017-11-22T00:00:00Z", "2017-11-22T00:00:00Z"), Value::Number(0.0));
        assert_eq!(ts("2017-11-22T00:00:00Z", "2017-11-22T01:00:00Z"), Value::Number(-1.0));
        assert_eq!(ts("2017-11-22T01:00:00Z", "2017-11-22T00:00:00Z"), Value::Number(1.0));
        assert_eq!(ts("2017-11-22T01:00:00Z", "2017-11-22T00:00:00-01:00"), Value::Number(0.0));
        let Value::String(p) = call("plantimestamp", vec![]) else {
            panic!("plantimestamp is a string")
        };
        assert!(p.ends_with('Z') && p.len() == 20, "{p}");
    }

    #[test]
    fn go_durations_parse_like_go() {
        let d = super::parse_go_duration;
        assert_eq!(d("1h30m"), Some(time::Duration::minutes(90)));
        assert_eq!(d("-1.5s"), Some(time::Duration::milliseconds(-1500)));
        assert_eq!(d("1 hour"), None);
        assert_eq!(d(""), None);
    }

    #[test]
    fn globs_match_within_and_across_segments() {
        let g = |p: &str, s: &str| super::super::glob_match(p.as_bytes(), s.as_bytes());
        assert!(g("*.txt", "a.txt"));
        assert!(!g("*.txt", "d/a.txt"));
        assert!(g("**/*.txt", "d/e/a.txt"));
        assert!(g("**/*.txt", "a.txt"));
        assert!(g("d/?.txt", "d/a.txt"));
    }
}
