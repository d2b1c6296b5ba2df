//! The `time` provider: time_static, time_sleep and time_rotating, with hashicorp/time semantics.
//!
//! What it promises:
//! - `time_static` records one instant (the given `rfc3339`, else the time of create) and
//!   exposes it broken down into UTC fields; it changes only when replaced (`triggers`).
//! - `time_sleep` waits `create_duration` when created and `destroy_duration` when destroyed.
//!   Durations are Go-style (`"30s"`, `"1m30s"`, `"500ms"`) and parsed strictly: anything else
//!   is an error at plan time. Changing a duration updates in place without sleeping.
//! - `time_rotating` computes `rotation_rfc3339` = base + the rotation_* amounts. Once the clock
//!   reaches it, `read` reports the object gone (as Terraform removes it from state) and `plan`
//!   of a still-saved object asks for a replacement, so anything keyed on it is regenerated.

use std::collections::BTreeMap;
use std::time::Duration;

use ::time::format_description::well_known::Rfc3339;
use ::time::{Date, Month, OffsetDateTime, UtcOffset};

use crate::provider::{
    AttributeSchema as A, CreateRequest, PlannedObject, Provider, ProviderError, ProviderSchema,
    ReadRequest, ResourceSchema, Schema,
};
use crate::value::{Type, Value};

pub struct TimeProvider {
    schema: ProviderSchema,
}

fn triggers() -> A {
    A::optional(Type::Map(Box::new(Type::String))).force_new()
}

/// The broken-down fields every timestamp resource exposes.
fn time_fields(base: Schema) -> Schema {
    ["unix", "year", "month", "day", "hour", "minute", "second"]
        .into_iter()
        .fold(base, |s, f| s.attr(f, A::computed(Type::Number)))
        .attr("id", A::computed(Type::String))
}

const ROTATION_UNITS: [&str; 5] =
    ["rotation_minutes", "rotation_hours", "rotation_days", "rotation_months", "rotation_years"];

impl TimeProvider {
    pub fn new() -> TimeProvider {
        let mut resources = BTreeMap::new();
        resources.insert(
            "time_static".to_string(),
            ResourceSchema::new(
                "A timestamp fixed at create (or given), kept until replaced.",
                time_fields(
                    Schema::new()
                        .attr("rfc3339", A::optional_computed(Type::String).force_new())
                        .attr("triggers", triggers()),
                ),
            ),
        );
        resources.insert(
            "time_sleep".to_string(),
            ResourceSchema::new(
                "Waits for a duration after create and/or before destroy.",
                Schema::new()
                    .attr("create_duration", A::optional(Type::String))
                    .attr("destroy_duration", A::optional(Type::String))
                    .attr("triggers", triggers())
                    .attr("id", A::computed(Type::String)),
            ),
        );
        let rotating = ROTATION_UNITS.iter().fold(
            Schema::new()
                .attr("rfc3339", A::optional_computed(Type::String).force_new())
                .attr("triggers", triggers())
                .attr("rotation_rfc3339", A::computed(Type::String)),
            |s, unit| s.attr(unit, A::optional(Type::Number).force_new()),
        );
        resources.insert(
            "time_rotating".to_string(),
            ResourceSchema::new(
                "A timestamp that is replaced once its rotation time has passed.",
                time_fields(rotating),
            ),
        );
        TimeProvider { schema: ProviderSchema { resources, ..Default::default() } }
    }
}

impl Default for TimeProvider {
    fn default() -> Self {
        Self::new()
    }
}

fn fatal(message: impl Into<String>) -> ProviderError {
    ProviderError::fatal(message)
}

fn str_attr(obj: &Value, key: &str) -> Option<String> {
    obj.get_attr(key).and_then(|v| v.as_str().map(str::to_string))
}

fn set(obj: &mut Value, key: &str, v: Value) {
    if let Value::Map(map) = obj {
        map.insert(key.to_string(), v);
    }
}

fn object_of(planned: &Value) -> Result<Value, ProviderError> {
    match planned.peel() {
        Value::Map(m) => Ok(Value::Map(m.clone())),
        other => Err(fatal(format!("expected an object, got {}", other.type_name()))),
    }
}

