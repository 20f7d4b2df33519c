/**
 * The node definitions the fake ComfyUI knows, in GET /object_info's shape, copied from ComfyUI a125cd84 (0.3.64;
 * unchanged since 0.3.60 for these nodes): nodes.py (loaders, CLIPTextEncode, KSampler, KSamplerAdvanced, VAEDecode,
 * LoadImage, LoraLoaderModelOnly), comfy_extras/nodes_model_advanced.py (ModelSamplingSD3), nodes_hunyuan.py
 * (EmptyHunyuanLatentVideo), nodes_wan.py (WanImageToVideo, Wan22ImageToVideoLatent), nodes_video.py (CreateVideo,
 * SaveVideo) and, when the ComfyUI-GGUF pack is "installed" (a `unet_gguf` folder), city96/ComfyUI-GGUF's loaders.
 * Combo lists of model files come from the fake's folders, as `folder_paths.get_filename_list` gives them.
 */

/** One input: its type (a name such as "INT", or the combo's options) and its options (min, max, …). */
export type InputSpec = readonly [type: string | readonly string[], options?: { readonly min?: number; readonly max?: number }];

/** One node class, as /object_info describes it. */
export interface NodeInfo {
  readonly input: { readonly required: Readonly<Record<string, InputSpec>>; readonly optional?: Readonly<Record<string, InputSpec>> };
  readonly output: readonly string[];
  readonly output_node: boolean;
  /** Inputs the class checks itself (VALIDATE_INPUTS arguments): no combo, min or max check for them. */
  readonly validated?: readonly string[];
}

/** comfy/samplers.py SAMPLER_NAMES. */
const SAMPLERS = [
  'euler', 'euler_cfg_pp', 'euler_ancestral', 'euler_ancestral_cfg_pp', 'heun', 'heunpp2', 'dpm_2', 'dpm_2_ancestral', 'lms', 'dpm_fast',
  'dpm_adaptive', 'dpmpp_2s_ancestral', 'dpmpp_2s_ancestral_cfg_pp', 'dpmpp_sde', 'dpmpp_sde_gpu', 'dpmpp_2m', 'dpmpp_2m_cfg_pp', 'dpmpp_2m_sde',
  'dpmpp_2m_sde_gpu', 'dpmpp_2m_sde_heun', 'dpmpp_2m_sde_heun_gpu', 'dpmpp_3m_sde', 'dpmpp_3m_sde_gpu', 'ddpm', 'lcm', 'ipndm', 'ipndm_v', 'deis',
  'res_multistep', 'res_multistep_cfg_pp', 'res_multistep_ancestral', 'res_multistep_ancestral_cfg_pp', 'gradient_estimation',
  'gradient_estimation_cfg_pp', 'er_sde', 'seeds_2', 'seeds_3', 'sa_solver', 'sa_solver_pece', 'ddim', 'uni_pc', 'uni_pc_bh2',
];
/** comfy/samplers.py SCHEDULER_NAMES. */
const SCHEDULERS = ['simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic', 'kl_optimal'];
/** nodes.py CLIPLoader `type`. */
const CLIP_TYPES = [
  'stable_diffusion', 'stable_cascade', 'sd3', 'stable_audio', 'mochi', 'ltxv', 'pixart', 'cosmos', 'lumina2', 'wan', 'hidream', 'chroma', 'ace',
  'omnigen2', 'qwen_image', 'hunyuan_image',
];
const MAX_RESOLUTION = 16384;
/** 0xffffffffffffffff, as near as a double gets. */
const SEED_MAX = 2 ** 64;

