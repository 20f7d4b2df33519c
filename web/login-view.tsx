/** The token form: the only thing shown while the server wants a token and the page has none that works. */
import { useState } from 'preact/hooks';
import { api, tokenStore } from './api.js';
import { ErrorNote } from './widgets.js';

/** Asks for the token, checks it against the API, and keeps it once it works. */
export function LoginView({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('/v1/models', { token: token.trim() });
      tokenStore.set(token.trim());
      onSignedIn();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="center">
      <form class="panel login" onSubmit={(e) => void submit(e)} data-testid="login-form">
        <h1>Understudy</h1>
        <p>This server needs its access token (UNDERSTUDY_TOKEN).</p>
        <label>
          Token
          <input type="password" name="token" autocomplete="current-password" value={token} onInput={(e) => setToken(e.currentTarget.value)} autoFocus required />
        </label>
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
        <p class="muted">The token is kept in this browser until you sign out, and sent only to this server.</p>
      </form>
    </main>
  );
}
