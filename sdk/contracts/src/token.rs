//! DATA for contracts that pull it (`transferFrom`): the allowance topped up by an approve when it is
//! short, or an EIP-2612 permit signed instead — the one implementation the marketplace and the network
//! coordinator share.
//!
//! A permit is EIP-712 typed data. With a key it is hashed and signed here; with a wallet it goes to
//! `eth_signTypedData_v4` as the standard JSON, so the wallet shows the user what they sign.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{Eip712Domain, SolStruct};
use serde_json::json;

use crate::{
    Chain, ContractsError, Receipt, Sender, TxStep,
    bindings::{DataToken, Permit},
    rpc::answer,
};

/// Approves `spender` for `amount` DATA wei of the sender's, unless the allowance covers it already;
/// the approval's receipt if one was sent.
pub(crate) async fn ensure_allowance(
    chain: &Chain,
    token: Address,
    spender: Address,
    amount: U256,
) -> Result<Option<Receipt>, ContractsError> {
    let owner = chain.require_sender()?;
    let allowance = chain
        .call(token, DataToken::allowanceCall { owner, spender })
        .await?;
    if allowance >= amount {
        return Ok(None);
    }
    let receipt = chain
        .send(
            token,
            DataToken::approveCall {
                spender,
                value: amount,
            },
        )
        .await?;
    Ok(Some(receipt))
}

/// A permit's signature as a contract takes it: `v` (27 or 28), `r`, `s`.
pub(crate) fn split_signature(signature: &[u8; 65]) -> (u8, B256, B256) {
    let v = signature[64];
    (
        if v < 27 { v + 27 } else { v },
        B256::from_slice(&signature[..32]),
        B256::from_slice(&signature[32..64]),
    )
}

/// The sender's permit for `spender` to take `value` DATA wei until `deadline` (Unix seconds), signed by
/// the key or the wallet: 65 bytes, `r ‖ s ‖ v`. The EIP-712 domain is the one the token states
/// (ERC-5267), not an assumed one.
pub(crate) async fn sign_permit(
    chain: &Chain,
    token: Address,
    spender: Address,
    value: U256,
    deadline: u64,
) -> Result<[u8; 65], ContractsError> {
    let owner = chain.require_sender()?;
    let nonce = chain.call(token, DataToken::noncesCall { owner }).await?;
    chain.report(TxStep::SignatureRequested {
        what: "permit".into(),
    });
    let d = chain.call(token, DataToken::eip712DomainCall {}).await?;
    let permit = Permit {
        owner,
        spender,
        value,
        nonce,
        deadline: U256::from(deadline),
    };
    let signature = match chain.sender() {
        Sender::Key(key) => {
            let domain = Eip712Domain::new(
                Some(d.name.clone().into()),
                Some(d.version.clone().into()),
                Some(d.chainId),
                Some(d.verifyingContract),
                None,
            );
            key.sign_hash(&permit.eip712_signing_hash(&domain).0).0
        }
        Sender::Wallet(account) => {
            let typed = json!({
                "types": {
                    "EIP712Domain": [
                        { "name": "name", "type": "string" },
                        { "name": "version", "type": "string" },
                        { "name": "chainId", "type": "uint256" },
                        { "name": "verifyingContract", "type": "address" },
                    ],
                    "Permit": [
                        { "name": "owner", "type": "address" },
                        { "name": "spender", "type": "address" },
                        { "name": "value", "type": "uint256" },
                        { "name": "nonce", "type": "uint256" },
                        { "name": "deadline", "type": "uint256" },
                    ],
                },
                "primaryType": "Permit",
                "domain": {
                    "name": d.name,
                    "version": d.version,
                    "chainId": d.chainId.to_string(),
                    "verifyingContract": d.verifyingContract.to_string(),
                },
                "message": {
                    "owner": owner.to_string(),
                    "spender": spender.to_string(),
                    "value": value.to_string(),
                    "nonce": nonce.to_string(),
                    "deadline": deadline.to_string(),
                },
            });
            // EIP-712's JSON goes as a string (MetaMask's convention for eth_signTypedData_v4).
            let signature = chain
                .rpc()
                .call(
                    "eth_signTypedData_v4",
                    json!([account.to_string(), typed.to_string()]),
                )
                .await?;
            let signature = answer::bytes("eth_signTypedData_v4", "result", &signature)?;
            <[u8; 65]>::try_from(signature.as_ref()).map_err(|_| {
                ContractsError::Wallet(format!(
                    "the permit's signature is {} bytes, not 65",
                    signature.len()
                ))
            })?
        }
        Sender::None => return Err(ContractsError::NoSender),
    };
    chain.report(TxStep::Signed {
        what: "permit".into(),
    });
    Ok(signature)
}
