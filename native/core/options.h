// Options: a plain JS options object read once on the JS thread into C++ values, with typed
// errors (ERR_CONFIG / field) for wrong types. Native code then reads from this copy on workers.
#pragma once
#include <napi.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cn {

class Options {
 public:
  Options() = default;
  // `scope` prefixes field names in errors ("lora.r").
  static Options fromJs(const Napi::Value& value, const std::string& scope);

  double number(const std::string& key, double fallback) const;
  double requireNumber(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t fallback) const;
  bool flag(const std::string& key, bool fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
  std::vector<std::string> strings(const std::string& key) const;  // a string or a string array
  bool has(const std::string& key) const;
  // Nested options object (empty when absent).
  Options child(const std::string& key) const;
  const std::string& scope() const { return scope_; }

 private:
  std::string scope_;
  std::map<std::string, double> numbers_;
  std::map<std::string, bool> flags_;
  std::map<std::string, std::string> strings_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, Options> children_;

  std::string field(const std::string& key) const { return scope_.empty() ? key : scope_ + "." + key; }
};

}  // namespace cn
