//! HTTP routing: discovery, OpenAPI, the resource paths and the admin endpoints.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use serde_json::{Value, json};

use crate::api::{self, DeleteOpts, PatchType, Target, WriteOpts};
use crate::body::Body;
use crate::cluster::Shared;
use crate::discovery;
use crate::faults::FaultSpec;
use crate::meta::{FieldSelector, LabelSelector};
use crate::resources::ResourceInfo;
use crate::status::ApiError;
use crate::watch::{self, WatchParams};

/// Decoded query parameters (the last value of a repeated key wins).
#[derive(Debug, Default, Clone)]
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(q.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }
}

/// A request as the router sees it (body already read).
#[derive(Debug)]
pub(crate) struct Req {
    method: Method,
    path: String,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
    bypass_faults: bool,
}

impl Req {
    pub(crate) fn new(
        method: Method,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
        bypass_faults: bool,
    ) -> Self {
        Self {
            method,
            path: uri.path().to_string(),
            query: Query::parse(uri.query()),
            headers,
            body,
            bypass_faults,
        }
    }

    fn header(&self, name: http::header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

enum Route {
    Version,
    Health,
    Api,
    Apis,
    ApiGroup(String),
    ApiResources(String, String),
    OpenApiV3,
    OpenApiV3Doc(String, String),
    Admin(Vec<String>),
    Resource(Target, bool),
    NotFound,
}

fn route(shared: &Shared, path: &str) -> Route {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::Api,
        ["apis"] => Route::Apis,
        ["apis", g] => Route::ApiGroup(g.to_string()),
        ["api", v] => Route::ApiResources(String::new(), v.to_string()),
        ["apis", g, v] => Route::ApiResources(g.to_string(), v.to_string()),
        ["openapi", "v3"] => Route::OpenApiV3,
        ["openapi", "v3", "api", v] => Route::OpenApiV3Doc(String::new(), v.to_string()),
        ["openapi", "v3", "apis", g, v] => Route::OpenApiV3Doc(g.to_string(), v.to_string()),
        ["admin", rest @ ..] => Route::Admin(rest.iter().map(|x| x.to_string()).collect()),
        ["api", v, rest @ ..] => resource_route(shared, "", v, rest),
        ["apis", g, v, rest @ ..] => resource_route(shared, g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(shared: &Shared, group: &str, version: &str, rest: &[&str]) -> Route {
    let (legacy_watch, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let (ns, plural, name, sub) = match rest {
        ["namespaces", ns, sub @ ("status" | "finalize")] => {
            (None, "namespaces", Some(*ns), Some(*sub))
        }
        ["namespaces", ns, plural] => (Some(*ns), *plural, None, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub] => (Some(*ns), *plural, Some(*name), Some(*sub)),
        [plural] => (None, *plural, None, None),
        [plural, name] => (None, *plural, Some(*name), None),
        [plural, name, sub] => (None, *plural, Some(*name), Some(*sub)),
        _ => return Route::NotFound,
    };
    let Some(info) = shared.store.registry().get(group, version, plural) else {
        return Route::NotFound;
    };
    // Namespaced objects need a namespace; cluster-scoped ones must not have one.
    if (info.namespaced && ns.is_none() && name.is_some()) || (!info.namespaced && ns.is_some()) {
        return Route::NotFound;
    }
    match sub {
        None => {}
        Some("status") if info.status_subresource => {}
        Some(_) => return Route::NotFound,
    }
    Route::Resource(
        Target {
            info,
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        },
        legacy_watch,
    )
}

fn json_response(code: u16, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn value_response(code: u16, v: &Value) -> Response<Body> {
    json_response(code, Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
}

pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = value_response(e.code, &e.to_status());
    if e.code == 429 {
        r.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    r
}

fn verb_of(req: &Req, t: &Target, legacy_watch: bool) -> &'static str {
    match (&req.method, t.name.is_some()) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if legacy_watch || req.query.flag("watch") => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _)
            if PatchType::from_content_type(req.header(http::header::CONTENT_TYPE))
                == Some(PatchType::Apply) =>
        {
            "apply"
        }
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}

/// Handles a request: routing, faults (latency, injected errors), then the verb.
pub(crate) async fn handle(shared: &Arc<Shared>, req: Req) -> Response<Body> {
    let route = route(shared, &req.path);
    if !req.bypass_faults && !matches!(route, Route::Admin(_)) {
        let (verb, info): (&str, Option<&ResourceInfo>) = match &route {
            Route::Resource(t, lw) => (verb_of(&req, t, *lw), Some(&t.info)),
            _ => ("discovery", None),
        };
        let (delay, err) = shared.faults.check(verb, info);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(e) = err {
            tracing::debug!(cluster = %shared.name, %verb, code = e.code, "injected fault");
            return error_response(&e);
        }
    }
    let resp = execute(shared, route, &req);
    tracing::debug!(cluster = %shared.name, method = %req.method, path = %req.path, status = resp.status().as_u16(), "request");
    resp
}

/// Handles a request that cannot stream (no watch), synchronously; returns code and body.
pub(crate) fn dispatch_sync(shared: &Arc<Shared>, req: Req) -> (u16, Bytes) {
    let route = route(shared, &req.path);
    if let Route::Resource(t, lw) = &route
        && verb_of(&req, t, *lw) == "watch"
    {
        let e = ApiError::bad_request("watch is not available to synchronous callers");
        return (e.code, Bytes::from(e.to_status().to_string()));
    }
    let resp = execute(shared, route, &req);
    let code = resp.status().as_u16();
    (code, resp.into_body().into_full().unwrap_or_default())
}

fn execute(shared: &Arc<Shared>, route: Route, req: &Req) -> Response<Body> {
    let reg = || shared.store.registry();
    let get_only = |r: Response<Body>| {
        if req.method == Method::GET || req.method == Method::HEAD {
            r
        } else {
            error_response(&ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({})",
                req.path
            )))
        }
    };
    match route {
        Route::Version => get_only(value_response(200, &discovery::version())),
        Route::Health => get_only(json_response(200, Bytes::from_static(b"ok"))),
        Route::Api | Route::Apis
            if discovery::wants_aggregated(req.header(http::header::ACCEPT)) =>
        {
            let doc = discovery::aggregated(&reg(), matches!(route, Route::Api));
            let mut r = value_response(200, &doc);
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(discovery::AGGREGATED_V2),
            );
            get_only(r)
        }
        Route::Api => {
            let host = req.header(http::header::HOST);
            let host = if host.is_empty() {
                "127.0.0.1:6443"
            } else {
                host
            };
            get_only(value_response(200, &discovery::core_versions(host)))
        }
        Route::Apis => get_only(value_response(200, &discovery::group_list(&reg()))),
        Route::ApiGroup(g) => match discovery::group(&reg(), &g) {
            Some(v) => get_only(value_response(200, &v)),
            None => error_response(&ApiError::path_not_found(&req.path)),
        },
        Route::ApiResources(g, v) => match discovery::resource_list(&reg(), &g, &v) {
            Some(v) => get_only(value_response(200, &v)),
            None => error_response(&ApiError::path_not_found(&req.path)),
        },
        Route::OpenApiV3 => get_only(value_response(200, &discovery::openapi_index(&reg()))),
        Route::OpenApiV3Doc(g, v) => match discovery::openapi_doc(&reg(), &g, &v) {
            Some(v) => get_only(value_response(200, &v)),
            None => error_response(&ApiError::path_not_found(&req.path)),
        },
        Route::Admin(rest) => admin(shared, &rest, req),
        Route::Resource(t, lw) => match resource(shared, &t, lw, req) {
            Ok(r) => r,
            Err(e) => error_response(&e),
        },
        Route::NotFound => error_response(&ApiError::path_not_found(&req.path)),
    }
}

fn is_json_body(ct: &str) -> bool {
    let base = ct.split(';').next().unwrap_or_default().trim();
    base.is_empty() || base == "application/json" || base == "*/*"
}

fn resource(
    shared: &Arc<Shared>,
    t: &Target,
    legacy_watch: bool,
    req: &Req,
) -> Result<Response<Body>, ApiError> {
    let q = &req.query;
    let ct = req.header(http::header::CONTENT_TYPE);
    let given = q.get("fieldManager").filter(|m| !m.is_empty());
    let manager = match given {
        Some(m) => m.to_string(),
        None => {
            let ua = req.header(http::header::USER_AGENT);
            let m = ua.split('/').next().unwrap_or_default().trim();
            if m.is_empty() { "unknown" } else { m }.to_string()
        }
    };
    let opts = WriteOpts {
        manager,
        dry_run: q.get("dryRun") == Some("All"),
        force: q.flag("force"),
        manager_given: given.is_some(),
    };
    let verb = verb_of(req, t, legacy_watch);
    let r = match verb {
        "get" => api::get(shared, t)?,
        "list" => api::list(shared, t, q)?,
        "watch" => return watch_response(shared, t, q),
        "create" => {
            if t.name.is_some() {
                return Err(ApiError::method_not_allowed(
                    "POST is not allowed on a named object",
                ));
            }
            if !is_json_body(ct) {
                return Err(ApiError::unsupported_media_type(ct));
            }
            api::create(shared, t, &opts, &req.body)?
        }
        "update" => {
            if !is_json_body(ct) {
                return Err(ApiError::unsupported_media_type(ct));
            }
            api::replace(shared, t, &opts, &req.body)?
        }
        "patch" | "apply" => {
            let kind = PatchType::from_content_type(ct)
                .ok_or_else(|| ApiError::unsupported_media_type(ct))?;
            api::patch(shared, t, &opts, kind, &req.body)?
        }
        "delete" => api::delete(shared, t, &DeleteOpts::parse(&req.body, opts.dry_run)?)?,
        "deletecollection" => {
            api::delete_collection(shared, t, q, &DeleteOpts::parse(&req.body, opts.dry_run)?)?
        }
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "method {} is not allowed on {}",
                req.method, req.path
            )));
        }
    };
    Ok(json_response(r.code, r.body))
}

