//! The v2 `/api/*` calls, in v2 shapes: keyed collections, string numbers, `code: 0` errors.

use super::*;

pub(super) async fn api(
    State(state): State<Shared>,
    Path((module, action)): Path<(String, String)>,
    req: Request,
) -> Response {
    let path = format!("/api/{module}/{action}");
    let f = fields(req).await;
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    let app_id = f.get("appId").and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let business_id = f.get("businessId").and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let lose_answer = match record_call(&mut sim, app_id, business_id, &path) {
        Ok(lose) => lose,
        Err(answer) => return answer,
    };
    if f.get("version").map(String::as_str) != Some("2.0") {
        return fail(Some("ERR_INVALID_VERSION"), json!(["version must be 2.0"])).into_response();
    }
    if !sim.apps.contains_key(&app_id) {
        return fail(Some("ERR_INVALID_APP_ID"), json!(["appId is invalid"])).into_response();
    }
    let token = f.get("accessToken").and_then(|t| sim.tokens.get(t)).cloned();
    let Some(token) = token.filter(|t| t.app_id == app_id && t.expires_at > now) else {
        return fail(Some("ERR_INVALID_ACCESS_TOKEN"), json!(["accessToken is invalid"])).into_response();
    };
    if token.version != 2 {
        return fail(Some("ERR_INVALID_VERSION"), json!(["this access token belongs to API v3.0"])).into_response();
    }
    if token.business_id != business_id {
        return fail(Some("ERR_INVALID_BUSINESS_ID"), json!(["businessId is invalid"])).into_response();
    }
    if let Some(body) = limiter(&mut sim, (app_id, business_id, path.clone())) {
        return Json(body).into_response();
    }
    if token.denied_paths.contains(&path) {
        return fail(Some("ERR_403"), json!(["You do not have permission to access this API"])).into_response();
    }
    let raw = f.get("data").cloned().unwrap_or_default();
    let data: Value = if path == "/api/product/detail" {
        json!(raw.trim())
    } else if raw.trim().is_empty() || raw.trim() == "productcategory" {
        json!({})
    } else {
        match serde_json::from_str(&raw) {
            Ok(v) => v,
            Err(_) => return fail(Some("ERR_INVALID_DATA"), json!(["data is invalid"])).into_response(),
        }
    };
    let guard = &mut *sim;
    let business = guard.businesses.entry(business_id).or_default();
    let answer = match path.as_str() {
        "/api/product/search" => product_search(business, &data),
        "/api/product/detail" => product_detail(business, &data),
        "/api/product/category" => {
            Ok(if business.categories.is_null() { json!([]) } else { business.categories.clone() })
        }
        "/api/order/index" => order_index(business, &data, now),
        "/api/order/add" => {
            guard.next_id += 1;
            order_add(business, &data, guard.next_id, now)
        }
        "/api/order/update" => order_update(business, &data, now),
        "/api/customer/search" => customer_search(business, &data),
        "/api/customer/add" => {
            let next = &mut guard.next_id;
            customer_add(business, &data, next)
        }
        "/api/bill/search" => bills::search(business, &data),
        _ => Err(fail(None, json!(["unknown API"]))),
    };
    // Nhanh sends order webhooks for every order, also those pushed through the API.
    let event = match (path.as_str(), &answer) {
        ("/api/order/add", Ok(d)) => num(&d["orderId"]).map(|id| ("orderAdd", id)),
        ("/api/order/update", Ok(d)) => num(&d["orderId"]).map(|id| ("orderUpdate", id)),
        _ => None,
    };
    let hooks = hooks_for(&sim);
    let event = event.and_then(|(name, id)| {
        let order = sim.businesses.get(&business_id)?.orders.get(&(id as u64))?.clone();
        let mut data = order;
        data["orderId"] = json!(id);
        data["status"] = data["statusCode"].clone();
        Some((name, data))
    });
    drop(sim);
    if let Some((name, data)) = event {
        send_event(&state, &hooks, business_id, name, data);
    }
    if lose_answer {
        return (StatusCode::INTERNAL_SERVER_ERROR, "simulated: answer lost").into_response();
    }
    match answer {
        Ok(data) => Json(json!({"code": 1, "messages": [], "data": data})).into_response(),
        Err(body) => body.into_response(),
    }
}

pub(super) fn num(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn page_args(data: &Value, max: i64, default: i64) -> Result<(usize, usize), Json<Value>> {
    let page = num(&data["page"]).unwrap_or(1).max(1) as usize;
    let icpp = num(&data["icpp"]).unwrap_or(default);
    if icpp > max || icpp < 1 {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"icpp": format!("icpp must be between 1 and {max}")}),
        ));
    }
    Ok((page, icpp as usize))
}

pub(super) fn keyed(items: Vec<(&u64, &Value)>) -> Value {
    if items.is_empty() {
        return json!([]);
    }
    Value::Object(items.into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Map<String, Value>>())
}

