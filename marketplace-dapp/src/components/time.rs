//! Times as the page shows them, in the page's time zone.

use wasm_bindgen::JsValue;

/// Unix seconds as a date and time ("25/11/2026, 22:38:56").
pub(crate) fn date_time(unix_secs: u64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(unix_secs as f64 * 1000.0));
    date.to_locale_string("en-GB", &JsValue::UNDEFINED).into()
}

/// Unix milliseconds as a time of day to the millisecond ("22:38:56.042").
pub(crate) fn clock(ms: u64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds(),
        date.get_milliseconds()
    )
}

/// The page's clock, Unix milliseconds.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}
