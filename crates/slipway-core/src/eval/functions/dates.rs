//! Time functions: RFC 3339 timestamps, Go durations, Terraform's `formatdate` layout.

use super::*;

pub(super) fn parse_rfc3339(
    s: &str,
    i: usize,
    cx: &Cx,
) -> Result<time::OffsetDateTime, FunctionError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| arg_err(i, format!("{} is not a valid RFC 3339 timestamp", cx.quote(s))))
}

pub(super) fn rfc3339(t: time::OffsetDateTime) -> String {
    // Go's time.RFC3339: "Z" for UTC, no fractional seconds.
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub(super) fn f_timestamp(_args: &[Value], _cx: &Cx) -> R {
    Ok(Value::String(rfc3339(time::OffsetDateTime::now_utc())))
}

/// One timestamp for the whole run, as Terraform takes one per plan.
pub(super) fn f_plantimestamp(_args: &[Value], _cx: &Cx) -> R {
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Ok(Value::String(AT.get_or_init(|| rfc3339(time::OffsetDateTime::now_utc())).clone()))
}

pub(super) fn f_timeadd(args: &[Value], cx: &Cx) -> R {
    let ts = want_str(arg(args, 0), 0, cx)?;
    let t = parse_rfc3339(&ts, 0, cx)?;
    let d = want_str(arg(args, 1), 1, cx)?;
    let dur = parse_go_duration(&d)
        .ok_or_else(|| arg_err(1, format!("invalid duration {}", cx.quote(&d))))?;
    let t2 = t.checked_add(dur).ok_or_else(|| arg_err(1, "the result is out of range"))?;
    Ok(Value::String(rfc3339(t2)))
}

/// A Go duration: `[-+]` then one or more `<number><unit>` with units ns us µs ms s m h.
pub(super) fn parse_go_duration(s: &str) -> Option<time::Duration> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(time::Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest.get(..n_end)?.parse().ok()?;
        rest = rest.get(n_end..)?;
        let u_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match rest.get(..u_end)? {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * unit;
        rest = rest.get(u_end..)?;
    }
    if !total.is_finite() || total > 1e15 {
        return None;
    }
    let d = time::Duration::seconds_f64(total);
    Some(if neg { -d } else { d })
}

pub(super) fn f_timecmp(args: &[Value], cx: &Cx) -> R {
    let a = parse_rfc3339(&want_str(arg(args, 0), 0, cx)?, 0, cx)?;
    let b = parse_rfc3339(&want_str(arg(args, 1), 1, cx)?, 1, cx)?;
    Ok(Value::Number(match a.cmp(&b) {
        std::cmp::Ordering::Less => -1.0,
        std::cmp::Ordering::Equal => 0.0,
        std::cmp::Ordering::Greater => 1.0,
    }))
}

/// The names `formatdate` spells out (`MMMM`, `EEEE`; three letters for `MMM`, `EEE`).
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

pub(super) fn f_formatdate(args: &[Value], cx: &Cx) -> R {
    let spec = want_str(arg(args, 0), 0, cx)?;
    let t = parse_rfc3339(&want_str(arg(args, 1), 1, cx)?, 1, cx)?;
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'literal', with '' for a quote.
            let mut j = i + 1;
            if chars.get(j) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            loop {
                match chars.get(j) {
                    None => return Err(arg_err(0, "unterminated quoted literal in format")),
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        out.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(ch) => {
                        out.push(*ch);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let month = usize::from(u8::from(t.month())) - 1;
        let wd = usize::from(t.weekday().number_days_from_monday());
        let (h12, pm) = match t.hour() {
            0 => (12, false),
            h @ 1..=11 => (h, false),
            12 => (12, true),
            h => (h - 12, true),
        };
        let off = t.offset();
        let (oh, om) = (off.whole_hours(), off.minutes_past_hour().abs());
        let sign = if off.is_negative() { '-' } else { '+' };
        let piece = match (c, n) {
            ('Y', 4) => format!("{:04}", t.year()),
            ('Y', 2) => format!("{:02}", t.year().rem_euclid(100)),
            ('M', 1) => format!("{}", month + 1),
            ('M', 2) => format!("{:02}", month + 1),
            ('M', 3) => MONTHS[month].get(..3).unwrap_or("").to_string(),
            ('M', 4) => MONTHS[month].to_string(),
            ('D', 1) => format!("{}", t.day()),
            ('D', 2) => format!("{:02}", t.day()),
            ('E', 3) => DAYS[wd].get(..3).unwrap_or("").to_string(),
            ('E', 4) => DAYS[wd].to_string(),
            ('h', 1) => format!("{}", t.hour()),
            ('h', 2) => format!("{:02}", t.hour()),
            ('H', 1) => format!("{h12}"),
            ('H', 2) => format!("{h12:02}"),
            ('A', 2) => (if pm { "PM" } else { "AM" }).to_string(),
            ('a', 2) => (if pm { "pm" } else { "am" }).to_string(),
            ('m', 1) => format!("{}", t.minute()),
            ('m', 2) => format!("{:02}", t.minute()),
            ('s', 1) => format!("{}", t.second()),
            ('s', 2) => format!("{:02}", t.second()),
            ('Z', 1) if off.is_utc() => "Z".to_string(),
            ('Z', 1) => format!("{sign}{:02}:{om:02}", oh.abs()),
            ('Z', 3) if off.is_utc() => "UTC".to_string(),
            ('Z', 3) => format!("{sign}{:02}{om:02}", oh.abs()),
            ('Z', 4) => format!("{sign}{:02}:{om:02}", oh.abs()),
            ('Z', 5) => format!("{sign}{:02}{om:02}", oh.abs()),
            _ => {
                return Err(arg_err(
                    0,
                    format!("invalid date format verb {}", cx.quote(&c.to_string().repeat(n))),
                ));
            }
        };
        out.push_str(&piece);
        i += n;
    }
    Ok(Value::String(out))
}
