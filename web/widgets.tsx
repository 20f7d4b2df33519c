/** Small pieces used across the views: status badges, progress bars, error notes. */
import type { ComponentChildren } from 'preact';
import { isApiRequestError, messageOf } from './api.js';
import { formatPercent, words } from './format.js';

/** A state as a coloured label (`data-tone` picks the colour). */
export function Badge({ value, tone }: { value: string; tone?: string }) {
  return (
    <span class="badge" data-tone={tone ?? toneOf(value)}>
      {words(value)}
    </span>
  );
}

/** The colour family of a state. */
export function toneOf(value: string): string {
  if (['succeeded', 'available', 'healthy', 'closed', 'as_requested'].includes(value)) return 'good';
  if (['failed', 'corrupted', 'critical', 'open', 'expired', 'reject'].includes(value)) return 'bad';
  if (['running', 'downloading', 'verifying', 'half_open'].includes(value)) return 'busy';
  if (['queued', 'waiting_for_model', 'degraded', 'paused', 'partial'].includes(value)) return 'wait';
  return 'plain';
}

/** A labelled progress bar, 0 to 1. */
export function Bar({ value, label }: { value: number; label: string }) {
  return (
    <div class="bar">
      <progress max={1} value={value} aria-label={label} />
      <span class="bar-text">{formatPercent(value)}</span>
    </div>
  );
}

/** An error from the API: its message and, when it names fields, each field and its problem. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const details = isApiRequestError(error) ? error.details : [];
  return (
    <div class="error" role="alert">
      <strong>{isApiRequestError(error) && error.status ? `${error.status} ${error.code}: ` : ''}</strong>
      {messageOf(error)}
      {details.length > 0 && (
        <ul>
          {details.map((d) => (
            <li key={d.field}>
              <code>{d.field}</code>: {d.problem}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A titled section. */
export function Panel({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="panel" aria-label={title}>
      <header class="panel-head">
        <h2>{title}</h2>
        {actions && <div class="actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

/** The label every preview result carries: it is not a real generation. */
export function PreviewLabel() {
  return (
    <span class="preview-label" title="A labelled preview, not a real generation">
      PREVIEW
    </span>
  );
}
