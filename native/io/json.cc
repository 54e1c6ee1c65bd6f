#include "io/json.h"

#include <limits>

namespace cn::json {

namespace {

// Length of the UTF-8 sequence starting at s[i] if it is well formed (shortest form, no
// surrogates, at most U+10FFFF), else 0.
size_t utf8Length(std::string_view s, size_t i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const unsigned char b = at(i + k);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string describe(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7F) return std::string("'") + c + "'";
  static const char* hex = "0123456789abcdef";
  return std::string("byte 0x") + hex[u >> 4] + hex[u & 15];
}

}  // namespace

class Parser {
 public:
  Parser(std::string_view text, int maxDepth) : s_(text), maxDepth_(maxDepth) {}

  Value document() {
    skipSpace();
    Value v = value(0);
    skipSpace();
    if (pos_ != s_.size()) error("unexpected " + describe(s_[pos_]) + " after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& message) {
    throw ParseError(message + " at byte " + std::to_string(pos_), pos_);
  }

  void skipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  char peek() {
    if (pos_ >= s_.size()) error("unexpected end of input");
    return s_[pos_];
  }

  void expectWord(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) error("invalid literal");
    pos_ += word.size();
  }

  Value value(int depth) {
    if (depth > maxDepth_) error("nesting deeper than " + std::to_string(maxDepth_) + " levels");
    Value v;
    const char c = peek();
    switch (c) {
      case '{': object(v, depth); break;
      case '[': array(v, depth); break;
      case '"':
        v.kind_ = Value::Kind::String;
        v.text_ = string();
        break;
      case 't':
        expectWord("true");
        v.kind_ = Value::Kind::Bool;
        v.boolean_ = true;
        break;
      case 'f':
        expectWord("false");
        v.kind_ = Value::Kind::Bool;
        break;
      case 'n':
        expectWord("null");
        break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          v.kind_ = Value::Kind::Number;
          v.text_ = number();
        } else {
          error("unexpected " + describe(c));
        }
    }
    return v;
  }

  void object(Value& v, int depth) {
    v.kind_ = Value::Kind::Object;
    ++pos_;  // '{'
    skipSpace();
    if (peek() == '}') {
      ++pos_;
      return;
    }
    while (true) {
      skipSpace();
      if (peek() != '"') error("expected a string key, found " + describe(peek()));
      const size_t keyAt = pos_;
      std::string key = string();
      for (const auto& m : v.members_) {
        if (m.first == key) {
          pos_ = keyAt;
          error("duplicate key \"" + key + "\"");
        }
      }
      skipSpace();
      if (peek() != ':') error("expected ':' after a key, found " + describe(peek()));
      ++pos_;
      skipSpace();
      Value member = value(depth + 1);
      v.members_.emplace_back(std::move(key), std::move(member));
      skipSpace();
      const char c = peek();
      ++pos_;
      if (c == '}') return;
      if (c != ',') {
        --pos_;
        error("expected ',' or '}' in an object, found " + describe(c));
      }
    }
  }

  void array(Value& v, int depth) {
    v.kind_ = Value::Kind::Array;
    ++pos_;  // '['
    skipSpace();
    if (peek() == ']') {
      ++pos_;
      return;
    }
    while (true) {
      skipSpace();
      v.items_.push_back(value(depth + 1));
      skipSpace();
      const char c = peek();
      ++pos_;
      if (c == ']') return;
      if (c != ',') {
        --pos_;
        error("expected ',' or ']' in an array, found " + describe(c));
      }
    }
  }

  uint32_t hex4() {
    if (pos_ + 4 > s_.size()) error("truncated \\u escape");
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= h - '0';
      else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
      else {
        --pos_;
        error("invalid hex digit in \\u escape");
      }
    }
    return cp;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) error("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) error("raw control character in a string");
      if (c == '\\') {
        ++pos_;
        const char e = peek();
        ++pos_;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) error("lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.substr(pos_, 2) != "\\u") error("lone high surrogate in \\u escape");
              pos_ += 2;
              const uint32_t low = hex4();
              if (low < 0xDC00 || low > 0xDFFF) error("high surrogate not followed by a low surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            appendUtf8(out, cp);
            break;
          }
          default:
            pos_ -= 1;
            error("invalid escape \\" + std::string(1, e));
        }
        continue;
      }
      const size_t n = utf8Length(s_, pos_);
      if (n == 0) error("invalid UTF-8 in a string");
      out.append(s_.substr(pos_, n));
      pos_ += n;
    }
  }

  std::string number() {
    const size_t start = pos_;
    const auto digit = [&]() { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; };
    if (s_[pos_] == '-') ++pos_;
    if (!digit()) error("expected a digit");
    if (s_[pos_] == '0') {
      ++pos_;
      if (digit()) error("leading zero in a number");
    } else {
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digit()) error("expected a digit after '.'");
      while (digit()) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digit()) error("expected a digit in an exponent");
      while (digit()) ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  std::string_view s_;
  size_t pos_ = 0;
  int maxDepth_;
};

const Value* Value::find(std::string_view key) const {
  for (const auto& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

std::optional<uint64_t> Value::asUint64() const {
  if (kind_ != Kind::Number || text_.empty() || text_[0] == '-') return std::nullopt;
  uint64_t v = 0;
  for (char c : text_) {
    if (c < '0' || c > '9') return std::nullopt;  // fraction or exponent
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<int64_t> Value::asInt64() const {
  if (kind_ != Kind::Number || text_.empty()) return std::nullopt;
  const bool negative = text_[0] == '-';
  uint64_t v = 0;
  for (size_t i = negative ? 1 : 0; i < text_.size(); ++i) {
    const char c = text_[i];
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (v > limit) return std::nullopt;
  return negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

const char* Value::kindName() const {
  switch (kind_) {
    case Kind::Null: return "null";
    case Kind::Bool: return "a boolean";
    case Kind::Number: return "a number";
    case Kind::String: return "a string";
    case Kind::Array: return "an array";
    case Kind::Object: return "an object";
  }
  return "?";
}

Value parse(std::string_view text, int maxDepth) { return Parser(text, maxDepth).document(); }

std::string quote(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

bool validUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8Length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace cn::json
