/** Public API of the data plane: file sources, ranges, serving, downloading, pushing, bandwidth caps, progress. */
export { DataPlaneError, type DataPlaneErrorCode, classifyNetworkError, redactUrl } from './errors';
export {
  type FileFingerprint,
  type OpenedFile,
  type ResolvedPath,
  type DigestPersistence,
  type DigestCacheOptions,
  DigestCache,
  fingerprintKey,
  resolveUnderRoot,
  openFileSource,
  hashFileRange,
} from './file-source';
export { type RangeResult, parseRange, contentRange, unsatisfiedRange, parseContentRange } from './range';
export { reprDigest, parseReprDigest, announcedSha256, etagFor } from './digest-headers';
export { type Clock, type TokenBucketOptions, TokenBucket, throttle, realClock } from './throttle';
export { type UrlPolicy, type BackendOptions, type BackendResponse, fetchBackend } from './backend';
export { type ServeOptions, type ServeResult, serveAsset, assetHandler, ifRangeMatches } from './serve';
export {
  type DownloadOptions,
  type DownloadResult,
  type DownloadProgress,
  type RetryPolicy,
  type HeaderSource,
  type PartSidecar,
  DEFAULT_RETRY,
  downloadToFile,
  partPaths,
  freeBytesOf,
} from './download';
export { type PushOptions, type PushResult, pushStream, pushAsset } from './push';
export { type ProgressOptions, type ProgressMode, type ProgressStream, ProgressBar, formatBytes, formatDuration } from './progress';
