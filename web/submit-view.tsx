/**
 * The submit form: every field of a generation request, an image by file picker or drag and drop with a preview,
 * and, while the form changes, the plan the engine would make now (`POST /v1/fallback-strategy`).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, isApiRequestError } from './api.js';
import { useLiveEvents, useThrottled } from './hooks.js';
import { PlanDetails } from './plan-view.js';
import type { Accepted, FallbackStrategyView, ModelView } from './types.js';
import { ErrorNote, Panel } from './widgets.js';

/** The form's values, as typed. */
interface FormValues {
  model: string;
  prompt: string;
  negativePrompt: string;
  resolution: string;
  quality: string;
  speed: string;
  numFrames: string;
  steps: string;
  seed: string;
  priority: string;
  maxWaitTimeSeconds: string;
  allowAlternatives: boolean;
  allowQualityReduction: boolean;
  allowMock: boolean;
}

const RESOLUTIONS = ['1280x720', '1280x704', '1920x1080', '1920x1088', '832x480', '720x1280', '480x832'];

/** A number field: empty is omitted; anything else is sent as the number it reads as, or as typed for the server to judge. */
function numberField(text: string): number | string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : trimmed;
}

function requestBody(values: FormValues, image: string | null): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: values.model,
    prompt: values.prompt,
    resolution: values.resolution,
    quality: values.quality,
    speed: values.speed,
    priority: values.priority,
    allowAlternatives: values.allowAlternatives,
    allowQualityReduction: values.allowQualityReduction,
    allowMock: values.allowMock,
  };
  if (values.negativePrompt) body.negativePrompt = values.negativePrompt;
  if (image) body.image = image;
  for (const key of ['numFrames', 'steps', 'seed', 'maxWaitTimeSeconds'] as const) {
    const value = numberField(values[key]);
    if (value !== undefined) body[key] = value;
  }
  return body;
}

/** The body of `POST /v1/fallback-strategy` for the same form. */
function strategyBody(values: FormValues, image: string | null): Record<string, unknown> {
  const { model, prompt, negativePrompt: _n, image: _i, seed: _s, ...requirements } = requestBody(values, image);
  return { model, requirements: { ...requirements, hasImage: image !== null, hasText: String(prompt).length > 0 } };
}

