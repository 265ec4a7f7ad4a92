// Shows a new key once, with copy buttons and ready-to-paste snippets.
import { type ReactNode, useState } from 'react';
import type { ConnectionWithKey } from '../api';
import { Modal } from './Modal';
import { curlSnippet, gatewayBaseUrl } from './States';

const SNIPPETS: { id: string; label: string; code(key: string, base: string): string }[] = [
  {
    id: 'python',
    label: 'Python',
    code: (key, base) => `from openai import OpenAI

client = OpenAI(
    base_url="${base}",
    default_headers={"x-usagepanda-api-key": "${key}"},
)
reply = client.chat.completions.create(
    model="gpt-4o-mini",
    user="user-123",
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.choices[0].message.content)`,
  },
  {
    id: 'javascript',
    label: 'JavaScript',
    code: (key, base) => `import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: '${base}',
  defaultHeaders: { 'x-usagepanda-api-key': '${key}' },
});
const reply = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  user: 'user-123',
  messages: [{ role: 'user', content: 'Hello' }],
});
console.log(reply.choices[0].message.content);`,
  },
  { id: 'curl', label: 'curl', code: (key) => curlSnippet(key) },
  {
    id: 'langchain',
    label: 'LangChain',
    code: (key, base) => `from langchain_openai import ChatOpenAI

llm = ChatOpenAI(
    model="gpt-4o-mini",
    base_url="${base}",
    default_headers={"x-usagepanda-api-key": "${key}"},
    model_kwargs={"user": "user-123"},
)
print(llm.invoke("Hello").content)`,
  },
];

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      // Clipboard access needs a secure context; selecting the text still lets the person copy it.
      setCopied(false);
    }
  };
  return (
    <button type="button" className="copy" aria-label={label} onClick={() => void copy()}>
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** A secret (a key, an edge token) shown this once, with a copy button, and what to do with it below. */
export function SecretDialog({
  title,
  name,
  what,
  secret,
  testId,
  onClose,
  children,
}: {
  title: string;
  name: string;
  what: string;
  secret: string;
  testId: string;
  onClose(): void;
  children: ReactNode;
}) {
  return (
    <Modal
      title={title}
      onClose={onClose}
      wide
      footer={
        <button type="button" className="primary" onClick={onClose}>
          I have saved the {what}
        </button>
      }
    >
      <p>
        This is the only time the {what} of <strong>{name}</strong> is shown. Copy it now and keep it secret.
      </p>
      <div className="key-row">
        <code className="api-key" data-testid={testId}>
          {secret}
        </code>
        <CopyButton text={secret} label={`Copy ${what}`} />
      </div>
      {children}
    </Modal>
  );
}

export function KeyDialog({ created, title, onClose }: { created: ConnectionWithKey; title: string; onClose(): void }) {
  const [tab, setTab] = useState(SNIPPETS[0]?.id ?? 'python');
  const snippet = SNIPPETS.find((s) => s.id === tab) ?? SNIPPETS[0];
  const base = gatewayBaseUrl();
  return (
    <SecretDialog title={title} name={created.name} what="key" secret={created.key} testId="new-key" onClose={onClose}>
      <div className="tabs" role="tablist" aria-label="Snippets">
        {SNIPPETS.map((s) => (
          <button
            type="button"
            role="tab"
            key={s.id}
            aria-selected={s.id === tab}
            className={s.id === tab ? 'active' : ''}
            onClick={() => setTab(s.id)}
          >
            {s.label}
          </button>
        ))}
      </div>
      {snippet && (
        <div className="snippet" role="tabpanel" aria-label={`${snippet.label} snippet`}>
          <pre className="code">{snippet.code(created.key, base)}</pre>
          <CopyButton text={snippet.code(created.key, base)} label={`Copy ${snippet.label} snippet`} />
        </div>
      )}
    </SecretDialog>
  );
}
