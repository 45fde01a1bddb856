//! Helpers of the components' tests, which `wasm-bindgen-test` runs in headless Chromium: a fresh root
//! element, a pause for Yew to render, typing into a field, clicking, reading text.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

/// A new element in the page's body to render into.
pub(crate) fn root() -> web_sys::Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let div = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&div).unwrap();
    div
}

/// Lets Yew render and effects run.
pub(crate) async fn settle() {
    yew::platform::time::sleep(std::time::Duration::from_millis(20)).await;
}

/// The element `selector` finds under `root` (it must be there).
pub(crate) fn find(root: &web_sys::Element, selector: &str) -> web_sys::Element {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector} in {}", root.inner_html()))
}

/// The text of every element `selector` finds under `root`.
pub(crate) fn texts(root: &web_sys::Element, selector: &str) -> Vec<String> {
    let list = root.query_selector_all(selector).unwrap();
    (0..list.length())
        .map(|i| list.item(i).unwrap().text_content().unwrap())
        .collect()
}

/// Types `text` into the input `selector` finds, as a person would (an `input` event follows).
pub(crate) async fn type_into(root: &web_sys::Element, selector: &str, text: &str) {
    let input: web_sys::HtmlInputElement = find(root, selector).dyn_into().unwrap();
    input.set_value(text);
    input
        .dispatch_event(&web_sys::InputEvent::new("input").unwrap())
        .unwrap();
    settle().await;
}

/// Clicks what `selector` finds.
pub(crate) async fn click(root: &web_sys::Element, selector: &str) {
    let element: web_sys::HtmlElement = find(root, selector).dyn_into().unwrap();
    element.click();
    settle().await;
}