fn watch_response(shared: &Arc<Shared>, t: &Target, q: &Query) -> Result<Response<Body>, ApiError> {
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let since = match q.get("resourceVersion").unwrap_or_default() {
        "" | "0" => None,
        rv => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?,
        ),
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(shared.max_watch_timeout)
        .min(shared.max_watch_timeout);
    let p = WatchParams {
        namespace: t.namespace.clone(),
        labels,
        fields,
        since,
        send_initial_events: q.flag("sendInitialEvents"),
        bookmarks: q.flag("allowWatchBookmarks"),
        timeout,
    };
    let body = watch::start(shared, t.info.clone(), p);
    let mut r = Response::new(body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

fn ok() -> Response<Body> {
    value_response(200, &json!({"status": "ok"}))
}

/// `/admin/…`: faults, watches, compaction, reachability, state, and writes as an external
/// actor (`/admin/external/<api path>`, any verb, faults bypassed).
fn admin(shared: &Arc<Shared>, rest: &[String], req: &Req) -> Response<Body> {
    let r: Vec<&str> = rest.iter().map(String::as_str).collect();
    let f = &shared.faults;
    match (&req.method, r.as_slice()) {
        (&Method::POST, ["faults"]) => {
            let spec: Result<FaultSpec, _> = serde_json::from_slice(&req.body);
            match spec
                .map_err(|e| e.to_string())
                .and_then(FaultSpec::into_fault)
            {
                Ok(fault) => {
                    f.inject(fault);
                    ok()
                }
                Err(e) => error_response(&ApiError::bad_request(e)),
            }
        }
        (&Method::DELETE, ["faults"]) => {
            f.clear();
            ok()
        }
        (&Method::POST, ["watches", "drop"]) => {
            f.drop_watches();
            ok()
        }
        (&Method::POST, ["watches", "expire"]) => {
            let n = req
                .query
                .get("count")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            f.expire_next_watches(n);
            ok()
        }
        (&Method::POST, ["compact"]) => {
            shared.store.compact();
            ok()
        }
        (&Method::POST, ["unreachable"]) => {
            let secs: f64 = req
                .query
                .get("seconds")
                .and_then(|c| c.parse().ok())
                .unwrap_or(5.0);
            f.set_reachable(false);
            let s = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await;
                s.faults.set_reachable(true);
            });
            ok()
        }
        (&Method::GET, ["state"]) => value_response(200, &shared.store.snapshot()),
        (_, ["external", path @ ..]) => {
            let inner = Req {
                method: req.method.clone(),
                path: format!("/{}", path.join("/")),
                query: req.query.clone(),
                headers: req.headers.clone(),
                body: req.body.clone(),
                bypass_faults: true,
            };
            let route = route(shared, &inner.path);
            execute(shared, route, &inner)
        }
        _ => error_response(&ApiError::path_not_found(&req.path)),
    }
}
