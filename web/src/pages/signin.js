// Sign-in: the server has tokens configured and answered 401. The token is checked
// against the API, then kept in sessionStorage (gone when the tab closes) and sent
// as "Authorization: Bearer …"; no cookie is ever set.
import { useState } from 'preact/hooks';
import { api, setToken } from '../api.js';
import { html } from '../html.js';
import { useDocumentTitle } from '../hooks.js';

export function SignIn({ reason, onSignedIn }) {
  useDocumentTitle('Sign in');
  const [token, setTokenText] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError('Paste your token first.');
      return;
    }
    setBusy(true);
    setError('');
    setToken(value);
    try {
      await api('/api/v1/stats');
      onSignedIn(value);
    } catch (err) {
      setToken('');
      setBusy(false);
      setError(
        err.status === 401
          ? 'That token was not accepted. Check that you copied all of it, and that it was not revoked.'
          : err.message,
      );
    }
  };

  return html`<main id="main" class="signin">
    <form class="panel signin-box" onSubmit=${submit} aria-labelledby="signin-title" novalidate>
      <h1 id="signin-title">Sign in to taskmill</h1>
      <p>This server needs an access token. An operator creates one with <code>taskmill token create</code>.</p>
      ${reason && html`<p class="notice notice-info" role="status">${reason}</p>`}
      <div class="field">
        <label for="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck="false"
          required
          value=${token}
          aria-invalid=${error ? 'true' : 'false'}
          aria-describedby="token-msg"
          onInput=${(e) => setTokenText(e.currentTarget.value)}
        />
        <p id="token-msg" class=${error ? 'field-error' : 'field-hint'} aria-live="polite">
          ${error || 'Kept only in this browser tab and sent with each request; closing the tab forgets it.'}
        </p>
      </div>
      <div class="actions left">
        <button type="submit" class="primary" disabled=${busy}>${busy ? 'Checking…' : 'Sign in'}</button>
      </div>
    </form>
  </main>`;
}
