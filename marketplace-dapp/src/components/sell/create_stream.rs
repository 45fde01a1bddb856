//! The form that creates a stream: path (under the account's address), name, description, partitions,
//! and whether the network stores its history (for how many days).

use yew::prelude::*;

use super::value;
use crate::{
    components::keep_typed,
    input::{MAX_RETENTION_DAYS, StreamForm},
};

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

/// The create-a-stream form.
#[function_component(CreateStream)]
pub(crate) fn create_stream(props: &CreateStreamProps) -> Html {
    let path = use_node_ref();
    let name = use_node_ref();
    let description = use_node_ref();
    // Fields with an initial value are held as typed (see `keep_typed`); so is the checkbox, which Yew
    // also sets on every render.
    let partitions = use_state(|| AttrValue::from("1"));
    let retention = use_state(|| AttrValue::from("30"));
    let store = use_state(|| true);
    let on_store = {
        let store = store.clone();
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            store.set(input.checked());
        })
    };
    let submit = {
        let (path, name, description) = (path.clone(), name.clone(), description.clone());
        let (partitions, retention, store) = (partitions.clone(), retention.clone(), store.clone());
        let on_create = props.on_create.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            on_create.emit(StreamForm {
                path: value(&path),
                name: value(&name),
                description: value(&description),
                partitions: partitions.to_string(),
                store: *store,
                retention_days: retention.to_string(),
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
            <input id="stream-partitions" type="number" min="1" max="100" value={(*partitions).clone()} oninput={keep_typed(&partitions)} /><br />
            <label class="check"><input id="stream-store" type="checkbox" checked={*store} onchange={on_store} />
                { " Store its history on the network (storage nodes chosen by the network coordinator keep every event, so buyers can read back what was published before they bought)" }
            </label>
            <label for="stream-retention">{ "Keep history for (days, 0 for good) " }</label>
            <input id="stream-retention" type="number" min="0" max={MAX_RETENTION_DAYS.to_string()} value={(*retention).clone()} oninput={keep_typed(&retention)} /><br />
            <button type="submit" disabled={props.busy}>{ "Create stream" }</button>
        </form>
    }
}