/** The submit page. */
export function SubmitView({ models, onSubmitted }: { models: readonly ModelView[]; onSubmitted: (id: string) => void }) {
  const [values, setValues] = useState<FormValues>({
    model: '',
    prompt: '',
    negativePrompt: '',
    resolution: '1280x720',
    quality: 'medium',
    speed: 'medium',
    numFrames: '',
    steps: '',
    seed: '',
    priority: 'normal',
    maxWaitTimeSeconds: '',
    allowAlternatives: true,
    allowQualityReduction: true,
    allowMock: true,
  });
  const [image, setImage] = useState<{ dataUrl: string; name: string } | null>(null);
  const [plan, setPlan] = useState<FallbackStrategyView | null>(null);
  const [planError, setPlanError] = useState<unknown>(null);
  const [submitError, setSubmitError] = useState<unknown>(null);
  const [submitting, setSubmitting] = useState(false);
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const model = values.model || models[0]?.id || '';

  // Answers can arrive out of order (the browser uses several connections): only the latest request's is shown.
  const latestPlan = useRef(0);
  const [stale, setStale] = useState(false);
  const preview = useThrottled(() => {
    if (!model) return;
    const request = ++latestPlan.current;
    const current = (apply: () => void) => () => {
      if (request === latestPlan.current) apply();
    };
    api<FallbackStrategyView>('/v1/fallback-strategy', { method: 'POST', json: strategyBody({ ...values, model }, image?.dataUrl ?? null) }).then(
      (p) =>
        current(() => {
          setPlan(p);
          setPlanError(null);
          setStale(false);
        })(),
      (error: unknown) =>
        current(() => {
          setPlan(null);
          setPlanError(error);
          setStale(false);
        })(),
    );
  }, 300);
  useEffect(() => {
    setStale(true);
    preview();
  }, [values, image, model]);
  useLiveEvents((event) => {
    if (event.type === 'model.status' || event.type === 'job.accepted' || event.type === 'job.succeeded') preview();
  }, preview);

  const set = (key: keyof FormValues) => (event: Event) => {
    const target = event.currentTarget as HTMLInputElement;
    setValues((v) => ({ ...v, [key]: target.type === 'checkbox' ? target.checked : target.value }));
  };
  const readFile = (file: File | undefined) => {
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => setImage({ dataUrl: String(reader.result), name: file.name });
    reader.readAsDataURL(file);
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setSubmitting(true);
    setSubmitError(null);
    try {
      const accepted = await api<Accepted>('/v1/generations', { method: 'POST', json: requestBody({ ...values, model }, image?.dataUrl ?? null) });
      onSubmitted(accepted.id);
    } catch (error) {
      setSubmitError(error);
    } finally {
      setSubmitting(false);
    }
  };
  const fieldErrors = new Map<string, string>();
  for (const error of [submitError, planError]) {
    if (!isApiRequestError(error)) continue;
    for (const d of error.details) {
      const field = d.field.replace(/^requirements\./, '');
      if (!fieldErrors.has(field)) fieldErrors.set(field, d.problem);
    }
  }
  const fieldError = (name: string) =>
    fieldErrors.has(name) ? (
      <span class="field-error" id={`${name}-error`}>
        {fieldErrors.get(name)}
      </span>
    ) : null;
  const invalid = (name: string) => (fieldErrors.has(name) ? { 'aria-invalid': true, 'aria-describedby': `${name}-error` } : {});

  return (
    <div class="columns">
      <Panel title="New generation">
        <form class="form" onSubmit={(e) => void submit(e)} noValidate data-testid="submit-form">
          <label>
            Model
            <select name="model" value={model} onChange={set('model')} {...invalid('model')}>
              {models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.id} ({m.status})
                </option>
              ))}
            </select>
            {fieldError('model')}
          </label>
          <label class="wide">
            Prompt
            <textarea name="prompt" rows={3} value={values.prompt} onInput={set('prompt')} {...invalid('prompt')} />
            {fieldError('prompt')}
          </label>
          <label class="wide">
            Negative prompt
            <textarea name="negativePrompt" rows={2} value={values.negativePrompt} onInput={set('negativePrompt')} {...invalid('negativePrompt')} />
            {fieldError('negativePrompt')}
          </label>
          <div
            class={`drop wide${dragging ? ' dragging' : ''}`}
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={(e) => {
              e.preventDefault();
              setDragging(false);
              readFile(e.dataTransfer?.files[0]);
            }}
            data-testid="drop-zone"
          >
            {image ? <img src={image.dataUrl} alt={`input image ${image.name}`} class="thumb" /> : <span class="muted">Drop an image here, or</span>}
            <label class="file-button">
              {image ? 'Replace image' : 'Choose an image'}
              <input ref={fileInput} type="file" name="image" accept="image/png,image/jpeg,image/webp" onChange={(e) => readFile(e.currentTarget.files?.[0])} />
            </label>
            {image && (
              <button
                type="button"
                class="link"
                onClick={() => {
                  setImage(null);
                  if (fileInput.current) fileInput.current.value = '';
                }}
              >
                Remove
              </button>
            )}
            {fieldError('image')}
          </div>
          <label>
            Resolution
            <input name="resolution" list="resolutions" value={values.resolution} onInput={set('resolution')} {...invalid('resolution')} />
            <datalist id="resolutions">
              {RESOLUTIONS.map((r) => (
                <option key={r} value={r} />
              ))}
            </datalist>
            {fieldError('resolution')}
          </label>
          <label>
            Quality
            <select name="quality" value={values.quality} onChange={set('quality')}>
              <option value="low">low</option>
              <option value="medium">medium</option>
              <option value="high">high</option>
            </select>
          </label>
          <label>
            Speed
            <select name="speed" value={values.speed} onChange={set('speed')}>
              <option value="fast">fast</option>
              <option value="medium">medium</option>
              <option value="slow">slow</option>
            </select>
          </label>
          <label>
            Priority
            <select name="priority" value={values.priority} onChange={set('priority')}>
              <option value="critical">critical</option>
              <option value="high">high</option>
              <option value="normal">normal</option>
              <option value="low">low</option>
            </select>
          </label>
          {(['numFrames', 'steps', 'seed', 'maxWaitTimeSeconds'] as const).map((key) => (
            <label key={key}>
              {{ numFrames: 'Frames', steps: 'Steps', seed: 'Seed', maxWaitTimeSeconds: 'Max wait (s)' }[key]}
              <input name={key} inputMode="numeric" value={values[key]} onInput={set(key)} placeholder="default" {...invalid(key)} />
              {fieldError(key)}
            </label>
          ))}
          <fieldset class="wide switches">
            <legend>The planner may</legend>
            <label>
              <input type="checkbox" name="allowAlternatives" checked={values.allowAlternatives} onChange={set('allowAlternatives')} /> use another model
            </label>
            <label>
              <input type="checkbox" name="allowQualityReduction" checked={values.allowQualityReduction} onChange={set('allowQualityReduction')} /> reduce
              settings
            </label>
            <label>
              <input type="checkbox" name="allowMock" checked={values.allowMock} onChange={set('allowMock')} /> give a labelled preview
            </label>
          </fieldset>
          <div class="wide">
            <ErrorNote error={submitError} />
            <button type="submit" class="primary" disabled={submitting}>
              {submitting ? 'Submitting…' : 'Submit'}
            </button>
          </div>
        </form>
      </Panel>
      <Panel title="What would happen now" actions={
          stale ? (
            <span class="muted" data-testid="plan-updating">
              updating…
            </span>
          ) : undefined
        }>
        {plan ? <PlanDetails plan={plan} /> : planError ? <ErrorNote error={planError} /> : <p class="muted">Planning…</p>}
      </Panel>
    </div>
  );
}
