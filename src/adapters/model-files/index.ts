/** Model files on disk: layout and safe paths, availability scanning, digest cache, resumable verified downloads. */
export { AvailabilityScanner, type AvailabilityScannerOptions, type FileStatus, type VerifyMode } from './availability-scanner.js';
export { DigestCache, type CachedDigest, type FileIdentity } from './digest-cache.js';
export {
  DOWNLOAD_ERROR_CODES,
  DownloadError,
  ModelPathError,
  isDownloadError,
  isModelPathError,
  type DownloadErrorCode,
  type DownloadErrorDetails,
} from './download-errors.js';
export {
  DownloaderOptionsSchema,
  ModelDownloader,
  statfsFreeBytes,
  type DownloadMonitor,
  type DownloadPhase,
  type DownloadProgress,
  type DownloadRequest,
  type DownloadResult,
  type DownloadState,
  type DownloaderDependencies,
  type DownloaderOptions,
  type FreeSpaceProbe,
} from './downloader.js';
export { sha256File, type FileHasher } from './file-digest.js';
export {
  COMFYUI_LAYOUT,
  FLAT_LAYOUT,
  MODEL_LAYOUTS,
  ModelsDirectory,
  ModelsDirectoryOptionsSchema,
  PARTIAL_SUFFIX,
  type ModelsDirectoryOptions,
  type ModelsLayout,
  type ResolvedModelFile,
} from './models-directory.js';
