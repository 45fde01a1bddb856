//! The form that creates a stream: path (under the account's address), name, description, partitions.

use yew::prelude::*;

use super::value;
use crate::input::NewStream;

/// What `CreateStream` needs and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct CreateStreamProps {
    /// The account's address, lowercase: streams are `<address>/<path>`.
    pub(crate) owner: AttrValue,
    /// Another form's transaction is running.
    pub(crate) busy: bool,
    /// Told the stream asked for.
    pub(crate) on_create: Callback<NewStream>,
}

/// The create-a-stream form.
#[function_component(CreateStream)]
pub(crate) fn create_stream(props: &CreateStreamProps) -> Html {
    let path = use_node_ref();
    let name = use_node_ref();
    let description = use_node_ref();
    let partitions = use_node_ref();
    let submit = {
        let (path, name, description, partitions) = (
            path.clone(),
            name.clone(),
            description.clone(),
            partitions.clone(),
        );
        let on_create = props.on_create.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            on_create.emit(NewStream::from_form(
                &value(&path),
                &value(&name),
                &value(&description),
                &value(&partitions),
            ));
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
            <button type="submit" disabled={props.busy}>{ "Create stream" }</button>
        </form>
    }
}
