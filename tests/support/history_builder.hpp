// history_builder: builds a chaos history (tools/chaos/history.hpp) record
// by record in tests; a completion finds its process's pending invoke's f.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "tools/chaos/history.hpp"

namespace conclave::test {

class history_builder {
public:
  using Record = chaos::Record;

  /// With `stamp_times`, record i gets time_ns = i * 1000.
  explicit history_builder(bool stamp_times = false)
      : stamp_times_(stamp_times) {
    // nop
  }

  Record& invoke(int64_t p, const std::string& f, const std::string& key) {
    pending_[p] = f;
    auto& r = push(p, Record::invoke, f);
    r.set_key(key);
    return r;
  }
  Record& ok(int64_t p) { return complete(p, Record::ok); }
  Record& fail(int64_t p) { return complete(p, Record::fail); }
  Record& info(int64_t p) { return complete(p, Record::info); }
  Record& event(int64_t p, const std::string& f, const std::string& key) {
    auto& r = push(p, Record::event, f);
    r.set_key(key);
    return r;
  }

  /// The history (the test fails if it is malformed).
  chaos::history build() const {
    std::string error;
    auto h = chaos::make_history(records_, {}, error);
    INFO(error);
    REQUIRE(h);
    return std::move(*h);
  }

  std::vector<Record>& records() { return records_; }

private:
  Record& complete(int64_t p, Record::Type t) {
    auto f = pending_[p];
    pending_.erase(p);
    return push(p, t, f);
  }
  Record& push(int64_t p, Record::Type t, const std::string& f) {
    records_.emplace_back();
    auto& r = records_.back();
    r.set_process(p);
    r.set_type(t);
    r.set_f(f);
    if (stamp_times_)
      r.set_time_ns(static_cast<int64_t>(records_.size()) * 1000);
    return r;
  }

  bool stamp_times_;
  std::vector<Record> records_;
  std::map<int64_t, std::string> pending_;
};

} // namespace conclave::test