pub(super) fn parse_dt(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let dt = time::PrimitiveDateTime::parse(
        s,
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()?;
    Some(dt.assume_offset(time::macros::offset!(+7)).unix_timestamp())
}

pub(super) fn parse_date(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(d.midnight().assume_offset(time::macros::offset!(+7)).unix_timestamp())
}

pub(super) fn product_search(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let (page, icpp) = page_args(data, 50, 20)?;
    let from = parse_dt(&data["updatedDateTimeFrom"]);
    let to = parse_dt(&data["updatedDateTimeTo"]);
    let matching: Vec<(&u64, &Value)> = b
        .products
        .iter()
        .filter(|(_, p)| {
            let updated = num(&p["_updatedAt"]).unwrap_or(0);
            from.is_none_or(|f| updated >= f) && to.is_none_or(|t| updated <= t) && p["_deleted"] != json!(true)
        })
        .collect();
    let total_pages = matching.len().div_ceil(icpp);
    let slice: Vec<(&u64, &Value)> = matching.into_iter().skip((page - 1) * icpp).take(icpp).collect();
    Ok(json!({"totalPages": total_pages, "currentPage": page, "products": keyed(slice)}))
}

pub(super) fn product_detail(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let id = num(data).unwrap_or(0) as u64;
    let Some(p) = b.products.get(&id).filter(|p| p["_deleted"] != json!(true)) else {
        return Err(fail(None, json!(["product not found"])));
    };
    let mut out = Map::new();
    out.insert(id.to_string(), p.clone());
    for (cid, child) in &b.products {
        if num(&child["parentId"]) == Some(id as i64) {
            out.insert(cid.to_string(), child.clone());
        }
    }
    Ok(Value::Object(out))
}

pub(super) fn order_index(b: &Business, data: &Value, now: i64) -> Result<Value, Json<Value>> {
    let (page, icpp) = page_args(data, 100, 100)?;
    let by_id = num(&data["id"]);
    let upd = (parse_dt(&data["updatedDateTimeFrom"]), parse_dt(&data["updatedDateTimeTo"]));
    let created = (parse_date(&data["fromDate"]), parse_date(&data["toDate"]).map(|t| t + 86_399));
    let window_too_long = |from: Option<i64>, to: Option<i64>| match (from, to) {
        (Some(f), Some(t)) => t - f > 10 * 86_400,
        _ => false,
    };
    if window_too_long(upd.0, upd.1) || window_too_long(created.0, created.1) {
        return Err(fail(None, json!(["The date range must not exceed 10 days"])));
    }
    let matching: Vec<(&u64, &Value)> = b
        .orders
        .iter()
        .filter(|(id, o)| {
            if o["_deleted"] == json!(true) {
                return false;
            }
            if let Some(want) = by_id {
                return **id as i64 == want;
            }
            let updated = num(&o["_updatedAt"]).unwrap_or(0);
            let created_at = parse_dt(&o["createdDateTime"]).unwrap_or(0);
            if upd.0.is_some() || upd.1.is_some() {
                return upd.0.is_none_or(|f| updated >= f) && upd.1.is_none_or(|t| updated <= t);
            }
            let from = created.0.unwrap_or(now - 10 * 86_400);
            created_at >= from && created.1.is_none_or(|t| created_at <= t)
        })
        .collect();
    let total = matching.len();
    let total_pages = total.div_ceil(icpp);
    let slice: Vec<(&u64, &Value)> = matching.into_iter().skip((page - 1) * icpp).take(icpp).collect();
    Ok(json!({"totalPages": total_pages, "totalRecords": total, "page": page, "orders": keyed(slice)}))
}

pub(super) fn vn_datetime(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(time::macros::offset!(+7)))
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).ok())
        .unwrap_or_default()
}

