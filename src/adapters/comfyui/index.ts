/** ComfyUI servers as backends: config, the backend, its protocol client, endpoint and auth, versions, workflow templates and the managed process. */
export { ComfyUiBackend } from './comfyui-backend.js';
export { prepareBackend, type BackendSetup, type ComfyUiBackendDependencies } from './backend-setup.js';
export {
  ComfyUiClient,
  ComfyUiSocket,
  type ComfyUiClientOptions,
  type ComfyUiSocketEvent,
  type HistoryEntry,
  type QueueSnapshot,
  type SubmittedPrompt,
  type SystemStats,
  type SystemStatsDevice,
  type ViewedFile,
} from './comfyui-client.js';
export {
  ComfyUiConfigSchema,
  DEFAULT_MODEL_FOLDERS,
  DEFAULT_OFFLOAD_ARGS,
  SHIPPED_TEMPLATES_DIR,
  parseComfyUiConfig,
  type ComfyUiConfig,
  type ComfyUiConfigInput,
  type ComfyUiLaunchConfig,
  type ComfyUiTimeouts,
} from './comfyui-config.js';
export { resolveEndpoint, type ComfyUiEndpoint } from './comfyui-endpoint.js';
export { ComfyUiExecutionError, ComfyUiHttpError, ComfyUiVersionError, type ExecutionErrorReport } from './comfyui-errors.js';
export { parseComfyUiMessage, type ComfyUiMessage, type OutputFile } from './comfyui-messages.js';
export { MIN_COMFYUI_VERSION, TARGETED_INTERRUPT_VERSION } from './comfyui-version.js';
export { VRAM_MODE_FLAGS, withLaunchFlags } from './launch-args.js';
export { ManagedProcess, type ManagedProcessEvent, type ManagedProcessOptions, type ProcessExit } from './managed-process.js';
export { runPrompt, type PromptResult, type PromptRunOptions } from './prompt-run.js';
export {
  LOADER_FILE_INPUTS,
  PLACEHOLDER_TYPES,
  loadWorkflowTemplate,
  parseWorkflowTemplate,
  renderWorkflow,
  templateSize,
  type ApiNode,
  type ApiWorkflow,
  type PlaceholderName,
  type PlaceholderValues,
  type LoaderTable,
  type TemplateDefaults,
  type TemplateModelFile,
  type TemplateSize,
  type WorkflowTemplate,
} from './workflow-template.js';