/// Parses a Go-style duration: one or more `<number><unit>` with units h, m, s, ms, us (µs)
/// and ns, or a bare `0`. Signs, spaces, missing units and unknown units are errors.
pub fn parse_duration(input: &str) -> Result<Duration, ProviderError> {
    let bad = |why: &str| {
        fatal(format!(
            "invalid duration {input:?}: {why} (expected e.g. \"30s\", \"1m30s\", \"500ms\")"
        ))
    };
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    if input.is_empty() {
        return Err(bad("empty"));
    }
    let mut rest = input;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad("expected a number"));
        }
        let value: f64 = num.parse().map_err(|_| bad("expected a number"))?;
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per = match unit {
            "h" => 3_600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            "" => return Err(bad("missing unit")),
            _ => return Err(bad(&format!("unknown unit {unit:?}"))),
        };
        total += value * nanos_per;
        rest = after;
    }
    // Anything beyond u64 nanoseconds (~584 years) is certainly a mistake.
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(bad("too long"));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

fn duration_attr(obj: &Value, key: &str) -> Result<Option<Duration>, ProviderError> {
    match obj.get_attr(key) {
        Some(v) if v.is_null() || v.is_unknown() => Ok(None),
        Some(v) => {
            let s = v.as_str().ok_or_else(|| fatal(format!("{key} must be a string")))?;
            parse_duration(s).map(Some).map_err(|e| fatal(format!("{key}: {}", e.message)))
        }
        None => Ok(None),
    }
}

fn parse_rfc3339(s: &str, key: &str) -> Result<OffsetDateTime, ProviderError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| fatal(format!("{key} {s:?} is not an RFC 3339 timestamp: {e}")))
}

fn format_rfc3339(t: OffsetDateTime) -> Result<String, ProviderError> {
    t.format(&Rfc3339).map_err(|e| fatal(format!("formatting a time failed: {e}")))
}

/// Whole seconds in UTC, the precision Terraform's RFC 3339 strings carry.
fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// The base instant: the configured `rfc3339` (kept as written), else now.
fn base_time(obj: &Value) -> Result<(String, OffsetDateTime), ProviderError> {
    match str_attr(obj, "rfc3339") {
        Some(s) => {
            let t = parse_rfc3339(&s, "rfc3339")?;
            Ok((s, t))
        }
        None => {
            let t = now_seconds();
            Ok((format_rfc3339(t)?, t))
        }
    }
}

/// Sets unix/year/…/second from `t`, in UTC.
fn set_fields(obj: &mut Value, t: OffsetDateTime) {
    let t = t.to_offset(UtcOffset::UTC);
    let n = |x: i64| Value::Number(x as f64);
    set(obj, "unix", n(t.unix_timestamp()));
    set(obj, "year", n(t.year() as i64));
    set(obj, "month", n(u8::from(t.month()) as i64));
    set(obj, "day", n(t.day() as i64));
    set(obj, "hour", n(t.hour() as i64));
    set(obj, "minute", n(t.minute() as i64));
    set(obj, "second", n(t.second() as i64));
}

/// Adds calendar months the way Go's `AddDate` does (which hashicorp/time uses): an overflowing
/// day rolls into the next month (Jan 31 + 1 month = Mar 3 or 2).
fn add_months(t: OffsetDateTime, months: i64) -> Option<OffsetDateTime> {
    let total = t.year() as i64 * 12 + (u8::from(t.month()) as i64 - 1) + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = Month::try_from((total.rem_euclid(12) + 1) as u8).ok()?;
    let first = Date::from_calendar_date(year, month, 1).ok()?;
    let date = first.checked_add(::time::Duration::days(t.day() as i64 - 1))?;
    Some(t.replace_date(date))
}

/// A whole, non-negative rotation amount, if set.
fn rotation_amount(obj: &Value, key: &str) -> Result<Option<i64>, ProviderError> {
    let Some(v) = obj.get_attr(key).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if v.is_unknown() {
        return Ok(None);
    }
    let n = v.as_f64().ok_or_else(|| fatal(format!("{key} must be a number")))?;
    if n < 1.0 || n.fract() != 0.0 || n > 1_000_000_000.0 {
        return Err(fatal(format!("{key} must be a whole number of at least 1, not {n}")));
    }
    Ok(Some(n as i64))
}

