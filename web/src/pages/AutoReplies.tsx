// Auto-Replies: exact-match prompts answered by the gateway without calling upstream.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { type AutoReply, type AutoReplyInput, AutoReplyInputSchema, autoReplies } from '../api';
import { FilterBar, useConnections } from '../components/FilterBar';
import { CancelOrAct, ConfirmDialog, Modal } from '../components/Modal';
import { Empty, ErrorState, Loading } from '../components/States';
import { useFilters } from '../filters';
import { formatTime } from '../format';

type Editing = { kind: 'new' } | { kind: 'edit'; reply: AutoReply } | { kind: 'delete'; reply: AutoReply };

export function AutoRepliesPage() {
  const queryClient = useQueryClient();
  const { connection } = useFilters();
  const list = useQuery({ queryKey: ['autoreplies'], queryFn: autoReplies.list });
  // With a connection chosen, show the auto-replies that apply to it (an empty list means all).
  const shown = (list.data ?? []).filter(
    (reply) => !connection || reply.connections.length === 0 || reply.connections.includes(connection),
  );
  const connectionNames = new Map((useConnections().data ?? []).map((c) => [c.id, c.name]));
  const [editing, setEditing] = useState<Editing | null>(null);
  const remove = useMutation({
    mutationFn: (id: string) => autoReplies.remove(id),
    onSuccess: async () => {
      setEditing(null);
      await queryClient.invalidateQueries({ queryKey: ['autoreplies'] });
    },
  });

  return (
    <section>
      <h1>Auto-Replies</h1>
      <FilterBar />
      <p className="muted">
        A completion or chat request whose prompt (the last user message for chat) matches exactly is answered at once,
        in the API's own format, without calling upstream.
      </p>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => setEditing({ kind: 'new' })}>
          Add auto-reply
        </button>
      </div>
      {remove.isError && (
        <p className="form-error" role="alert">
          {String(remove.error.message)}
        </p>
      )}
      {list.isPending ? (
        <Loading what="auto-replies" />
      ) : list.isError ? (
        <ErrorState error={list.error} what="Auto-replies" />
      ) : shown.length === 0 ? (
        <Empty title={connection ? 'No auto-reply applies to this connection.' : 'No auto-replies yet.'}>
          <p>Add one to answer a frequent prompt instantly and for free.</p>
        </Empty>
      ) : (
        <div className="table-scroll">
          <table aria-label="Auto-replies">
            <thead>
              <tr>
                <th>Type</th>
                <th>Request</th>
                <th>Response</th>
                <th>Connections</th>
                <th>Updated</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((reply) => (
                <tr key={reply.id}>
                  <td>{reply.type}</td>
                  <td className="clip">{reply.request}</td>
                  <td className="clip">{reply.response}</td>
                  <td>
                    {reply.connections.length === 0
                      ? 'All connections'
                      : reply.connections.map((id) => connectionNames.get(id) ?? id).join(', ')}
                  </td>
                  <td>{formatTime(reply.updatedAt)}</td>
                  <td className="actions">
                    {reply.managedBy === 'file' ? (
                      <span className="badge">config file</span>
                    ) : (
                      <>
                        <button type="button" onClick={() => setEditing({ kind: 'edit', reply })}>
                          Edit
                        </button>
                        <button type="button" className="danger" onClick={() => setEditing({ kind: 'delete', reply })}>
                          Delete
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(editing?.kind === 'new' || editing?.kind === 'edit') && (
        <AutoReplyForm reply={editing.kind === 'edit' ? editing.reply : null} onClose={() => setEditing(null)} />
      )}
      {editing?.kind === 'delete' && (
        <ConfirmDialog
          title="Delete this auto-reply?"
          message={<p>Requests with the prompt “{editing.reply.request}” will go upstream again.</p>}
          confirmLabel="Delete auto-reply"
          danger
          onConfirm={() => remove.mutate(editing.reply.id)}
          onClose={() => setEditing(null)}
        />
      )}
    </section>
  );
}

function AutoReplyForm({ reply, onClose }: { reply: AutoReply | null; onClose(): void }) {
  const queryClient = useQueryClient();
  const connections = useConnections().data ?? [];
  const [form, setForm] = useState<AutoReplyInput>(
    reply
      ? { type: reply.type, request: reply.request, response: reply.response, connections: reply.connections }
      : { type: 'chat', request: '', response: '', connections: [] },
  );
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (input: AutoReplyInput) => (reply ? autoReplies.update(reply.id, input) : autoReplies.create(input)),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['autoreplies'] });
      onClose();
    },
    onError: (err) => setError(err.message),
  });
  const submit = () => {
    const parsed = AutoReplyInputSchema.safeParse(form);
    if (!parsed.success) {
      setError(parsed.error.issues.map((issue) => issue.message).join('; '));
      return;
    }
    setError(null);
    save.mutate(parsed.data);
  };
  return (
    <Modal
      title={reply ? 'Edit auto-reply' : 'Add auto-reply'}
      onClose={onClose}
      footer={<CancelOrAct label="Save" busy={save.isPending} onCancel={onClose} onAct={submit} />}
    >
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <label>
        Type
        <select
          value={form.type}
          onChange={(event) => setForm({ ...form, type: event.target.value as AutoReplyInput['type'] })}
        >
          <option value="chat">chat (last user message)</option>
          <option value="completion">completion (prompt)</option>
        </select>
      </label>
      <label>
        Request
        <textarea
          rows={3}
          value={form.request}
          onChange={(event) => setForm({ ...form, request: event.target.value })}
        />
      </label>
      <label>
        Response
        <textarea
          rows={4}
          value={form.response}
          onChange={(event) => setForm({ ...form, response: event.target.value })}
        />
      </label>
      <fieldset>
        <legend>Connections (none checked = every connection)</legend>
        {connections.map((c) => (
          <label key={c.id} className="checkbox">
            <input
              type="checkbox"
              checked={form.connections.includes(c.id)}
              onChange={(event) =>
                setForm({
                  ...form,
                  connections: event.target.checked
                    ? [...form.connections, c.id]
                    : form.connections.filter((id) => id !== c.id),
                })
              }
            />
            {c.name}
          </label>
        ))}
      </fieldset>
    </Modal>
  );
}
