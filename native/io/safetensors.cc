#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <unordered_set>

#include <c10/util/Exception.h>

#include "core/errors.h"
#include "io/json.h"

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

namespace cn::io {
namespace fs = std::filesystem;

namespace {

// The reference implementation refuses headers over 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;
constexpr uint64_t kMaxIndexBytes = 100u * 1000u * 1000u;

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16}, {"F64", at::kDouble},
    {"I64", at::kLong},  {"I32", at::kInt},   {"I16", at::kShort},     {"I8", at::kChar},
    {"U8", at::kByte},   {"BOOL", at::kBool},
};
constexpr const char* kDtypeList = "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL";

std::optional<at::ScalarType> dtypeFromName(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.type;
  }
  return std::nullopt;
}

std::optional<std::string> nameOfDtype(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return std::string(d.name);
  }
  return std::nullopt;
}

std::string errnoText() { return std::strerror(errno); }

[[noreturn]] void failFile(const std::string& path, const std::string& message) {
  fail(code::kSafetensors, message, {{"file", path}});
}

[[noreturn]] void failIo(const std::string& path, const std::string& message) {
  fail(code::kIo, message, {{"file", path}});
}

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string rangeText(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// What a JSON value is, for messages: the literal for short scalars, the kind otherwise.
std::string valueText(const json::Value& v) {
  if (v.isNumber()) return v.text();
  if (v.isString()) return json::quote(v.text().substr(0, 40));
  if (v.isBool()) return v.boolean() ? "true" : "false";
  return v.kindName();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool isPickleName(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".ckpt" || ext == ".pkl" || ext == ".pickle";
}

[[noreturn]] void refusePickle(const std::string& file, const std::string& context) {
  failFile(file,
           context + "'" + file +
               "' is a pickle checkpoint. Unpickling can run arbitrary code, so continual-next never "
               "opens pickle files (.bin, .pt, .pth, .ckpt). Convert it to safetensors first, e.g. in "
               "Python: safetensors.torch.save_file(torch.load(path, weights_only=True), "
               "'model.safetensors'), or save the model with transformers' save_pretrained, which "
               "writes safetensors.");
}

// A hint for files that are not safetensors at all, from their first bytes.
std::string formatHint(const uint8_t* bytes, size_t size) {
  if (size >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 && bytes[1] <= 5) {
    return " (it looks like a Python pickle, not safetensors; continual-next never unpickles files: "
           "convert it to safetensors)";
  }
  if (size >= 4 && std::memcmp(bytes, "PK\x03\x04", 4) == 0) {
    return " (it looks like a zip archive, e.g. a torch.save checkpoint, not safetensors; convert it "
           "to safetensors)";
  }
  return "";
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string safetensorsDtypeName(at::ScalarType type) {
  auto name = nameOfDtype(type);
  if (!name) fail(code::kInvalidArgument, std::string("dtype ") + c10::toString(type) + " cannot be stored in safetensors by continual-next");
  return *name;
}

// ---- reading -----------------------------------------------------------------------------------

SafetensorsReader::SafetensorsReader(std::string path) : path_(std::move(path)) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) failIo(path_, "cannot open '" + path_ + "': " + errnoText());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = errnoText();
    ::close(fd);
    failIo(path_, "cannot stat '" + path_ + "': " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    failFile(path_, "'" + path_ + "' is not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    failFile(path_, "'" + path_ + "' is " + std::to_string(size) +
                        " bytes long: too short for a safetensors file (the header length alone takes 8 bytes)");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string mapError = map == MAP_FAILED ? errnoText() : "";
  ::close(fd);
  if (map == MAP_FAILED) failIo(path_, "cannot map '" + path_ + "': " + mapError);
  map_ = map;
  mapSize_ = size;
  try {
    const auto* base = static_cast<const uint8_t*>(map_);
    uint64_t headerSize = 0;
    std::memcpy(&headerSize, base, 8);  // little-endian host (static_assert above)
    if (headerSize > size - 8) {
      failFile(path_, "'" + path_ + "': the header length in the first 8 bytes is " + std::to_string(headerSize) +
                          ", past the end of the file (" + std::to_string(size - 8) + " bytes follow it)" +
                          (formatHint(base, size).empty() ? std::string(": the file is truncated or not safetensors") : formatHint(base, size)));
    }
    if (headerSize > kMaxHeaderBytes) {
      failFile(path_, "'" + path_ + "': the header is " + std::to_string(headerSize) + " bytes, over the " +
                          std::to_string(kMaxHeaderBytes) + "-byte limit");
    }
    headerSize_ = headerSize;
    data_ = base + 8 + headerSize;
    dataSize_ = size - 8 - headerSize;
    parseHeader(reinterpret_cast<const char*>(base + 8), headerSize);
  } catch (...) {
    ::munmap(map_, mapSize_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsReader::SafetensorsReader(SafetensorsReader&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      mapSize_(std::exchange(other.mapSize_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      headerSize_(other.headerSize_),
      dataSize_(other.dataSize_),
      names_(std::move(other.names_)),
      infos_(std::move(other.infos_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsReader::~SafetensorsReader() {
  if (map_ != nullptr) ::munmap(map_, mapSize_);
}

void SafetensorsReader::failTensor(const std::string& name, const std::string& message) const {
  fail(code::kSafetensors, "'" + path_ + "': tensor '" + name + "' " + message, {{"file", path_}, {"tensor", name}});
}

void SafetensorsReader::parseHeader(const char* text, uint64_t size) {
  if (size == 0 || text[0] != '{') {
    failFile(path_, "'" + path_ + "': the header does not start with '{' (not a safetensors file?)" +
                        formatHint(reinterpret_cast<const uint8_t*>(map_), mapSize_));
  }
  json::Value root;
  try {
    root = json::parse(std::string_view(text, size));
  } catch (const json::ParseError& e) {
    failFile(path_, "'" + path_ + "': the header is not valid JSON: " + e.what());
  }
  if (!root.isObject()) failFile(path_, "'" + path_ + "': the header is " + root.kindName() + ", not a JSON object");

  struct Placed {
    const std::string* name;
    const TensorInfo* info;
    size_t order;
  };
  std::vector<Placed> placed;
  infos_.reserve(root.members().size());
  for (const auto& [name, entry] : root.members()) {
    if (name == "__metadata__") {
      if (!entry.isObject()) {
        failFile(path_, "'" + path_ + "': __metadata__ is " + entry.kindName() + ", expected an object of strings");
      }
      for (const auto& [key, value] : entry.members()) {
        if (!value.isString()) {
          failFile(path_, "'" + path_ + "': __metadata__ entry '" + key + "' is " + value.kindName() +
                              ", expected a string");
        }
        metadata_.emplace(key, value.text());
      }
      continue;
    }
    if (!entry.isObject()) {
      failTensor(name, std::string("is ") + entry.kindName() + ", expected an object with dtype, shape and data_offsets");
    }
    for (const auto& member : entry.members()) {
      const std::string& key = member.first;
      if (key != "dtype" && key != "shape" && key != "data_offsets") {
        failTensor(name, "has an unknown field '" + key + "' (expected dtype, shape and data_offsets)");
      }
    }
    const json::Value* dtype = entry.find("dtype");
    const json::Value* shape = entry.find("shape");
    const json::Value* offsets = entry.find("data_offsets");
    if (dtype == nullptr) failTensor(name, "has no 'dtype'");
    if (shape == nullptr) failTensor(name, "has no 'shape'");
    if (offsets == nullptr) failTensor(name, "has no 'data_offsets'");

    TensorInfo info{};
    if (!dtype->isString()) failTensor(name, std::string("has a dtype that is ") + dtype->kindName() + ", expected a string");
    auto type = dtypeFromName(dtype->text());
    if (!type) failTensor(name, "has dtype " + valueText(*dtype) + ", which is not one continual-next reads (" + kDtypeList + ")");
    info.dtype = *type;

    if (!shape->isArray()) failTensor(name, std::string("has a shape that is ") + shape->kindName() + ", expected an array of integers");
    // Element count, and the product of the non-zero dimensions (what strides need) must fit int64.
    int64_t numel = 1, extent = 1;
    for (size_t i = 0; i < shape->items().size(); ++i) {
      const json::Value& d = shape->items()[i];
      auto dim = d.asInt64();
      if (!dim || *dim < 0) {
        failTensor(name, "has shape[" + std::to_string(i) + "] = " + valueText(d) +
                             ": dimensions must be non-negative integers");
      }
      info.shape.push_back(*dim);
      if (__builtin_mul_overflow(extent, std::max<int64_t>(*dim, 1), &extent)) {
        failTensor(name, "has shape " + shapeText(info.shape) + "... whose size overflows");
      }
      numel *= *dim;  // |numel| <= extent
    }
    const uint64_t itemSize = c10::elementSize(info.dtype);
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel), itemSize, &bytes)) {
      failTensor(name, "has shape " + shapeText(info.shape) + " whose byte size overflows");
    }

    if (!offsets->isArray() || offsets->items().size() != 2) {
      failTensor(name, "has data_offsets " + (offsets->isArray() ? std::string("with ") + std::to_string(offsets->items().size()) + " entries" : valueText(*offsets)) +
                           ", expected [begin, end]");
    }
    auto begin = offsets->items()[0].asUint64();
    auto end = offsets->items()[1].asUint64();
    if (!begin || !end) {
      failTensor(name, "has data_offsets [" + valueText(offsets->items()[0]) + ", " + valueText(offsets->items()[1]) +
                           "]: offsets must be non-negative integers");
    }
    if (*begin > *end) failTensor(name, "has data_offsets " + rangeText(*begin, *end) + " that end before they begin");
    if (*end > dataSize_) {
      failTensor(name, "has data_offsets " + rangeText(*begin, *end) + " past the end of the data section (" +
                           std::to_string(dataSize_) + " bytes)");
    }
    if (*end - *begin != bytes) {
      failTensor(name, "has data_offsets " + rangeText(*begin, *end) + " (" + std::to_string(*end - *begin) +
                           " bytes) but dtype " + dtype->text() + " and shape " + shapeText(info.shape) + " need " +
                           std::to_string(bytes) + " bytes");
    }
    info.begin = *begin;
    info.end = *end;
    auto [it, inserted] = infos_.emplace(name, std::move(info));
    (void)inserted;  // the JSON parser already refuses duplicate keys
    placed.push_back({&it->first, &it->second, placed.size()});
  }

  std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
    if (a.info->begin != b.info->begin) return a.info->begin < b.info->begin;
    if (a.info->end != b.info->end) return a.info->end < b.info->end;
    return a.order < b.order;
  });
  const Placed* previous = nullptr;  // the last non-empty tensor
  for (const Placed& p : placed) {
    if (p.info->begin == p.info->end) continue;  // empty tensors occupy no bytes
    if (previous != nullptr && p.info->begin < previous->info->end) {
      failTensor(*p.name, "has data_offsets " + rangeText(p.info->begin, p.info->end) + " that overlap tensor '" +
                              *previous->name + "' at " + rangeText(previous->info->begin, previous->info->end));
    }
    previous = &p;
  }
  names_.reserve(placed.size());
  for (const Placed& p : placed) names_.push_back(*p.name);
}

const TensorInfo& SafetensorsReader::info(const std::string& name) const {
  auto it = infos_.find(name);
  if (it == infos_.end()) failTensor(name, "is not in this file");
  return it->second;
}

at::Tensor SafetensorsReader::tensor(const std::string& name) const {
  const TensorInfo& inf = info(name);
  const uint8_t* src = data_ + inf.begin;
  const uint64_t bytes = inf.end - inf.begin;
  if (inf.dtype == at::kBool) {
    for (uint64_t i = 0; i < bytes; ++i) {
      if (src[i] > 1) failTensor(name, "holds the byte " + std::to_string(src[i]) + " at element " + std::to_string(i) + ", which is not a BOOL (0 or 1)");
    }
  }
  at::Tensor t = at::empty(inf.shape, at::TensorOptions().dtype(inf.dtype));
  if (bytes > 0) std::memcpy(t.data_ptr(), src, bytes);
  return t;
}

NamedTensors loadSafetensors(const std::string& path, const std::vector<std::string>* names) {
  SafetensorsReader reader(path);
  NamedTensors out;
  if (names == nullptr) {
    out.reserve(reader.names().size());
    for (const auto& name : reader.names()) out.emplace_back(name, reader.tensor(name));
    return out;
  }
  std::unordered_set<std::string> seen;
  for (const auto& name : *names) {
    if (!seen.insert(name).second) continue;
    out.emplace_back(name, reader.tensor(name));
  }
  return out;
}

// ---- checkpoints ---------------------------------------------------------------------------------

namespace {

std::string readSmallFile(const std::string& path, uint64_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) failIo(path, "cannot open '" + path + "': " + errnoText());
  std::string out;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errnoText();
      ::close(fd);
      failIo(path, "cannot read '" + path + "': " + why);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) {
      ::close(fd);
      failFile(path, "'" + path + "' is over " + std::to_string(limit) + " bytes: too large for a shard index");
    }
  }
  ::close(fd);
  return out;
}

NamedTensors loadSharded(const std::string& indexPath) {
  const std::string text = readSmallFile(indexPath, kMaxIndexBytes);
  json::Value root;
  try {
    root = json::parse(text);
  } catch (const json::ParseError& e) {
    failFile(indexPath, "'" + indexPath + "' is not valid JSON: " + e.what());
  }
  const json::Value* weightMap = root.isObject() ? root.find("weight_map") : nullptr;
  if (weightMap == nullptr || !weightMap->isObject()) {
    failFile(indexPath, "'" + indexPath + "' has no \"weight_map\" object (expected {\"weight_map\": {tensor: shard file}})");
  }
  if (weightMap->members().empty()) failFile(indexPath, "'" + indexPath + "' has an empty weight_map");

  const fs::path dir = fs::path(indexPath).parent_path();
  std::vector<std::string> shardOrder;
  std::map<std::string, std::vector<std::string>> listed;  // shard -> tensors the index puts there
  std::unordered_map<std::string, std::string> shardOf;    // tensor -> shard
  for (const auto& [tensor, shard] : weightMap->members()) {
    if (!shard.isString() || shard.text().empty()) {
      fail(code::kSafetensors, "'" + indexPath + "': weight_map entry for tensor '" + tensor + "' is " + valueText(shard) + ", expected a shard file name",
           {{"file", indexPath}, {"tensor", tensor}});
    }
    const fs::path rel(shard.text());
    bool escapes = rel.is_absolute();
    for (const auto& part : rel) escapes = escapes || part == "..";
    if (escapes) {
      fail(code::kSafetensors, "'" + indexPath + "': shard '" + shard.text() + "' (for tensor '" + tensor + "') is not a file inside the checkpoint directory",
           {{"file", indexPath}, {"tensor", tensor}});
    }
    if (isPickleName(rel)) refusePickle((dir / rel).string(), "the index lists shard ");
    auto [it, fresh] = listed.try_emplace(shard.text());
    if (fresh) shardOrder.push_back(shard.text());
    it->second.push_back(tensor);
    shardOf.emplace(tensor, shard.text());
  }

  // Every shard must exist before anything is read.
  for (const auto& shard : shardOrder) {
    const std::string shardPath = (dir / shard).string();
    std::error_code ec;
    if (!fs::is_regular_file(shardPath, ec)) {
      const auto& tensors = listed[shard];
      std::string others = tensors.size() > 1 ? " and " + std::to_string(tensors.size() - 1) + " more" : "";
      fail(code::kSafetensors,
           "shard '" + shardPath + "' is missing: the index '" + indexPath + "' lists it for tensor '" + tensors[0] + "'" + others,
           {{"file", shardPath}, {"tensor", tensors[0]}});
    }
  }

  NamedTensors out;
  out.reserve(weightMap->members().size());
  for (const auto& shard : shardOrder) {
    const std::string shardPath = (dir / shard).string();
    SafetensorsReader reader(shardPath);
    for (const auto& tensor : listed[shard]) {
      if (!reader.contains(tensor)) {
        fail(code::kSafetensors,
             "tensor '" + tensor + "' is listed in the index '" + indexPath + "' under shard '" + shard + "' but that shard does not hold it",
             {{"file", shardPath}, {"tensor", tensor}});
      }
    }
    for (const auto& tensor : reader.names()) {
      auto it = shardOf.find(tensor);
      if (it == shardOf.end() || it->second != shard) {
        fail(code::kSafetensors,
             "shard '" + shardPath + "' holds tensor '" + tensor + "', which the index '" + indexPath + "' " +
                 (it == shardOf.end() ? std::string("does not list") : "lists under shard '" + it->second + "'"),
             {{"file", shardPath}, {"tensor", tensor}});
      }
    }
    for (const auto& tensor : reader.names()) out.emplace_back(tensor, reader.tensor(tensor));
  }
  return out;
}

}  // namespace

NamedTensors loadCheckpoint(const std::string& pathOrDir) {
  std::error_code ec;
  const fs::file_status status = fs::status(pathOrDir, ec);
  if (ec || !fs::exists(status)) failIo(pathOrDir, "'" + pathOrDir + "' does not exist");
  if (fs::is_regular_file(status)) {
    const std::string name = fs::path(pathOrDir).filename().string();
    if (name.size() > 11 && name.compare(name.size() - 11, 11, ".index.json") == 0) return loadSharded(pathOrDir);
    if (isPickleName(pathOrDir)) refusePickle(pathOrDir, "");
    return loadSafetensors(pathOrDir);
  }
  if (!fs::is_directory(status)) failFile(pathOrDir, "'" + pathOrDir + "' is neither a file nor a directory");

  const fs::path dir(pathOrDir);
  const fs::path index = dir / "model.safetensors.index.json";
  const fs::path single = dir / "model.safetensors";
  if (fs::is_regular_file(index, ec)) return loadSharded(index.string());
  if (fs::is_regular_file(single, ec)) return loadSafetensors(single.string());

  std::vector<std::string> safetensors, pickles;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const fs::path p = it->path();
    if (lower(p.extension().string()) == ".safetensors") safetensors.push_back(p.filename().string());
    else if (isPickleName(p)) pickles.push_back(p.string());
  }
  if (ec) failIo(pathOrDir, "cannot list '" + pathOrDir + "': " + ec.message());
  std::sort(safetensors.begin(), safetensors.end());
  std::sort(pickles.begin(), pickles.end());
  if (safetensors.empty() && !pickles.empty()) refusePickle(pickles[0], "'" + pathOrDir + "' has no safetensors weights, only pickle files: ");
  std::string found;
  for (const auto& s : safetensors) {
    if (!found.empty()) found += ", ";
    found += s;
  }
  failFile(pathOrDir, "'" + pathOrDir + "' has no model.safetensors or model.safetensors.index.json" +
                          (found.empty() ? std::string() : " (it has " + found + "; pass the file itself to load one of those)"));
}

// ---- writing -------------------------------------------------------------------------------------

namespace {

std::string tempSuffix() {
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist;
  static const char* hex = "0123456789abcdef";
  std::string s;
  uint32_t r = dist(rd) ^ static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&s));
  for (int i = 0; i < 8; ++i, r >>= 4) s += hex[r & 15];
  return ".tmp-" + std::to_string(::getpid()) + "-" + s;
}