fn rotation_time(obj: &Value, base: OffsetDateTime) -> Result<OffsetDateTime, ProviderError> {
    let mut t = base;
    let mut any = false;
    let overflow = || fatal("the rotation time is out of range");
    for key in ROTATION_UNITS {
        let Some(n) = rotation_amount(obj, key)? else {
            continue;
        };
        any = true;
        t = match key {
            "rotation_minutes" => t.checked_add(::time::Duration::minutes(n)),
            "rotation_hours" => t.checked_add(::time::Duration::hours(n)),
            "rotation_days" => t.checked_add(::time::Duration::days(n)),
            "rotation_months" => add_months(t, n),
            _ => add_months(t, n.checked_mul(12).ok_or_else(overflow)?),
        }
        .ok_or_else(overflow)?;
    }
    if !any {
        return Err(fatal(
            "time_rotating needs one of rotation_minutes, rotation_hours, rotation_days, \
             rotation_months or rotation_years",
        ));
    }
    Ok(t)
}

fn create_static(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let (text, t) = base_time(&obj)?;
    set(&mut obj, "rfc3339", Value::string(text.clone()));
    set(&mut obj, "id", Value::string(text));
    set_fields(&mut obj, t);
    Ok(obj)
}

fn create_rotating(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let (text, t) = base_time(&obj)?;
    let rotation = rotation_time(&obj, t)?;
    set(&mut obj, "rfc3339", Value::string(text.clone()));
    set(&mut obj, "id", Value::string(text));
    set(&mut obj, "rotation_rfc3339", Value::string(format_rfc3339(rotation)?));
    set_fields(&mut obj, t);
    Ok(obj)
}

/// True once a saved time_rotating object has reached its rotation time.
fn rotation_due(obj: &Value, now: OffsetDateTime) -> Result<bool, ProviderError> {
    let Some(s) = str_attr(obj, "rotation_rfc3339") else {
        return Err(fatal("time_rotating state has no rotation_rfc3339"));
    };
    Ok(now >= parse_rfc3339(&s, "rotation_rfc3339")?)
}

fn plan_at(
    rtype: &str,
    prior: Option<&Value>,
    proposed: Value,
    now: OffsetDateTime,
) -> Result<PlannedObject, ProviderError> {
    let mut planned = proposed;
    let mut requires_replace = Vec::new();
    // Validate known arguments now, so a typo fails the plan rather than the apply.
    match rtype {
        "time_sleep" => {
            duration_attr(&planned, "create_duration")?;
            duration_attr(&planned, "destroy_duration")?;
        }
        "time_static" | "time_rotating" => {
            if let Some(s) = planned.get_attr("rfc3339").and_then(|v| v.as_str().map(String::from))
            {
                parse_rfc3339(&s, "rfc3339")?;
            }
            if rtype == "time_rotating" {
                for key in ROTATION_UNITS {
                    rotation_amount(&planned, key)?;
                }
            }
        }
        _ => {}
    }
    if rtype == "time_rotating"
        && let Some(prior) = prior
        && rotation_due(prior, now)?
    {
        // Everything computed is recomputed by the replacement.
        for key in
            ["rotation_rfc3339", "unix", "year", "month", "day", "hour", "minute", "second", "id"]
        {
            set(&mut planned, key, Value::Unknown);
        }
        // `rfc3339` is left as proposed: when configured it must stay, and when it was computed
        // the replacement is planned from configuration (as after the refresh that drops it).
        requires_replace.push("rotation_rfc3339".to_string());
    }
    Ok(PlannedObject { planned, requires_replace })
}

#[async_trait::async_trait]
impl Provider for TimeProvider {
    /// Keys, values and times made here: nothing remote holds them (`state recover`).
    async fn discover(
        &self,
        _rtype: &str,
    ) -> Result<crate::provider::Discovery, crate::provider::ProviderError> {
        Ok(crate::provider::Discovery::LocalOnly)
    }

