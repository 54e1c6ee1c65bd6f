// Safetensors read and write (https://github.com/huggingface/safetensors format).
//
// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON (an object: tensor name ->
// {dtype, shape, data_offsets}, plus an optional "__metadata__" string->string map), then the
// data section; data_offsets are [begin, end) byte offsets into it.
//
// Reading maps the file read-only and validates the whole header before any tensor is handed
// out: every failure is ERR_SAFETENSORS naming the file and, where one is at fault, the tensor.
// Operating-system failures (missing file, unreadable) are ERR_IO. Writing is atomic (temp file,
// fsync, rename). Pickle checkpoints (.bin/.pt/.pth/.ckpt) are never opened: they are refused.
// See docs/formats.md.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cn::io {

using Metadata = std::map<std::string, std::string>;
// Tensors in a defined order (file order for a read, the caller's order for a write).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct TensorInfo {
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  // [begin, end) within the data section.
  uint64_t begin = 0;
  uint64_t end = 0;
  int64_t numel() const;
};

// The safetensors dtype names ("F32", "BF16", ...) of the dtypes we support.
std::string safetensorsDtypeName(at::ScalarType type);

class SafetensorsReader {
 public:
  // Maps and validates `path`; throws ERR_SAFETENSORS (bad file) or ERR_IO (cannot open it).
  explicit SafetensorsReader(std::string path);
  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;
  SafetensorsReader(SafetensorsReader&& other) noexcept;
  SafetensorsReader& operator=(SafetensorsReader&& other) = delete;

  const std::string& path() const { return path_; }
  // Tensor names in the order of their data in the file.
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return infos_.count(name) != 0; }
  // Throws ERR_SAFETENSORS naming the tensor when it is not in the file.
  const TensorInfo& info(const std::string& name) const;
  // A fresh CPU tensor of the stored dtype holding a copy of the data.
  at::Tensor tensor(const std::string& name) const;
  const Metadata& metadata() const { return metadata_; }
  // Size in bytes of the JSON header and of the data section.
  uint64_t headerSize() const { return headerSize_; }
  uint64_t dataSize() const { return dataSize_; }

 private:
  void parseHeader(const char* text, uint64_t size);
  [[noreturn]] void failTensor(const std::string& name, const std::string& message) const;

  std::string path_;
  void* map_ = nullptr;
  size_t mapSize_ = 0;
  const uint8_t* data_ = nullptr;
  uint64_t headerSize_ = 0;
  uint64_t dataSize_ = 0;
  std::vector<std::string> names_;
  std::unordered_map<std::string, TensorInfo> infos_;
  Metadata metadata_;
};

// Every tensor of one file, in file order; with `names`, only those (in that order), and a name
// not in the file is an error.
NamedTensors loadSafetensors(const std::string& path, const std::vector<std::string>* names = nullptr);

// A checkpoint: a .safetensors file (any name), a model.safetensors.index.json file, or a
// directory holding model.safetensors.index.json (sharded) or model.safetensors. A directory or
// file with only pickle weights is refused (never unpickled).
NamedTensors loadCheckpoint(const std::string& pathOrDir);

// Writes `tensors` (any device; copied to CPU) in the given order, atomically: a temp file beside
// `path` is written, fsynced and renamed over it. Bad names/dtypes: ERR_INVALID_ARGUMENT naming
// the tensor; any write failure: ERR_IO naming the file, with no temp file left behind.
void saveSafetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

}  // namespace cn::io
