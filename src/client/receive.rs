//! One call from an offer (or an issuer) to credentials: [`Wallet::receive`]
//! and [`Wallet::request`] with one key, [`Wallet::receive_batch`] and
//! [`Wallet::request_batch`] with a fresh key per credential from a
//! [`KeySource`]. The run itself is the engine's (`flow::receive`).

use super::Wallet;
use crate::error::Result;
use crate::flow::receive::{receive_offer, request_issuance, Interaction, Keys};
use crate::flow::receive::{ReceiveOptions, Received};
use crate::jose::{KeySource, Signer};

impl Wallet {
    /// Receives every offered credential (or those named in `options`) in one
    /// call: resolves the offer, asks `interaction` for a transaction code when
    /// needed, requests each credential with `signer` (one credential per
    /// configuration), and waits for deferred ones up to the options' deadline.
    pub async fn receive(
        &self,
        offer_url: &str,
        interaction: &dyn Interaction,
        signer: &dyn Signer,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        receive_offer(self, offer_url, interaction, Keys::One(signer), options).await
    }

    /// [`Self::receive`] with a fresh key per credential: for each
    /// key-bound configuration it asks `keys` for as many keys as the
    /// issuer's `batch_size` allows, up to [`ReceiveOptions::max_batch_size`]
    /// (default 3), and requests that many credentials in one request, one
    /// proof per key. Each credential is checked to be bound to its own key
    /// (`cnf.jwk`, an mdoc's `deviceKey`), which it names in
    /// [`crate::IssuedCredential::holder_jwk`]. An issuer without
    /// `batch_credential_issuance` gets one request per configuration with
    /// one fresh key; an unbound configuration uses no key.
    pub async fn receive_batch(
        &self,
        offer_url: &str,
        interaction: &dyn Interaction,
        keys: &dyn KeySource,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        receive_offer(self, offer_url, interaction, Keys::Fresh(keys), options).await
    }

    /// Wallet-initiated issuance in one call: discovers the issuer, runs the
    /// authorization code flow through `interaction` (browser and redirect),
    /// then requests the configurations like [`Self::receive`].
    pub async fn request(
        &self,
        issuer_id: &str,
        configuration_ids: &[&str],
        interaction: &dyn Interaction,
        signer: &dyn Signer,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        let keys = Keys::One(signer);
        request_issuance(
            self,
            issuer_id,
            configuration_ids,
            interaction,
            keys,
            options,
        )
        .await
    }

    /// [`Self::request`] with a fresh key per credential, in batches as
    /// [`Self::receive_batch`] asks for them.
    pub async fn request_batch(
        &self,
        issuer_id: &str,
        configuration_ids: &[&str],
        interaction: &dyn Interaction,
        keys: &dyn KeySource,
        options: &ReceiveOptions,
    ) -> Result<Received> {
        let keys = Keys::Fresh(keys);
        request_issuance(
            self,
            issuer_id,
            configuration_ids,
            interaction,
            keys,
            options,
        )
        .await
    }
}
