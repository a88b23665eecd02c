//! A [`SessionRecord`] as a Redis hash: one field per column, times as Unix
//! microseconds, `user_data` as JSON, absent optional fields left out.

use fred::prelude::Value;
use uap_ports::{SessionRecord, SessionState, StoreError};

use crate::error::malformed;
#[cfg(test)]
use crate::time::MAX_MICROS;
use crate::time::{instant, micros};

/// Extra life of a record (and its pointers) after its `retain_until()`:
/// room for clock skew between UAP and Redis.
pub(crate) const GRACE_MS: i64 = 5 * 60 * 1000;
/// The Redis expiry (Unix ms) of a record: its `retain_until()` plus the grace.
pub(crate) fn expire_at_ms(record: &SessionRecord) -> i64 {
    (micros(record.retain_until()).div_euclid(1_000) + 1 + GRACE_MS).max(1)
}

/// The index score of a record: its `retain_until()` in µs.
pub(crate) fn score(record: &SessionRecord) -> String {
    micros(record.retain_until()).to_string()
}

/// The field/value pairs of `record`.
pub(crate) fn encode(record: &SessionRecord) -> Vec<String> {
    let mut fields = Vec::with_capacity(32);
    let mut put = |name: &str, value: String| {
        fields.push(name.to_owned());
        fields.push(value);
    };
    put("id", record.session_id.clone());
    put("user", record.user_id.clone());
    put("family", record.family_id.clone());
    put("created", micros(record.created_at).to_string());
    put("expires", micros(record.expires_at).to_string());
    put("last", micros(record.last_activity).to_string());
    put("data", record.user_data.to_string());
    if let Some(device) = &record.device_id {
        put("device", device.clone());
    }
    if let Some(ip) = &record.ip_address {
        put("ip", ip.clone());
    }
    if let Some(agent) = &record.user_agent {
        put("agent", agent.clone());
    }
    if let Some(refresh) = record.refresh_expires_at {
        put("refresh", micros(refresh).to_string());
    }
    put("auth", micros(record.auth_time).to_string());
    if let Some(fingerprint) = &record.credential_fingerprint {
        put("fp", fingerprint.clone());
    }
    match &record.state {
        SessionState::Active => put("state", "active".to_owned()),
        SessionState::Rotated { successor_id, at } => {
            put("state", "rotated".to_owned());
            put("successor", successor_id.clone());
            put("rotated_at", micros(*at).to_string());
        }
    }
    fields
}

/// A reply value as text.
pub(crate) fn text(value: Value) -> Result<String, StoreError> {
    match value {
        Value::String(s) => Ok(s.to_string()),
        Value::Bytes(b) => String::from_utf8(b.to_vec()).map_err(|_| malformed("a session field is not UTF-8")),
        Value::Integer(i) => Ok(i.to_string()),
        other => Err(malformed(format!("expected text, got {:?}", other.kind()))),
    }
}

/// A reply value as a list.
pub(crate) fn array(value: Value) -> Result<Vec<Value>, StoreError> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(malformed(format!("expected an array, got {:?}", other.kind()))),
    }
}

/// The fields of a record hash, in the order [`decode_fields`] expects an
/// `HMGET` reply.
pub(crate) const FIELDS: [&str; 16] = [
    "id",
    "user",
    "family",
    "created",
    "expires",
    "last",
    "data",
    "device",
    "ip",
    "agent",
    "refresh",
    "state",
    "successor",
    "rotated_at",
    "auth",
    "fp",
];

/// A record from an `HGETALL` reply (a flat array or a map); `None` when
/// the hash is empty (no such record). Unknown fields are ignored.
pub(crate) fn decode(value: Value) -> Result<Option<SessionRecord>, StoreError> {
    let mut fields: [Option<String>; 16] = Default::default();
    let mut put = |name: Value, value: Value| -> Result<(), StoreError> {
        let name = text(name)?;
        if let Some(slot) = FIELDS.iter().position(|field| *field == name) {
            fields[slot] = Some(text(value)?);
        }
        Ok(())
    };
    match value {
        Value::Map(map) => {
            for (name, value) in map.inner() {
                put(Value::from(name), value)?;
            }
        }
        other => {
            let mut items = array(other)?.into_iter();
            while let (Some(name), Some(value)) = (items.next(), items.next()) {
                put(name, value)?;
            }
        }
    }
    from_fields(fields)
}

/// A record from an `HMGET` reply for [`FIELDS`]; `None` when every field
/// is missing (no such record).
pub(crate) fn decode_fields(value: Value) -> Result<Option<SessionRecord>, StoreError> {
    let values = array(value)?;
    if values.len() != FIELDS.len() {
        return Err(malformed(format!("HMGET answered {} values for {} fields", values.len(), FIELDS.len())));
    }
    let mut fields: [Option<String>; 16] = Default::default();
    for (slot, value) in fields.iter_mut().zip(values) {
        *slot = match value {
            Value::Null => None,
            value => Some(text(value)?),
        };
    }
    from_fields(fields)
}