class TempFile {
 public:
  TempFile(const std::string& target) : target_(target), path_(target + tempSuffix()) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) failIo(target_, "cannot write '" + target_ + "': cannot create '" + path_ + "': " + errnoText());
    created_ = true;
    struct stat st {};
    if (::stat(target_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) (void)::fchmod(fd_, st.st_mode & 07777);
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (created_) ::unlink(path_.c_str());
  }

  void write(const void* data, uint64_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, std::min<uint64_t>(size, uint64_t{1} << 30));
      if (n < 0) {
        if (errno == EINTR) continue;
        failIo(target_, "cannot write '" + target_ + "': writing '" + path_ + "' failed: " + errnoText());
      }
      p += n;
      size -= static_cast<uint64_t>(n);
    }
  }

  // fsync, close, rename over the target, then fsync the directory so the rename is durable.
  void commit() {
    if (::fsync(fd_) != 0) failIo(target_, "cannot write '" + target_ + "': fsync of '" + path_ + "' failed: " + errnoText());
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) failIo(target_, "cannot write '" + target_ + "': closing '" + path_ + "' failed: " + errnoText());
    if (::rename(path_.c_str(), target_.c_str()) != 0) {
      failIo(target_, "cannot write '" + target_ + "': renaming '" + path_ + "' over it failed: " + errnoText());
    }
    created_ = false;
    std::string dir = fs::path(target_).parent_path().string();
    if (dir.empty()) dir = ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);  // best effort: some filesystems refuse fsync on directories
      ::close(dfd);
    }
  }

 private:
  std::string target_;
  std::string path_;
  int fd_ = -1;
  bool created_ = false;
};

}  // namespace

void saveSafetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  // Validate everything before touching the filesystem.
  std::unordered_set<std::string> seen;
  std::vector<uint64_t> sizes;
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!json::validUtf8(key) || !json::validUtf8(value)) {
        fail(code::kInvalidArgument, "metadata entry '" + key + "' is not valid UTF-8", {{"file", path}, {"field", "metadata"}});
      }
      if (!first) header += ',';
      header += json::quote(key);
      header += ':';
      header += json::quote(value);
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const ErrorFields where = {{"file", path}, {"tensor", name}};
    if (name.empty() || name == "__metadata__" || !json::validUtf8(name)) {
      fail(code::kInvalidArgument, "'" + name + "' cannot be a tensor name in a safetensors file", where);
    }
    if (!seen.insert(name).second) fail(code::kInvalidArgument, "tensor '" + name + "' is given twice", where);
    if (!tensor.defined()) fail(code::kInvalidArgument, "tensor '" + name + "' is undefined", where);
    if (tensor.layout() != at::kStrided) fail(code::kInvalidArgument, "tensor '" + name + "' is not a dense tensor", where);
    auto dtype = nameOfDtype(tensor.scalar_type());
    if (!dtype) {
      fail(code::kInvalidArgument,
           "tensor '" + name + "' has dtype " + c10::toString(tensor.scalar_type()) + ", which continual-next does not store (" + kDtypeList + ")",
           where);
    }
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * tensor.element_size();
    std::string shape = "[";
    for (int64_t i = 0; i < tensor.dim(); ++i) {
      if (i) shape += ',';
      shape += std::to_string(tensor.size(i));
    }
    shape += "]";
    if (header.size() > 1) header += ',';
    header += json::quote(name) + ":{\"dtype\":\"" + *dtype +
              "\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
    sizes.push_back(bytes);
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');

  TempFile out(path);
  try {
    const uint64_t headerSize = header.size();
    out.write(&headerSize, 8);
    out.write(header.data(), header.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      at::Tensor t = tensors[i].second.detach();
      if (!t.device().is_cpu()) t = t.to(at::kCPU);
      t = t.contiguous();
      if (sizes[i] > 0) out.write(t.data_ptr(), sizes[i]);
    }
    out.commit();
  } catch (const Error&) {
    throw;  // already ERR_IO naming the file
  } catch (const c10::Error& e) {
    failIo(path, "cannot write '" + path + "': " + e.msg());
  } catch (const std::exception& e) {
    failIo(path, "cannot write '" + path + "': " + e.what());
  }
}

}  // namespace cn::io
