/**
 * ComfyUI versions the adapter depends on, read from GET /system_stats `system.comfyui_version`:
 * - 0.3.46 added the Wan2.2 nodes (commit a88788dc "Wan 2.2 support"): older servers reject the templates;
 * - 0.3.57 made POST /interrupt `{prompt_id}` stop only that prompt (commit 464ba1d6); before, it stops whatever runs.
 */

/** The first ComfyUI with the Wan2.2 nodes. */
export const MIN_COMFYUI_VERSION = '0.3.46';
/** The first ComfyUI whose POST /interrupt honours `prompt_id`. */
export const TARGETED_INTERRUPT_VERSION = '0.3.57';

/** `0.3.60` (or `v0.3.60-12-gabc`) → [0, 3, 60]; undefined when it is not a version. */
export function parseComfyUiVersion(text: string | undefined): readonly [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text?.trim() ?? '');
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/** Whether `version` is `minimum` or later; an unreadable version counts as not. */
export function isAtLeast(version: string | undefined, minimum: string): boolean {
  const have = parseComfyUiVersion(version);
  const need = parseComfyUiVersion(minimum);
  if (!have || !need) return false;
  for (let i = 0; i < 3; i++) if (have[i] !== need[i]) return (have[i] ?? 0) > (need[i] ?? 0);
  return true;
}

/**
 * Why a server of `version` cannot run the Wan2.2 templates, or undefined when it can. A version that cannot be read
 * (a fork, a build without comfyui_version) is let through: its POST /prompt still says which node is missing.
 */
export function versionProblem(label: string, version: string | undefined): string | undefined {
  if (parseComfyUiVersion(version) === undefined || isAtLeast(version, MIN_COMFYUI_VERSION)) return undefined;
  return `${label} is version ${version}; the Wan2.2 nodes (Wan22ImageToVideoLatent, WanImageToVideo) need ComfyUI ${MIN_COMFYUI_VERSION} or later: update ComfyUI`;
}