    fn name(&self) -> &'static str {
        "time"
    }

    fn schema(&self) -> &ProviderSchema {
        &self.schema
    }

    fn plan(
        &self,
        rtype: &str,
        prior: Option<&Value>,
        proposed: Value,
    ) -> Result<PlannedObject, ProviderError> {
        plan_at(rtype, prior, proposed, OffsetDateTime::now_utc())
    }

    async fn read(
        &self,
        rtype: &str,
        requests: &[ReadRequest],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        let now = OffsetDateTime::now_utc();
        requests
            .iter()
            .map(|r| {
                // An expired rotation is dropped from state, so the next plan creates it anew.
                if rtype == "time_rotating" && rotation_due(&r.prior, now)? {
                    Ok(None)
                } else {
                    Ok(Some(r.prior.clone()))
                }
            })
            .collect()
    }

    async fn create(
        &self,
        rtype: &str,
        request: CreateRequest<'_>,
    ) -> Result<Value, ProviderError> {
        match rtype {
            "time_static" => create_static(request.planned),
            "time_rotating" => create_rotating(request.planned),
            "time_sleep" => {
                let mut obj = object_of(request.planned)?;
                if let Some(d) = duration_attr(&obj, "create_duration")? {
                    tokio::time::sleep(d).await;
                }
                set(&mut obj, "id", Value::string(format_rfc3339(now_seconds())?));
                Ok(obj)
            }
            other => Err(fatal(format!("unknown resource type {other}"))),
        }
    }

    async fn update(
        &self,
        rtype: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ProviderError> {
        // Only time_sleep's durations change in place; they take effect at the next
        // create/destroy, so there is nothing to wait for now. Keep the computed id.
        let mut obj = object_of(planned)?;
        if rtype == "time_sleep" {
            duration_attr(&obj, "create_duration")?;
            duration_attr(&obj, "destroy_duration")?;
            if let Some(id) = prior.get_attr("id") {
                set(&mut obj, "id", id);
            }
        }
        Ok(obj)
    }

    async fn delete(&self, rtype: &str, prior: &Value) -> Result<(), ProviderError> {
        if rtype == "time_sleep"
            && let Some(d) = duration_attr(prior, "destroy_duration")?
        {
            tokio::time::sleep(d).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ResourceInstanceAddr;

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    async fn create(rtype: &str, planned: Value) -> Result<Value, ProviderError> {
        let provider = TimeProvider::new();
        let address = ResourceInstanceAddr::parse(&format!("{rtype}.test")).unwrap();
        let tags = BTreeMap::new();
        provider
            .create(
                rtype,
                CreateRequest {
                    address: &address,
                    client_token: "token-1",
                    ownership_tags: &tags,
                    planned: &planned,
                    resuming: false,
                },
            )
            .await
    }

    fn num(v: &Value, key: &str) -> f64 {
        v.get_attr(key).and_then(|v| v.as_f64()).unwrap()
    }

    #[test]
    fn duration_parsing_table() {
        let ok: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("30s", Duration::from_secs(30)),
            ("1m30s", Duration::from_secs(90)),
            ("500ms", Duration::from_millis(500)),
            ("1h", Duration::from_secs(3600)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
            ("1.5s", Duration::from_millis(1500)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("42ns", Duration::from_nanos(42)),
            ("1h1m1s1ms", Duration::from_millis(3_661_001)),
        ];
        for (input, want) in ok {
            assert_eq!(parse_duration(input).unwrap(), *want, "{input}");
        }
        for bad in [
            "", "30", "s", "-1s", "+1s", "1d", "1 s", " 1s", "1s ", "1.2.3s", ".s", "1sm", "1S",
            "abc", "1m30", "1e3s",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.message.contains("invalid duration"), "{bad:?}: {err}");
        }
    }

    #[tokio::test]
    async fn time_static_breaks_a_given_time_into_utc_fields() {
        let v =
            create("time_static", obj(&[("rfc3339", Value::string("2024-02-29T23:34:56-02:00"))]))
                .await
                .unwrap();
        assert_eq!(v.get_attr("rfc3339").unwrap().as_str(), Some("2024-02-29T23:34:56-02:00"));
        assert_eq!(v.get_attr("id"), v.get_attr("rfc3339"));
        assert_eq!(num(&v, "unix"), 1_709_256_896.0);
        assert_eq!(num(&v, "year"), 2024.0);
        assert_eq!(num(&v, "month"), 3.0);
        assert_eq!(num(&v, "day"), 1.0);
        assert_eq!(num(&v, "hour"), 1.0);
        assert_eq!(num(&v, "minute"), 34.0);
        assert_eq!(num(&v, "second"), 56.0);
    }

    #[tokio::test]
    async fn time_static_defaults_to_now_and_rejects_garbage() {
        let before = OffsetDateTime::now_utc().unix_timestamp();
        let v = create("time_static", obj(&[("rfc3339", Value::Unknown)])).await.unwrap();
        let after = OffsetDateTime::now_utc().unix_timestamp();
        let unix = num(&v, "unix") as i64;
        assert!((before..=after).contains(&unix));
        let text = v.get_attr("rfc3339").unwrap().as_str().unwrap().to_string();
        assert_eq!(parse_rfc3339(&text, "x").unwrap().unix_timestamp(), unix);
        assert!(text.ends_with('Z'), "{text}");

        let err = create("time_static", obj(&[("rfc3339", Value::string("yesterday"))]))
            .await
            .unwrap_err();
        assert!(err.message.contains("RFC 3339"), "{err}");
        let provider = TimeProvider::new();
        assert!(
            provider
                .plan("time_static", None, obj(&[("rfc3339", Value::string("2024-13-01"))]))
                .is_err()
        );
    }

    #[tokio::test]
    async fn time_sleep_sleeps_and_validates_at_plan() {
        let started = std::time::Instant::now();
        let v =
            create("time_sleep", obj(&[("create_duration", Value::string("50ms"))])).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(v.get_attr("id").unwrap().as_str().is_some());

        let provider = TimeProvider::new();
        let started = std::time::Instant::now();
        provider
            .delete("time_sleep", &obj(&[("destroy_duration", Value::string("30ms"))]))
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(30));

        let bad = obj(&[("create_duration", Value::string("30 seconds"))]);
        let err = provider.plan("time_sleep", None, bad.clone()).unwrap_err();
        assert!(err.message.contains("create_duration"), "{err}");
        assert!(create("time_sleep", bad).await.is_err());
        let unknown = obj(&[("destroy_duration", Value::Unknown)]);
        assert!(provider.plan("time_sleep", None, unknown).is_ok());
    }

    #[tokio::test]
    async fn time_rotating_computes_the_rotation_time() {
        let v = create(
            "time_rotating",
            obj(&[
                ("rfc3339", Value::string("2024-01-31T10:00:00Z")),
                ("rotation_months", Value::Number(1.0)),
                ("rotation_days", Value::Number(1.0)),
                ("rotation_hours", Value::Number(2.0)),
            ]),
        )
        .await
        .unwrap();
        // +2h, +1 day (Feb 1), +1 month (Mar 1): amounts add up, smallest unit first.
        assert_eq!(v.get_attr("rotation_rfc3339").unwrap().as_str(), Some("2024-03-01T12:00:00Z"));
        let jan31 = parse_rfc3339("2023-01-31T00:00:00Z", "x").unwrap();
        assert_eq!(format_rfc3339(add_months(jan31, 1).unwrap()).unwrap(), "2023-03-03T00:00:00Z");
        assert_eq!(
            format_rfc3339(add_months(jan31, 12 * 2).unwrap()).unwrap(),
            "2025-01-31T00:00:00Z"
        );
        let err = create("time_rotating", obj(&[])).await.unwrap_err();
        assert!(err.message.contains("rotation_minutes"), "{err}");
        let err = create("time_rotating", obj(&[("rotation_days", Value::Number(-1.0))]))
            .await
            .unwrap_err();
        assert!(err.message.contains("rotation_days"), "{err}");
    }

    #[tokio::test]
    async fn expired_rotation_is_gone_on_read_and_replaced_on_plan() {
        let provider = TimeProvider::new();
        let address = ResourceInstanceAddr::parse("time_rotating.certs").unwrap();
        let past = create(
            "time_rotating",
            obj(&[
                ("rfc3339", Value::string("2020-01-01T00:00:00Z")),
                ("rotation_days", Value::Number(30.0)),
            ]),
        )
        .await
        .unwrap();
        let current =
            create("time_rotating", obj(&[("rotation_years", Value::Number(1.0))])).await.unwrap();
        let read = provider
            .read(
                "time_rotating",
                &[
                    ReadRequest { address: address.clone(), prior: past.clone() },
                    ReadRequest { address, prior: current.clone() },
                ],
            )
            .await
            .unwrap();
        assert_eq!(read, vec![None, Some(current.clone())]);

        let plan = provider.plan("time_rotating", Some(&past), past.clone()).unwrap();
        assert_eq!(plan.requires_replace, vec!["rotation_rfc3339".to_string()]);
        assert_eq!(plan.planned.get_attr("rotation_rfc3339"), Some(Value::Unknown));
        let plan = provider.plan("time_rotating", Some(&current), current.clone()).unwrap();
        assert!(plan.requires_replace.is_empty());
        assert_eq!(plan.planned, current);
    }
}
