// history: a chaos run's records (tools/chaos/history.proto) as JSON lines
// on disk, and as operations in memory: each invoke paired with its
// completion.
//
// The checkers never look at clocks: "A completed before B was invoked"
// means A's completion record comes before B's invoke record, so every
// position below is a record's index in `history::records`. Pairing follows
// Jepsen: per process, an invoke is completed by the next ok / fail / info
// of that process; an invoke that is never completed is `info` (it may or
// may not have happened).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/chaos/history.pb.h"

namespace conclave::chaos {

using record_type = Record::Type;

/// Position of a completion that never came: after every record.
inline constexpr size_t never = std::numeric_limits<size_t>::max();

/// One operation: an invoke and its completion.
struct operation {
  /// Index of the invoke record in `history::records`.
  size_t invoke = 0;
  /// Index of the completion record, or `never`.
  size_t complete = never;
  /// ok, fail or info (also info when there is no completion).
  record_type outcome = Record::info;
  /// The invoke's fields overlaid with those the completion sets; `type` is
  /// the outcome.
  Record op;

  bool completed() const noexcept { return complete != never; }
  const std::string& f() const noexcept { return op.f(); }
  const std::string& key() const noexcept { return op.key(); }
  int64_t process() const noexcept { return op.process(); }
};

/// A parsed and paired history.
struct history {
  /// Every record in file (= real-time) order.
  std::vector<Record> records;
  /// The 1-based line each record came from (0 when built in memory).
  std::vector<size_t> lines;
  /// Operations in invoke order.
  std::vector<operation> operations;
  /// Indexes into `records` of the `event` records, in order.
  std::vector<size_t> events;
  /// For each record, the operation it belongs to (or `never` for events).
  std::vector<size_t> op_of_record;

  /// The record at `pos`, or nullptr for `never`.
  const Record* at(size_t pos) const {
    return pos < records.size() ? &records[pos] : nullptr;
  }
};

/// Serializes one record as a single JSON line (no newline).
std::string to_json_line(const Record& rec);

/// Parses one JSON line. On failure returns nullopt and sets `error`.
std::optional<Record> parse_json_line(std::string_view line,
                                      std::string& error);

/// Pairs records into a history. Fails (nullopt, `error` naming the line)
/// on a record without type or f, a completion without a pending invoke of
/// its process or with another f, an invoke while the process has one
/// pending, or indexes that do not strictly increase. `lines` may be empty
/// (then errors name record positions, 1-based, as lines).
std::optional<history> make_history(std::vector<Record> records,
                                    std::vector<size_t> lines,
                                    std::string& error);

/// Reads a JSON-lines history (blank lines are skipped).
std::optional<history> read_history(std::istream& in, std::string& error);

/// Reads a JSON-lines history from a file; errors name the file and line.
std::optional<history> read_history_file(const std::string& path,
                                         std::string& error);

/// Appends records to a JSON-lines stream, numbering them: the producer
/// side, for workloads.
class history_writer {
public:
  explicit history_writer(std::ostream& out);

  /// Sets `rec.index` to the next index, writes the line and flushes.
  /// Returns the index.
  int64_t append(Record rec);

  int64_t next_index() const noexcept { return next_index_; }

private:
  std::ostream* out_;
  int64_t next_index_ = 0;
};

/// "invoke", "ok", "fail", "info", "event".
std::string_view to_string(record_type type);

/// Whether `f` changes the tree (write, cas, add, create, create_seq,
/// create_ephemeral, delete).
bool is_mutation(std::string_view f);

/// The znode a mutation changed: `path`, or `key` if `path` is empty.
const std::string& changed_path(const Record& rec);

} // namespace conclave::chaos
