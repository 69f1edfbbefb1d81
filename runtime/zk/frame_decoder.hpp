// frame_decoder: splits a ZooKeeper client connection's byte stream into
// frames (pure: no CAF, sockets, clock or logging).
//
// What: feed it the bytes of one connection in whatever chunks the socket
// delivers; it yields each complete frame's payload (a frame is a 4-byte
// big-endian length, then that many bytes), a four-letter word, or an
// error after which the caller must close the connection.
//
// Limits (ZooKeeper's NIOServerCnxn.readLength): a length below 0 or above
// max_frame_bytes is an error. The default, 1 MiB + 64 KiB, matches
// conclave.max-request-bytes (node_config.hpp): a znode payload of up to
// 1 MiB (conclave.max-data-bytes, ZooKeeper's jute.maxbuffer) plus room for
// the request header, path (≤ 4 KiB), ACLs and a multi's per-op headers.
// ZooKeeper itself refuses frames over jute.maxbuffer = 0xfffff bytes; the
// shell should pass its configured max-request-bytes. Values above
// max_frame_limit (256 MiB) are clamped to it; 0 is raised to 1.
//
// Four-letter words ("ruok", "srvr", "stat", "mntr", ...): ZooKeeper reads
// the first 4 bytes of a connection as the length int and, before the
// session is initialised, checks that int against its known commands. Here:
// if the very first 4 bytes of the connection are all ASCII letters
// (A-Z, a-z), the decoder yields them as a four_letter_word, whatever the
// letters; later frames are never examined. This is unambiguous because 4
// letters read as a length are at least 0x41414141 (about 1.09e9), far above
// max_frame_limit, so no valid first frame can look like a word (and a
// ConnectRequest frame is ~50 bytes, starting with 0x00). Whether the word
// is known and whitelisted is the caller's decision; ZooKeeper answers a
// word and closes the connection, so after a word the decoder swallows
// every further byte (a trailing "\n" from `echo ruok | nc`, stmk's 8-byte
// argument) and yields nothing more. Words can be turned off (e.g. on a
// client decoding server replies).
//
// Memory: the decoder holds at most one length prefix (4 bytes) plus one
// partial frame payload, which never exceeds the declared length, which
// never exceeds max_frame_bytes; the payload buffer grows as bytes arrive
// (not to the declared length up front, so a peer announcing 1 MiB and
// sending 10 bytes costs 10 bytes), and a buffer that grew past 64 KiB is
// released once its frame has been handed out. A frame that arrives whole
// within one chunk is handed out as a view into that chunk, uncopied.
//
// Usage, one decoder per connection:
//
//   auto status = dec.feed(chunk,
//     [&](std::string_view payload) { handle(payload); },
//     [&](std::string_view word) { answer_four_letter_word(word); });
//   if (status != frame_status::need_more) close();  // word or error
//
// or step by step with decode(), which consumes a prefix of its input and
// reports the one event that completed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace conclave::zk {

enum class frame_status : uint8_t {
  /// All of the input given was consumed and no event completed.
  need_more,
  /// One frame is complete: `bytes` is its payload.
  frame,
  /// The connection opened with a four-letter word: `bytes` holds its 4
  /// letters. Answer it (or not) and close the connection.
  four_letter_word,
  /// The stream is malformed: error() says why. Close the connection.
  error,
};

enum class frame_error_code : uint8_t {
  /// The length prefix is negative.
  negative_length = 1,
  /// The length prefix exceeds max_frame_bytes.
  frame_too_large,
};

std::string_view to_string(frame_error_code code) noexcept;

struct frame_error {
  frame_error_code code = frame_error_code::negative_length;
  /// The length the prefix declared.
  int32_t declared_length = 0;
  /// Offset of the length prefix in the connection's byte stream.
  uint64_t stream_offset = 0;
};

