#include "runtime/zk/frame_decoder.hpp"

#include <algorithm>

namespace conclave::zk {

std::string_view to_string(frame_error_code code) noexcept {
  switch (code) {
    case frame_error_code::negative_length:
      return "negative_length";
    case frame_error_code::frame_too_large:
      return "frame_too_large";
  }
  return "unknown";
}

namespace {

bool is_ascii_letter(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

} // namespace

frame_decoder::frame_decoder(size_t max_frame_bytes,
                             bool accept_four_letter_words) noexcept
    : max_frame_bytes_(std::clamp<size_t>(max_frame_bytes, 1, max_frame_limit)),
      accept_words_(accept_four_letter_words) {
  // Nothing else: the payload buffer grows only as bytes arrive.
}

size_t frame_decoder::buffered_bytes() const noexcept {
  switch (state_) {
    case state::header:
      return header_len_;
    case state::payload:
      return payload_.size();
    default:
      return 0;
  }
}

frame_step frame_decoder::fail(frame_error_code code, int32_t declared,
                               size_t consumed) {
  state_ = state::failed;
  error_ = frame_error{code, declared, frame_start_};
  std::string().swap(payload_);
  return frame_step{frame_status::error, consumed, {}};
}

frame_step frame_decoder::decode(std::string_view input) {
  // The payload handed out by the previous step is no longer needed.
  if (release_payload_) {
    release_payload_ = false;
    if (payload_.capacity() > retained_buffer_bytes)
      std::string().swap(payload_);
    else
      payload_.clear();
  }
  switch (state_) {
    case state::failed:
      return frame_step{frame_status::error, 0, {}};
    case state::word:
      stream_offset_ += input.size();
      return frame_step{frame_status::need_more, input.size(), {}};
    default:
      break;
  }
  size_t used = 0;
  if (state_ == state::header) {
    if (header_len_ == 0)
      frame_start_ = stream_offset_;
    auto take = std::min(input.size(), sizeof(header_) - header_len_);
    std::copy_n(input.data(), take, header_ + header_len_);
    header_len_ += take;
    used += take;
    stream_offset_ += take;
    if (header_len_ < sizeof(header_))
      return frame_step{frame_status::need_more, used, {}};
    header_len_ = 0;
    bool first = first_;
    first_ = false;
    if (first && accept_words_
        && std::all_of(header_, header_ + 4, is_ascii_letter)) {
      state_ = state::word;
      return frame_step{frame_status::four_letter_word, used,
                        std::string_view(header_, 4)};
    }
    uint32_t raw = 0;
    for (char c : header_)
      raw = (raw << 8) | static_cast<uint8_t>(c);
    auto len = static_cast<int32_t>(raw);
    if (len < 0)
      return fail(frame_error_code::negative_length, len, used);
    if (static_cast<size_t>(len) > max_frame_bytes_)
      return fail(frame_error_code::frame_too_large, len, used);
    expected_ = static_cast<size_t>(len);
    state_ = state::payload;
  }
  // state::payload
  auto rest = input.substr(used);
  if (payload_.empty() && rest.size() >= expected_) {
    // The whole payload is in this chunk: hand it out without copying.
    used += expected_;
    stream_offset_ += expected_;
    state_ = state::header;
    ++frames_;
    return frame_step{frame_status::frame, used, rest.substr(0, expected_)};
  }
  auto take = std::min(rest.size(), expected_ - payload_.size());
  auto needed = payload_.size() + take;
  if (needed > payload_.capacity()) {
    // Grow geometrically, but never beyond the declared length. A fresh
    // string gets exactly what it reserves; reserve() on a grown one may
    // round up to twice its old capacity (libstdc++), past the bound.
    auto target
      = std::min(expected_, std::max(needed, 2 * payload_.capacity()));
    std::string grown;
    grown.reserve(target);
    grown.append(payload_);
    payload_.swap(grown);
  }
  payload_.append(rest.data(), take);
  used += take;
  stream_offset_ += take;
  if (payload_.size() < expected_)
    return frame_step{frame_status::need_more, used, {}};
  state_ = state::header;
  release_payload_ = true;
  ++frames_;
  return frame_step{frame_status::frame, used, std::string_view(payload_)};
}

} // namespace conclave::zk
