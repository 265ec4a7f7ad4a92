// Sign in with the admin token; the gateway answers with an HttpOnly session cookie.
import { type FormEvent, useState } from 'react';
import { ApiError, session } from '../api';
import { PandaMark } from '../components/PandaMark';

export function SignInPage({ onSignedIn }: { onSignedIn(): void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await session.signIn(token.trim());
      onSignedIn();
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'That admin token is not valid. Use the token printed when the gateway first started, or USAGE_PANDA_ADMIN_TOKEN.'
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="sign-in">
      <form onSubmit={(event) => void submit(event)} className="card">
        <h1>
          <PandaMark /> Usage Panda
        </h1>
        <p>Sign in with the admin token of this gateway.</p>
        <label>
          Admin token
          <input
            type="password"
            name="token"
            autoComplete="current-password"
            required
            value={token}
            onChange={(event) => setToken(event.target.value)}
          />
        </label>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
    </div>
  );
}
