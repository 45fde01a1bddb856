//! The form that lets a device key publish to one of the account's streams.

use yew::prelude::*;

use super::value;
use crate::{input::DeviceForm, model::OwnStream};

/// What `GrantDevice` offers and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct GrantDeviceProps {
    /// The account's streams (at least one).
    pub(crate) streams: Vec<OwnStream>,
    /// Another form's transaction is running.
    pub(crate) busy: bool,
    /// Told the stream and device as typed.
    pub(crate) on_grant: Callback<DeviceForm>,
}

/// The device form.
#[function_component(GrantDevice)]
pub(crate) fn grant_device(props: &GrantDeviceProps) -> Html {
    let stream = use_node_ref();
    let device = use_node_ref();
    let submit = {
        let (stream, device) = (stream.clone(), device.clone());
        let on_grant = props.on_grant.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            on_grant.emit(DeviceForm {
                stream: value(&stream),
                device: value(&device),
            });
        })
    };
    html! {
        <form id="grant-device" onsubmit={submit}>
            <label for="device-stream">{ "Stream " }</label>
            <select id="device-stream" ref={stream}>
                { for props.streams.iter().map(|s| html! { <option value={s.id.clone()}>{ &s.id }</option> }) }
            </select><br />
            <label for="device-address">{ "Device address " }</label>
            <input id="device-address" ref={device} required=true placeholder="0x…" size="44" /><br />
            <button type="submit" disabled={props.busy}>{ "Grant publish permission" }</button>
        </form>
    }
}
