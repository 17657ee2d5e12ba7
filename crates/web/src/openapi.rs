//! The OpenAPI 3.1 document of the JSON API (`GET /api/v1/openapi.json`).
//!
//! Built from the same table as the router ([`crate::api::endpoints`]): an endpoint the
//! router serves is in the document by construction, with the schema of the type its
//! handler returns (derived from that type, doc comments and all, by `schemars`), its
//! query parameters (the fields of the handler's `Query` types) and the errors it can
//! answer. `tests/openapi.rs` checks real responses of every endpoint against it.

use axum::routing::MethodRouter;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::AppState;

/// The schema of a type, as a plain function (the table holds them).
pub(crate) type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T` (a `$ref` to `components/schemas` for a named struct).
pub(crate) fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// The body of a `{"error": "..."}` answer.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ErrorBody {
    /// What was wrong, in English.
    pub(crate) error: String,
}

/// What a request carries.
pub(crate) enum Body {
    /// Nothing.
    None,
    /// JSON of this shape.
    Json(SchemaFn),
    /// JSON of this shape, or nothing.
    OptionalJson(SchemaFn),
    /// A file as schools export them: CSV or XLSX.
    File,
}

/// What a successful answer carries.
pub(crate) enum Reply {
    /// JSON of this shape.
    Json(SchemaFn),
    /// Prometheus' text format.
    Prometheus,
}

/// One operation of the API: how the router serves it and how the document describes it.
pub(crate) struct Endpoint {
    /// `get`, `put` or `post`.
    pub(crate) method: &'static str,
    /// Under `/api/v1`, with `{name}` for path parameters (axum's syntax is the same).
    pub(crate) path: &'static str,
    /// The `operationId`.
    pub(crate) id: &'static str,
    /// One line on what it does.
    pub(crate) summary: &'static str,
    /// More: defaults, limits, who may call it.
    pub(crate) description: &'static str,
    /// The path parameters: name, description, whether a whole number.
    pub(crate) path_params: &'static [(&'static str, &'static str, bool)],
    /// The handler's `Query` types: each field is a query parameter.
    pub(crate) query: &'static [SchemaFn],
    /// The request body.
    pub(crate) body: Body,
    /// The `200` answer.
    pub(crate) ok: Reply,
    /// Statuses it answers with `{"error"}` besides those every endpoint may answer.
    pub(crate) errors: &'static [u16],
    /// Whether a rejected import's `422` `{"errors": [...]}` is among its answers.
    pub(crate) import_errors: bool,
    /// The handler.
    pub(crate) route: MethodRouter<AppState>,
}

/// What any endpoint (all are behind the token) may answer: no token, a failure of the node, its
/// store failing (`503`, repeat later) or full (`507`).
const COMMON_ERRORS: [u16; 4] = [401, 500, 503, 507];

fn reason(code: u16) -> &'static str {
    match code {
        400 => "The request is malformed: the message names what and where.",
        401 => "Missing or wrong `Authorization: Bearer <api.token>`.",
        403 => "This node may not do that (its level or role in the hierarchy).",
        404 => "No such unit in this node's subtree, or no such item.",
        409 => "The node is busy with a conflicting operation; repeat later.",
        413 => "The body is over the API's limit (64 MiB).",
        422 => "Understood but refused: the message says why.",
        500 => "The node failed; its log says more.",
        503 => "The node's store is failing for now; repeat the request later.",
        507 => "The node's disk is full; nothing was written.",
        _ => "Error.",
    }
}

/// The parameters of `Query` types: one per property, with its description, required
/// when the field is not optional.
fn query_params(query: &[SchemaFn], g: &mut SchemaGenerator) -> Vec<Value> {
    let mut out = Vec::new();
    for f in query {
        let s = f(g).to_value();
        let required: Vec<&str> = s["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, prop) in s["properties"].as_object().into_iter().flatten() {
            let mut prop = prop.clone();
            let description = prop
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(Value::Null);
            // `Option<T>` is `["T", "null"]`: a parameter is absent rather than null.
            if let Some(types) = prop["type"].as_array() {
                let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                prop["type"] = match types.as_slice() {
                    [one] => one.clone(),
                    _ => Value::Array(types),
                };
            }
            if let Some(o) = prop.as_object_mut() {
                o.remove("default");
            }
            out.push(json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "description": description,
                "schema": prop,
            }));
        }
    }
    out
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// The operation object of `e`.
fn operation(e: &Endpoint, g: &mut SchemaGenerator, requests: &mut SchemaGenerator) -> Value {
    let mut params: Vec<Value> = e
        .path_params
        .iter()
        .map(|(name, description, integer)| {
            json!({
                "name": name, "in": "path", "required": true, "description": description,
                "schema": if *integer {
                    json!({"type": "integer", "minimum": 0})
                } else {
                    json!({"type": "string"})
                },
            })
        })
        .collect();
    params.extend(query_params(e.query, requests));
    let mut op = json!({
        "operationId": e.id,
        "summary": e.summary,
        "description": e.description,
        "parameters": params,
    });
    let body = match &e.body {
        Body::None => None,
        Body::Json(f) | Body::OptionalJson(f) => Some(json!({
            "required": matches!(e.body, Body::Json(_)),
            "content": json_content(f(requests).to_value()),
        })),
        Body::File => Some(json!({
            "required": true,
            "description": "The file as the school's software exports it: CSV (UTF-8, header \
                            row) or XLSX (the first worksheet), with the columns of CONTRACT.md.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                    {"schema": {"type": "string", "contentEncoding": "binary"}},
            },
        })),
    };
    if let Some(b) = body {
        op["requestBody"] = b;
    }
    let mut responses = Map::new();
    let ok = match &e.ok {
        Reply::Json(f) => json!({
            "description": "Done.",
            "content": json_content(f(g).to_value()),
        }),
        Reply::Prometheus => json!({
            "description": "Prometheus' text exposition format (version 0.0.4).",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }),
    };
    responses.insert("200".into(), ok);
    let error = schema::<ErrorBody>(g).to_value();
    let mut codes: Vec<u16> = e.errors.to_vec();
    codes.extend(COMMON_ERRORS);
    if !matches!(e.body, Body::None) {
        codes.push(413);
    }
    codes.sort_unstable();
    codes.dedup();
    for code in codes {
        let content = if code == 422 && e.import_errors {
            // A rejected file names every bad row; another refusal is `{"error"}`.
            json!({"anyOf": [schema::<eduioc_records::ImportErrors>(g).to_value(), error]})
        } else {
            error.clone()
        };
        responses.insert(
            code.to_string(),
            json!({"description": reason(code), "content": json_content(content)}),
        );
    }
    op["responses"] = Value::Object(responses);
    op
}

/// The document of `endpoints`.
pub(crate) fn document(endpoints: &[Endpoint]) -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .for_serialize()
        .into_generator();
    // What requests carry (bodies, query strings), inline: their types are the
    // handlers' own and named nowhere else.
    let mut requests = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .for_deserialize()
        .into_generator();
    let mut paths = Map::new();
    for e in endpoints {
        let op = operation(e, &mut g, &mut requests);
        let item = paths.entry(e.path.to_string()).or_insert_with(|| json!({}));
        item[e.method] = op;
    }
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "EduIOC node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The JSON API every EduIOC node serves (school, office or \
                department alike), under `/api/v1`. Every request, this document's too, needs \
                `Authorization: Bearer <contents of api.token>`. Figures are of the node's \
                own subtree as it holds it now; `unit` defaults to the node's own unit. \
                Errors are `{\"error\": \"...\"}`. Lists that can be long take `limit` and \
                `cursor` and return `next` while more follow. Prometheus also scrapes \
                `/metrics` (the same as `/api/v1/metrics`).",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The contents of the node's `api.token`.",
                },
            },
            "schemas": schemas,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use super::*;

    fn refs(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.insert(r.clone());
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_path_parameter_is_described_and_every_reference_resolves() {
        let endpoints = crate::api::endpoints();
        let doc = document(&endpoints);
        let mut ids = BTreeSet::new();
        for e in &endpoints {
            assert!(ids.insert(e.id), "operationId {} twice", e.id);
            let in_path: Vec<&str> = e
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let described: Vec<&str> = e.path_params.iter().map(|p| p.0).collect();
            assert_eq!(in_path, described, "{} {}", e.method, e.path);
            let op = &doc["paths"][e.path][e.method];
            assert_eq!(op["operationId"], e.id);
            assert!(op["responses"]["200"].is_object(), "{}", e.id);
        }
        let mut all = BTreeSet::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} does not resolve"
            );
        }
        if std::env::var_os("EDUIOC_PRINT_OPENAPI").is_some() {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
    }
}
