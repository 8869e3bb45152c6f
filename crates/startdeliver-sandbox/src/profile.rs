//! The wire profile: the paths, key names and response shapes that the sandbox speaks.
//!
//! Every name the sandbox reads from or writes to the wire comes from a [`WireProfile`]. A
//! sandbox started with a deliberately different profile, such as usage records keyed by
//! `type` instead of `kind`, tests how a client finds out which names a server accepts.

use serde::{Deserialize, Serialize};

/// Paths, key names and response shapes of the Startdeliver API as the sandbox serves it.
///
/// The defaults follow the best public evidence about Startdeliver's REST API. Paths are single
/// segments below the base URL, without slashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WireProfile {
    /// Path segment of the user collection (`/user`, `/user/{id}`).
    pub user_path: String,
    /// Path segment of the customer collection.
    pub customer_path: String,
    /// Path segment of the usage-record collection.
    pub usage_path: String,
    /// Path segment that describes the caller's API key (`GET /me`).
    pub me_path: String,

    /// URL parameter that carries the URL-encoded JSON query of a find, and the body key that
    /// carries the same query in a `POST` with a method override.
    pub query_param: String,
    /// Query key of the exact-match filter object.
    pub filter_key: String,
    /// Query key of the maximum number of records to return.
    pub limit_key: String,
    /// Query key of the number of matching records to skip.
    pub offset_key: String,
    /// Header that turns a `POST` into a find when its value is `GET`.
    pub method_override_header: String,

    /// Key of the list in a find response, and of the record when `wrap_records` is set.
    pub result_key: String,
    /// When true, single records are sent as `{"result": record}` instead of bare.
    pub wrap_records: bool,

    /// Key of the server-assigned record id.
    pub id_key: String,
    /// User key that contains the id of the user's customer.
    pub customer_link: String,

    /// Usage key of the user id (required).
    pub usage_user: String,
    /// Usage key of the customer id (optional).
    pub usage_customer: String,
    /// Usage key of the event kind, such as `track` or `page` (required).
    pub usage_kind: String,
    /// Usage key of the event name.
    pub usage_name: String,
    /// Usage key of the event time.
    pub usage_date: String,
    /// Usage key of the Segment message id.
    pub usage_message_id: String,
    /// Usage key of the event properties object.
    pub usage_properties: String,
}

impl Default for WireProfile {
    fn default() -> Self {
        Self {
            user_path: "user".to_owned(),
            customer_path: "customer".to_owned(),
            usage_path: "usage".to_owned(),
            me_path: "me".to_owned(),
            query_param: "query".to_owned(),
            filter_key: "filter".to_owned(),
            limit_key: "limit".to_owned(),
            offset_key: "offset".to_owned(),
            method_override_header: "X-HTTP-Method-Override".to_owned(),
            result_key: "result".to_owned(),
            wrap_records: false,
            id_key: "id".to_owned(),
            customer_link: "customerId".to_owned(),
            usage_user: "user".to_owned(),
            usage_customer: "customer".to_owned(),
            usage_kind: "kind".to_owned(),
            usage_name: "name".to_owned(),
            usage_date: "date".to_owned(),
            usage_message_id: "messageId".to_owned(),
            usage_properties: "properties".to_owned(),
        }
    }
}
