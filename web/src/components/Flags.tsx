// Flags as icons with a tooltip that explains them in words, for the logs table and details.
import { useId } from 'react';
import type { Flag } from '../api';

interface FlagInfo {
  /** One letter in a badge: renders the same with any font, unlike emoji. */
  icon: string;
  label: string;
  /** The explanation; `description` is the flag's own text (with the numbers and names). */
  explain(description: string): string;
}

const FLAG_INFO: Readonly<Record<string, FlagInfo>> = {
  policy_enforce_user_ids: {
    icon: 'U',
    label: 'Missing user ID',
    explain: () => 'Missing user ID: this request was blocked because it did not contain a user field.',
  },
  policy_max_tokens: {
    icon: 'T',
    label: 'Max tokens',
    explain: (d) => `Max tokens: the request did not set a token limit within the connection's maximum (${d}).`,
  },
  policy_max_prompt_chars: {
    icon: 'P',
    label: 'Prompt too long',
    explain: (d) => `Prompt too long: the prompt had more characters than the connection allows (${d}).`,
  },
  policy_disabled_models: {
    icon: 'M',
    label: 'Blocked model',
    explain: (d) => `Blocked model: the connection does not allow this model or image size (${d}).`,
  },
  policy_auto_moderate: {
    icon: '!',
    label: 'Moderation',
    explain: (d) => `Moderation: the moderation check flagged the user's text (${d}).`,
  },
  policy_wordlists: {
    icon: 'W',
    label: 'Wordlist match',
    explain: (d) => `Wordlist match: the text matched a wordlist of the connection (${d}).`,
  },
  policy_prompt_reflection: {
    icon: 'R',
    label: 'Prompt reflection',
    explain: () => 'Prompt reflection: the answer repeated text of the prompt that was marked as private.',
  },
  policy_rate_limit: {
    icon: 'L',
    label: 'Rate limit',
    explain: (d) =>
      `Rate limit: this request was refused with 429 because a limit of the connection was reached (${d}).`,
  },
  policy_budget: {
    icon: '$',
    label: 'Budget',
    explain: (d) => `Budget: this request was refused because it did not fit in a budget of the connection (${d}).`,
  },
  policy_limits_unavailable: {
    icon: 'S',
    label: 'Limits unavailable',
    explain: (d) => `Limits unavailable: the shared state (Redis) could not be reached (${d}).`,
  },
  policy_autoreply: {
    icon: 'A',
    label: 'Auto-reply',
    explain: (d) => `Auto-reply: the gateway answered from an auto-reply without calling upstream (${d}).`,
  },
  policy_header_override: {
    icon: 'H',
    label: 'Header override refused',
    explain: (d) => `Header override refused: a header tried to loosen the connection's policy (${d}).`,
  },
  policy_uninspected_endpoint: {
    icon: 'E',
    label: 'Endpoint not inspected',
    explain: (d) =>
      `Endpoint not inspected: the gateway cannot read this request's text, so the connection's policy refused it; list its path in Passthrough paths to let it through unread (${d}).`,
  },
};

/** Flag types the logs filter offers. */
export const KNOWN_FLAG_TYPES = Object.keys(FLAG_INFO);

export function flagInfo(type: string): FlagInfo {
  return (
    FLAG_INFO[type] ?? {
      icon: '?',
      label: type,
      explain: (d) => `${type}: ${d}`,
    }
  );
}

export const explainFlag = (flag: Flag): string => flagInfo(flag.type).explain(flag.description);

export function FlagIcon({ flag }: { flag: Flag }) {
  const id = useId();
  const info = flagInfo(flag.type);
  return (
    // Focusable so the explanation is reachable without a mouse, too.
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a tooltip trigger must take focus
    <span className="flag" tabIndex={0} aria-describedby={id} data-flag={flag.type}>
      <span className="flag-icon" role="img" aria-label={info.label}>
        {info.icon}
      </span>
      <span className="tooltip" role="tooltip" id={id}>
        {info.explain(flag.description)}
      </span>
    </span>
  );
}

export function FlagIcons({ flags }: { flags: readonly Flag[] }) {
  if (flags.length === 0) return null;
  return (
    <span className="flags">
      {flags.map((flag) => (
        <FlagIcon key={`${flag.type}|${flag.description}`} flag={flag} />
      ))}
    </span>
  );
}