/// The outcome of one decode() call.
struct frame_step {
  frame_status status = frame_status::need_more;
  /// Bytes of the input this step consumed (a prefix of it).
  size_t consumed = 0;
  /// The frame's payload (status frame) or the 4 letters (status
  /// four_letter_word); empty otherwise. Points into the decoder's buffer
  /// or into the input, and stays valid until the next decode()/feed() call
  /// while the input does.
  std::string_view bytes;
};

class frame_decoder {
public:
  /// 1 MiB + 64 KiB; see above.
  static constexpr size_t default_max_frame_bytes = 1024 * 1024 + 64 * 1024;
  /// Largest accepted max_frame_bytes (larger values are clamped).
  static constexpr size_t max_frame_limit = 256 * 1024 * 1024;
  /// Payload buffers larger than this are released after their frame.
  static constexpr size_t retained_buffer_bytes = 64 * 1024;

  explicit frame_decoder(size_t max_frame_bytes = default_max_frame_bytes,
                         bool accept_four_letter_words = true) noexcept;

  /// Consumes a prefix of `input` up to and including the first event that
  /// completes (a frame, a four-letter word or an error) and reports it, or
  /// consumes all of it and reports need_more. After an error, every call
  /// reports the same error and consumes nothing; after a four-letter word,
  /// every call consumes all its input and reports need_more.
  frame_step decode(std::string_view input);

  /// Feeds a whole chunk: calls on_frame(payload) for every frame in it
  /// and on_word(letters) for a four-letter word. Returns need_more when
  /// the chunk was consumed and the connection goes on, four_letter_word
  /// after on_word (the rest of the chunk is ignored), or error (see
  /// error()). Payload views are valid only during their callback.
  template <class OnFrame, class OnWord>
  frame_status feed(std::string_view chunk, OnFrame&& on_frame,
                    OnWord&& on_word) {
    for (;;) {
      auto step = decode(chunk);
      chunk.remove_prefix(step.consumed);
      switch (step.status) {
        case frame_status::frame:
          on_frame(step.bytes);
          break;
        case frame_status::four_letter_word:
          on_word(step.bytes);
          return frame_status::four_letter_word;
        case frame_status::error:
          return frame_status::error;
        case frame_status::need_more:
          return frame_status::need_more;
      }
    }
  }

  /// Whether the decoder failed; error() says why.
  bool failed() const noexcept { return state_ == state::failed; }
  /// The error; only meaningful when failed().
  const frame_error& error() const noexcept { return error_; }

  /// Whether a four-letter word was seen (the decoder now swallows input).
  bool saw_four_letter_word() const noexcept { return state_ == state::word; }

  /// Bytes held now: a partial length prefix or a partial payload.
  size_t buffered_bytes() const noexcept;
  /// Capacity of the payload buffer: at most max_frame_bytes, or the
  /// std::string minimum (30 bytes in libstdc++) if that is larger.
  size_t buffer_capacity() const noexcept { return payload_.capacity(); }
  /// Bytes consumed over the connection's lifetime.
  uint64_t stream_offset() const noexcept { return stream_offset_; }
  /// Frames handed out so far.
  uint64_t frames() const noexcept { return frames_; }
  size_t max_frame_bytes() const noexcept { return max_frame_bytes_; }

private:
  enum class state : uint8_t { header, payload, word, failed };

  frame_step fail(frame_error_code code, int32_t declared, size_t consumed);

  size_t max_frame_bytes_;
  bool accept_words_;
  state state_ = state::header;
  bool first_ = true;            // no length prefix completed yet
  bool release_payload_ = false; // payload_ was handed out last step
  char header_[4] = {0, 0, 0, 0};
  size_t header_len_ = 0;
  size_t expected_ = 0; // declared payload length (state payload)
  std::string payload_;
  uint64_t stream_offset_ = 0;
  uint64_t frame_start_ = 0; // stream offset of the current length prefix
  uint64_t frames_ = 0;
  frame_error error_;
};

} // namespace conclave::zk
