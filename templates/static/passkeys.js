// Passkeys (WebAuthn Level 3) for the login, second-factor and security pages. The page's
// form carries the options of a ceremony the server began (data-options)
// and its sealed state; this script asks the browser's authenticator and
// posts the answer with the form. Without WebAuthn the form stays hidden.
"use strict";
(function () {
  const form = document.getElementById("passkey-form");
  if (!form || !window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  const errorBox = document.getElementById("passkey-error");
  const kind = form.dataset.ceremony;
  const options = JSON.parse(form.dataset.options);
  form.hidden = false;

  function fromB64url(s) {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  }
  function toB64url(buf) {
    let bin = "";
    for (const b of new Uint8Array(buf)) {
      bin += String.fromCharCode(b);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map((d) => Object.assign({}, d, { id: fromB64url(d.id) }));
  }
  function publicKey() {
    const pk = Object.assign({}, options.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    if (kind === "create") {
      pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
    } else {
      pk.allowCredentials = descriptors(pk.allowCredentials);
    }
    return pk;
  }
  // The credential as the server reads it (WebAuthn §5.1, toJSON()).
  function credentialJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (kind === "create") {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) {
        response.userHandle = toB64url(r.userHandle);
      }
    }
    return JSON.stringify({
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: response,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
    });
  }
  function post(cred) {
    form.elements.credential.value = credentialJSON(cred);
    form.submit();
  }
  function fail(err) {
    if (err && err.name === "AbortError") {
      return;
    }
    errorBox.textContent = err && err.name === "NotAllowedError"
      ? "The passkey request was cancelled or timed out."
      : "Your browser could not use a passkey here.";
    errorBox.hidden = false;
  }

  if (kind === "create") {
    document.getElementById("passkey-add").addEventListener("click", () => {
      errorBox.hidden = true;
      navigator.credentials.create({ publicKey: publicKey() }).then(post, fail);
    });
    return;
  }

  // Second factor: the user is known and their passkeys are listed
  // (allowCredentials); the button asks for one of them.
  if (kind === "verify") {
    document.getElementById("use-passkey").addEventListener("click", () => {
      errorBox.hidden = true;
      navigator.credentials.get({ publicKey: publicKey() }).then(post, fail);
    });
    return;
  }

  // Sign-in: offer the passkeys in the username field's autofill where the
  // browser can (conditional mediation), and on the button.
  let pending = null;
  function get(mediation) {
    if (pending) {
      pending.abort();
    }
    pending = new AbortController();
    const request = { publicKey: publicKey(), signal: pending.signal };
    if (mediation) {
      request.mediation = mediation;
    }
    return navigator.credentials.get(request).then(post, fail);
  }
  document.getElementById("passkey-sign-in").addEventListener("click", () => {
    errorBox.hidden = true;
    get("");
  });
  if (PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
      if (ok) {
        get("conditional");
      }
    }, () => {});
  }
})();
