/**
 * Old names of request fields, accepted for one release beside the reference's names: a body may give either; given
 * both with different values it is a 400 naming both.
 */
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../../core/validation.js';

/** Deprecated request field → the field it is the old name of. */
export const REQUEST_ALIASES: Readonly<Record<string, string>> = { maxWaitSeconds: 'maxWaitTimeSeconds' };

/** `body` with every deprecated name moved onto its field, or the issue when a name and its field disagree. */
function fold(body: Record<string, unknown>): { body: Record<string, unknown> } | { issue: ValidationIssue } {
  let out = body;
  for (const [alias, field] of Object.entries(REQUEST_ALIASES)) {
    if (!Object.hasOwn(body, alias)) continue;
    const { [alias]: value, ...rest } = out;
    if (Object.hasOwn(body, field) && body[field] !== value) {
      return {
        issue: {
          field: alias,
          problem: `${alias} (${JSON.stringify(value)}) and ${field} (${JSON.stringify(body[field])}) disagree; give one of them (${alias} is the deprecated name of ${field})`,
          received: value,
        },
      };
    }
    out = { ...rest, [field]: Object.hasOwn(body, field) ? body[field] : value };
  }
  return { body: out };
}

/**
 * A request body with its deprecated names moved onto their fields, for routes whose body the engine validates.
 * Anything but a JSON object is passed through for the engine to reject. Throws a ValidationError about `subject`
 * when a name and its field disagree.
 */
export function foldRequestAliases(body: unknown, subject: string): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const folded = fold(body as Record<string, unknown>);
  if ('issue' in folded) throw new ValidationError(subject, [folded.issue]);
  return folded.body;
}

/**
 * `schema` accepting the deprecated names of its fields too (documented as deprecated), folded onto the fields on
 * parse; a name and its field that disagree are an issue on the name.
 */
export function withRequestAliases<S extends z.ZodObject>(schema: S): z.ZodType<z.output<S>, z.input<S>> {
  const aliases: Record<string, z.ZodType> = {};
  for (const [alias, field] of Object.entries(REQUEST_ALIASES)) {
    const target = schema.shape[field] as z.ZodType | undefined;
    if (!target) continue;
    aliases[alias] = target.meta({
      deprecated: true,
      description: `Deprecated since API 1.1, accepted for one release: the old name of ${field}; giving both with different values is a 400`,
    });
  }
  return schema.extend(aliases).transform((value, ctx) => {
    const folded = fold(value as Record<string, unknown>);
    if ('issue' in folded) {
      ctx.issues.push({ code: 'custom', message: folded.issue.problem, path: [folded.issue.field], input: folded.issue.received });
      return z.NEVER;
    }
    return folded.body as z.output<S>;
  }) as unknown as z.ZodType<z.output<S>, z.input<S>>;
}
