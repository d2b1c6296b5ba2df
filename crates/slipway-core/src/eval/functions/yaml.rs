//! `yamlencode` and `yamldecode` as Terraform 1.0.3 has them (go-cty-yaml v1.0.2).
//!
//! **Encoding** reproduces go-cty-yaml's bytes, because users hash them and put them in
//! user-data: the encoder below is a port of the part of libyaml's emitter (go-yaml's
//! `emitterc.go`) that go-cty-yaml's events reach — block mappings and sequences, empty
//! collections in flow style (`[]`, `{}`), strings double-quoted (literal blocks `|` when they
//! hold a line break and a block can carry them), numbers, bools and null plain, keys longer
//! than 128 bytes or spanning lines as complex keys (`? key`), double-quoted strings folded at
//! column 80, and the `...` document end after a plain scalar at the root. The state variables
//! and their names follow the Go code so that the two can be read side by side.
//!
//! **Decoding** follows go-cty-yaml's resolver (`resolve.go`): YAML 1.1 booleans (`yes`, `on`,
//! `y`…), integers in decimal, `0x` and `0o`, floats, `.inf`, null (`~`, `null`, empty),
//! timestamps as RFC 3339 strings, quoted scalars always strings; mappings become objects,
//! sequences tuples. The YAML parser is granit-parser (serde-saphyr's, already in the tree).

mod decode;
mod encode;

pub use decode::decode;
pub use encode::encode;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn d(src: &str) -> Value {
        decode(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }
    fn num(text: &str) -> Value {
        Value::from_bignum(crate::value::bignum::BigNum::parse(text).unwrap())
    }

    /// Expected values are Terraform 1.0.3's (`terraform console`, go-cty-yaml v1.0.2).
    #[test]
    fn yamldecode_resolves_scalars_as_go_cty_yaml() {
        assert_eq!(d("0x1F"), num("31"));
        assert_eq!(d("0o17"), num("15"));
        assert_eq!(d("017"), num("17"));
        assert_eq!(d("-0x10"), num("-16"));
        assert_eq!(d("1_000"), num("1000"));
        assert_eq!(d("1e3"), num("1000"));
        assert_eq!(d(".5"), num("0.5"));
        assert_eq!(d("12345678901234567890123"), num("12345678901234567890123"));
        for t in ["y", "Yes", "ON", "true"] {
            assert_eq!(d(t), Value::Bool(true), "{t}");
        }
        assert_eq!(d("Off"), Value::Bool(false));
        for n in ["~", "null", "NULL"] {
            assert_eq!(d(n), Value::Null, "{n}");
        }
        // Quoted scalars are strings whatever they spell; so are near-misses.
        assert_eq!(d("'yes'"), Value::String("yes".into()));
        assert_eq!(d("\"1\""), Value::String("1".into()));
        assert_eq!(d("0b101"), Value::String("0b101".into()));
        assert_eq!(d("!!str 1"), Value::String("1".into()));
        // Timestamps become RFC 3339 strings without fractions.
        assert_eq!(d("2001-12-14"), Value::String("2001-12-14T00:00:00Z".into()));
        assert_eq!(
            d("2001-12-14t21:59:43.10-05:00"),
            Value::String("2001-12-14T21:59:43-05:00".into())
        );
        assert_eq!(d("2001-12-14 21:59:43.10"), Value::String("2001-12-14T21:59:43Z".into()));
        assert_eq!(d("2001-2-3"), Value::String("2001-02-03T00:00:00Z".into()));
        assert_eq!(d("2001-13-03"), Value::String("2001-13-03".into()));
    }

    #[test]
    fn yamldecode_keys_anchors_and_merges() {
        let v = d("1: a\ntrue: b\n1.50: c\ny: d");
        let keys: Vec<&String> = match &v {
            Value::Map(m) => m.keys().collect(),
            other => panic!("{other:?}"),
        };
        // `y` is a YAML 1.1 bool, so its key is "true" (and replaces the earlier one).
        assert_eq!(keys, ["1", "1.5", "true"]);
        let v = d("a: &x {b: 1}\nc: *x\n<<: {e: 2, c: 0}\nf: [*x]");
        let Value::Map(m) = &v else { panic!() };
        assert_eq!(m["f"], Value::List(vec![m["a"].clone()]));
        // A merge key's entries override those before it (go-cty-yaml assigns them in turn).
        assert_eq!(m["c"], num("0"));
        assert_eq!(m["e"], num("2"));
    }

    #[test]
    fn yamldecode_errors_are_located_and_hostile_input_is_bounded() {
        for (src, want) in [
            ("", "missing start of document"),
            ("+", "cannot parse \"+\""),
            ("!foo x", "unsupported tag"),
            (".nan", "NaN"),
            ("~: a", "mapping key cannot be null"),
            ("? [a]\n: b", "only strings are allowed as mapping keys"),
            ("--- 1\n--- 2", "only a single document"),
            ("a: b: c", "line 1, column"),
        ] {
            let e = decode(src).unwrap_err();
            assert!(e.contains(want), "{src:?}: {e}");
            assert!(e.starts_with("on line "), "{src:?}: {e}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        // (The parser or the decoder refuses it, whichever limit comes first.)
        assert!(decode(&deep).unwrap_err().starts_with("on line "));
        // A billion laughs: each level doubles the value.
        let mut laughs = String::from("a0: &a0 [x, x]\n");
        for i in 1..40 {
            laughs.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
        }
        assert!(decode(&laughs).unwrap_err().contains("more than"));
    }
}
