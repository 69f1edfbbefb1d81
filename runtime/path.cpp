#include "runtime/path.hpp"

#include <cstdio>

namespace conclave::path {

namespace {

constexpr uint32_t invalid_code_point = 0xFFFFFFFF;

bool is_continuation(unsigned char c) noexcept {
  return (c & 0xC0) == 0x80;
}

/// Decodes the UTF-8 sequence at `s[i]`, advancing `i`. Returns
/// invalid_code_point for malformed input: bad lead or continuation bytes,
/// truncation, overlong forms, encoded surrogates, values above U+10FFFF.
uint32_t decode_utf8(std::string_view s, size_t& i) noexcept {
  auto lead = static_cast<unsigned char>(s[i++]);
  if (lead < 0x80)
    return lead;
  size_t extra;
  uint32_t cp;
  uint32_t min;
  if ((lead & 0xE0) == 0xC0) {
    extra = 1, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    extra = 2, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    extra = 3, cp = lead & 0x07, min = 0x10000;
  } else {
    return invalid_code_point;
  }
  for (; extra > 0; --extra, ++i) {
    if (i >= s.size() || !is_continuation(static_cast<unsigned char>(s[i])))
      return invalid_code_point;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return invalid_code_point;
  return cp;
}

/// The ranges PathUtils.validatePath rejects, plus everything Java would see
/// as a surrogate pair (above U+FFFF) and malformed input.
bool is_forbidden(uint32_t cp) noexcept {
  return cp == 0 || (cp >= 0x01 && cp <= 0x1F) || (cp >= 0x7F && cp <= 0x9F)
         || (cp >= 0xD800 && cp <= 0xF8FF) || cp >= 0xFFF0;
}

bool valid_characters(std::string_view p) noexcept {
  for (size_t i = 0; i < p.size();)
    if (is_forbidden(decode_utf8(p, i)))
      return false;
  return true;
}

bool valid_segment(std::string_view seg) noexcept {
  return !seg.empty() && seg != "." && seg != "..";
}

/// Checks the segments of a path that starts with '/' and isn't the root.
bool valid_segments(std::string_view p) noexcept {
  size_t start = 1;
  for (;;) {
    auto end = p.find('/', start);
    if (end == std::string_view::npos)
      return valid_segment(p.substr(start));
    if (!valid_segment(p.substr(start, end - start)))
      return false;
    start = end + 1;
  }
}

} // namespace

error_code validate(std::string_view p, size_t max_bytes) {
  if (p.empty() || p.size() > max_bytes || p.front() != '/')
    return error_code::bad_arguments;
  if (p.size() == 1)
    return error_code::ok;
  if (p.back() == '/' || !valid_segments(p) || !valid_characters(p))
    return error_code::bad_arguments;
  return error_code::ok;
}

error_code validate_for_create(std::string_view p, bool sequential,
                               size_t max_bytes) {
  if (!sequential)
    return validate(p, max_bytes);
  std::string full{p};
  full.append(sequence_suffix_bytes, '0');
  return validate(full, max_bytes);
}

std::string_view parent(std::string_view p) noexcept {
  auto last = p.rfind('/');
  if (last == 0 || last == std::string_view::npos)
    return root;
  return p.substr(0, last);
}

std::string_view basename(std::string_view p) noexcept {
  auto last = p.rfind('/');
  return last == std::string_view::npos ? p : p.substr(last + 1);
}

std::string join(std::string_view parent, std::string_view name) {
  std::string result;
  result.reserve(parent.size() + 1 + name.size());
  result.append(parent);
  if (result.empty() || result.back() != '/')
    result.push_back('/');
  result.append(name);
  return result;
}

std::string sequence_suffix(int32_t counter) {
  char buf[16];
  auto n = std::snprintf(buf, sizeof(buf), "%010d", static_cast<int>(counter));
  return std::string(buf, static_cast<size_t>(n));
}

bool is_protected(std::string_view p) noexcept {
  return p == reserved_root || p == "/zookeeper/quota" || p == config_node;
}

bool step_up(std::string_view& p) noexcept {
  if (p.empty() || p == "/")
    return false;
  auto pos = p.rfind('/');
  if (pos == std::string_view::npos)
    return false;
  p = pos == 0 ? p.substr(0, 1) : p.substr(0, pos);
  return true;
}

} // namespace conclave::path
