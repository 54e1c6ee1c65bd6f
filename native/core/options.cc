#include "core/options.h"

#include <cmath>

#include "core/errors.h"

namespace cn {

Options Options::fromJs(const Napi::Value& value, const std::string& scope) {
  Options o;
  o.scope_ = scope;
  if (value.IsUndefined() || value.IsNull()) return o;
  if (!value.IsObject()) fail(code::kConfig, (scope.empty() ? "options" : scope) + " must be an object", {{"field", scope}});
  Napi::Object obj = value.As<Napi::Object>();
  Napi::Array keys = obj.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).ToString().Utf8Value();
    Napi::Value v = obj.Get(key);
    const std::string f = o.field(key);
    if (v.IsUndefined() || v.IsNull()) continue;
    if (v.IsNumber()) {
      o.numbers_[key] = v.As<Napi::Number>().DoubleValue();
    } else if (v.IsBoolean()) {
      o.flags_[key] = v.As<Napi::Boolean>().Value();
    } else if (v.IsString()) {
      o.strings_[key] = v.As<Napi::String>().Utf8Value();
    } else if (v.IsArray()) {
      Napi::Array arr = v.As<Napi::Array>();
      std::vector<std::string> list;
      for (uint32_t j = 0; j < arr.Length(); ++j) {
        Napi::Value e = arr.Get(j);
        if (!e.IsString()) fail(code::kConfig, f + "[" + std::to_string(j) + "] must be a string", {{"field", f}});
        list.push_back(e.As<Napi::String>().Utf8Value());
      }
      o.lists_[key] = std::move(list);
    } else if (v.IsObject() && !v.IsFunction()) {
      o.children_[key] = fromJs(v, f);
    }
  }
  return o;
}

bool Options::has(const std::string& key) const {
  return numbers_.count(key) || flags_.count(key) || strings_.count(key) || lists_.count(key) || children_.count(key);
}

double Options::number(const std::string& key, double fallback) const {
  auto it = numbers_.find(key);
  if (it != numbers_.end()) {
    if (!std::isfinite(it->second)) fail(code::kConfig, field(key) + " must be a finite number", {{"field", field(key)}});
    return it->second;
  }
  if (has(key)) fail(code::kConfig, field(key) + " must be a number", {{"field", field(key)}});
  return fallback;
}

double Options::requireNumber(const std::string& key) const {
  if (!has(key)) fail(code::kConfig, field(key) + " is required", {{"field", field(key)}});
  return number(key, 0);
}

int64_t Options::integer(const std::string& key, int64_t fallback) const {
  const double v = number(key, static_cast<double>(fallback));
  if (v != std::floor(v)) fail(code::kConfig, field(key) + " must be an integer", {{"field", field(key)}});
  return static_cast<int64_t>(v);
}

bool Options::flag(const std::string& key, bool fallback) const {
  auto it = flags_.find(key);
  if (it != flags_.end()) return it->second;
  if (has(key)) fail(code::kConfig, field(key) + " must be a boolean", {{"field", field(key)}});
  return fallback;
}

std::string Options::string(const std::string& key, const std::string& fallback) const {
  auto it = strings_.find(key);
  if (it != strings_.end()) return it->second;
  if (has(key)) fail(code::kConfig, field(key) + " must be a string", {{"field", field(key)}});
  return fallback;
}

std::vector<std::string> Options::strings(const std::string& key) const {
  auto it = lists_.find(key);
  if (it != lists_.end()) return it->second;
  auto s = strings_.find(key);
  if (s != strings_.end()) return {s->second};
  if (has(key)) fail(code::kConfig, field(key) + " must be a string or an array of strings", {{"field", field(key)}});
  return {};
}

Options Options::child(const std::string& key) const {
  auto it = children_.find(key);
  if (it != children_.end()) return it->second;
  Options empty;
  empty.scope_ = field(key);
  return empty;
}

}  // namespace cn
