/**
 * The models: availability, download bars (bytes, speed, time left) fed by `download.progress` events, download and
 * verify buttons, and the ranked stand-ins for a model with the parts of each score.
 */
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { formatBytes, formatSeconds, words } from './format.js';
import type { AlternativesView, ModelView, UnderstudyEvent } from './types.js';
import { Badge, Bar, ErrorNote, Panel } from './widgets.js';

/** The latest download figures of a model. */
export interface DownloadFigures {
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number | null;
  etaSeconds: number | null;
}

/** The figures a `download.progress` event carries. */
export function figuresOf(event: Extract<UnderstudyEvent, { type: 'download.progress' }>): DownloadFigures {
  return { bytesDone: event.bytesDone, bytesTotal: event.bytesTotal, bytesPerSecond: event.bytesPerSecond, etaSeconds: event.etaSeconds };
}

/** The models page. */
export function ModelsView({ models, downloads, refresh }: { models: readonly ModelView[]; downloads: ReadonlyMap<string, DownloadFigures>; refresh: () => void }) {
  return (
    <Panel title="Models">
      <div class="cards">
        {models.map((m) => (
          <ModelCard key={m.id} model={m} live={downloads.get(m.id)} refresh={refresh} />
        ))}
      </div>
    </Panel>
  );
}

function ModelCard({ model, live, refresh }: { model: ModelView; live: DownloadFigures | undefined; refresh: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [alternatives, setAlternatives] = useState<AlternativesView | null>(null);
  const [withImage, setWithImage] = useState(model.inputs.image === 'required');
  const run = (what: Promise<unknown>, done: (value: unknown) => void) => {
    setError(null);
    what.then(done, setError);
  };
  const download = () => run(api(`/v1/models/${model.id}/download`, { method: 'POST' }), () => refresh());
  const verify = () =>
    run(api<{ status: { status: string } }>(`/v1/models/${model.id}/verify`, { method: 'POST' }), (r) => {
      setNote(`verified: ${(r as { status: { status: string } }).status.status}`);
      refresh();
    });
  const rank = (image: boolean) => run(api<AlternativesView>(`/v1/models/${model.id}/alternatives?image=${image}`), (r) => setAlternatives(r as AlternativesView));
  // Live figures while a download runs (and, once it is done, the finished bar); otherwise what the model list says.
  const listed = model.download
    ? { bytesDone: model.download.bytesDone, bytesTotal: model.download.bytesTotal, bytesPerSecond: model.download.bytesPerSecond, etaSeconds: null }
    : null;
  const figures: DownloadFigures | null = live ?? (model.status === 'available' ? null : listed);
  const fraction = figures && figures.bytesTotal > 0 ? figures.bytesDone / figures.bytesTotal : 0;
  return (
    <article class="card" data-model={model.id} aria-label={model.id}>
      <header class="card-head">
        <h3>{model.id}</h3>
        <Badge value={model.status} />
      </header>
      <p class="muted">
        {model.capabilities.map(words).join(', ')} · text {model.inputs.text}, image {model.inputs.image} · {model.sizeGb} GB on disk · {model.baseVramGb} GB
        VRAM at 720p
      </p>
      {model.detail && <p class="error">{model.detail}</p>}
      {figures && (model.status === 'downloading' || live !== undefined) && (
        <div class="download" data-testid={`download-${model.id}`}>
          <Bar value={model.status === 'available' ? 1 : fraction} label={`download of ${model.id}`} />
          <span class="muted">
            {model.status === 'available' ? (
              <>downloaded, {formatBytes(figures.bytesTotal)}</>
            ) : (
              <>
                {formatBytes(figures.bytesDone)} of {formatBytes(figures.bytesTotal)}
                {figures.bytesPerSecond ? ` · ${formatBytes(figures.bytesPerSecond)}/s` : ''}
                {figures.etaSeconds !== null ? ` · ${formatSeconds(figures.etaSeconds)} left` : ''}
              </>
            )}
          </span>
        </div>
      )}
      <div class="actions">
        {model.status !== 'available' && model.status !== 'downloading' && model.status !== 'verifying' && (
          <button type="button" onClick={download}>
            Download
          </button>
        )}
        <button type="button" onClick={verify}>
          Verify
        </button>
        <button type="button" onClick={() => (alternatives ? setAlternatives(null) : rank(withImage))} aria-expanded={alternatives !== null}>
          Alternatives
        </button>
      </div>
      {note && <p class="muted">{note}</p>}
      <ErrorNote error={error} />
      {alternatives && (
        <div class="alternatives">
          {model.inputs.image !== 'required' && model.inputs.image !== 'unsupported' && (
            <label>
              <input
                type="checkbox"
                checked={withImage}
                onChange={(e) => {
                  setWithImage(e.currentTarget.checked);
                  rank(e.currentTarget.checked);
                }}
              />{' '}
              the request has an image
            </label>
          )}
          <table>
            <caption>Stand-ins for {model.id}, best first</caption>
            <thead>
              <tr>
                <th scope="col">model</th>
                <th scope="col">score</th>
                <th scope="col">compatibility</th>
                <th scope="col">capabilities</th>
                <th scope="col">requirements</th>
                <th scope="col">status</th>
              </tr>
            </thead>
            <tbody>
              {alternatives.suggestions.map((s) => (
                <tr key={s.suggestedModel} title={s.reason}>
                  <td>{s.suggestedModel}</td>
                  <td>
                    <strong>{s.compatibilityScore.toFixed(2)}</strong> <span class="muted">{words(s.estimatedQualityDifference)}</span>
                  </td>
                  <td>
                    {s.factors.compatibility.value.toFixed(2)} × {s.factors.compatibility.weight}
                  </td>
                  <td>
                    {s.factors.capabilities.value.toFixed(2)} × {s.factors.capabilities.weight}
                  </td>
                  <td>
                    {s.factors.requirements.value.toFixed(2)} × {s.factors.requirements.weight}
                    {s.factors.requirements.applied.length > 0 && <span class="muted"> ({s.factors.requirements.applied.join(', ')})</span>}
                  </td>
                  <td>
                    <Badge value={s.availabilityStatus} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {alternatives.suggestions.length === 0 && <p class="muted">No model qualifies.</p>}
          {alternatives.excluded.length > 0 && (
            <ul class="excluded">
              {alternatives.excluded.map((e) => (
                <li key={e.model}>
                  <strong>{e.model}</strong> ruled out: {e.reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </article>
  );
}
