//! Hashes and identifiers: SHA-1/2, MD5, UUIDs, bcrypt.

use super::*;

pub(super) fn f_sha256(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| hex::encode(sha2::Sha256::digest(s.as_bytes())))
}

pub(super) fn f_sha512(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| hex::encode(sha2::Sha512::digest(s.as_bytes())))
}

pub(super) fn f_base64sha256(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| {
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s.as_bytes()))
    })
}

pub(super) fn f_base64sha512(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| {
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(s.as_bytes()))
    })
}

pub(super) fn f_md5(args: &[Value], cx: &Cx) -> R {
    use md5::Digest as _;
    str_fn(args, cx, |s| hex::encode(md5::Md5::digest(s.as_bytes())))
}

pub(super) fn f_sha1(args: &[Value], cx: &Cx) -> R {
    use sha1::Digest as _;
    str_fn(args, cx, |s| hex::encode(sha1::Sha1::digest(s.as_bytes())))
}

pub(super) fn f_uuid(_args: &[Value], _cx: &Cx) -> R {
    Ok(Value::String(uuid::Uuid::new_v4().to_string()))
}

pub(super) fn f_uuidv5(args: &[Value], cx: &Cx) -> R {
    use sha1::Digest as _;
    let ns = want_str(arg(args, 0), 0, cx)?;
    let name = want_str(arg(args, 1), 1, cx)?;
    let namespace = match ns.as_str() {
        "dns" => uuid::Uuid::NAMESPACE_DNS,
        "url" => uuid::Uuid::NAMESPACE_URL,
        "oid" => uuid::Uuid::NAMESPACE_OID,
        "x500" => uuid::Uuid::NAMESPACE_X500,
        other => uuid::Uuid::parse_str(other).map_err(|_| {
            arg_err(0, format!("{} is not a UUID nor dns, url, oid or x500", cx.quote(other)))
        })?,
    };
    // RFC 4122 §4.3: SHA-1 of namespace ‖ name, version 5, variant 10.
    let mut h = sha1::Sha1::new();
    h.update(namespace.as_bytes());
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(Value::String(uuid::Uuid::from_bytes(b).to_string()))
}

/// Terraform's `bcrypt(str, cost = 10)`: a salted hash in Go's `$2a$` form; a new salt each
/// call, so (as in Terraform) the result differs every time.
pub(super) fn f_bcrypt(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let cost = match args.get(1) {
        Some(v) => want_int(v, 1, cx)?,
        None => 10,
    };
    // Go's x/crypto/bcrypt: a cost below 4 means the default (10), above 31 is an error; a
    // password longer than 72 bytes is truncated, as the bcrypt crate's `hash` does.
    let cost = if cost < 4 { 10 } else { cost };
    if cost > 31 {
        return Err(arg_err(
            1,
            format!(
                "error occured generating password\ncrypto/bcrypt: cost {cost} is outside allowed range (4,31)"
            ),
        ));
    }
    let parts = bcrypt::hash_with_result(s.as_bytes(), cost as u32)
        .map_err(|e| arg_err(0, format!("bcrypt: {e}")))?;
    Ok(Value::String(parts.format_for_version(bcrypt::Version::TwoA)))
}