pub(super) fn order_add(b: &mut Business, data: &Value, new_id: u64, now: i64) -> Result<Value, Json<Value>> {
    let Some(shop_id) = data["id"].as_str().map(str::to_owned).or_else(|| num(&data["id"]).map(|n| n.to_string()))
    else {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"id": "id is required"})));
    };
    if data["customerName"].as_str().is_none() || data["customerMobile"].as_str().is_none() {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"customerMobile": "customerName and customerMobile are required"}),
        ));
    }
    if shop_id.is_empty() || shop_id.chars().count() > 36 {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"id": "id must be 1 to 36 characters"})));
    }
    if let Some(status) = data["status"].as_str() {
        if !["New", "Confirming", "Confirmed"].contains(&status) {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({"status": "status must be New, Confirming or Confirmed"}),
            ));
        }
    }
    // nhanh-api-v2.md §3.5: productList is required; each line needs id, quantity and price, a
    // Nhanh product needs idNhanh, and an unknown product needs a name to be created.
    let Some(lines) = data["productList"].as_array().filter(|l| !l.is_empty()) else {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"productList": "productList is required"})));
    };
    for (i, l) in lines.iter().enumerate() {
        let has_id = l["id"].as_str().is_some_and(|s| !s.is_empty()) || num(&l["id"]).is_some();
        let quantity = l["quantity"].as_f64().or_else(|| l["quantity"].as_str().and_then(|q| q.trim().parse().ok()));
        if !has_id || quantity.is_none_or(|q| q <= 0.0) || num(&l["price"]).is_none() {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({format!("productList.{i}"): "id, quantity and price are required"}),
            ));
        }
        let known = num(&l["idNhanh"]).is_some_and(|id| b.products.contains_key(&(id as u64)));
        if !l["idNhanh"].is_null() && !known {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({format!("productList.{i}.idNhanh"): "product not found"}),
            ));
        }
        if !known && l["name"].as_str().is_none_or(|n| n.trim().is_empty()) {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({format!("productList.{i}.name"): "name is required for a new product"}),
            ));
        }
    }
    if b.shop_order_ids.contains_key(&shop_id) {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"id": format!("Order id {shop_id} already exists")})));
    }
    let products: Vec<Value> = data["productList"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    json!({"productId": l["idNhanh"].clone(), "productName": l["name"], "productCode": l["code"],
                    "price": l["price"].to_string(), "quantity": l["quantity"].to_string(), "discount": "0"})
                })
                .collect()
        })
        .unwrap_or_default();
    let order = json!({
        "id": new_id.to_string(), "shopOrderId": shop_id, "statusCode": data["status"].as_str().unwrap_or("New"),
        "saleChannel": "10", "customerName": data["customerName"], "customerMobile": data["customerMobile"],
        "customerEmail": data["customerEmail"], "customerAddress": data["customerAddress"],
        "moneyDiscount": "0", "moneyUsedPoints": "0", "customerShipFee": "0", "description": data["description"],
        "createdDateTime": vn_datetime(now), "products": products, "_updatedAt": now,
    });
    b.orders.insert(new_id, order);
    b.shop_order_ids.insert(shop_id, new_id);
    Ok(json!({"orderId": new_id}))
}

pub(super) fn order_update(b: &mut Business, data: &Value, now: i64) -> Result<Value, Json<Value>> {
    let id = num(&data["orderId"])
        .map(|n| n as u64)
        .or_else(|| data["id"].as_str().and_then(|s| b.shop_order_ids.get(s).copied()));
    let Some(order) = id.and_then(|id| b.orders.get_mut(&id)) else {
        return Err(fail(None, json!(["order not found"])));
    };
    if let Some(status) = data["status"].as_str() {
        order["statusCode"] = json!(status);
    }
    order["_updatedAt"] = json!(now);
    Ok(json!({"orderId": id, "status": order["statusCode"]}))
}

pub(super) fn customer_search(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let (page, icpp) = page_args(data, 50, 10)?;
    let mobile = data["mobile"].as_str();
    let by_id = num(&data["id"]);
    let matching: Vec<(&u64, &Value)> = b
        .customers
        .iter()
        .filter(|(id, c)| {
            mobile.is_none_or(|m| c["mobile"].as_str() == Some(m)) && by_id.is_none_or(|i| **id as i64 == i)
        })
        .collect();
    let total_pages = matching.len().div_ceil(icpp);
    let slice: Vec<(&u64, &Value)> = matching.into_iter().skip((page - 1) * icpp).take(icpp).collect();
    Ok(json!({"totalPages": total_pages, "page": page, "customers": keyed(slice)}))
}

pub(super) fn customer_add(b: &mut Business, data: &Value, next_id: &mut u64) -> Result<Value, Json<Value>> {
    let Some(list) = data.as_array() else {
        return Err(fail(Some("ERR_INVALID_DATA"), json!(["data must be a list of customers"])));
    };
    if list.len() > 50 {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"data": "at most 50 customers"})));
    }
    let mut ids = Map::new();
    for c in list {
        let (Some(name), Some(mobile)) = (c["name"].as_str(), c["mobile"].as_str()) else {
            return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"mobile": "name and mobile are required"})));
        };
        let id = upsert_customer(b, c, name, mobile, next_id);
        ids.insert(mobile.to_owned(), json!(id));
    }
    Ok(json!({"ids": ids}))
}

/// The customer of `mobile` created or updated from a `customer/add` item (both versions); its id.
pub(super) fn upsert_customer(b: &mut Business, c: &Value, name: &str, mobile: &str, next_id: &mut u64) -> u64 {
    let existing = b.customers.iter().find(|(_, v)| v["mobile"].as_str() == Some(mobile)).map(|(k, _)| *k);
    let id = existing.unwrap_or_else(|| {
        *next_id += 1;
        *next_id
    });
    let mut record = b.customers.get(&id).cloned().unwrap_or_else(|| json!({"id": id.to_string(), "type": "1"}));
    for key in ["email", "address", "gender", "birthday"] {
        if !c[key].is_null() {
            record[key] = c[key].clone();
        }
    }
    record["name"] = json!(name);
    record["mobile"] = json!(mobile);
    b.customers.insert(id, record);
    id
}
