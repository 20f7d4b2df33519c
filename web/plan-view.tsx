/** A plan with its reasons: the strategy chosen, the model, the estimate, and every option weighed and why it lost. */
import { formatSeconds, words } from './format.js';
import type { FallbackStrategyView, PlanView } from './types.js';
import { Badge, PreviewLabel } from './widgets.js';

/**
 * What both a job's plan and a preview of one show: fields both carry (a PlanView and the answer of
 * `POST /v1/fallback-strategy` are views of the same FallbackStrategy).
 */
export type PlanSummary = Pick<
  PlanView & FallbackStrategyView,
  'strategyType' | 'situation' | 'model' | 'confidenceScore' | 'userMessage' | 'estimatedWaitTimeSeconds' | 'isPreview' | 'requirementsAdjustments' | 'fallbackOptions'
>;

/** The plan, its message, adjustments and options table. */
export function PlanDetails({ plan }: { plan: PlanSummary }) {
  return (
    <div class="plan" data-testid="plan">
      <div class="plan-head">
        <Badge value={plan.strategyType} tone={plan.strategyType === 'reject' ? 'bad' : plan.strategyType === 'as_requested' ? 'good' : 'busy'} />
        <span>
          on <strong data-testid="plan-model">{plan.model}</strong>
        </span>
        {plan.isPreview && <PreviewLabel />}
        <span class="muted">situation: {words(plan.situation)}</span>
        {plan.strategyType !== 'reject' && <span class="muted">result in about {formatSeconds(plan.estimatedWaitTimeSeconds)}</span>}
        <span class="muted">confidence {Math.round(plan.confidenceScore * 100)} %</span>
      </div>
      <p class="plan-message" data-testid="plan-message">
        {plan.userMessage}
      </p>
      {plan.requirementsAdjustments.length > 0 && (
        <ul class="adjustments">
          {plan.requirementsAdjustments.map((a) => (
            <li key={a.field}>
              <code>{a.field}</code> {String(a.from)} → {String(a.to)}: {a.reason}
            </li>
          ))}
        </ul>
      )}
      <div class="scroll">
        <table class="options" data-testid="plan-options">
          <caption>Every option considered, in policy order</caption>
          <thead>
            <tr>
              <th scope="col">option</th>
              <th scope="col">model</th>
              <th scope="col">score</th>
              <th scope="col">estimate</th>
              <th scope="col">outcome</th>
            </tr>
          </thead>
          <tbody>
            {plan.fallbackOptions.map((o, i) => (
              <tr key={i} class={o.chosen ? 'chosen' : ''}>
                <td>{words(o.type)}</td>
                <td>{o.model ?? '—'}</td>
                <td>
                  {o.score !== undefined ? o.score.toFixed(2) : '—'}
                  {o.minScore !== undefined && <span class="muted"> (needs {o.minScore})</span>}
                </td>
                <td>{o.estimatedSeconds !== undefined ? formatSeconds(o.estimatedSeconds) : '—'}</td>
                <td>{o.chosen ? <strong>chosen</strong> : o.whyNot}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
