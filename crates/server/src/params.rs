//! Query strings, read into the `Deserialize` structs of the use cases.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tiport_core::error::ErrorKind;

use crate::error::ApiError;

/// The query string as `T`, read the way the service has always read it, which clients rely
/// on: a parameter `T` does not name is ignored (clients add their own, such as
/// `api-version`), one named twice takes its last value, and values are text (invalid
/// percent-encoding read as U+FFFD), so reading never fails and the use case judges each
/// value in its own words, after the caller was authenticated.
///
/// `Query<T>` alone differs in one way: serde refuses a field named twice ("duplicate field"),
/// where the service took the last. So the pairs go through a map first, and `T` is read from
/// the map as JSON values (serde's own map deserializer cannot read a text into the
/// `Option<String>` of a parameter that may be absent).
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let bad = |e: String| ApiError::new(ErrorKind::BadRequest, e);
        let Query(pairs) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map_err(|e| bad(e.body_text()))?;
        let fields = pairs.into_iter().map(|(k, v)| (k, Value::String(v)));
        serde_json::from_value(Value::Object(fields.collect()))
            .map(Params)
            .map_err(|e| bad(format!("the query string could not be read: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiport_core::query::ListParams;

    async fn read(uri: &str) -> ListParams {
        let (mut parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
        let Params(p) = Params::<ListParams>::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        p
    }

    #[tokio::test]
    async fn unknown_parameters_are_ignored_and_the_last_of_a_name_wins() {
        let p = read("/x?type=indicator&api-version=2024-01-01&limit=x&limit=5&%FF=1").await;
        assert_eq!(p.object_type.as_deref(), Some("indicator"));
        assert_eq!(p.limit.as_deref(), Some("5"));
        let p = read("/x").await;
        assert!(p.limit.is_none() && p.object_type.is_none());
        let p = read("/x?label=%FF%FE&source=a+b%20c&original=").await;
        assert_eq!(p.label.as_deref(), Some("\u{FFFD}\u{FFFD}"));
        assert_eq!(p.source.as_deref(), Some("a b c"));
        assert_eq!(p.original.as_deref(), Some(""));
    }
}