/** The fake's node classes for its model folders and uploaded images. */
export function objectInfo(models: Readonly<Record<string, readonly string[] | undefined>>, inputImages: readonly string[]): Record<string, NodeInfo> {
  const files = (folder: string): readonly string[] => models[folder] ?? [];
  const vaes = [...files('vae'), 'pixel_space'];
  const info: Record<string, NodeInfo> = {
    UNETLoader: {
      input: { required: { unet_name: [files('diffusion_models')], weight_dtype: [['default', 'fp8_e4m3fn', 'fp8_e4m3fn_fast', 'fp8_e5m2']] } },
      output: ['MODEL'],
      output_node: false,
    },
    CLIPLoader: {
      input: { required: { clip_name: [files('text_encoders')], type: [CLIP_TYPES] }, optional: { device: [['default', 'cpu']] } },
      output: ['CLIP'],
      output_node: false,
    },
    VAELoader: { input: { required: { vae_name: [vaes] } }, output: ['VAE'], output_node: false },
    LoraLoaderModelOnly: {
      input: { required: { model: ['MODEL'], lora_name: [files('loras')], strength_model: ['FLOAT', { min: -100, max: 100 }] } },
      output: ['MODEL'],
      output_node: false,
    },
    ModelSamplingSD3: { input: { required: { model: ['MODEL'], shift: ['FLOAT', { min: 0, max: 100 }] } }, output: ['MODEL'], output_node: false },
    CLIPTextEncode: { input: { required: { text: ['STRING'], clip: ['CLIP'] } }, output: ['CONDITIONING'], output_node: false },
    EmptyHunyuanLatentVideo: {
      input: {
        required: {
          width: ['INT', { min: 16, max: MAX_RESOLUTION }],
          height: ['INT', { min: 16, max: MAX_RESOLUTION }],
          length: ['INT', { min: 1, max: MAX_RESOLUTION }],
          batch_size: ['INT', { min: 1, max: 4096 }],
        },
      },
      output: ['LATENT'],
      output_node: false,
    },
    WanImageToVideo: {
      input: {
        required: {
          positive: ['CONDITIONING'],
          negative: ['CONDITIONING'],
          vae: ['VAE'],
          width: ['INT', { min: 16, max: MAX_RESOLUTION }],
          height: ['INT', { min: 16, max: MAX_RESOLUTION }],
          length: ['INT', { min: 1, max: MAX_RESOLUTION }],
          batch_size: ['INT', { min: 1, max: 4096 }],
        },
        optional: { clip_vision_output: ['CLIP_VISION_OUTPUT'], start_image: ['IMAGE'] },
      },
      output: ['CONDITIONING', 'CONDITIONING', 'LATENT'],
      output_node: false,
    },
    Wan22ImageToVideoLatent: {
      input: {
        required: {
          vae: ['VAE'],
          width: ['INT', { min: 32, max: MAX_RESOLUTION }],
          height: ['INT', { min: 32, max: MAX_RESOLUTION }],
          length: ['INT', { min: 1, max: MAX_RESOLUTION }],
          batch_size: ['INT', { min: 1, max: 4096 }],
        },
        optional: { start_image: ['IMAGE'] },
      },
      output: ['LATENT'],
      output_node: false,
    },
    KSampler: {
      input: {
        required: {
          model: ['MODEL'],
          seed: ['INT', { min: 0, max: SEED_MAX }],
          steps: ['INT', { min: 1, max: 10000 }],
          cfg: ['FLOAT', { min: 0, max: 100 }],
          sampler_name: [SAMPLERS],
          scheduler: [SCHEDULERS],
          positive: ['CONDITIONING'],
          negative: ['CONDITIONING'],
          latent_image: ['LATENT'],
          denoise: ['FLOAT', { min: 0, max: 1 }],
        },
      },
      output: ['LATENT'],
      output_node: false,
    },
    KSamplerAdvanced: {
      input: {
        required: {
          model: ['MODEL'],
          add_noise: [['enable', 'disable']],
          noise_seed: ['INT', { min: 0, max: SEED_MAX }],
          steps: ['INT', { min: 1, max: 10000 }],
          cfg: ['FLOAT', { min: 0, max: 100 }],
          sampler_name: [SAMPLERS],
          scheduler: [SCHEDULERS],
          positive: ['CONDITIONING'],
          negative: ['CONDITIONING'],
          latent_image: ['LATENT'],
          start_at_step: ['INT', { min: 0, max: 10000 }],
          end_at_step: ['INT', { min: 0, max: 10000 }],
          return_with_leftover_noise: [['disable', 'enable']],
        },
      },
      output: ['LATENT'],
      output_node: false,
    },
    VAEDecode: { input: { required: { samples: ['LATENT'], vae: ['VAE'] } }, output: ['IMAGE'], output_node: false },
    CreateVideo: { input: { required: { images: ['IMAGE'], fps: ['FLOAT', { min: 1, max: 120 }] }, optional: { audio: ['AUDIO'] } }, output: ['VIDEO'], output_node: false },
    SaveVideo: {
      input: { required: { video: ['VIDEO'], filename_prefix: ['STRING'], format: [['auto', 'mp4']], codec: [['auto', 'h264']] } },
      output: [],
      output_node: true,
    },
    LoadImage: { input: { required: { image: [[...inputImages].sort()] } }, output: ['IMAGE', 'MASK'], output_node: false, validated: ['image'] },
  };
  if (models.unet_gguf !== undefined) {
    const clips = [...files('text_encoders'), ...files('clip_gguf')];
    info.UnetLoaderGGUF = { input: { required: { unet_name: [files('unet_gguf')] } }, output: ['MODEL'], output_node: false };
    info.CLIPLoaderGGUF = { input: { required: { clip_name: [clips], type: [CLIP_TYPES] } }, output: ['CLIP'], output_node: false };
  }
  return info;
}
