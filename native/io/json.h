// A small, strict JSON reader and string writer for file headers (safetensors, shard indexes).
//
// Strict means RFC 8259 and nothing more: no comments, no trailing commas, no NaN/Infinity,
// no leading zeros, strings must be valid UTF-8 with no raw control characters and no lone
// surrogates in \u escapes, duplicate object keys are rejected, and nesting is capped so
// hostile input cannot exhaust the stack. Numbers keep their source text, so integers of any
// size are read exactly (asUint64/asInt64) instead of through a double. libtorch ships no
// JSON library, hence this file.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cn::json {

// A syntax error at byte `offset` of the parsed text.
class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& message, size_t offset) : std::runtime_error(message), offset_(offset) {}
  size_t offset() const { return offset_; }

 private:
  size_t offset_;
};

class Value {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isNumber() const { return kind_ == Kind::Number; }
  bool isString() const { return kind_ == Kind::String; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isObject() const { return kind_ == Kind::Object; }

  bool boolean() const { return boolean_; }
  // A string's decoded contents, or a number's source text.
  const std::string& text() const { return text_; }
  const std::vector<Value>& items() const { return items_; }
  // Object members in source order (keys are unique).
  const std::vector<std::pair<std::string, Value>>& members() const { return members_; }
  // The member named `key`, or nullptr.
  const Value* find(std::string_view key) const;

  // A number written as a plain integer (no fraction or exponent) that fits the type; else empty.
  std::optional<uint64_t> asUint64() const;
  std::optional<int64_t> asInt64() const;

  // "null", "a boolean", "a number", "a string", "an array", "an object": for error messages.
  const char* kindName() const;

 private:
  friend class Parser;
  Kind kind_ = Kind::Null;
  bool boolean_ = false;
  std::string text_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

// Parses one JSON value; surrounding whitespace is allowed, anything else after it is not.
// Throws ParseError.
Value parse(std::string_view text, int maxDepth = 64);

// `s` as a JSON string literal (quotes included). `s` must be UTF-8; it is copied as is apart
// from the escapes JSON requires.
std::string quote(std::string_view s);

// Whether `s` is well-formed UTF-8.
bool validUtf8(std::string_view s);

}  // namespace cn::json
