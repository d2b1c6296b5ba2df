//! File and path functions, relative to the calling module's directory
//! ([`super::FunctionContext::base_dir`]).

use super::*;

pub(super) fn f_file(args: &[Value], cx: &Cx) -> R {
    let p = want_str(arg(args, 0), 0, cx)?;
    let path = cx.base_dir.join(&p);
    let unreadable =
        |e: std::io::Error| arg_err(0, format!("cannot read file {}: {e}", cx.quote(&p)));
    // Read through a limit rather than trusting the size: /dev/zero or a FIFO has none.
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_STRING as u64 + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    check_string_size(bytes.len())?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        arg_err(
            0,
            format!(
                "contents of {} are not valid UTF-8 (use filebase64 for binary files)",
                cx.quote(&p)
            ),
        )
    })
}

pub(super) fn read_bytes(args: &[Value], cx: &Cx) -> Result<Vec<u8>, FunctionError> {
    let p = want_str(arg(args, 0), 0, cx)?;
    let path = cx.base_dir.join(&p);
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_STRING as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| arg_err(0, format!("cannot read file {}: {e}", cx.quote(&p))))?;
    check_string_size(bytes.len())?;
    Ok(bytes)
}

pub(super) fn f_filebase64(args: &[Value], cx: &Cx) -> R {
    Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(read_bytes(args, cx)?)))
}

pub(super) fn f_filemd5(args: &[Value], cx: &Cx) -> R {
    use md5::Digest as _;
    Ok(Value::String(hex::encode(md5::Md5::digest(read_bytes(args, cx)?))))
}

pub(super) fn f_filesha1(args: &[Value], cx: &Cx) -> R {
    use sha1::Digest as _;
    Ok(Value::String(hex::encode(sha1::Sha1::digest(read_bytes(args, cx)?))))
}

pub(super) fn f_filesha256(args: &[Value], cx: &Cx) -> R {
    use sha2::Digest as _;
    Ok(Value::String(hex::encode(sha2::Sha256::digest(read_bytes(args, cx)?))))
}

pub(super) fn f_filesha512(args: &[Value], cx: &Cx) -> R {
    use sha2::Digest as _;
    Ok(Value::String(hex::encode(sha2::Sha512::digest(read_bytes(args, cx)?))))
}

pub(super) fn f_filebase64sha256(args: &[Value], cx: &Cx) -> R {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(read_bytes(args, cx)?);
    Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(d)))
}

pub(super) fn f_filebase64sha512(args: &[Value], cx: &Cx) -> R {
    use sha2::Digest as _;
    let d = sha2::Sha512::digest(read_bytes(args, cx)?);
    Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(d)))
}

pub(super) fn f_fileexists(args: &[Value], cx: &Cx) -> R {
    let p = want_str(arg(args, 0), 0, cx)?;
    match std::fs::metadata(cx.base_dir.join(&p)) {
        Ok(m) if m.is_file() => Ok(Value::Bool(true)),
        Ok(_) => Err(arg_err(0, format!("{} is not a regular file", cx.quote(&p)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
        Err(e) => Err(arg_err(0, format!("cannot stat {}: {e}", cx.quote(&p)))),
    }
}

pub(super) fn f_basename(args: &[Value], cx: &Cx) -> R {
    // Go's filepath.Base: trailing slashes dropped, "" → ".", all slashes → "/".
    str_fn(args, cx, |s| {
        if s.is_empty() {
            return ".".to_string();
        }
        let t = s.trim_end_matches('/');
        if t.is_empty() {
            return "/".to_string();
        }
        t.rsplit('/').next().unwrap_or(t).to_string()
    })
}

pub(super) fn f_dirname(args: &[Value], cx: &Cx) -> R {
    // Go's filepath.Dir: everything before the last slash, cleaned; "." when there is none.
    str_fn(args, cx, |s| match s.rfind('/') {
        None => ".".to_string(),
        Some(i) => clean_path(s.get(..=i).unwrap_or("")),
    })
}

/// Go's filepath.Clean for the forms dirname produces.
pub(super) fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

pub(super) fn f_pathexpand(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| match (s.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => s.to_string(),
    })
}

pub(super) fn f_abspath(args: &[Value], cx: &Cx) -> R {
    let p = want_str(arg(args, 0), 0, cx)?;
    let path = std::path::Path::new(&p);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| err(format!("cannot find the current directory: {e}")))?
            .join(path)
    };
    Ok(Value::String(clean_path(&abs.to_string_lossy())))
}

/// `fileset(path, pattern)`: files (not directories) under `path` matching a glob with `*`,
/// `?`, `[…]` and `**`, as paths relative to `path`, sorted.
pub(super) fn f_fileset(args: &[Value], cx: &Cx) -> R {
    let base = want_str(arg(args, 0), 0, cx)?;
    let pattern = want_str(arg(args, 1), 1, cx)?;
    let root = cx.base_dir.join(&base);
    let mut found = Vec::new();
    let mut stack = vec![(root.clone(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if stack.len() + found.len() < MAX_ELEMENTS {
                    stack.push((e.path(), r));
                }
            } else if glob_match(pattern.as_bytes(), r.as_bytes()) {
                found.push(r);
            }
        }
    }
    found.sort();
    Ok(str_list(found))
}

/// Glob matching on `/`-separated paths: `*` and `?` stay within a segment, `**` spans any.
pub(super) fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = p.get(2..).unwrap_or(&[]);
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=s.len()).any(|i| {
                (i == 0 || s.get(i - 1) == Some(&b'/') || i == s.len())
                    && glob_match(rest, s.get(i..).unwrap_or(&[]))
            }) || glob_match(rest, s)
        }
        Some(b'*') => {
            let rest = p.get(1..).unwrap_or(&[]);
            (0..=s.len())
                .take_while(|&i| i == 0 || s.get(i - 1) != Some(&b'/'))
                .any(|i| glob_match(rest, s.get(i..).unwrap_or(&[])))
        }
        Some(b'?') => {
            s.first().is_some_and(|c| *c != b'/')
                && glob_match(p.get(1..).unwrap_or(&[]), s.get(1..).unwrap_or(&[]))
        }
        Some(c) => {
            s.first() == Some(c) && glob_match(p.get(1..).unwrap_or(&[]), s.get(1..).unwrap_or(&[]))
        }
    }
}
