#include "tools/chaos/history.hpp"

#include <fstream>
#include <istream>
#include <ostream>
#include <unordered_map>
#include <utility>

#include <google/protobuf/util/json_util.h>

namespace conclave::chaos {

namespace {

std::string line_prefix(size_t line) {
  return "line " + std::to_string(line) + ": ";
}

bool is_blank(std::string_view line) {
  for (auto c : line)
    if (c != ' ' && c != '\t' && c != '\r')
      return false;
  return true;
}

} // namespace

std::string to_json_line(const Record& rec) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  opts.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(rec, &out, opts);
  if (!status.ok()) // Only on a reflection bug: a Record always prints.
    return "{}";
  return out;
}

std::optional<Record> parse_json_line(std::string_view line,
                                      std::string& error) {
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false; // A misspelt field is an error.
  Record rec;
  auto status = google::protobuf::util::JsonStringToMessage(
    google::protobuf::StringPiece{line.data(), line.size()}, &rec, opts);
  if (!status.ok()) {
    error = status.ToString();
    return std::nullopt;
  }
  return rec;
}

std::optional<history> make_history(std::vector<Record> records,
                                    std::vector<size_t> lines,
                                    std::string& error) {
  history h;
  h.records = std::move(records);
  h.lines = std::move(lines);
  if (h.lines.size() != h.records.size()) {
    h.lines.clear();
    for (size_t i = 0; i < h.records.size(); ++i)
      h.lines.push_back(i + 1);
  }
  auto n = h.records.size();
  // Indexes: all absent (numbered here) or strictly increasing.
  bool any_index = false;
  for (auto& rec : h.records)
    any_index = any_index || rec.index() != 0;
  for (size_t pos = 0; pos < n; ++pos) {
    auto& rec = h.records[pos];
    if (!any_index) {
      rec.set_index(static_cast<int64_t>(pos));
    } else if (pos > 0 && rec.index() <= h.records[pos - 1].index()) {
      error = line_prefix(h.lines[pos]) + "index " + std::to_string(rec.index())
              + " does not follow index "
              + std::to_string(h.records[pos - 1].index());
      return std::nullopt;
    }
  }
  // Pair invokes with completions, per process.
  std::unordered_map<int64_t, size_t> pending; // process -> operation
  h.op_of_record.assign(n, never);
  for (size_t pos = 0; pos < n; ++pos) {
    const auto& rec = h.records[pos];
    auto at = line_prefix(h.lines[pos]);
    if (rec.type() == Record::unspecified) {
      error = at + "record without a type";
      return std::nullopt;
    }
    if (rec.f().empty()) {
      error = at + "record without f";
      return std::nullopt;
    }
    switch (rec.type()) {
      case Record::invoke: {
        auto i = pending.find(rec.process());
        if (i != pending.end()) {
          const auto& prev = h.operations[i->second];
          error = at + "process " + std::to_string(rec.process()) + " invokes "
                  + rec.f() + " while its " + prev.f() + " invoked on line "
                  + std::to_string(h.lines[prev.invoke]) + " is pending";
          return std::nullopt;
        }
        operation op;
        op.invoke = pos;
        op.op = rec;
        op.op.set_type(Record::info);
        pending.emplace(rec.process(), h.operations.size());
        h.op_of_record[pos] = h.operations.size();
        h.operations.push_back(std::move(op));
        break;
      }
      case Record::ok:
      case Record::fail:
      case Record::info: {
        auto i = pending.find(rec.process());
        if (i == pending.end()) {
          error = at + std::string{to_string(rec.type())} + " " + rec.f()
                  + " of process " + std::to_string(rec.process())
                  + ", which has no pending invoke";
          return std::nullopt;
        }
        auto& op = h.operations[i->second];
        if (op.f() != rec.f()) {
          error = at + std::string{to_string(rec.type())} + " " + rec.f()
                  + " of process " + std::to_string(rec.process())
                  + " completes its " + op.f() + " invoked on line "
                  + std::to_string(h.lines[op.invoke]);
          return std::nullopt;
        }
        op.complete = pos;
        op.outcome = rec.type();
        auto index = op.op.index();
        auto time = op.op.time_ns();
        op.op.MergeFrom(rec);
        op.op.set_type(rec.type());
        op.op.set_index(index);
        op.op.set_time_ns(time);
        h.op_of_record[pos] = i->second;
        pending.erase(i);
        break;
      }
      case Record::event:
        h.events.push_back(pos);
        break;
      default:
        error = at + "unknown record type " + std::to_string(rec.type());
        return std::nullopt;
    }
  }
  return h;
}

std::optional<history> read_history(std::istream& in, std::string& error) {
  std::vector<Record> records;
  std::vector<size_t> lines;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (is_blank(line))
      continue;
    std::string why;
    auto rec = parse_json_line(line, why);
    if (!rec) {
      error = line_prefix(line_no) + why;
      return std::nullopt;
    }
    records.push_back(std::move(*rec));
    lines.push_back(line_no);
  }
  if (in.bad()) {
    error = line_prefix(line_no + 1) + "read error";
    return std::nullopt;
  }
  return make_history(std::move(records), std::move(lines), error);
}

std::optional<history> read_history_file(const std::string& path,
                                         std::string& error) {
  std::ifstream in{path};
  if (!in) {
    error = path + ": cannot open";
    return std::nullopt;
  }
  auto h = read_history(in, error);
  if (!h)
    error = path + ": " + error;
  return h;
}

history_writer::history_writer(std::ostream& out) : out_(&out) {
  // nop
}

int64_t history_writer::append(Record rec) {
  auto index = next_index_++;
  rec.set_index(index);
  *out_ << to_json_line(rec) << '\n';
  out_->flush();
  return index;
}

std::string_view to_string(record_type type) {
  switch (type) {
    case Record::invoke:
      return "invoke";
    case Record::ok:
      return "ok";
    case Record::fail:
      return "fail";
    case Record::info:
      return "info";
    case Record::event:
      return "event";
    default:
      return "unspecified";
  }
}

bool is_mutation(std::string_view f) {
  return f == "write" || f == "cas" || f == "add" || f == "create"
         || f == "create_seq" || f == "create_ephemeral" || f == "delete";
}

const std::string& changed_path(const Record& rec) {
  return rec.path().empty() ? rec.key() : rec.path();
}

} // namespace conclave::chaos
