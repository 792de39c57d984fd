/**
 * Safetensors: the tensor file of Hugging Face checkpoints, read and written on the host.
 *
 *   8 bytes   N, a little-endian uint64
 *   N bytes   UTF-8 JSON, padded with spaces to a multiple of 8:
 *             {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..}
 *   the rest  the byte buffer; offsets count from its start
 *
 * No npm package reads it correctly on Node 20 (DESIGN.md), and checkpoints come
 * from the internet, so the reader is defensive and applies the Rust library's
 * rules (safetensors/src/tensor.rs): header at most 100,000,000 bytes, every entry
 * well-typed, shape × dtype size = end − begin, and the tensors, sorted by offset,
 * cover the buffer exactly: first at 0, no gap, no overlap, last end = buffer
 * length. Anything else is a `SafetensorsError` naming the file and what was
 * expected; nothing is allocated before the sizes have been checked against the file.
 *
 * The writer produces what Python's `save_file` does: tensors ordered by
 * descending dtype alignment then name, compact JSON with `__metadata__` first,
 * header padded to 8 bytes. Files are written to a temp file, fsynced, renamed.
 *
 * `SafetensorsFile` reads only the header and loads each tensor with a positional
 * read, so a 10 GB checkpoint never needs 10 GB of memory. Sharded folders follow
 * transformers' `save_pretrained` (model-0000i-of-0000n.safetensors + index.json).
 *
 * Tensor bytes stay little-endian as in the file; conversions go through DataView.
 *
 * One module per job, in safetensors/: format.ts (dtypes, types, the error, the
 * shared checks), header.ts (parsing and validation), read.ts, write.ts,
 * folder.ts (sharded Hugging Face folders), convert.ts (dtype conversions). This
 * file is their public face.
 */
export { fromFloat32, fromTyped, type TypedData, toFloat32 } from "./safetensors/convert.ts";
export {
  planShards,
  readSafetensorsFolder,
  type WriteFolderOptions,
  writeSafetensorsFolder,
} from "./safetensors/folder.ts";
export {
  DEFAULT_MAX_SHARD_BYTES,
  dtypeByteSize,
  type HostTensor,
  isDType,
  MAX_HEADER_BYTES,
  type SafetensorsContents,
  type SafetensorsDType,
  SafetensorsError,
  type TensorInfo,
  WEIGHTS_INDEX_NAME,
  WEIGHTS_NAME,
} from "./safetensors/format.ts";
export { parseSafetensors, readSafetensors, SafetensorsFile } from "./safetensors/read.ts";
export { serializeSafetensors, writeSafetensors } from "./safetensors/write.ts";
