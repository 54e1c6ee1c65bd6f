/**
 * Typed errors. Every error the package throws is a ContinualNextError with a stable `code`;
 * native errors arrive as these same classes (the addon is given this table at load time), with
 * the fields that locate the fault (file, line, field, tensor) set when known.
 */
export class ContinualNextError extends Error {
  code: string = 'ERR_CONTINUAL_NEXT';
  /** File at fault, when one is known. */
  file?: string;
  /** 1-based line (or record index) at fault. */
  line?: number;
  /** Config or record field at fault. */
  field?: string;
  /** Tensor name at fault. */
  tensor?: string;
  constructor(message: string, details: { file?: string; line?: number; field?: string; tensor?: string; cause?: unknown } = {}) {
    super(message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = new.target.name;
    if (details.file !== undefined) this.file = details.file;
    if (details.line !== undefined) this.line = details.line;
    if (details.field !== undefined) this.field = details.field;
    if (details.tensor !== undefined) this.tensor = details.tensor;
  }
}

function codedClass(code: string) {
  return class extends ContinualNextError {
    override code = code;
  };
}

/** A bad argument to an API call. */
export class InvalidArgumentError extends codedClass('ERR_INVALID_ARGUMENT') {}
/** An object was used after dispose(). */
export class DisposedError extends codedClass('ERR_DISPOSED') {}
/** A malformed or unreadable safetensors file (names the file and tensor). */
export class SafetensorsError extends codedClass('ERR_SAFETENSORS') {}
/** A model directory that cannot be loaded: missing, unexpected or mis-shaped tensors, bad config. */
export class ModelLoadError extends codedClass('ERR_MODEL_LOAD') {}
/** An invalid configuration (names the file and field). */
export class ConfigError extends codedClass('ERR_CONFIG') {}
/** A malformed dataset record (names the file, line and field). */
export class DatasetError extends codedClass('ERR_DATASET') {}
/** A device that is not usable, e.g. CUDA asked for but absent. */
export class DeviceError extends codedClass('ERR_DEVICE') {}
/** An error raised inside libtorch. */
export class TorchError extends codedClass('ERR_TORCH') {}
/** Host or device memory ran out. */
export class OutOfMemoryError extends codedClass('ERR_OUT_OF_MEMORY') {}
/** Work stopped through an AbortSignal. */
export class AbortError extends codedClass('ERR_ABORTED') {}
/** A collective failed, timed out, or a peer died. */
export class DistributedError extends codedClass('ERR_DISTRIBUTED') {}
/** A file could not be read or written. */
export class IoError extends codedClass('ERR_IO') {}
/** An HTTP endpoint failed: unreachable, timed out, an HTTP error or a malformed answer (names the URL, and the test item as file/line). */
export class EndpointError extends codedClass('ERR_ENDPOINT') {
  url?: string;
  /** HTTP status, when the server answered. */
  status?: number;
}
/** Any other native failure. */
export class NativeError extends codedClass('ERR_NATIVE') {}

/** The native addon could not be loaded; `candidates` says what was tried and why each failed. */
export class NativeLoadError extends ContinualNextError {
  override code = 'ERR_NATIVE_LOAD';
  constructor(message: string, readonly candidates: { path: string; reason: string }[]) {
    super(message);
  }
}

/** code → class, handed to the addon so native errors are created as these classes. */
export const nativeErrorClasses: Record<string, new (message: string) => ContinualNextError> = {
  ERR_INVALID_ARGUMENT: InvalidArgumentError,
  ERR_DISPOSED: DisposedError,
  ERR_SAFETENSORS: SafetensorsError,
  ERR_MODEL_LOAD: ModelLoadError,
  ERR_CONFIG: ConfigError,
  ERR_DEVICE: DeviceError,
  ERR_TORCH: TorchError,
  ERR_OUT_OF_MEMORY: OutOfMemoryError,
  ERR_ABORTED: AbortError,
  ERR_DISTRIBUTED: DistributedError,
  ERR_IO: IoError,
  ERR_NATIVE: NativeError,
};
