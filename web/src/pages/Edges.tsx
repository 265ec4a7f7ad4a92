// Edges: the tokens edge gateways sync their connections and ship their records with.
// A token is shown once, when it is made; revoking it stops its edge's sync and records at once.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { type EdgeToken, type EdgeTokenWithToken, edgeTokens } from '../api';
import { useConnections } from '../components/FilterBar';
import { CopyButton, SecretDialog } from '../components/KeyDialog';
import { CancelOrAct, ConfirmDialog, Modal } from '../components/Modal';
import { Empty, ErrorState, Loading } from '../components/States';
import { DASH, formatTime } from '../format';

type Dialog = { kind: 'new' } | { kind: 'created'; created: EdgeTokenWithToken } | { kind: 'revoke'; edge: EdgeToken };

export function EdgesPage() {
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ['edge-tokens'], queryFn: edgeTokens.list });
  const connectionNames = new Map((useConnections().data ?? []).map((c) => [c.id, c.name]));
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const revoke = useMutation({
    mutationFn: (id: string) => edgeTokens.revoke(id),
    onSuccess: async () => {
      setDialog(null);
      await queryClient.invalidateQueries({ queryKey: ['edge-tokens'] });
    },
  });

  return (
    <section>
      <h1>Edges</h1>
      <p className="muted">
        An edge gateway runs near its applications with{' '}
        <code>usage-panda start --control-plane {window.location.origin} --edge-token upe-…</code>: it serves the
        connections its token allows with their policies from here, keeps prompts in its own network, and sends its
        records back to this dashboard.
      </p>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => setDialog({ kind: 'new' })}>
          Add edge
        </button>
      </div>
      {revoke.isError && (
        <p className="form-error" role="alert">
          {String(revoke.error.message)}
        </p>
      )}
      {list.isPending ? (
        <Loading what="edges" />
      ) : list.isError ? (
        <ErrorState error={list.error} what="Edges" />
      ) : list.data.length === 0 ? (
        <Empty title="No edges yet.">
          <p>Add one to get the token an edge gateway starts with.</p>
        </Empty>
      ) : (
        <div className="table-scroll">
          <table aria-label="Edges">
            <thead>
              <tr>
                <th>Name</th>
                <th>Token</th>
                <th>Connections</th>
                <th>Created</th>
                <th>Last seen</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((edge) => (
                <tr key={edge.id}>
                  <td>{edge.name}</td>
                  <td>
                    <code>{edge.tokenPrefix}…</code>
                  </td>
                  <td>
                    {edge.connections === null
                      ? 'All connections'
                      : edge.connections.map((id) => connectionNames.get(id) ?? id).join(', ')}
                  </td>
                  <td>{formatTime(edge.createdAt)}</td>
                  <td>{edge.lastSeenAt ? formatTime(edge.lastSeenAt) : DASH}</td>
                  <td className="actions">
                    <button type="button" className="danger" onClick={() => setDialog({ kind: 'revoke', edge })}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {dialog?.kind === 'new' && (
        <EdgeForm onClose={() => setDialog(null)} onCreated={(created) => setDialog({ kind: 'created', created })} />
      )}
      {dialog?.kind === 'created' && <TokenDialog created={dialog.created} onClose={() => setDialog(null)} />}
      {dialog?.kind === 'revoke' && (
        <ConfirmDialog
          title={`Revoke the token of ${dialog.edge.name}?`}
          message={<p>The edge stops receiving changes and its records are refused until it gets a new token.</p>}
          confirmLabel="Revoke token"
          danger
          onConfirm={() => revoke.mutate(dialog.edge.id)}
          onClose={() => setDialog(null)}
        />
      )}
    </section>
  );
}

function EdgeForm({ onClose, onCreated }: { onClose(): void; onCreated(created: EdgeTokenWithToken): void }) {
  const queryClient = useQueryClient();
  const connections = useConnections().data ?? [];
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => edgeTokens.create({ name: name.trim(), ...(chosen.length > 0 ? { connections: chosen } : {}) }),
    onSuccess: async (created) => {
      await queryClient.invalidateQueries({ queryKey: ['edge-tokens'] });
      onCreated(created);
    },
    onError: (err) => setError(err.message),
  });
  const submit = () => {
    if (name.trim() === '') {
      setError('the name cannot be empty');
      return;
    }
    setError(null);
    create.mutate();
  };
  return (
    <Modal
      title="Add edge"
      onClose={onClose}
      footer={<CancelOrAct label="Create token" busy={create.isPending} onCancel={onClose} onAct={submit} />}
    >
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <label>
        Name
        <input value={name} onChange={(event) => setName(event.target.value)} placeholder="eu-west" />
      </label>
      <fieldset>
        <legend>Connections it may serve (none checked = every connection)</legend>
        {connections.map((c) => (
          <label key={c.id} className="checkbox">
            <input
              type="checkbox"
              checked={chosen.includes(c.id)}
              onChange={(event) =>
                setChosen(event.target.checked ? [...chosen, c.id] : chosen.filter((id) => id !== c.id))
              }
            />
            {c.name}
          </label>
        ))}
      </fieldset>
    </Modal>
  );
}

function TokenDialog({ created, onClose }: { created: EdgeTokenWithToken; onClose(): void }) {
  const command = `usage-panda start --control-plane ${window.location.origin} --edge-token ${created.token}`;
  return (
    <SecretDialog
      title="Edge token created"
      name={created.name}
      what="token"
      secret={created.token}
      testId="new-edge-token"
      onClose={onClose}
    >
      <div className="snippet">
        <pre className="code">{command}</pre>
        <CopyButton text={command} label="Copy command" />
      </div>
    </SecretDialog>
  );
}
