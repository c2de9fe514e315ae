//! `spec.replicas` as the API server reads it, for every kind that has one.

use serde_json::Value;

/// `spec.replicas` of a workload as the API server reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// A count (absent or `null` defaults to 1, as the API server does).
    Count(u64),
    /// Not a non-negative 32-bit integer (the JSON type is named); the API server would refuse it.
    Unparseable(&'static str),
}

impl Replicas {
    /// `spec.replicas` of `workload`: absent or `null` → 1 (the API default for Deployments,
    /// ReplicaSets and StatefulSets); an integer in `0..=i32::MAX` → that count; anything else (a
    /// string, a negative or fractional number) is unparseable.
    pub fn of(workload: &Value) -> Self {
        match workload.pointer("/spec/replicas") {
            None | Some(Value::Null) => Self::Count(1),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) if n <= i32::MAX as u64 => Self::Count(n),
                _ => Self::Unparseable("number out of range"),
            },
            Some(other) => Self::Unparseable(json_type(other)),
        }
    }

    pub fn count(self) -> Option<u64> {
        match self {
            Self::Count(n) => Some(n),
            Self::Unparseable(_) => None,
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn replicas_default_to_one_and_refuse_what_the_api_server_refuses() {
        let of = |spec: Value| Replicas::of(&json!({ "spec": spec }));
        assert_eq!(of(json!({})), Replicas::Count(1));
        assert_eq!(of(json!({"replicas": null})), Replicas::Count(1));
        assert_eq!(of(json!({"replicas": 0})), Replicas::Count(0));
        assert_eq!(of(json!({"replicas": 3})), Replicas::Count(3));
        assert_eq!(
            of(json!({"replicas": "2"})),
            Replicas::Unparseable("string")
        );
        assert_eq!(
            of(json!({"replicas": -1})),
            Replicas::Unparseable("number out of range")
        );
        assert_eq!(
            of(json!({"replicas": 1.5})),
            Replicas::Unparseable("number out of range")
        );
        assert_eq!(
            of(json!({"replicas": 2147483648u64})),
            Replicas::Unparseable("number out of range")
        );
    }
}