fn from_fields(fields: [Option<String>; 16]) -> Result<Option<SessionRecord>, StoreError> {
    if fields.iter().all(Option::is_none) {
        return Ok(None);
    }
    let [
        id,
        user,
        family,
        created,
        expires,
        last,
        data,
        device,
        ip,
        agent,
        refresh,
        state,
        successor,
        rotated_at,
        auth,
        fingerprint,
    ] = fields;
    let required = |value: Option<String>, name: &str| value.ok_or_else(|| malformed(format!("session lacks {name}")));
    let id = required(id, "id")?;
    let state = match required(state, "state")?.as_str() {
        "active" => SessionState::Active,
        "rotated" => SessionState::Rotated {
            successor_id: successor.unwrap_or_default(),
            at: instant("rotated_at", &required(rotated_at, "rotated_at")?)?,
        },
        other => return Err(malformed(format!("session {id} has state {other:?}"))),
    };
    let user_data = serde_json::from_str(&required(data, "data")?)
        .map_err(|e| malformed(format!("session {id} user_data: {e}")))?;
    let created_at = instant("created", &required(created, "created")?)?;
    Ok(Some(SessionRecord {
        user_id: required(user, "user")?,
        device_id: device,
        created_at,
        expires_at: instant("expires", &required(expires, "expires")?)?,
        last_activity: instant("last", &required(last, "last")?)?,
        ip_address: ip,
        user_agent: agent,
        user_data: std::sync::Arc::new(user_data),
        family_id: required(family, "family")?,
        refresh_expires_at: refresh.map(|t| instant("refresh", &t)).transpose()?,
        state,
        // Records written before the field existed: their own creation.
        auth_time: auth.map(|t| instant("auth", &t)).transpose()?.unwrap_or(created_at),
        credential_fingerprint: fingerprint,
        session_id: id,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    fn flat(fields: Vec<String>) -> Value {
        Value::Array(fields.into_iter().map(|f| Value::String(f.into())).collect())
    }

    #[test]
    fn records_round_trip_to_the_microsecond() {
        let t = datetime!(2025-03-04 05:06:07.123_456 UTC);
        let record = SessionRecord {
            session_id: "s1".into(),
            user_id: "u1".into(),
            device_id: Some(String::new()),
            created_at: t,
            expires_at: t + Duration::hours(1),
            last_activity: t,
            ip_address: None,
            user_agent: Some("ua «x»".into()),
            user_data: std::sync::Arc::new(json!({"a": [1, 2.5, null], "b": {}})),
            family_id: "s0".into(),
            refresh_expires_at: None,
            state: SessionState::Rotated { successor_id: "s2".into(), at: t - Duration::seconds(1) },
            auth_time: t - Duration::days(2),
            credential_fingerprint: Some("fp".into()),
        };
        assert_eq!(decode(flat(encode(&record))).unwrap(), Some(record.clone()));
        let active = SessionRecord { state: SessionState::Active, device_id: None, ..record };
        assert_eq!(decode(flat(encode(&active))).unwrap(), Some(active));
        assert_eq!(decode(Value::Array(Vec::new())).unwrap(), None);
    }

    /// What Redis answers to `HMGET key FIELDS…` for a hash holding `fields`.
    fn hmget(fields: &[String]) -> Value {
        let pairs: Vec<(&str, &str)> = fields.chunks(2).map(|pair| (pair[0].as_str(), pair[1].as_str())).collect();
        let values = FIELDS
            .iter()
            .map(|name| {
                pairs.iter().find(|(field, _)| field == name).map_or(Value::Null, |(_, v)| Value::String((*v).into()))
            })
            .collect();
        Value::Array(values)
    }

    #[test]
    fn hmget_replies_decode_like_hgetall_replies() {
        let t = datetime!(2025-03-04 05:06:07.123_456 UTC);
        let record = SessionRecord {
            session_id: "s1".into(),
            user_id: "u1".into(),
            device_id: Some("phone".into()),
            created_at: t,
            expires_at: t + Duration::hours(1),
            last_activity: t,
            ip_address: Some("::1".into()),
            user_agent: None,
            user_data: std::sync::Arc::new(json!({"id": "u1"})),
            family_id: "s0".into(),
            refresh_expires_at: Some(t + Duration::days(1)),
            state: SessionState::Rotated { successor_id: "s2".into(), at: t },
            auth_time: t,
            credential_fingerprint: None,
        };
        let fields = encode(&record);
        assert!(fields.chunks(2).all(|pair| FIELDS.contains(&pair[0].as_str())), "FIELDS names every field");
        assert_eq!(decode_fields(hmget(&fields)).unwrap(), Some(record.clone()));
        assert_eq!(decode_fields(hmget(&fields)).unwrap(), decode(flat(fields)).unwrap());
        assert_eq!(decode_fields(Value::Array(vec![Value::Null; FIELDS.len()])).unwrap(), None);
        assert!(matches!(decode_fields(Value::Array(vec![Value::Null; 3])), Err(StoreError::Backend(_))));
    }

    #[test]
    fn nanoseconds_are_truncated_and_far_instants_clamped() {
        assert_eq!(micros(datetime!(1970-01-01 00:00:00.000_001_999 UTC)), 1);
        assert_eq!(micros(datetime!(1969-12-31 23:59:59.999_999_5 UTC)), -1);
        assert_eq!(micros(datetime!(9999-12-31 00:00:00 UTC)), MAX_MICROS);
    }

    #[test]
    fn broken_records_are_backend_errors() {
        let broken = flat(vec!["id".into(), "x".into(), "state".into(), "paused".into()]);
        assert!(matches!(decode(broken), Err(StoreError::Backend(_))));
    }
}
