//! The form that creates a stream: path (under the account's address), name, description, partitions,
//! and whether the network stores its history (for how many days).

use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::value;
use crate::input::{MAX_RETENTION_DAYS, StreamForm};

/// What `CreateStream` needs and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct CreateStreamProps {
    /// The account's address, lowercase: streams are `<address>/<path>`.
    pub(crate) owner: AttrValue,
    /// Another form's transaction is running.
    pub(crate) busy: bool,
    /// Told the form as typed.
    pub(crate) on_create: Callback<StreamForm>,
}

/// Whether the checkbox `node` refers to is ticked.
fn ticked(node: &NodeRef) -> bool {
    node.get()
        .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
        .is_some_and(|input| input.checked())
}

/// The create-a-stream form.
#[function_component(CreateStream)]
pub(crate) fn create_stream(props: &CreateStreamProps) -> Html {
    let path = use_node_ref();
    let name = use_node_ref();
    let description = use_node_ref();
    let partitions = use_node_ref();
    let store = use_node_ref();
    let retention = use_node_ref();
    let submit = {
        let (path, name, description, partitions, store, retention) = (
            path.clone(),
            name.clone(),
            description.clone(),
            partitions.clone(),
            store.clone(),
            retention.clone(),
        );
        let on_create = props.on_create.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            on_create.emit(StreamForm {
                path: value(&path),
                name: value(&name),
                description: value(&description),
                partitions: value(&partitions),
                store: ticked(&store),
                retention_days: value(&retention),
            });
        })
    };
    html! {
        <form id="create-stream" onsubmit={submit}>
            <label for="stream-path">{ "Path " }</label>
            <input id="stream-path" ref={path} required=true pattern="[A-Za-z0-9._\\/\\-]+" placeholder="sensors/air" />
            <span class="meta">{ format!(" → {}/…", props.owner) }</span><br />
            <label for="stream-name">{ "Name " }</label><input id="stream-name" ref={name} /><br />
            <label for="stream-description">{ "Description " }</label><input id="stream-description" ref={description} /><br />
            <label for="stream-partitions">{ "Partitions " }</label>
            <input id="stream-partitions" ref={partitions} type="number" min="1" max="100" value="1" /><br />
            <label class="check"><input id="stream-store" ref={store} type="checkbox" checked=true />
                { " Store its history on the network (storage nodes chosen by the network coordinator keep every event, so buyers can read back what was published before they bought)" }
            </label>
            <label for="stream-retention">{ "Keep history for (days, 0 for good) " }</label>
            <input id="stream-retention" ref={retention} type="number" min="0" max={MAX_RETENTION_DAYS.to_string()} value="30" /><br />
            <button type="submit" disabled={props.busy}>{ "Create stream" }</button>
        </form>
    }
}
