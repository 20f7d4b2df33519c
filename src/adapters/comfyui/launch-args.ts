/**
 * ComfyUI's command line as Understudy relaunches it: the configured arguments with the flags an offload mode or a
 * VRAM optimisation adds. ComfyUI's VRAM flags are one argparse mutually exclusive group (comfy/cli_args.py
 * `vram_group`): two of them make ComfyUI exit with code 2 ("argument --lowvram: not allowed with argument
 * --highvram"), so a configured one is dropped when the mode brings its own.
 */

/** The flags of ComfyUI's `vram_group`, of which at most one may be given. */
export const VRAM_MODE_FLAGS: readonly string[] = ['--gpu-only', '--highvram', '--normalvram', '--lowvram', '--novram', '--cpu'];

/**
 * `configured` followed by `added`, without the configured VRAM-group flags when `added` holds one (the mode's flag
 * wins). Flags must be written in full: argparse's abbreviations (`--lowv`) are not recognised.
 */
export function withLaunchFlags(configured: readonly string[], added: readonly string[]): string[] {
  const replacesVramMode = added.some((arg) => VRAM_MODE_FLAGS.includes(arg));
  const kept = replacesVramMode ? configured.filter((arg) => !VRAM_MODE_FLAGS.includes(arg)) : configured;
  return [...kept, ...added];
}
